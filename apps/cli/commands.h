// The flashstream subcommands. Each Add*Command registers its flags on the CLI11 app and
// returns the function that runs it (exit code: 0 ok, 1 runtime error, 2 usage).
#pragma once

#include <CLI/CLI.hpp>  // CLI11 subcommands and flags

#include <functional>

namespace flashstream::cli {

using CommandFn = std::function<int()>;

CommandFn AddRunCommand(CLI::App& app);
CommandFn AddChatCommand(CLI::App& app);
CommandFn AddInspectCommand(CLI::App& app);
CommandFn AddSynthCommand(CLI::App& app);
CommandFn AddEvalCommand(CLI::App& app);
CommandFn AddPullCommand(CLI::App& app);
CommandFn AddListCommand(CLI::App& app);
CommandFn AddRmCommand(CLI::App& app);
CommandFn AddConvertCommand(CLI::App& app);
CommandFn AddServeCommand(CLI::App& app);
CommandFn AddBenchCommand(CLI::App& app);
CommandFn AddPasskeyCommand(CLI::App& app);

}  // namespace flashstream::cli
