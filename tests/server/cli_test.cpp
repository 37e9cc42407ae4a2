// The flashstream binary: `run -f Modelfile` takes its defaults from the Modelfile and flags win
// over them; `serve -f Modelfile --port 0` prints where it listens, answers with the Modelfile's
// defaults, and exits cleanly on SIGTERM; a bad Modelfile is a usage error naming the line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>  // client for the served API
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "e2e/test_env.h"

namespace flashstream::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CliModelfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FS_REQUIRE_SMOLLM2();
    dir_ = fs::temp_directory_path() / ("fs_cli_modelfile_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // Runs a shell command; returns its exit status.
  static int Shell(const std::string& cmd) {
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  json Stats() const {
    std::ifstream f(dir_ / "stats.json");
    return json::parse(f);
  }

  fs::path dir_;
};

TEST_F(CliModelfileTest, RunTakesModelfileDefaultsAndFlagsWin) {
  const std::string mf = Write("Modelfile", "FROM " + SmolLm2Path() +
                                                "\nPARAMETER num_predict 3\nPARAMETER temperature 0\n"
                                                "PARAMETER num_ctx 256\nSYSTEM \"\"\"Answer in one word.\"\"\"\n");
  auto run = [&](const std::string& flags) {
    return Shell(std::string(FS_CLI_PATH) + " run -f " + mf + " -t 2 --ignore-eos -p 'Name a color.' --stats-json " +
                 (dir_ / "stats.json").string() + " " + flags + " > /dev/null 2>&1");
  };
  ASSERT_EQ(run(""), 0);
  EXPECT_EQ(Stats()["generated_tokens"], 3);
  const int prompt_with_system = Stats()["prompt_tokens"];
  ASSERT_EQ(run("-n 2"), 0);
  EXPECT_EQ(Stats()["generated_tokens"], 2);
  ASSERT_EQ(run("--system Hi."), 0);
  EXPECT_LT(Stats()["prompt_tokens"].get<int>(), prompt_with_system);  // the shorter --system replaced SYSTEM
}

TEST_F(CliModelfileTest, BadModelfileIsAUsageErrorNamingTheLine) {
  const std::string mf = Write("Bad", "FROM " + SmolLm2Path() + "\nPARAMETER temperature warm\n");
  const std::string err = (dir_ / "err.txt").string();
  EXPECT_EQ(Shell(std::string(FS_CLI_PATH) + " run -f " + mf + " -p hi 2> " + err), 2);
  std::ifstream f(err);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(mf + ":2: temperature: expected a number >= 0, got 'warm'"), std::string::npos) << text;
  EXPECT_EQ(Shell(std::string(FS_CLI_PATH) + " run -p hi > /dev/null 2>&1"), 2);  // neither -m nor -f
}

TEST_F(CliModelfileTest, ServeListensAnswersAndStopsOnSigterm) {
  const std::string mf =
      Write("Modelfile", "FROM " + SmolLm2Path() + "\nPARAMETER num_predict 4\nPARAMETER temperature 0\n");
  const std::string out = (dir_ / "out.txt").string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    execl(FS_CLI_PATH, FS_CLI_PATH, "serve", "-f", mf.c_str(), "--port", "0", "-t", "2", "--api-key", "k", nullptr);
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 600 && port == 0; ++i) {  // wait for "listening on http://127.0.0.1:PORT"
    std::ifstream f(out);
    std::string line;
    if (std::getline(f, line) && line.rfind("listening on http://127.0.0.1:", 0) == 0) {
      port = std::stoi(line.substr(line.rfind(':') + 1));
    }
    if (port == 0) usleep(50000);
  }
  ASSERT_GT(port, 0) << "serve printed no address";
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  c.set_bearer_token_auth("k");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "SmolLM2-135M-Instruct.Q4_1");
  auto res = c.Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "Hi"}], "ignore_eos": true})",
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["usage"]["completion_tokens"], 4);  // PARAMETER num_predict
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(CliModelfileTest, BenchWritesJsonAndReport) {
  const std::string out = (dir_ / "bench").string();
  ASSERT_EQ(Shell(std::string(FS_CLI_PATH) + " bench -m " + SmolLm2Path() + " -t 2 --ram 0.05 --prompt-tokens 16 " +
                  "--gen-tokens 4 --no-plots -o " + out + " > /dev/null 2>&1"),
            0);
  std::ifstream f(dir_ / "bench" / "bench.json");
  const json b = json::parse(f);
  EXPECT_EQ(b["prefill"]["tokens"], 16);
  EXPECT_EQ(b["decode"]["tokens"], 4);
  EXPECT_GT(b["decode"]["tokens_per_second"].get<double>(), 0);
  EXPECT_GT(b["limits"]["memory_gbps"].get<double>(), 0);
  EXPECT_GT(b["limits"]["disk_gbps"].get<double>(), 0);
  EXPECT_GT(b["decode"]["disk_bytes_per_pass"].get<double>(), 0);  // --ram 0.05 streams part of the layers
  EXPECT_GT(b["decode"]["ratio_to_limit"].get<double>(), 0);
  EXPECT_EQ(b["layers"].size(), 30u);
  std::ifstream trace(dir_ / "bench" / "trace.csv");
  std::string header;
  std::getline(trace, header);
  EXPECT_EQ(header, "layer,io_begin,io_end,compute_begin,compute_end");
  std::ifstream md(dir_ / "bench" / "report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("| decode (4 tokens) |"), std::string::npos) << report;
  EXPECT_NE(report.find("No plots"), std::string::npos);
}

}  // namespace
}  // namespace flashstream::testing
