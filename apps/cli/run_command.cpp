// `flashstream run`: one prompt, the reply streamed to stdout, a summary on stderr.
#include <fmt/format.h>  // fmt::print

#include <cstdio>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "engine/chat.h"
#include "modelfile_flag.h"

namespace flashstream::cli {
namespace {

struct RunState {
  EngineOptions engine;
  GenerateOptions generate;
  ChatOptions chat;  // --system, Modelfile SYSTEM and MESSAGE
  bool seed_given = false;
  std::string prompt;
  bool raw = false;
  std::string stats_json;
  std::string modelfile;
};

int Run(CLI::App& cmd, RunState& st) {
  if (!ApplyModelfile(cmd, st.modelfile, st.engine, st.generate, st.chat, st.seed_given)) return 2;
  ResolveSeed(st.generate, st.seed_given, st.engine.verbose);
  std::unique_ptr<Session> session = LoadSession(st.engine);
  if (!session) return 1;
  std::vector<int32_t> ids;
  if (st.raw) {
    ids = session->tokenizer().Encode(st.prompt, /*add_special=*/true, /*parse_special=*/true);
  } else {
    Result<ChatFormatter> chat = ChatFormatter::Create(session->index().tokenizer, session->tokenizer());
    if (!chat.ok()) {
      PrintError(chat.status().message());
      return 1;
    }
    std::vector<ChatMessage> messages;
    if (!st.chat.system.empty()) messages.push_back({"system", st.chat.system});
    for (const PresetMessage& m : st.chat.messages) messages.push_back({m.role, m.content});
    messages.push_back({"user", st.prompt});
    Result<std::string> rendered = chat->Render(messages, true);
    if (!rendered.ok()) {
      PrintError(rendered.status().message());
      return 1;
    }
    if (st.engine.verbose) {
      fmt::print(stderr, "chat template: {}\nprompt:\n{}\n",
                 chat->uses_fallback() ? "ChatML (the model has none)" : "the model's own", *rendered);
    }
    ids = chat->Tokenize(*rendered);
  }
  Result<RunStats> stats = session->Generate(ids, st.generate, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  if (!stats.ok()) {
    PrintError(stats.status().message());
    return 1;
  }
  PrintSummary(*session, *stats, st.engine.verbose);
  if (!st.stats_json.empty()) {
    std::FILE* f = std::fopen(st.stats_json.c_str(), "w");
    const std::string json = SummaryJson(*stats) + "\n";
    if (f == nullptr || std::fputs(json.c_str(), f) < 0 || std::fclose(f) != 0) {
      PrintError(fmt::format("{}: cannot write the statistics", st.stats_json));
      return 1;
    }
  }
  if (!st.engine.trace_path.empty()) {
    Status traced = session->WriteTrace(st.engine.trace_path);
    if (!traced.ok()) {
      PrintError(traced.message());
      return 1;
    }
  }
  return 0;
}

}  // namespace

CommandFn AddRunCommand(CLI::App& cmd) {
  auto st = std::make_shared<RunState>();
  AddEngineFlags(cmd, st->engine);
  AddGenerateFlags(cmd, st->generate, st->seed_given);
  cmd.add_option("-p,--prompt", st->prompt, "the prompt")->required();
  AddModelfileFlag(cmd, st->modelfile);
  cmd.add_option("--system", st->chat.system, "system message");
  cmd.add_flag("--raw", st->raw, "feed the prompt as plain text, without the chat template");
  cmd.add_option("--stats-json", st->stats_json, "write the run statistics as JSON to this file");
  CLI::App* self = &cmd;
  return [self, st] { return Run(*self, *st); };
}

}  // namespace flashstream::cli
