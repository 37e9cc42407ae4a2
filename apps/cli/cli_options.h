// Binds the shared options structure (include/flashstream/options.h) to CLI flags, once, for
// every subcommand that loads a model; and the helpers they share (loading with a progress bar,
// printing errors and the run summary).
#pragma once

#include <CLI/CLI.hpp>  // CLI11 flag binding

#include <memory>
#include <string>

#include "engine/session.h"
#include "hub/puller.h"
#include "flashstream/options.h"

namespace flashstream::cli {

void AddEngineFlags(CLI::App& cmd, EngineOptions& options);
void AddGenerateFlags(CLI::App& cmd, GenerateOptions& options, bool& seed_given);
// Picks a random seed unless one was given; prints it with --verbose.
void ResolveSeed(GenerateOptions& options, bool seed_given, bool verbose);
// Hub options from the environment with a download progress bar and notices on stderr.
hub::PullOptions HubOptionsWithProgress();
// -m's value as a local path, downloading a hub model id if needed (engine/model_source.h).
Result<std::string> ResolveModel(const std::string& model, const std::string& revision);
// Resolves the model, then loads it with a progress bar; prints the error and returns nullptr
// on failure.
std::unique_ptr<Session> LoadSession(const EngineOptions& options);
void PrintError(const std::string& message);
void PrintSummary(const Session& session, const RunStats& stats, bool verbose);

}  // namespace flashstream::cli
