// `flashstream chat`: a multi-turn conversation on the terminal. Ctrl-C stops the reply being
// generated and returns to the prompt; Ctrl-C at the prompt, Ctrl-D or /exit ends the session.
#include <fmt/format.h>  // fmt::print
#include <signal.h>      // sigaction for Ctrl-C

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "engine/chat.h"

namespace flashstream::cli {
namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT; the handler may touch nothing else

void OnSigint(int) { g_interrupted.store(true); }

struct ChatState {
  EngineOptions engine;
  GenerateOptions generate;
  bool seed_given = false;
  std::string system;
};

bool ReadLine(std::string& line) {
  fmt::print(stdout, "\n> ");
  std::fflush(stdout);
  g_interrupted.store(false);
  if (!std::getline(std::cin, line)) return false;
  return !g_interrupted.load();
}

int Chat(ChatState& st) {
  ResolveSeed(st.generate, st.seed_given, st.engine.verbose);
  std::unique_ptr<Session> session = LoadSession(st.engine);
  if (!session) return 1;
  Result<ChatFormatter> chat = ChatFormatter::Create(session->index().tokenizer, session->tokenizer());
  if (!chat.ok()) {
    PrintError(chat.status().message());
    return 1;
  }
  if (st.engine.verbose) {
    fmt::print(stderr, "chat template: {}\n", chat->uses_fallback() ? "ChatML (the model has none)" : "the model's own");
  }
  struct sigaction action {};
  action.sa_handler = OnSigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);  // no SA_RESTART: Ctrl-C interrupts getline too

  std::vector<ChatMessage> messages;
  if (!st.system.empty()) messages.push_back({"system", st.system});
  fmt::print(stderr, "chat with {} — /reset clears the conversation, /exit or Ctrl-D ends it; Ctrl-C stops a reply\n",
             session->index().config.name.empty() ? st.engine.model_path : session->index().config.name);
  std::string line;
  while (ReadLine(line)) {
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages.resize(st.system.empty() ? 0 : 1);
      session->Reset();
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    Result<std::string> rendered = chat->Render(messages, true);
    if (!rendered.ok()) {
      PrintError(rendered.status().message());
      messages.pop_back();
      continue;
    }
    std::string reply;
    Result<RunStats> stats = session->Generate(chat->Tokenize(*rendered), st.generate,
                                               [&reply](std::string_view piece) {
                                                 reply += piece;
                                                 std::fwrite(piece.data(), 1, piece.size(), stdout);
                                                 std::fflush(stdout);
                                               },
                                               &g_interrupted);
    std::fputc('\n', stdout);
    if (!stats.ok()) {
      PrintError(stats.status().message());
      messages.pop_back();
      continue;
    }
    messages.push_back({"assistant", reply});
    if (st.engine.verbose) PrintSummary(*session, *stats, true);
  }
  fmt::print(stdout, "\n");
  return 0;
}

}  // namespace

CommandFn AddChatCommand(CLI::App& cmd) {
  auto st = std::make_shared<ChatState>();
  AddEngineFlags(cmd, st->engine);
  AddGenerateFlags(cmd, st->generate, st->seed_given);
  cmd.add_option("--system", st->system, "system message");
  return [st] { return Chat(*st); };
}

}  // namespace flashstream::cli
