#include "models/decoder.h"

#include <fmt/format.h>  // fmt::format for tensor names

#include <cmath>
#include <cstring>

#include "core/check.h"
#include "kv/backend_kv_cache.h"

namespace flashstream {
namespace {

// The one checked tensor getter used at load: presence, dtype class and shape.
Status CheckTensor(const ModelIndex& index, const std::string& name, std::initializer_list<int64_t> dims, bool matrix) {
  const TensorInfo* t = index.Find(name);
  if (t == nullptr) return Errorf("{}: required tensor {} is missing", index.files.at(0), name);
  const Shape want = MakeShape(dims);
  if (!(t->shape == want)) {
    return Errorf("{}: tensor {} has shape {}, expected {}", index.files.at(0), name, t->shape.ToString(),
                  want.ToString());
  }
  if (!matrix && t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16) {
    return Errorf("{}: tensor {} has dtype {}, expected f32, f16 or bf16", index.files.at(0), name, Name(t->dtype));
  }
  if (matrix && t->dtype == DType::kI32) {
    return Errorf("{}: tensor {} has dtype i32, expected a float or quantized type", index.files.at(0), name);
  }
  return Status::Ok();
}

Status CheckLayer(const ModelIndex& index, const ArchFeatures& f, int l) {
  const ModelConfig& c = index.config;
  const int64_t q_width = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.n_kv_heads} * c.head_dim;
  auto name = [l](const char* role) { return fmt::format("blk.{}.{}", l, role); };
  FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_norm.weight"), {c.n_embd}, false));
  FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_q.weight"), {q_width, c.n_embd}, true));
  FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_k.weight"), {kv_width, c.n_embd}, true));
  FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_v.weight"), {kv_width, c.n_embd}, true));
  FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_output.weight"), {c.n_embd, q_width}, true));
  FS_RETURN_IF_ERROR(CheckTensor(index, name("ffn_norm.weight"), {c.n_embd}, false));
  if (c.n_expert > 0) {
    FS_RETURN_IF_ERROR(MoeBlock::CheckLayer(index, l));
  } else {
    FS_RETURN_IF_ERROR(CheckTensor(index, name("ffn_gate.weight"), {c.n_ff, c.n_embd}, true));
    FS_RETURN_IF_ERROR(CheckTensor(index, name("ffn_up.weight"), {c.n_ff, c.n_embd}, true));
    FS_RETURN_IF_ERROR(CheckTensor(index, name("ffn_down.weight"), {c.n_embd, c.n_ff}, true));
  }
  if (f.attn_bias) {
    FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_q.bias"), {q_width}, false));
    FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_k.bias"), {kv_width}, false));
    FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_v.bias"), {kv_width}, false));
  }
  if (f.qk_norm) {
    FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_q_norm.weight"), {c.head_dim}, false));
    FS_RETURN_IF_ERROR(CheckTensor(index, name("attn_k_norm.weight"), {c.head_dim}, false));
  }
  if (f.post_norms) {
    FS_RETURN_IF_ERROR(CheckTensor(index, name("post_attention_norm.weight"), {c.n_embd}, false));
    FS_RETURN_IF_ERROR(CheckTensor(index, name("post_ffw_norm.weight"), {c.n_embd}, false));
  }
  return Status::Ok();
}

}  // namespace

DecoderModel::DecoderModel(const ModelConfig& config, ArchFeatures features) : config_(config), features_(features) {
  rope_.rope_dim = config.rope_dim > 0 ? config.rope_dim : config.head_dim;
  rope_.theta = config.rope_theta;
  rope_.interleaved = config.rope_interleaved;
  rope_.scale_factor = config.rope_scale_factor;
  rope_.low_freq_factor = config.rope_low_freq_factor;
  rope_.high_freq_factor = config.rope_high_freq_factor;
  rope_.original_context = config.rope_original_context;
  rope_.linear_factor = config.rope_linear_factor;
  rope_swa_ = rope_;
  if (config.rope_theta_swa > 0.f) {  // Gemma 3 local layers: own base, no scaling
    rope_swa_ = RopeParams{};
    rope_swa_.rope_dim = rope_.rope_dim;
    rope_swa_.theta = config.rope_theta_swa;
    rope_swa_.interleaved = rope_.interleaved;
  }
  attn_scale_ = config.attn_scale > 0.f ? config.attn_scale : 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  if (config.n_expert > 0) moe_ = std::make_unique<MoeBlock>(config);
}

