// -f/--file MODELFILE for the commands that load a model: the Modelfile gives the defaults and
// any flag given on the command line overrides them (engine/modelfile.h reads the file).
#pragma once

#include <CLI/CLI.hpp>  // CLI11 options and their callbacks
#include <string>

#include "flashstream/options.h"

namespace flashstream::cli {

// Adds -f/--file bound to `path` and makes -m/--model optional (FROM can give it instead).
// Call after AddEngineFlags.
void AddModelfileFlag(CLI::App& cmd, std::string& path);

// After parsing: when `path` is set, loads the Modelfile into the options, then applies again
// every flag given on the command line so that flags win. Then checks that a model is named.
// Prints the error and returns false on failure.
bool ApplyModelfile(CLI::App& cmd, const std::string& path, EngineOptions& engine, GenerateOptions& generate,
                    ChatOptions& chat, bool& seed_given);

}  // namespace flashstream::cli
