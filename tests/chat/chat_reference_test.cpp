// Renders every case of tests/data/chat/templates.json (written by
// scripts/ref_chat_templates.py with jinja2 configured as transformers configures it) and
// requires byte-identical output, or an error where jinja2 raised one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>  // reading the reference file
#include <sstream>
#include <string>

#include "tokenizer/chat_template.h"

namespace flashstream {
namespace {

std::string SourceDir() {
  const char* env = std::getenv("FS_SOURCE_DIR");
  return env != nullptr ? env : FS_SOURCE_DIR;
}

nlohmann::ordered_json LoadReference() {
  const std::string path = SourceDir() + "/tests/data/chat/templates.json";
  std::ifstream f(path);
  if (!f) return nullptr;
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::ordered_json::parse(ss.str());
}

std::vector<ChatMessage> PlainMessages(const nlohmann::ordered_json& messages) {
  std::vector<ChatMessage> out;
  for (const auto& m : messages) out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

TEST(ChatReference, AllCasesMatchJinja2) {
  const nlohmann::ordered_json ref = LoadReference();
  ASSERT_FALSE(ref.is_null()) << "missing tests/data/chat/templates.json under " << SourceDir();
  std::map<std::string, ChatTemplate> parsed;
  for (const auto& [name, t] : ref.at("templates").items()) {
    Result<ChatTemplate> ct = ChatTemplate::Parse(t.at("source").get<std::string>());
    ASSERT_TRUE(ct.ok()) << name << ": " << ct.status().message();
    parsed.emplace(name, std::move(ct).value());
  }
  ChatRenderOptions options;
  options.now_unix = ref.at("now_unix").get<int64_t>();
  int passed = 0;
  int total = 0;
  for (const auto& c : ref.at("cases")) {
    ++total;
    const std::string name = c.at("name").get<std::string>();
    const std::string tname = c.at("template").get<std::string>();
    const ChatTemplate& tmpl = parsed.at(tname);
    const auto& ctx = c.at("context");
    const bool uses_clock =
        ref.at("templates").at(tname).at("source").get<std::string>().find("strftime_now") != std::string::npos;
    Result<std::string> out = std::string();
    if (c.at("plain").get<bool>() && !uses_clock) {
      // The ChatMessage API; the clock-free templates render the same whatever the date.
      out = tmpl.Render(PlainMessages(ctx.at("messages")), ctx.at("add_generation_prompt").get<bool>(),
                        ctx.at("bos_token").get<std::string>(), ctx.at("eos_token").get<std::string>());
    } else {
      out = tmpl.RenderContext(ctx, options);
    }
    bool ok = false;
    if (c.contains("expected")) {
      const std::string want = c.at("expected").get<std::string>();
      EXPECT_TRUE(out.ok()) << name << ": " << out.status().message();
      if (out.ok()) {
        EXPECT_EQ(*out, want) << name;
        ok = *out == want;
      }
    } else {
      EXPECT_FALSE(out.ok()) << name << ": jinja2 raised " << c.at("expected_error") << " but we rendered:\n"
                             << (out.ok() ? *out : "");
      ok = !out.ok();
      if (!out.ok() && c.contains("raised")) {
        const std::string raised = c.at("raised").get<std::string>();
        EXPECT_NE(out.status().message().find(raised), std::string::npos)
            << name << ": error '" << out.status().message() << "' lacks the template's message '" << raised << "'";
        ok = ok && out.status().message().find(raised) != std::string::npos;
      }
    }
    passed += ok ? 1 : 0;
  }
  std::printf("chat reference: %d/%d cases match jinja2\n", passed, total);
  EXPECT_GE(total, 200);
}

TEST(ChatReference, FallbackIsTheReferencedChatMl) {
  const nlohmann::ordered_json ref = LoadReference();
  ASSERT_FALSE(ref.is_null());
  EXPECT_EQ(ref.at("templates").at("chatml").at("source").get<std::string>(), ChatMlTemplateSource());
}

}  // namespace
}  // namespace flashstream