Result<std::unique_ptr<DecoderModel>> DecoderModel::Create(const ModelIndex& index) {
  const ModelConfig& c = index.config;
  const ArchEntry* arch = FindArch(c.arch);
  if (arch == nullptr) {
    return Errorf("{}: architecture '{}' is not supported (supported: {})", index.files.at(0), c.arch,
                  SupportedArchNames());
  }
  const ArchFeatures features = arch->features(c);
  if (index.Find("rope_freqs.weight") != nullptr) {  // llama.cpp's Llama 3.1 files: per-pair RoPE divisors
    return Errorf(
        "{}: tensor rope_freqs.weight (per-dimension RoPE frequency factors) is not supported; "
        "expected llama3 scaling as '{}.rope.scaling.*' keys",
        index.files.at(0), c.arch);
  }
  FS_RETURN_IF_ERROR(CheckTensor(index, "token_embd.weight", {c.vocab_size, c.n_embd}, true));
  FS_RETURN_IF_ERROR(CheckTensor(index, "output_norm.weight", {c.n_embd}, false));
  if (!c.tied_embeddings) {
    FS_RETURN_IF_ERROR(CheckTensor(index, "output.weight", {c.vocab_size, c.n_embd}, true));
  }
  for (int l = 0; l < c.n_layers; ++l) FS_RETURN_IF_ERROR(CheckLayer(index, features, l));
  return std::unique_ptr<DecoderModel>(new DecoderModel(c, features));
}

Status DecoderModel::Forward(std::span<const int32_t> tokens, bool all_logits, WeightStore& store, Backend& backend,
                             KvCache& kv, std::vector<float>* logits) {
  const size_t n = tokens.size();
  FS_CHECK(n > 0, "empty forward");
  for (int32_t id : tokens) {
    if (id < 0 || id >= config_.vocab_size) {
      return Errorf("token id {} is outside the vocabulary [0, {})", id, config_.vocab_size);
    }
  }
  FS_RETURN_IF_ERROR(kv.Reserve(static_cast<int>(n)));
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  logits->resize((all_logits ? n : 1) * vocab);
  if (progress_ && n > static_cast<size_t>(max_chunk_)) progress_(0, static_cast<int64_t>(n));
  for (size_t begin = 0; begin < n; begin += static_cast<size_t>(max_chunk_)) {
    const size_t len = std::min(n - begin, static_cast<size_t>(max_chunk_));
    const bool last_chunk = begin + len == n;
    if (!all_logits && !last_chunk) {
      FS_RETURN_IF_ERROR(ForwardChunk(tokens.subspan(begin, len), false, store, backend, kv, nullptr));
      if (progress_) progress_(static_cast<int64_t>(begin + len), static_cast<int64_t>(n));
      continue;
    }
    float* out = all_logits ? logits->data() + begin * vocab : logits->data();
    FS_RETURN_IF_ERROR(ForwardChunk(tokens.subspan(begin, len), all_logits, store, backend, kv, out));
    if (progress_) progress_(static_cast<int64_t>(begin + len), static_cast<int64_t>(n));
  }
  return Status::Ok();
}

void DecoderModel::Emit(Backend& backend, std::string_view name, int layer, const float* data, int64_t n_tok,
                        int64_t width) {
  if (!hook_) return;
  if (backend.host_memory()) return hook_(name, layer, data, n_tok, width);
  hook_copy_.resize(static_cast<size_t>(n_tok * width));
  backend.Download(hook_copy_.data(), data, hook_copy_.size() * sizeof(float));
  hook_(name, layer, hook_copy_.data(), n_tok, width);
}

void DecoderModel::Norm(Backend& backend, const float* x, const TensorView& weight, int64_t n_tok, int64_t width,
                        float* out) const {
  backend.RmsNorm(x, weight, n_tok, width, config_.rms_eps, config_.norm_weight_offset, out);
}

void DecoderModel::AddBias(Backend& backend, float* x, const TensorView& bias, int64_t n, int64_t width) {
  const float* b = bias.f32();
  if (bias.dtype != DType::kF32) {  // f16/bf16 (as MLX and HF write them): widened by the backend
    TensorView row = bias;
    row.shape = MakeShape({1, width});
    static constexpr int32_t kRow0 = 0;
    backend.GetRows(row, &kRow0, 1, bias_.data());
    b = bias_.data();
  }
  for (int64_t t = 0; t < n; ++t) backend.Add(x + t * width, b, width, x + t * width);
}

