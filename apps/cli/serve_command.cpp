// `flashstream serve`: the OpenAI-compatible HTTP server (src/server) over one loaded model,
// until SIGINT or SIGTERM.
#include <fmt/format.h>  // fmt::print
#include <signal.h>      // sigwait on SIGINT/SIGTERM

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "modelfile_flag.h"
#include "server/server.h"

namespace flashstream::cli {
namespace {

struct ServeState {
  EngineOptions engine;
  GenerateOptions generate;
  ChatOptions chat;
  ServerOptions server;
  bool seed_given = false;
  double max_body_mib = 4;
  std::string modelfile;
};

// The name /v1/models shows for -m's value: a hub id as given, a file without ".gguf", a folder's name.
std::string ModelIdFor(const std::string& model) {
  std::filesystem::path p(model);
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return model;
  if (!p.has_filename()) p = p.parent_path();
  return p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
}

int Serve(CLI::App& cmd, ServeState& st) {
  if (!ApplyModelfile(cmd, st.modelfile, st.engine, st.generate, st.chat, st.seed_given)) return 2;
  st.server.max_body_bytes = static_cast<size_t>(st.max_body_mib * 1048576.0);
  st.server.fixed_seed = st.seed_given;
  if (st.server.model_id.empty()) st.server.model_id = ModelIdFor(st.engine.model_path);
  // Every thread started from here on inherits this mask, so the signals reach only sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Session> session = LoadSession(st.engine);
  if (!session) return 1;
  Result<std::unique_ptr<server::Server>> srv = server::Server::Create(*session, st.server, st.generate, st.chat);
  if (!srv.ok()) {
    PrintError(srv.status().message());
    return 1;
  }
  if (Status started = (*srv)->Start(); !started.ok()) {
    PrintError(started.message());
    return 1;
  }
  const std::string url = fmt::format("http://{}:{}", st.server.host, (*srv)->port());
  fmt::print(stderr, "flashstream: serving {} at {} (OpenAI API under /v1, chat page at /, metrics at /metrics){}\n",
             st.engine.model_path, url, st.server.api_key.empty() ? "" : "; API key required");
  fmt::print(stdout, "listening on {}\n", url);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  fmt::print(stderr, "flashstream: {}: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*srv)->Stop();
  return 0;
}

}  // namespace

CommandFn AddServeCommand(CLI::App& cmd) {
  auto st = std::make_shared<ServeState>();
  AddEngineFlags(cmd, st->engine);
  AddGenerateFlags(cmd, st->generate, st->seed_given);
  AddModelfileFlag(cmd, st->modelfile);
  cmd.add_option("--system", st->chat.system, "system message for chat requests that bring none");
  cmd.add_option("--host", st->server.host, "address to listen on (default loopback; 0.0.0.0 = every interface)");
  cmd.add_option("--port", st->server.port, "port (0 = any free port; the chosen one is printed)")
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--api-key", st->server.api_key, "require 'Authorization: Bearer KEY' on /v1/* and /metrics")
      ->envname("FLASHSTREAM_API_KEY");
  cmd.add_option("--max-queue", st->server.max_queue, "requests waiting for the engine at most (more get 503)")
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--max-body-mb", st->max_body_mib, "largest request body in MiB (larger get 413)")
      ->check(CLI::Range(0.001, 1024.0));
  cmd.add_option("--model-id", st->server.model_id, "model name in /v1/models (default: the model's name)");
  CLI::App* self = &cmd;
  return [self, st] { return Serve(*self, *st); };
}

}  // namespace flashstream::cli
