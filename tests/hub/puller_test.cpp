// Pull against a loopback hub: full download into the shared cache layout, nothing fetched
// twice, resume after a dropped connection, corruption caught and refetched, offline mode,
// gated repos, transient errors, an unreachable hub with a cached snapshot.
#include "hub/puller.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "fake_hub.h"

namespace flashstream::hub {
namespace {

namespace fs = std::filesystem;
using testing::FakeFile;
using testing::FakeHub;
using testing::FakeRepo;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

class PullerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fs_pull_" + std::to_string(getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    weights_ = RandomBytes(300'000, 1);
    hub_.Add("org/tiny", FakeRepo{std::string(40, 'c'),
                                  {{"config.json", R"({"model_type":"llama"})", false},
                                   {"README.md", "# tiny", false},
                                   {"model.safetensors", weights_, true}}});
    hub_.Add("org/ggufs",
             FakeRepo{std::string(40, 'd'),
                      {{"m.Q4_0.gguf", RandomBytes(5000, 2), true}, {"m.Q8_0.gguf", RandomBytes(9000, 3), true}}});
    hub_.Add("org/gated", FakeRepo{std::string(40, 'e'), {{"only.gguf", RandomBytes(4000, 4), true}}, true});
    options_.hub.base = hub_.base();
    options_.backoff_seconds = 0.01;
  }
  void TearDown() override { fs::remove_all(root_); }

  Result<PulledModel> PullId(const std::string& text) {
    Result<RepoSpec> spec = ParseRepoSpec(text);
    EXPECT_TRUE(spec.ok());
    return Pull(*spec, HfCache(root_.string()), options_);
  }

  FakeHub hub_;
  fs::path root_;
  std::string weights_;
  PullOptions options_;
};

TEST_F(PullerTest, DownloadsIntoTheSharedLayoutOnceAndOnlyWhatTheModelNeeds) {
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_TRUE(m.ok()) << m.status().message();
  const std::string commit(40, 'c');
  EXPECT_EQ(m->commit, commit);
  EXPECT_EQ(m->path, (root_ / "models--org--tiny" / "snapshots" / commit).string());
  EXPECT_EQ(m->files, (std::vector<std::string>{"config.json", "model.safetensors"}));  // no README
  EXPECT_EQ(m->downloaded_bytes, weights_.size() + 22);
  EXPECT_EQ(ReadAll(fs::path(m->path) / "model.safetensors"), weights_);
  FakeFile lfs{"model.safetensors", weights_, true};
  EXPECT_EQ(fs::read_symlink(fs::path(m->path) / "model.safetensors").string(), "../../blobs/" + lfs.Sha256());
  EXPECT_EQ(ReadAll(root_ / "models--org--tiny" / "refs" / "main"), commit);
  EXPECT_FALSE(fs::exists(fs::path(m->path) / "README.md"));
  const int gets = hub_.file_gets;
  Result<PulledModel> again = PullId("org/tiny");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->downloaded_bytes, 0u);
  EXPECT_EQ(hub_.file_gets.load(), gets);
}

TEST_F(PullerTest, ResumesAfterADroppedConnection) {
  hub_.drops_left = 1;
  hub_.drop_after = 100'000;
  std::vector<std::string> notices;
  options_.notice = [&](const std::string& n) { notices.push_back(n); };
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(ReadAll(fs::path(m->path) / "model.safetensors"), weights_);
  EXPECT_FALSE(notices.empty());
  const std::vector<std::string> ranges = hub_.Ranges();
  ASSERT_FALSE(ranges.empty());
  EXPECT_EQ(ranges.back(), "bytes=100000-");  // the rest only, not the whole file again
  EXPECT_EQ(m->downloaded_bytes, weights_.size() + 22);
}

TEST_F(PullerTest, CorruptedBytesAreDetectedAndRefetched) {
  hub_.corrupt_left = 1;
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(ReadAll(fs::path(m->path) / "model.safetensors"), weights_);
}

TEST_F(PullerTest, PersistentCorruptionIsAnErrorAndNothingIsLinked) {
  hub_.corrupt_left = 100;
  options_.max_attempts = 3;
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("corrupted download"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("after 3 attempts"), std::string::npos) << m.status().message();
  EXPECT_FALSE(fs::exists(root_ / "models--org--tiny" / "refs" / "main"));
  EXPECT_FALSE(fs::exists(root_ / "models--org--tiny" / "snapshots" / std::string(40, 'c') / "model.safetensors"));
}

TEST_F(PullerTest, OfflineUsesTheCacheAndSaysWhenTheModelIsAbsent) {
  ASSERT_TRUE(PullId("org/tiny").ok());
  options_.offline = true;
  options_.hub.base = "http://127.0.0.1:1";  // nothing listens: any request would fail
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(ReadAll(fs::path(m->path) / "model.safetensors"), weights_);
  Result<PulledModel> absent = PullId("org/ggufs");
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("HF_HUB_OFFLINE=1"), std::string::npos) << absent.status().message();
}

TEST_F(PullerTest, UnreachableHubFallsBackToTheCachedSnapshot) {
  ASSERT_TRUE(PullId("org/tiny").ok());
  options_.hub.base = "http://127.0.0.1:1";
  options_.max_attempts = 2;
  std::vector<std::string> notices;
  options_.notice = [&](const std::string& n) { notices.push_back(n); };
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices.back().find("using the cached snapshot"), std::string::npos) << notices.back();
}

TEST_F(PullerTest, GatedReposNeedAToken) {
  Result<PulledModel> denied = PullId("org/gated");
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.status().message().find("set HF_TOKEN"), std::string::npos) << denied.status().message();
  options_.hub.token = "wrong";
  Result<PulledModel> wrong = PullId("org/gated");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("does not grant access"), std::string::npos) << wrong.status().message();
  options_.hub.token = FakeHub::kToken;
  Result<PulledModel> ok = PullId("org/gated");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(fs::path(ok->path).filename(), "only.gguf");
}

TEST_F(PullerTest, TransientErrorsAreRetried) {
  hub_.fail_503_left = 2;
  Result<PulledModel> m = PullId("org/tiny");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_GE(hub_.info_gets.load(), 3);
}

TEST_F(PullerTest, GgufReposNeedAFileChoiceWhenAmbiguous) {
  Result<PulledModel> ambiguous = PullId("org/ggufs");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("m.Q4_0.gguf, m.Q8_0.gguf"), std::string::npos);
  Result<PulledModel> chosen = PullId("org/ggufs:m.Q8_0.gguf");
  ASSERT_TRUE(chosen.ok()) << chosen.status().message();
  EXPECT_EQ(fs::path(chosen->path).filename(), "m.Q8_0.gguf");
  EXPECT_EQ(fs::file_size(chosen->path), 9000u);
  EXPECT_FALSE(fs::exists(fs::path(chosen->path).parent_path() / "m.Q4_0.gguf"));
}

TEST_F(PullerTest, MissingRepoIsNotFound) {
  Result<PulledModel> m = PullId("org/absent");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("not found"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace flashstream::hub