void DecoderModel::Embed(int64_t n, WeightStore& store, Backend& backend) {
  const TensorView* embd = store.Global("token_embd.weight");
  FS_CHECK(embd != nullptr, "token_embd.weight");
  backend.GetRows(*embd, ids_.data(), n, x_.data());
  if (features_.scale_embeddings) {  // sqrt(n_embd) rounded to f32, as transformers' f32 normalizer
    backend.Scale(x_.data(), static_cast<float>(std::sqrt(static_cast<double>(config_.n_embd))), n * config_.n_embd,
                  x_.data());
  }
  Emit(backend, "inp_embd", -1, x_.data(), n, config_.n_embd);
}

Status DecoderModel::AttentionBlock(int l, const LayerWeights& w, int64_t n, Backend& backend, KvCache& kv) {
  const ModelConfig& c = config_;
  const int64_t q_width = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.n_kv_heads} * c.head_dim;
  Norm(backend, x_.data(), w.Get("attn_norm.weight"), n, c.n_embd, xb_.data());
  Emit(backend, "attn_norm", l, xb_.data(), n, c.n_embd);
  backend.MatMul(w.Get("attn_q.weight"), xb_.data(), n, q_.data());
  backend.MatMul(w.Get("attn_k.weight"), xb_.data(), n, k_.data());
  backend.MatMul(w.Get("attn_v.weight"), xb_.data(), n, v_.data());
  if (features_.attn_bias) {
    AddBias(backend, q_.data(), w.Get("attn_q.bias"), n, q_width);
    AddBias(backend, k_.data(), w.Get("attn_k.bias"), n, kv_width);
    AddBias(backend, v_.data(), w.Get("attn_v.bias"), n, kv_width);
  }
  if (features_.qk_norm) {  // per head: [n * heads, head_dim] rows
    Norm(backend, q_.data(), w.Get("attn_q_norm.weight"), n * c.n_heads, c.head_dim, q_.data());
    Norm(backend, k_.data(), w.Get("attn_k_norm.weight"), n * c.n_kv_heads, c.head_dim, k_.data());
  }
  const bool sliding = c.IsSlidingLayer(l);
  const RopeParams& rope = sliding ? rope_swa_ : rope_;
  backend.Rope(q_.data(), n, c.n_heads, c.head_dim, pos_.data(), rope);
  backend.Rope(k_.data(), n, c.n_kv_heads, c.head_dim, pos_.data(), rope);
  Emit(backend, "q", l, q_.data(), n, q_width);
  Emit(backend, "k", l, k_.data(), n, kv_width);
  FS_RETURN_IF_ERROR(kv.Write(l, k_.data(), v_.data(), static_cast<int>(n)));
  FS_RETURN_IF_ERROR(kv.Attend(l, backend, q_.data(), static_cast<int>(n), c.n_heads, c.n_kv_heads, c.head_dim,
                               attn_scale_, sliding ? c.sliding_window : 0, att_.data()));
  Emit(backend, "attn", l, att_.data(), n, q_width);
  backend.MatMul(w.Get("attn_output.weight"), att_.data(), n, xb_.data());
  if (features_.post_norms) Norm(backend, xb_.data(), w.Get("post_attention_norm.weight"), n, c.n_embd, xb_.data());
  Emit(backend, "attn_out", l, xb_.data(), n, c.n_embd);
  backend.Add(x_.data(), xb_.data(), n * c.n_embd, x_.data());
  return Status::Ok();
}

