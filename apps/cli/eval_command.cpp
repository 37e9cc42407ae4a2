// `flashstream eval`: runs a text through the model in one pass and reports its perplexity;
// optionally writes the logits of every position (float32, [n_tokens, vocab], row-major) so
// runs can be compared bit for bit (streamed vs resident, capped vs uncapped). With --kl it also
// runs the text with an unquantized KV cache (FP16, or f32 with --kl-ref f32) and reports the
// mean KL divergence of the next-token distributions from that reference (docs/KV_CACHE.md).
#include <fmt/format.h>  // fmt::print

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>

#include "cli_options.h"
#include "commands.h"

namespace flashstream::cli {
namespace {

struct EvalState {
  EngineOptions engine;
  std::string text;
  std::string file;
  std::string logits_out;
  int max_tokens = 0;  // evaluate the first N tokens only; 0 = all
  bool kl = false;     // compare against an unquantized KV cache
  std::string kl_ref = "fp16";
};

// log-softmax of row[vocab] into out.
void LogSoftmax(const float* row, size_t vocab, std::vector<double>& out) {
  out.resize(vocab);
  double max = row[0];
  for (size_t j = 1; j < vocab; ++j) max = std::max<double>(max, row[j]);
  double sum = 0;
  for (size_t j = 0; j < vocab; ++j) sum += std::exp(row[j] - max);
  const double log_z = max + std::log(sum);
  for (size_t j = 0; j < vocab; ++j) out[j] = row[j] - log_z;
}

// Runs ids through `test` and through a session with the reference KV cache, chunk by chunk,
// and prints perplexity of both, the mean KL(reference || test) and top-1 agreement.
int EvalKl(EvalState& st, Session& test, const std::vector<int32_t>& ids) {
  EngineOptions ref_options = st.engine;
  ref_options.kv_quant = 0;
  ref_options.kv_f32 = st.kl_ref == "f32";
  std::unique_ptr<Session> ref = LoadSession(ref_options);
  if (!ref) return 1;
  test.Reset();
  const size_t vocab = static_cast<size_t>(test.index().config.vocab_size);
  const size_t chunk = 256;
  std::vector<float> lt, lr;
  std::vector<double> pt, pr;
  double nll_t = 0, nll_r = 0, kl = 0, kl_max = 0;
  size_t agree = 0, n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t begin = 0; begin < ids.size(); begin += chunk) {
    const std::span<const int32_t> part(ids.data() + begin, std::min(chunk, ids.size() - begin));
    for (auto [s, out] : {std::pair{&test, &lt}, std::pair{ref.get(), &lr}}) {
      const Status status = s->Append(part, true, out);
      if (!status.ok()) {
        PrintError(status.message());
        return 1;
      }
    }
    for (size_t i = 0; i < part.size() && begin + i + 1 < ids.size(); ++i) {
      LogSoftmax(lt.data() + i * vocab, vocab, pt);
      LogSoftmax(lr.data() + i * vocab, vocab, pr);
      const auto next = static_cast<size_t>(ids[begin + i + 1]);
      nll_t -= pt[next];
      nll_r -= pr[next];
      double d = 0;
      for (size_t j = 0; j < vocab; ++j) d += std::exp(pr[j]) * (pr[j] - pt[j]);
      kl += d;
      kl_max = std::max(kl_max, d);
      agree +=
          std::max_element(pt.begin(), pt.end()) - pt.begin() == std::max_element(pr.begin(), pr.end()) - pr.begin();
      ++n;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (n == 0) {
    PrintError("--kl needs at least 2 tokens");
    return 2;
  }
  const double ppl_t = std::exp(nll_t / static_cast<double>(n)), ppl_r = std::exp(nll_r / static_cast<double>(n));
  fmt::print("reference: {} KV cache, perplexity {:.4f}\n", st.kl_ref, ppl_r);
  fmt::print("{}\n", test.kv_cache().Describe());
  fmt::print(
      "tokens {}  perplexity {:.4f}  ({:+.3f}% vs reference)  mean KL {:.6f}  max KL {:.4f}  top-1 agreement {:.2f}%  "
      "({:.1f} s)\n",
      ids.size(), ppl_t, 100 * (ppl_t / ppl_r - 1), kl / static_cast<double>(n), kl_max,
      100.0 * static_cast<double>(agree) / static_cast<double>(n), secs);
  return 0;
}

int Eval(EvalState& st) {
  if (!st.file.empty()) {
    std::ifstream in(st.file, std::ios::binary);
    if (!in) {
      PrintError(fmt::format("{}: cannot read", st.file));
      return 1;
    }
    st.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (st.text.empty()) {
    PrintError("eval needs text: --text or --file");
    return 2;
  }
  std::unique_ptr<Session> session = LoadSession(st.engine);
  if (!session) return 1;
  std::vector<int32_t> ids = session->tokenizer().Encode(st.text, /*add_special=*/true, /*parse_special=*/false);
  if (st.max_tokens > 0 && ids.size() > static_cast<size_t>(st.max_tokens))
    ids.resize(static_cast<size_t>(st.max_tokens));
  if (st.kl) return EvalKl(st, *session, ids);
  std::vector<float> logits;
  const auto t0 = std::chrono::steady_clock::now();
  Status status = session->Evaluate(ids, &logits);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!status.ok()) {
    PrintError(status.message());
    return 1;
  }
  const size_t vocab = static_cast<size_t>(session->index().config.vocab_size);
  double nll = 0;
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    const float* row = logits.data() + i * vocab;
    double max = row[0];
    for (size_t j = 1; j < vocab; ++j) max = std::max<double>(max, row[j]);
    double sum = 0;
    for (size_t j = 0; j < vocab; ++j) sum += std::exp(row[j] - max);
    nll += max + std::log(sum) - row[static_cast<size_t>(ids[i + 1])];
  }
  const double ppl = ids.size() > 1 ? std::exp(nll / static_cast<double>(ids.size() - 1)) : 0;
  fmt::print("tokens {}  perplexity {:.4f}  ({:.1f} tok/s)\n", ids.size(), ppl, ids.size() / secs);
  if (!st.logits_out.empty()) {
    std::FILE* f = std::fopen(st.logits_out.c_str(), "wb");
    const bool ok = f != nullptr && std::fwrite(logits.data(), sizeof(float), logits.size(), f) == logits.size();
    if (f != nullptr && std::fclose(f) != 0) PrintError(fmt::format("{}: close failed", st.logits_out));
    if (!ok) {
      PrintError(fmt::format("{}: cannot write {} logits", st.logits_out, logits.size()));
      return 1;
    }
  }
  const StoreStats store = session->store().stats();
  if (store.bytes_read > 0 || st.engine.verbose) {
    fmt::print(stderr, "[weights resident {:.1f} MiB, staging {:.1f} MiB, streamed {:.1f} MiB, peak RSS {:.1f} MiB]\n",
               store.resident_bytes / 1048576.0, store.staging_bytes / 1048576.0, store.bytes_read / 1048576.0,
               PeakRssBytes() / 1048576.0);
  }
  return 0;
}

}  // namespace

CommandFn AddEvalCommand(CLI::App& cmd) {
  auto st = std::make_shared<EvalState>();
  AddEngineFlags(cmd, st->engine);
  cmd.add_option("--text", st->text, "text to evaluate");
  cmd.add_option("--file", st->file, "file whose text to evaluate");
  cmd.add_option("--logits-out", st->logits_out, "write float32 logits [n_tokens, vocab] here");
  cmd.add_option("--tokens", st->max_tokens, "evaluate only the first N tokens of the text")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--kl", st->kl, "also run an unquantized KV cache and report the mean KL divergence from it");
  cmd.add_option("--kl-ref", st->kl_ref, "the reference KV cache for --kl: fp16 (default) or f32")
      ->check(CLI::IsMember({"fp16", "f32"}));
  return [st] { return Eval(*st); };
}

}  // namespace flashstream::cli
