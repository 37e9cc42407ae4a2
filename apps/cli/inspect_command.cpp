// `flashstream inspect`: architecture, hyperparameters, tokenizer, tensors and byte totals,
// read from the model's header alone (no weights are loaded).
#include <fmt/format.h>  // fmt::print

#include <cmath>
#include <map>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "formats/expert_layout.h"  // MeasureExperts: expert sizes and active bytes
#include "formats/model_reader.h"
#include "models/arch.h"  // FindArch: the architecture's block features
#include "store/weight_store.h"

namespace flashstream::cli {
namespace {

struct InspectState {
  std::string path;
  bool metadata = false;
  bool no_tensors = false;
};

std::string Mib(uint64_t bytes) { return fmt::format("{:.2f} MiB", bytes / 1048576.0); }

const char* TokenizerKind(TokenizerSpec::Kind k) {
  switch (k) {
    case TokenizerSpec::Kind::kBpe:
      return "byte-level BPE (gpt2)";
    case TokenizerSpec::Kind::kSpm:
      return "SentencePiece (llama)";
    case TokenizerSpec::Kind::kNone:
      break;
  }
  return "none";
}

int Inspect(const InspectState& st) {
  Result<std::string> path = ResolveModel(st.path, "main");
  if (!path.ok()) {
    PrintError(path.status().message());
    return 1;
  }
  Result<ModelIndex> read = ReadModel(*path);
  if (!read.ok()) {
    PrintError(read.status().message());
    return 1;
  }
  const ModelIndex& m = *read;
  const ModelConfig& c = m.config;
  fmt::print("file:            {}\nformat:          {}\n", st.path, m.format);
  fmt::print("name:            {}\narchitecture:    {}\n", c.name, c.arch);
  fmt::print("layers:          {}\nn_embd:          {}\nn_ff:            {}\n", c.n_layers, c.n_embd, c.n_ff);
  fmt::print("heads:           {} (kv {}), head_dim {}\n", c.n_heads, c.n_kv_heads, c.head_dim);
  fmt::print("vocab:           {}\ncontext:         {}\n", c.vocab_size, c.context_length);
  fmt::print("rms_eps:         {:g}\nrope:            theta {:g}, dims {}, {}{}\n", c.rms_eps, c.rope_theta,
             c.rope_dim > 0 ? c.rope_dim : c.head_dim, c.rope_interleaved ? "interleaved pairs" : "half split",
             c.rope_scale_factor > 0 ? fmt::format(", llama3 scaling x{:g}", c.rope_scale_factor) : "");
  if (c.rope_linear_factor != 1.f) fmt::print("rope scaling:    linear x{:g}\n", c.rope_linear_factor);
  if (c.sliding_window > 0) {
    fmt::print("sliding window:  {} keys on {}{}\n", c.sliding_window,
               c.sliding_window_period > 0 ? fmt::format("all layers but every {}th", c.sliding_window_period)
                                           : std::string("every layer"),
               c.rope_theta_swa > 0 ? fmt::format(", rope theta {:g} there", c.rope_theta_swa) : "");
  }
  fmt::print("attention scale: {:g}{}\n",
             c.attn_scale > 0 ? c.attn_scale : 1.0 / std::sqrt(static_cast<double>(c.head_dim)),
             c.attn_scale > 0 ? "" : " (1/sqrt(head_dim))");
  if (c.norm_weight_offset != 0.f) fmt::print("norm weights:    used as {:g} + w\n", c.norm_weight_offset);
  if (c.final_logit_softcap > 0.f) fmt::print("logit softcap:   {:g}\n", c.final_logit_softcap);
  if (const ArchEntry* arch = FindArch(c.arch)) {
    const ArchFeatures f = arch->features(c);
    fmt::print("block features:  {}{}{}{}{}\n", f.ffn_act == FfnActivation::kGeluTanh ? "gelu-tanh gate" : "silu gate",
               f.attn_bias ? ", qkv bias" : "", f.qk_norm ? ", qk-norm" : "", f.post_norms ? ", post-norms" : "",
               f.scale_embeddings ? ", embeddings x sqrt(n_embd)" : "");
  }
  if (c.n_expert > 0) {
    const ExpertLayout x = MeasureExperts(m);
    fmt::print("experts:         {} per layer, {} used per token ({}), expert ff {}{}\n", c.n_expert, c.n_expert_used,
               c.expert_weights_norm ? "top-k renormalized" : "softmax weights", c.n_ff_expert,
               c.n_ff_shared > 0 ? fmt::format(", shared expert ff {}", c.n_ff_shared) : "");
    fmt::print("expert bytes:    {} each, {} routed in all, {} outside the routed experts\n", Mib(x.expert_bytes),
               Mib(x.routed_bytes), Mib(x.shared_bytes));
    fmt::print("active/token:    {} (non-expert weights + {} experts x {} layers + one embedding row)\n",
               Mib(x.active_bytes_per_token), c.n_expert_used, c.n_layers);
    fmt::print("expert extents:  {}{}\n", x.max_extents,
               x.max_extents <= 1 ? " (each expert is one contiguous read)"
                                  : " contiguous file ranges per expert (its gate, up and down matrices lie apart)");
  }
  fmt::print("output head:     {}\n", c.tied_embeddings ? "tied to token_embd" : "output.weight");
  const TokenizerSpec& t = m.tokenizer;
  fmt::print("tokenizer:       {}, {} tokens, {} merges, pre '{}', bos {} eos {}, add_bos {}\n", TokenizerKind(t.kind),
             t.tokens.size(), t.merges.size(), t.pre, t.bos_id, t.eos_id, t.add_bos);
  fmt::print("chat template:   {}\n",
             t.chat_template.empty() ? "none (ChatML is used)" : fmt::format("{} chars", t.chat_template.size()));
  if (st.metadata) {
    fmt::print("\nmetadata:\n");
    for (const auto& [key, value] : m.metadata) fmt::print("  {:<48} {}\n", key, value);
  }
  std::map<std::string, std::pair<int, uint64_t>> per_dtype;
  std::map<int, uint64_t> per_layer;
  uint64_t total = 0;
  if (!st.no_tensors) fmt::print("\n{:<36} {:>6} {:>20} {:>14}\n", "tensor", "dtype", "shape", "bytes");
  for (const TensorInfo& info : m.tensors) {
    if (!st.no_tensors) {
      fmt::print("{:<36} {:>6} {:>20} {:>14}\n", info.name, Name(info.dtype), info.shape.ToString(), info.bytes);
    }
    auto& d = per_dtype[std::string(Name(info.dtype))];
    d.first++;
    d.second += info.bytes;
    per_layer[SplitLayerName(info.name).first] += info.bytes;
    total += info.bytes;
  }
  fmt::print("\nbytes per dtype:\n");
  for (const auto& [name, d] : per_dtype) fmt::print("  {:<6} {:>5} tensors  {:>14}\n", name, d.first, Mib(d.second));
  fmt::print("bytes per layer:\n");
  for (const auto& [layer, bytes] : per_layer) {
    fmt::print("  {:<10} {:>14}\n", layer < 0 ? std::string("global") : fmt::format("blk.{}", layer), Mib(bytes));
  }
  fmt::print("total: {} tensors, {} ({} bytes)\n", m.tensors.size(), Mib(total), total);
  return 0;
}

}  // namespace

CommandFn AddInspectCommand(CLI::App& cmd) {
  auto st = std::make_shared<InspectState>();
  cmd.add_option("model", st->path, "model file, or a hub id ORG/NAME[:FILE]")->required();
  cmd.add_flag("--metadata", st->metadata, "print every metadata key");
  cmd.add_flag("--no-tensors", st->no_tensors, "omit the per-tensor table");
  return [st] { return Inspect(*st); };
}

}  // namespace flashstream::cli