Status DecoderModel::FeedForwardBlock(int l, const LayerWeights& w, int64_t n, Backend& backend) {
  const ModelConfig& c = config_;
  Norm(backend, x_.data(), w.Get("ffn_norm.weight"), n, c.n_embd, xb_.data());
  Emit(backend, "ffn_norm", l, xb_.data(), n, c.n_embd);
  if (moe_) {
    if (!backend.host_memory()) {  // the block routes and gathers on the host
      return Errorf("mixture-of-experts layers run on the CPU backend only (use --device cpu)");
    }
    FS_RETURN_IF_ERROR(moe_->Forward(l, w, xb_.data(), n, backend, xb_.data()));
    Emit(backend, "ffn_out", l, xb_.data(), n, c.n_embd);
    backend.Add(x_.data(), xb_.data(), n * c.n_embd, x_.data());
    return Status::Ok();
  }
  backend.MatMul(w.Get("ffn_gate.weight"), xb_.data(), n, gate_.data());
  backend.MatMul(w.Get("ffn_up.weight"), xb_.data(), n, up_.data());
  if (features_.ffn_act == FfnActivation::kGeluTanh) {
    backend.GeluTanhGlu(gate_.data(), up_.data(), n * c.n_ff, gate_.data());
  } else {
    backend.SwiGlu(gate_.data(), up_.data(), n * c.n_ff, gate_.data());
  }
  backend.MatMul(w.Get("ffn_down.weight"), gate_.data(), n, xb_.data());
  if (features_.post_norms) Norm(backend, xb_.data(), w.Get("post_ffw_norm.weight"), n, c.n_embd, xb_.data());
  Emit(backend, "ffn_out", l, xb_.data(), n, c.n_embd);
  backend.Add(x_.data(), xb_.data(), n * c.n_embd, x_.data());
  return Status::Ok();
}

void DecoderModel::OutputHead(int64_t n, int64_t rows, WeightStore& store, Backend& backend, float* logits) {
  const ModelConfig& c = config_;
  const float* head_in = x_.data() + (n - rows) * c.n_embd;
  const TensorView* norm = store.Global("output_norm.weight");
  const TensorView* head = store.Global(c.tied_embeddings ? "token_embd.weight" : "output.weight");
  FS_CHECK(norm != nullptr && head != nullptr, "output tensors");
  Norm(backend, head_in, *norm, rows, c.n_embd, xb_.data());
  Emit(backend, "result_norm", -1, xb_.data(), rows, c.n_embd);
  backend.MatMul(*head, xb_.data(), rows, logits);
  if (c.final_logit_softcap > 0.f) backend.SoftCap(logits, rows * c.vocab_size, c.final_logit_softcap);
}

Status DecoderModel::ReserveScratch(Backend& backend, int64_t n, int64_t logit_rows) {
  const ModelConfig& c = config_;
  const auto sz = [n](int64_t width) { return static_cast<size_t>(n * width); };
  FS_RETURN_IF_ERROR(x_.Reserve(backend, sz(c.n_embd)));
  FS_RETURN_IF_ERROR(xb_.Reserve(backend, sz(c.n_embd)));
  FS_RETURN_IF_ERROR(q_.Reserve(backend, sz(int64_t{c.n_heads} * c.head_dim)));
  FS_RETURN_IF_ERROR(k_.Reserve(backend, sz(int64_t{c.n_kv_heads} * c.head_dim)));
  FS_RETURN_IF_ERROR(v_.Reserve(backend, sz(int64_t{c.n_kv_heads} * c.head_dim)));
  FS_RETURN_IF_ERROR(att_.Reserve(backend, sz(int64_t{c.n_heads} * c.head_dim)));
  FS_RETURN_IF_ERROR(gate_.Reserve(backend, sz(c.n_ff)));
  FS_RETURN_IF_ERROR(up_.Reserve(backend, sz(c.n_ff)));
  FS_RETURN_IF_ERROR(ids_.Reserve(backend, sz(1)));
  FS_RETURN_IF_ERROR(pos_.Reserve(backend, sz(1)));
  if (features_.attn_bias)
    FS_RETURN_IF_ERROR(bias_.Reserve(backend, static_cast<size_t>(int64_t{c.n_heads} * c.head_dim)));
  if (logit_rows > 0 && !backend.host_memory()) {
    FS_RETURN_IF_ERROR(logits_.Reserve(backend, static_cast<size_t>(logit_rows * c.vocab_size)));
  }
  return Status::Ok();
}

