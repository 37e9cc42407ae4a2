// `flashstream convert IN --to hf|mlx-q4|mlx-q8|gguf -o OUT`: rewrites any
// readable model in another format, with a progress bar (see model_convert.h).
// The tokenizer is copied only into GGUF outputs from GGUF inputs: writing
// tokenizer.json is not implemented yet.
#include <fmt/format.h>  // fmt::print

#include <chrono>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "core/progress.h"
#include "formats/model_reader.h"
#include "model_convert.h"

namespace flashstream::cli {
namespace {

struct ConvertState {
  std::string input;
  std::string to = "hf";
  std::string dtype;
  int group_size = 64;
  bool embed_4bit = false;
  std::string output;
};

int Convert(const ConvertState& st) {
  ConvertOptions o;
  if (st.to == "hf") {
    o.target = ConvertTarget::kHf;
  } else if (st.to == "mlx-q4") {
    o.target = ConvertTarget::kMlxQ4;
  } else if (st.to == "mlx-q8") {
    o.target = ConvertTarget::kMlxQ8;
  } else if (st.to == "gguf") {
    o.target = ConvertTarget::kGguf;
  } else {
    PrintError(fmt::format("convert: --to '{}' is not one of hf, mlx-q4, mlx-q8, gguf", st.to));
    return 2;
  }
  const std::string dtype = !st.dtype.empty()
                                ? st.dtype
                                : (o.target == ConvertTarget::kHf || o.target == ConvertTarget::kGguf ? "f32" : "f16");
  const std::optional<DType> d = DTypeFromName(dtype);
  if (!d) {
    PrintError(fmt::format("convert: unknown --dtype '{}' (f32, f16, bf16)", dtype));
    return 2;
  }
  o.dtype = *d;
  o.group_size = st.group_size;
  o.embed_8bit = !st.embed_4bit;
  o.source_path = st.input;
  o.output = st.output;
  Result<ModelIndex> in = ReadModel(st.input);
  if (!in.ok()) {
    PrintError(in.status().message());
    return 1;
  }
  ProgressBar bar("convert", "bytes");
  const auto t0 = std::chrono::steady_clock::now();
  bool tokenizer_written = false;
  Status status = ConvertModel(
      *in, o, [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); }, &tokenizer_written);
  bar.Finish();
  if (!status.ok()) {
    PrintError(status.message());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "wrote {} ({} -> {}, {}) in {:.1f} s{}\n", st.output, in->format, st.to, dtype, secs,
             tokenizer_written ? "" : "; no tokenizer written (none to copy, or no writer for tokenizer.json yet)");
  return 0;
}

}  // namespace

CommandFn AddConvertCommand(CLI::App& cmd) {
  auto st = std::make_shared<ConvertState>();
  cmd.add_option("input", st->input, "model: GGUF file or Hugging Face / MLX folder")->required();
  cmd.add_option("--to", st->to, "hf, mlx-q4, mlx-q8 or gguf");
  cmd.add_option("--dtype", st->dtype,
                 "f32, f16 or bf16: hf tensors (default f32); mlx scales, "
                 "biases and norms (default f16); "
                 "gguf: MLX tensors (default f32)");
  cmd.add_option("--group-size", st->group_size, "mlx: values per scale and bias (32, 64, 128)");
  cmd.add_flag("--embed-4bit", st->embed_4bit, "mlx-q4: quantize token_embd / output to 4 bits too (default 8)");
  cmd.add_option("-o,--output", st->output, "output folder (hf, mlx) or file (gguf)")->required();
  return [st] { return Convert(*st); };
}

}  // namespace flashstream::cli
