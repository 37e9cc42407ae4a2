// `flashstream synth`: writes a random-weight GGUF of any supported architecture, shape and dtype, at disk
// speed, with a progress bar. Values do not change speed, so these models serve streaming and
// benchmark work; a real vocabulary (any GGUF with tokenizer metadata) makes them runnable.
#include <fmt/format.h>  // fmt::print

#include <chrono>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "core/progress.h"
#include "formats/synth.h"
#include "formats/synth_hf.h"  // HF / MLX folders

namespace flashstream::cli {
namespace {

struct SynthState {
  std::string arch = "llama";
  std::string shape = "tiny";
  std::string dtype;  // "" = q8_0 for gguf, bf16 for folders
  std::string format = "gguf";
  std::string vocab;
  std::string output;
  uint64_t seed = 0;
  bool tied = false;
  int layers = 0, embd = 0, heads = 0, kv_heads = 0, ff = 0, head_dim = 0;
};

int Synth(const SynthState& st) {
  Result<SynthShape> shape = SynthPreset(st.shape);
  if (!shape.ok()) {
    PrintError(shape.status().message());
    return 2;
  }
  SynthOptions o;
  o.shape = *shape;
  if (st.layers > 0) o.shape.n_layers = st.layers;
  if (st.embd > 0) o.shape.n_embd = st.embd;
  if (st.heads > 0) o.shape.n_heads = st.heads;
  if (st.kv_heads > 0) o.shape.n_kv_heads = st.kv_heads;
  if (st.ff > 0) o.shape.n_ff = st.ff;
  if (st.head_dim > 0) o.shape.head_dim = st.head_dim;
  o.arch = st.arch;
  const bool folder = st.format != "gguf";
  if (folder && st.format != "hf" && st.format != "mlx-q4" && st.format != "mlx-q8") {
    PrintError(fmt::format("synth: --format '{}' is not one of gguf, hf, mlx-q4, mlx-q8", st.format));
    return 2;
  }
  if (folder && st.arch != "llama") {
    PrintError(fmt::format("synth: --format {} writes llama-shaped folders only; --arch {} needs --format gguf",
                           st.format, st.arch));
    return 2;
  }
  const std::string dtype_name = !st.dtype.empty() ? st.dtype : folder ? "bf16" : "q8_0";
  const std::optional<DType> dtype = DTypeFromName(dtype_name);
  if (!dtype) {
    PrintError(fmt::format("synth: unknown --dtype '{}' (f32, f16, bf16, q8_0, q4_0, q4_1)", dtype_name));
    return 2;
  }
  o.dtype = *dtype;
  o.seed = st.seed;
  o.vocab_path = st.vocab;
  o.output_path = st.output;
  o.tied_embeddings = st.tied;
  o.name = fmt::format("synthetic-{}-{}-{}", st.arch, st.shape, folder ? st.format + "-" + dtype_name : dtype_name);
  o.generator_threads = 2;
  ProgressBar bar("synth", "bytes");
  const auto t0 = std::chrono::steady_clock::now();
  const SynthProgress on_progress = [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); };
  const SynthFolder kind = st.format == "hf"       ? SynthFolder::kHf
                           : st.format == "mlx-q4" ? SynthFolder::kMlxQ4
                                                   : SynthFolder::kMlxQ8;
  Status status = folder ? SynthesizeLlamaFolder(o, kind, on_progress) : SynthesizeGguf(o, on_progress);
  bar.Finish();
  if (!status.ok()) {
    PrintError(status.message());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "wrote {} ({} {} layers, n_embd {}, {}) in {:.1f} s\n", st.output, st.format, o.shape.n_layers,
             o.shape.n_embd, dtype_name, secs);
  return 0;
}

}  // namespace

CommandFn AddSynthCommand(CLI::App& cmd) {
  auto st = std::make_shared<SynthState>();
  cmd.add_option("--arch", st->arch, fmt::format("architecture ({})", SynthArchNames()));
  cmd.add_option("--shape", st->shape, "tiny, 7b, 13b, 70b, tiny-moe, mixtral-8x7b, qwen3-30b-a3b (then override with the flags below)");
  cmd.add_option("--format", st->format, "gguf, hf (safetensors folder), mlx-q4 or mlx-q8 (MLX-quantized folder)");
  cmd.add_option("--dtype", st->dtype,
                 "gguf: f32, f16, bf16, q8_0 (default), q4_0, q4_1; folders: f32, f16, bf16 (default; MLX scales)");
  cmd.add_option("--vocab", st->vocab, "GGUF whose tokenizer is copied (e.g. a vocab-only GGUF)")->required();
  cmd.add_option("-o,--output", st->output, "output GGUF path or folder")->required();
  cmd.add_option("--seed", st->seed, "random seed");
  cmd.add_flag("--tied", st->tied, "no output.weight: the head reuses token_embd");
  cmd.add_option("--layers", st->layers, "override: transformer blocks")->check(CLI::PositiveNumber);
  cmd.add_option("--embd", st->embd, "override: model width")->check(CLI::PositiveNumber);
  cmd.add_option("--heads", st->heads, "override: attention heads")->check(CLI::PositiveNumber);
  cmd.add_option("--kv-heads", st->kv_heads, "override: key/value heads")->check(CLI::PositiveNumber);
  cmd.add_option("--ff", st->ff, "override: feed-forward width")->check(CLI::PositiveNumber);
  cmd.add_option("--head-dim", st->head_dim, "override: per-head width (default embd / heads)")->check(CLI::PositiveNumber);
  return [st] { return Synth(*st); };
}

}  // namespace flashstream::cli