Status DecoderModel::ForwardChunk(std::span<const int32_t> tokens, bool all_logits, WeightStore& store,
                                  Backend& backend, KvCache& kv, float* logits) {
  const ModelConfig& c = config_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t rows = logits == nullptr ? 0 : all_logits ? n : 1;  // every row, or the last one only
  FS_RETURN_IF_ERROR(ReserveScratch(backend, n, rows));
  host_pos_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) host_pos_[static_cast<size_t>(i)] = kv.n_past() + static_cast<int32_t>(i);
  backend.Upload(pos_.data(), host_pos_.data(), static_cast<size_t>(n) * sizeof(int32_t));
  backend.Upload(ids_.data(), tokens.data(), static_cast<size_t>(n) * sizeof(int32_t));

  float* out = logits == nullptr ? nullptr : backend.host_memory() ? logits : logits_.data();
  FS_RETURN_IF_ERROR(RecordedStep(n, rows, store, backend, kv) ? Status::Ok() : Pass(n, rows, store, backend, kv, out));
  kv.Advance(static_cast<int>(n));
  if (logits == nullptr || backend.host_memory()) return Status::Ok();
  backend.Download(logits, logits_.data(), static_cast<size_t>(rows * c.vocab_size) * sizeof(float));
  return Status::Ok();
}

bool DecoderModel::RecordedStep(int64_t n, int64_t rows, WeightStore& store, Backend& backend, KvCache& kv) {
  const auto* device_kv = dynamic_cast<const BackendKvCache*>(&kv);
  if (n != 1 || rows != 1 || backend.host_memory() || hook_ || moe_ || device_kv == nullptr) return false;
  const StoreStats stats = store.stats();
  if (stats.staging_bytes != 0 || stats.resident_bytes == 0) return false;  // streamed weights move
  // Everything the recording bakes in: the store, this model's scratch and the KV arrays (they
  // move when the cache grows).
  uint64_t key = 1469598103934665603ull;
  for (const void* p :
       {static_cast<const void*>(&store), static_cast<const void*>(x_.data()), static_cast<const void*>(xb_.data()),
        static_cast<const void*>(q_.data()), static_cast<const void*>(k_.data()), static_cast<const void*>(v_.data()),
        static_cast<const void*>(att_.data()), static_cast<const void*>(gate_.data()),
        static_cast<const void*>(up_.data()), static_cast<const void*>(bias_.data()),
        static_cast<const void*>(logits_.data()), static_cast<const void*>(ids_.data()),
        static_cast<const void*>(pos_.data())}) {
    key = (key ^ reinterpret_cast<uintptr_t>(p)) * 1099511628211ull;
  }
  for (int l = 0; l < config_.n_layers; ++l) {
    key = (key ^ reinterpret_cast<uintptr_t>(device_kv->Keys(l))) * 1099511628211ull;
    key = (key ^ reinterpret_cast<uintptr_t>(device_kv->Values(l))) * 1099511628211ull;
  }
  key = (key ^ device_kv->bytes()) * 1099511628211ull;
  if (key != step_key_) {
    step_key_ = key;
    step_state_ = StepState::kFirst;
  }
  switch (step_state_) {
    case StepState::kFirst:  // runs directly once, sizing the backend's scratch
      step_state_ = StepState::kWarm;
      return false;
    case StepState::kWarm: {
      step_state_ = StepState::kFailed;
      if (!backend.BeginStepRecording(key, pos_.data(), static_cast<int32_t>(kv.n_past()))) return false;
      const Status pass = Pass(n, rows, store, backend, kv, logits_.data());
      if (!backend.EndStepRecording() || !pass.ok()) return false;  // run directly (an error shows again)
      step_state_ = StepState::kRecorded;
      return backend.ReplayStep(key);
    }
    case StepState::kRecorded:
      if (backend.ReplayStep(key)) return true;
      step_state_ = StepState::kWarm;  // the backend dropped it: record again next time
      return false;
    case StepState::kFailed:
      return false;
  }
  return false;
}

Status DecoderModel::Pass(int64_t n, int64_t rows, WeightStore& store, Backend& backend, KvCache& kv, float* out) {
  const ModelConfig& c = config_;
  Embed(n, store, backend);
  for (int l = 0; l < c.n_layers; ++l) {
    FS_ASSIGN_OR_RETURN(const LayerWeights* w, store.Acquire(l));
    Status block = AttentionBlock(l, *w, n, backend, kv);
    if (block.ok()) block = FeedForwardBlock(l, *w, n, backend);
    if (!block.ok()) {
      store.Release(l);
      return block;
    }
    Emit(backend, "l_out", l, x_.data(), n, c.n_embd);
    store.Release(l);
  }
  if (out != nullptr) OutputHead(n, rows, store, backend, out);
  return Status::Ok();
}

}  // namespace flashstream
