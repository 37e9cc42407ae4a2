// Named options: the one place that turns a "name value" pair of text into a field of the shared
// options structures (include/flashstream/options.h), with its range check. The Modelfile
// (PARAMETER and the flashstream directives), Python keyword arguments and the server's
// request fields all go through it, so a value is validated, and an error worded, the same way
// everywhere. The CLI binds the same fields to flags in apps/cli/cli_options.cpp.
// Pure functions; thread-compatible.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "flashstream/options.h"

namespace flashstream {

// Where SetOption writes. `seed_given` (may be null) is set when "seed" is set.
struct OptionTarget {
  EngineOptions* engine = nullptr;
  GenerateOptions* generate = nullptr;
  bool* seed_given = nullptr;
};

// Sets option `name` from its text `value`. Names (Ollama's where it has one):
//   engine:   model, num_ctx, num_thread, ram, vram, prefetch, io_depth, io_chunk_kib, mmap,
//             int8_act, act (exact, int8x3, int8x2, int8), pacer, kv_quant (8, 4, 0), kv_window, kv_ram, kv_spill_dir,
//             device (cpu, cuda, cuda:N), bf16_act, draft_model, self_draft
//   generate: temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, num_predict,
//             stop (appends), seed, lookup, draft_max, ignore_eos
// num_predict -1 means "until end of generation or the context is full". Errors are one line:
// "<name>: expected <what>, got '<value>'", or "unknown option '<name>'".
Status SetOption(std::string_view name, std::string_view value, const OptionTarget& target);

// True when `name` is one of the names above.
bool IsOptionName(std::string_view name);

// The names above, in that order.
const std::vector<std::string_view>& OptionNames();

}  // namespace flashstream
