// flashstream command-line entry point: dispatches to the subcommands in commands.h.
#include <CLI/CLI.hpp>  // CLI11 app and subcommands

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"flashstream: run large language models streamed from disk"};
  app.require_subcommand(1);
  namespace cli = flashstream::cli;
  std::vector<std::pair<CLI::App*, cli::CommandFn>> commands;
  auto add = [&](const char* name, const char* help, cli::CommandFn (*adder)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands.emplace_back(sub, adder(*sub));
  };
  add("run", "generate a reply to one prompt", &cli::AddRunCommand);
  add("chat", "multi-turn chat through the model's chat template", &cli::AddChatCommand);
  add("serve", "OpenAI-compatible HTTP server with a chat page", &cli::AddServeCommand);
  add("bench", "measure a model: JSON and a Markdown report with plots", &cli::AddBenchCommand);
  add("inspect", "print a model's architecture, tokenizer and tensors", &cli::AddInspectCommand);
  add("synth", "write a random-weight model of any shape and dtype", &cli::AddSynthCommand);
  add("convert", "rewrite a model as an HF, MLX-quantized or GGUF model", &cli::AddConvertCommand);
  add("eval", "perplexity of a text; optionally dump every logit", &cli::AddEvalCommand);
  add("passkey", "long-context test: find a key hidden in filler text, accuracy per depth", &cli::AddPasskeyCommand);
  add("pull", "download a model from the Hugging Face hub into the shared cache", &cli::AddPullCommand);
  add("list", "models in the Hugging Face cache, with size, format and fit", &cli::AddListCommand);
  add("rm", "remove a model from the Hugging Face cache", &cli::AddRmCommand);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (auto& [sub, run] : commands) {
    if (sub->parsed()) return run();
  }
  return 2;
}
