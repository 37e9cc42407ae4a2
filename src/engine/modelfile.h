// Modelfile: Ollama's recipe format for a model and its defaults, read into the shared options
// structures (include/flashstream/options.h) through the named options (engine/option_table.h).
//
//   # comment
//   FROM ./SmolLM2-135M-Instruct.Q4_1.gguf       model file, folder or hub id
//   PARAMETER temperature 0.7                     temperature top_k top_p min_p repeat_penalty
//   PARAMETER stop "<|im_end|>"                   repeat_last_n num_ctx num_predict stop seed num_thread
//                                                 lookup draft_max (speculative decoding)
//   SYSTEM """You are terse."""                   default system message
//   TEMPLATE """{% for m in messages %}..."""     a Jinja chat template (not Ollama's Go templates)
//   MESSAGE user Hello                            preset turns (system, user, assistant)
//   RAM 2.0 | VRAM 8 | KV_QUANT 8 | KV_WINDOW 128 | DEVICE cpu | PREFETCH 4   flashstream's own,
//   DRAFT_MODEL small.gguf | SELF_DRAFT 4                                     and speculative decoding
//   LICENSE """..."""                             kept as text, no effect
//
// Directives are case-insensitive; a value is the rest of the line, a "double-quoted" string
// (\" and \\ escapes) or a """triple-quoted""" block that may span lines. Every error names the
// file and line: unknown directives and parameters, bad values, a second FROM, no FROM, an
// unterminated quote, text after a closing quote, invalid UTF-8. Pure; thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "flashstream/options.h"

namespace flashstream {

// What a Modelfile sets, over the defaults the caller put in before parsing.
struct ModelfileOptions {
  EngineOptions engine;      // FROM -> model_path (as written), num_ctx, RAM, ...
  GenerateOptions generate;  // PARAMETER sampling and stop strings
  ChatOptions chat;          // SYSTEM, MESSAGE
  bool seed_given = false;   // PARAMETER seed was present
  std::string license;       // LICENSE text
};

// Parses `text`; `file_name` only names the file in errors. Fields the Modelfile does not set
// keep their value in `out`. Stop strings are appended to those already there.
Status ParseModelfile(std::string_view text, std::string_view file_name, ModelfileOptions* out);

// Reads and parses the Modelfile at `path`; a relative FROM path that exists next to the
// Modelfile is made relative to the Modelfile's folder (else it is kept: a hub id or a path
// relative to the working directory).
Status LoadModelfile(const std::string& path, ModelfileOptions* out);

}  // namespace flashstream
