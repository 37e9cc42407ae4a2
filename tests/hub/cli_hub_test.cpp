// The CLI end to end against a loopback hub: `run -m org/name` downloads the real SmolLM2 GGUF
// into a fresh cache and answers; `list` shows it; offline `run` uses it; `rm` removes it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fake_hub.h"

namespace flashstream::hub {
namespace {

namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string out;
};

// Runs the CLI with `env` prepended (NAME=value ...); stdout and stderr together.
Output RunCli(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + FS_CLI_PATH + " " + args + " 2>&1";
  Output o;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) o.out.append(buf, n);
  o.status = pclose(p);
  return o;
}

TEST(CliHub, RunByModelIdDownloadsListsWorksOfflineAndRemoves) {
  const char* model = std::getenv("FS_MODEL_SMOLLM2");
  if (model == nullptr || *model == '\0') GTEST_SKIP() << "FS_MODEL_SMOLLM2 is not set (scripts/test.sh sets it)";
  std::ifstream f(model, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000000u);
  testing::FakeHub hub;
  hub.Add("HuggingFaceTB/smol",
          testing::FakeRepo{std::string(40, 'f'), {{"README.md", "# smol", false}, {"smol.Q4_1.gguf", bytes, true}}});
  const fs::path cache = fs::temp_directory_path() / ("fs_cli_hub_" + std::to_string(getpid()));
  fs::remove_all(cache);
  const std::string env = "HF_HUB_CACHE=" + cache.string() + " HF_ENDPOINT=" + hub.base() + " HF_HUB_OFFLINE=0";
  const std::string run = "run -m HuggingFaceTB/smol -p 'What is the capital of France?' --temp 0 -n 16 -t 2";

  Output first = RunCli(env, run);
  EXPECT_EQ(first.status, 0) << first.out;
  EXPECT_NE(first.out.find("Paris"), std::string::npos) << first.out;
  EXPECT_TRUE(
      fs::is_symlink(cache / "models--HuggingFaceTB--smol" / "snapshots" / std::string(40, 'f') / "smol.Q4_1.gguf"));

  Output list = RunCli(env, "list --ram 1");
  EXPECT_EQ(list.status, 0) << list.out;
  EXPECT_NE(list.out.find("HuggingFaceTB/smol"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("gguf"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("resident"), std::string::npos) << list.out;

  const int gets = hub.file_gets;
  Output offline = RunCli("HF_HUB_CACHE=" + cache.string() + " HF_ENDPOINT=http://127.0.0.1:1 HF_HUB_OFFLINE=1", run);
  EXPECT_EQ(offline.status, 0) << offline.out;
  EXPECT_NE(offline.out.find("Paris"), std::string::npos) << offline.out;
  EXPECT_EQ(hub.file_gets.load(), gets);

  Output rm = RunCli(env, "rm HuggingFaceTB/smol");
  EXPECT_EQ(rm.status, 0) << rm.out;
  EXPECT_FALSE(fs::exists(cache / "models--HuggingFaceTB--smol"));
  Output gone = RunCli("HF_HUB_CACHE=" + cache.string() + " HF_HUB_OFFLINE=1", run);
  EXPECT_NE(gone.status, 0);
  EXPECT_NE(gone.out.find("HF_HUB_OFFLINE=1"), std::string::npos) << gone.out;
  fs::remove_all(cache);
}

TEST(CliHub, BadInputGivesOneClearLineAndLeavesNothingHalfWritten) {
  testing::FakeHub hub;
  hub.Add("org/big", testing::FakeRepo{std::string(40, '1'), {{"big.gguf", std::string(400'000, 'w'), true}}});
  hub.Add("org/docs", testing::FakeRepo{std::string(40, '2'), {{"README.md", "# no weights", false}}});
  const fs::path cache = fs::temp_directory_path() / ("fs_cli_hub_bad_" + std::to_string(getpid()));
  fs::remove_all(cache);
  const std::string env = "HF_HUB_CACHE=" + cache.string() + " HF_ENDPOINT=" + hub.base() + " HF_HUB_OFFLINE=0";

  Output malformed = RunCli(env, "pull 'not a/model/id'");
  EXPECT_NE(malformed.status, 0);
  EXPECT_NE(malformed.out.find("expected a model id ORG/NAME"), std::string::npos) << malformed.out;
  Output unknown = RunCli(env, "pull org/absent");
  EXPECT_NE(unknown.status, 0);
  EXPECT_NE(unknown.out.find("not found on the hub"), std::string::npos) << unknown.out;
  Output no_weights = RunCli(env, "pull org/docs");
  EXPECT_NE(no_weights.status, 0);
  EXPECT_NE(no_weights.out.find("neither safetensors nor GGUF"), std::string::npos) << no_weights.out;

  // A full disk: file writes fail past 100 KiB (RLIMIT_FSIZE, with SIGXFSZ ignored).
  Output full = RunCli("trap '' XFSZ; ulimit -f 100; " + env, "pull org/big");
  EXPECT_NE(full.status, 0);
  EXPECT_NE(full.out.find("write failed"), std::string::npos) << full.out;
  EXPECT_FALSE(fs::exists(cache / "models--org--big" / "snapshots" / std::string(40, '1') / "big.gguf"));
  EXPECT_FALSE(fs::exists(cache / "models--org--big" / "refs" / "main"));
  // Room again: the pull resumes from the partial blob and completes.
  Output resumed = RunCli(env, "pull org/big");
  EXPECT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_EQ(fs::file_size(cache / "models--org--big" / "snapshots" / std::string(40, '1') / "big.gguf"), 400'000u);
  fs::remove_all(cache);
}

}  // namespace
}  // namespace flashstream::hub
