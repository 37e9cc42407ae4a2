// `flashstream eval`: runs a text through the model in one pass and reports its perplexity;
// optionally writes the logits of every position (float32, [n_tokens, vocab], row-major) so
// runs can be compared bit for bit (streamed vs resident, capped vs uncapped).
#include <fmt/format.h>  // fmt::print

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

#include "cli_options.h"
#include "commands.h"

namespace flashstream::cli {
namespace {

struct EvalState {
  EngineOptions engine;
  std::string text;
  std::string file;
  std::string logits_out;
};

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
  const std::vector<int32_t> ids = session->tokenizer().Encode(st.text, /*add_special=*/true, /*parse_special=*/false);
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
  return [st] { return Eval(*st); };
}

}  // namespace flashstream::cli
