// Interoperability with the huggingface_hub Python client (PyPI; scripts/setup.sh installs it)
// through one loopback hub and one cache: what it downloads, flashstream runs without a
// network request; what flashstream downloads, it finds offline.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fake_hub.h"

namespace flashstream::hub {
namespace {

namespace fs = std::filesystem;

std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  std::FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  return {pclose(p), out};
}

bool HaveHuggingfaceHub() { return Shell("python3 -c 'import huggingface_hub'").first == 0; }

TEST(Interop, HuggingfaceHubAndFlashstreamShareTheCache) {
  const char* model = std::getenv("FS_MODEL_SMOLLM2");
  if (model == nullptr || *model == '\0') GTEST_SKIP() << "FS_MODEL_SMOLLM2 is not set (scripts/test.sh sets it)";
  ASSERT_TRUE(HaveHuggingfaceHub()) << "python3 -m pip install huggingface_hub (scripts/setup.sh does)";
  std::ifstream f(model, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  testing::FakeHub hub;
  const std::string commit_a(40, 'a'), commit_b(40, 'b');
  hub.Add("org/by-python", testing::FakeRepo{commit_a, {{"smol.gguf", bytes, true}, {"README.md", "# a", false}}});
  hub.Add("org/by-flashstream",
          testing::FakeRepo{commit_b, {{"smol.gguf", bytes, true}, {"notes.txt", "plain git file\n", false}}});
  const fs::path cache = fs::temp_directory_path() / ("fs_interop_" + std::to_string(getpid()));
  fs::remove_all(cache);
  const std::string env = "HF_HUB_CACHE=" + cache.string() + " HF_ENDPOINT=" + hub.base() +
                          " HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1 HF_HUB_OFFLINE=0";

  // huggingface_hub downloads; flashstream runs it with no request to the hub.
  auto [py_rc, py_out] = Shell(env +
                               " python3 -c \"from huggingface_hub import hf_hub_download as d; "
                               "print(d('org/by-python', 'smol.gguf'))\"");
  ASSERT_EQ(py_rc, 0) << py_out;
  const int requests = hub.info_gets + hub.file_gets;
  auto [run_rc, run_out] =
      Shell(env + " " + FS_CLI_PATH + " run -m org/by-python -p 'What is the capital of France?' --temp 0 -n 12 -t 2");
  EXPECT_EQ(run_rc, 0) << run_out;
  EXPECT_NE(run_out.find("Paris"), std::string::npos) << run_out;
  EXPECT_EQ(hub.info_gets + hub.file_gets, requests) << "flashstream asked the hub for a cached model";

  // flashstream downloads (an LFS and a plain git file); huggingface_hub finds both offline.
  auto [pull_rc, pull_out] = Shell(env + " " + FS_CLI_PATH + " pull org/by-flashstream:notes.txt");
  ASSERT_EQ(pull_rc, 0) << pull_out;
  auto [pull2_rc, pull2_out] = Shell(env + " " + FS_CLI_PATH + " pull org/by-flashstream:smol.gguf");
  ASSERT_EQ(pull2_rc, 0) << pull2_out;
  auto [find_rc, find_out] =
      Shell("HF_HUB_CACHE=" + cache.string() +
            " HF_HUB_OFFLINE=1 python3 -c \"from huggingface_hub import hf_hub_download as d; "
            "print(d('org/by-flashstream', 'notes.txt')); print(d('org/by-flashstream', 'smol.gguf'))\"");
  ASSERT_EQ(find_rc, 0) << find_out;
  EXPECT_NE(find_out.find("snapshots/" + commit_b + "/notes.txt"), std::string::npos) << find_out;
  EXPECT_NE(find_out.find("snapshots/" + commit_b + "/smol.gguf"), std::string::npos) << find_out;
  fs::remove_all(cache);
}

}  // namespace
}  // namespace flashstream::hub
