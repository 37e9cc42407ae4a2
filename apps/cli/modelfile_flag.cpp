#include "modelfile_flag.h"

#include "cli_options.h"  // PrintError
#include "engine/modelfile.h"

namespace flashstream::cli {

void AddModelfileFlag(CLI::App& cmd, std::string& path) {
  cmd.add_option("-f,--file", path, "Modelfile: model, parameters, system message, template (flags override it)");
  cmd.get_option("--model")->required(false);
}

bool ApplyModelfile(CLI::App& cmd, const std::string& path, EngineOptions& engine, GenerateOptions& generate,
                    ChatOptions& chat, bool& seed_given) {
  if (!path.empty()) {
    ModelfileOptions m;  // the built-in defaults, then the Modelfile over them
    Status loaded = LoadModelfile(path, &m);
    if (!loaded.ok()) {
      PrintError(loaded.message());
      return false;
    }
    engine = m.engine;
    generate = m.generate;
    chat = m.chat;
    seed_given = m.seed_given;
    // The flags given on the command line were applied before the Modelfile replaced the
    // options: run their callbacks again (same bound fields) so that they take precedence.
    for (CLI::Option* opt : cmd.get_options()) {
      if (opt->count() > 0 && opt->get_name() != "--file") opt->run_callback();
    }
  }
  if (engine.model_path.empty()) {
    PrintError("no model: give -m/--model or a Modelfile with FROM (-f)");
    return false;
  }
  return true;
}

}  // namespace flashstream::cli
