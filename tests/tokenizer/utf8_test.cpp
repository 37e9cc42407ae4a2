#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace flashstream {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::string SanitizeWhole(const std::string& bytes) {
  Utf8Sanitizer s;
  std::string out;
  s.Feed(bytes, &out);
  s.Finish(&out);
  return out;
}

TEST(Utf8, CharLenRejectsIllFormedSequences) {
  EXPECT_EQ(Utf8CharLen("a", 0), 1u);
  EXPECT_EQ(Utf8CharLen("\xC3\xA9", 0), 2u);
  EXPECT_EQ(Utf8CharLen("\xE2\x96\x81", 0), 3u);
  EXPECT_EQ(Utf8CharLen("\xF0\x9F\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8CharLen("\xC0\xAF", 0), 0u);          // overlong
  EXPECT_EQ(Utf8CharLen("\xED\xA0\x80", 0), 0u);      // surrogate
  EXPECT_EQ(Utf8CharLen("\xF4\x90\x80\x80", 0), 0u);  // above U+10FFFF
  EXPECT_EQ(Utf8CharLen("\xE2\x96", 0), 0u);          // truncated
  EXPECT_EQ(Utf8CharLen("\x80", 0), 0u);
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("h\xC3llo"));
}

TEST(Utf8, SanitizerHoldsIncompleteCharacters) {
  Utf8Sanitizer s;
  std::string out;
  s.Feed("a\xC3", &out);
  EXPECT_EQ(out, "a");
  EXPECT_TRUE(s.holding());
  s.Feed("\xA9", &out);
  EXPECT_EQ(out, "a\xC3\xA9");
  s.Feed("\xF0\x9F", &out);
  s.Feed("\x98", &out);
  EXPECT_EQ(out, "a\xC3\xA9");
  s.Feed("\x80", &out);
  EXPECT_EQ(out, "a\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_FALSE(s.holding());
}

TEST(Utf8, SanitizerReplacesMaximalSubparts) {
  EXPECT_EQ(SanitizeWhole("\xE2\x82"
                          "A"),
            kFffd + "A");
  EXPECT_EQ(SanitizeWhole("\xF0\x9F\x98"), kFffd);
  EXPECT_EQ(SanitizeWhole("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(SanitizeWhole("\xC0\xAF"), kFffd + kFffd);
  EXPECT_EQ(SanitizeWhole("\xFF"
                          "b"),
            kFffd + "b");
  EXPECT_EQ(SanitizeWhole("\xC3\xC3\xA9"), kFffd + "\xC3\xA9");
}

TEST(Utf8, SanitizerOutputIsIndependentOfChunking) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? rng() % 128 : 0x80 + rng() % 128);
    Utf8Sanitizer s;
    std::string out;
    for (size_t pos = 0; pos < bytes.size();) {
      const size_t n = 1 + rng() % 5;
      s.Feed(std::string_view(bytes).substr(pos, n), &out);
      EXPECT_TRUE(IsValidUtf8(out));
      pos += n;
    }
    s.Finish(&out);
    EXPECT_EQ(out, SanitizeWhole(bytes));
    EXPECT_TRUE(IsValidUtf8(out));
  }
}

}  // namespace
}  // namespace flashstream
