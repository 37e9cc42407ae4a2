// The memory budget is real: a synthetic model over 3x larger than a cgroup v1 memory cap
// (page cache included) streams to completion under the cap with no OOM kill and no failed
// charge, and its logits are bitwise equal to an uncapped resident run. Needs root and the
// cgroup v1 memory controller; skipped with the reason otherwise.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "synth_models.h"
#include "test_env.h"

namespace flashstream {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup/memory";

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

// Runs the flashstream binary with args, inside `cgroup` when not empty; returns the exit status.
int RunCli(const std::vector<std::string>& args, const std::string& cgroup) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!cgroup.empty() && !WriteText(cgroup + "/cgroup.procs", std::to_string(getpid()))) _exit(125);
    std::vector<char*> argv;
    std::string cli = FS_CLI_PATH;
    argv.push_back(cli.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(126);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// GCC defines __SANITIZE_ADDRESS__; clang answers __has_feature(address_sanitizer).
#if defined(__has_feature)
#define FS_HAS_ASAN_FEATURE __has_feature(address_sanitizer)
#else
#define FS_HAS_ASAN_FEATURE 0
#endif
#if defined(__SANITIZE_ADDRESS__) || FS_HAS_ASAN_FEATURE
constexpr bool kAddressSanitizer = true;  // shadow memory and quarantine inflate RSS several-fold
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST(Cgroup, ModelThreeTimesTheCapStreamsWithinIt) {
  if (kAddressSanitizer) GTEST_SKIP() << "a memory cap proves nothing under AddressSanitizer; the release build runs this";
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a memory cgroup";
  struct stat st {};
  if (stat((std::string(kCgroupRoot) + "/memory.limit_in_bytes").c_str(), &st) != 0) {
    GTEST_SKIP() << "cgroup v1 memory controller not mounted at " << kCgroupRoot;
  }
  const std::string vocab = testing::WriteByteVocab();
  // 32 layers of width 768 in q8_0: ~205 MB of weights.
  const std::string model = testing::TempPath("cgroup_model.gguf");
  SynthOptions o;
  o.shape = {32, 768, 12, 4, 2048, 512};
  o.dtype = DType::kQ8_0;
  o.vocab_path = vocab;
  o.output_path = model;
  ASSERT_TRUE(SynthesizeGguf(o).ok());
  struct stat ms {};
  ASSERT_EQ(stat(model.c_str(), &ms), 0);
  const uint64_t cap = 64ull << 20;
  ASSERT_GE(static_cast<uint64_t>(ms.st_size), 3 * cap) << "model must be >= 3x the cap";

  const std::string cgroup = std::string(kCgroupRoot) + "/flashstream_test_" + std::to_string(getpid());
  ASSERT_EQ(mkdir(cgroup.c_str(), 0755), 0) << "cannot create " << cgroup;
  ASSERT_TRUE(WriteText(cgroup + "/memory.limit_in_bytes", std::to_string(cap)));
  const std::string text = "The quick brown fox jumps over the lazy dog. 0123456789";
  const std::string capped_out = testing::TempPath("capped.f32"), free_out = testing::TempPath("free.f32");
  const int capped = RunCli({"eval", "-m", model, "--text", text, "-t", "2", "--ram", "0.035", "--logits-out",
                             capped_out}, cgroup);
  const std::string failcnt = ReadText(cgroup + "/memory.failcnt");
  const std::string oom = ReadText(cgroup + "/memory.oom_control");
  const std::string peak = ReadText(cgroup + "/memory.max_usage_in_bytes");
  rmdir(cgroup.c_str());
  const int uncapped = RunCli({"eval", "-m", model, "--text", text, "-t", "2", "--logits-out", free_out}, "");

  EXPECT_TRUE(WIFEXITED(capped) && WEXITSTATUS(capped) == 0) << "capped run status " << capped;
  EXPECT_TRUE(WIFEXITED(uncapped) && WEXITSTATUS(uncapped) == 0);
  EXPECT_EQ(std::stoull(failcnt), 0u) << "the cgroup hit its cap " << failcnt << " times";
  // Kernels since 4.13 count kills in oom_control; older ones only say whether under OOM.
  if (oom.find("oom_kill ") != std::string::npos) {
    EXPECT_NE(oom.find("oom_kill 0"), std::string::npos) << oom;
  }
  EXPECT_NE(oom.find("under_oom 0"), std::string::npos) << oom;
  EXPECT_LE(std::stoull(peak), cap);
  std::printf("model %lld bytes, cap %llu, cgroup peak %s", static_cast<long long>(ms.st_size),
              static_cast<unsigned long long>(cap), peak.c_str());
  const std::vector<char> a = testing::ReadBytes(capped_out), b = testing::ReadBytes(free_out);
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "capped and uncapped logits differ";
  for (const std::string& p : {model, vocab, capped_out, free_out}) std::remove(p.c_str());
}

}  // namespace
}  // namespace flashstream
