#include "engine/option_table.h"

#include <charconv>  // std::from_chars: exact, locale-free number parsing
#include <climits>
#include <cmath>
#include <functional>
#include <string>

namespace flashstream {
namespace {

// Parses all of `text` as a finite number in [lo, hi].
Status ParseDouble(std::string_view name, std::string_view text, double lo, double hi, double* out) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(v) || v < lo || v > hi) {
    const std::string range =
        hi < 1e300 ? fmt::format("a number in [{}, {}]", lo, hi) : fmt::format("a number >= {}", lo);
    return Errorf("{}: expected {}, got '{}'", name, range, text);
  }
  *out = v;
  return Status::Ok();
}

Status ParseInt(std::string_view name, std::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v < lo || v > hi) {
    const std::string range =
        hi < INT64_MAX ? fmt::format("an integer in [{}, {}]", lo, hi) : fmt::format("an integer >= {}", lo);
    return Errorf("{}: expected {}, got '{}'", name, range, text);
  }
  *out = v;
  return Status::Ok();
}

Status ParseBool(std::string_view name, std::string_view text, bool* out) {
  if (text == "true" || text == "1") {
    *out = true;
  } else if (text == "false" || text == "0") {
    *out = false;
  } else {
    return Errorf("{}: expected true or false, got '{}'", name, text);
  }
  return Status::Ok();
}

struct Entry {
  std::string_view name;
  std::function<Status(std::string_view name, std::string_view value, const OptionTarget& t)> set;
};

Status NeedEngine(std::string_view name, const OptionTarget& t) {
  return t.engine != nullptr ? Status::Ok() : Errorf("{}: an engine option, not accepted here", name);
}

Status NeedGenerate(std::string_view name, const OptionTarget& t) {
  return t.generate != nullptr ? Status::Ok() : Errorf("{}: a generation option, not accepted here", name);
}

// Binds an engine or generation field of type double/float, int or bool with its range.
template <typename Field>
Entry EngineNumber(std::string_view name, Field EngineOptions::*field, double lo, double hi) {
  return {name, [field, lo, hi](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
            FS_RETURN_IF_ERROR(NeedEngine(n, t));
            double d = 0;
            if constexpr (std::is_integral_v<Field>) {
              int64_t i = 0;
              FS_RETURN_IF_ERROR(ParseInt(n, v, static_cast<int64_t>(lo), static_cast<int64_t>(hi), &i));
              d = static_cast<double>(i);
            } else {
              FS_RETURN_IF_ERROR(ParseDouble(n, v, lo, hi, &d));
            }
            t.engine->*field = static_cast<Field>(d);
            return Status::Ok();
          }};
}

Entry EngineBool(std::string_view name, bool EngineOptions::*field) {
  return {name, [field](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
            FS_RETURN_IF_ERROR(NeedEngine(n, t));
            return ParseBool(n, v, &(t.engine->*field));
          }};
}

// Binds an engine field holding a folder or path ("" = its default).
Entry EngineString(std::string_view name, std::string EngineOptions::*field) {
  return {name, [field](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
            FS_RETURN_IF_ERROR(NeedEngine(n, t));
            t.engine->*field = std::string(v);
            return Status::Ok();
          }};
}

template <typename Field>
Entry SamplingNumber(std::string_view name, Field SamplingOptions::*field, double lo, double hi) {
  return {name, [field, lo, hi](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
            FS_RETURN_IF_ERROR(NeedGenerate(n, t));
            if constexpr (std::is_integral_v<Field>) {
              int64_t i = 0;
              FS_RETURN_IF_ERROR(ParseInt(n, v, static_cast<int64_t>(lo), static_cast<int64_t>(hi), &i));
              t.generate->sampling.*field = static_cast<Field>(i);
            } else {
              double d = 0;
              FS_RETURN_IF_ERROR(ParseDouble(n, v, lo, hi, &d));
              t.generate->sampling.*field = static_cast<Field>(d);
            }
            return Status::Ok();
          }};
}

// An integer field of GenerateOptions with its range.
Entry GenerateNumber(std::string_view name, int GenerateOptions::*field, int lo, int hi) {
  return {name, [field, lo, hi](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
            FS_RETURN_IF_ERROR(NeedGenerate(n, t));
            int64_t i = 0;
            FS_RETURN_IF_ERROR(ParseInt(n, v, lo, hi, &i));
            t.generate->*field = static_cast<int>(i);
            return Status::Ok();
          }};
}

constexpr double kNoLimit = 1e308;

const std::vector<Entry>& Table() {
  static const std::vector<Entry> table = {
      {"model",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         if (v.empty()) return Errorf("{}: expected a model file, folder or hub id, got ''", n);
         t.engine->model_path = std::string(v);
         return Status::Ok();
       }},
      EngineNumber("num_ctx", &EngineOptions::ctx, 0, INT_MAX),
      EngineNumber("num_thread", &EngineOptions::threads, 0, 4096),
      EngineNumber("ram", &EngineOptions::ram_gib, 0, kNoLimit),
      EngineNumber("vram", &EngineOptions::vram_gib, 0, kNoLimit),
      EngineNumber("prefetch", &EngineOptions::prefetch_slots, 2, 64),
      EngineNumber("io_depth", &EngineOptions::io_queue_depth, 1, 256),
      EngineNumber("io_chunk_kib", &EngineOptions::io_chunk_kib, 4, 65536),
      EngineBool("mmap", &EngineOptions::use_mmap),
      EngineBool("int8_act", &EngineOptions::int8_activations),
      {"act",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         int levels = 0;
         if (v == "int8") {
           levels = 1;
         } else if (v == "int8x2") {
           levels = 2;
         } else if (v == "int8x3") {
           levels = 3;
         } else if (v != "exact") {
           return Errorf("{}: expected exact, int8x3, int8x2 or int8, got '{}'", n, v);
         }
         t.engine->int8_activations = levels > 0;
         t.engine->int8_levels = levels > 0 ? levels : 1;
         return Status::Ok();
       }},
      EngineBool("pacer", &EngineOptions::pacer),
      {"kv_quant",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         if (v != "0" && v != "4" && v != "8") return Errorf("{}: expected 8, 4 or 0, got '{}'", n, v);
         t.engine->kv_quant = v[0] - '0';
         return Status::Ok();
       }},
      EngineNumber("kv_window", &EngineOptions::kv_window, 0, INT_MAX),
      EngineNumber("kv_ram", &EngineOptions::kv_ram_gib, 0, kNoLimit),
      EngineString("kv_spill_dir", &EngineOptions::kv_spill_dir),
      {"device",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         const bool gpu_n = v.size() > 5 && v.substr(0, 5) == "cuda:" &&
                            v.find_first_not_of("0123456789", 5) == std::string_view::npos;
         if (v != "cpu" && v != "cuda" && !gpu_n) return Errorf("{}: expected cpu, cuda or cuda:N, got '{}'", n, v);
         t.engine->device = std::string(v);
         return Status::Ok();
       }},
      EngineBool("bf16_act", &EngineOptions::bf16_activations),
      {"draft_model",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         if (v.empty()) return Errorf("{}: expected a model file or folder, got ''", n);
         t.engine->draft_model_path = std::string(v);
         return Status::Ok();
       }},
      {"self_draft",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         if (v != "0" && v != "4" && v != "8") return Errorf("{}: expected 0, 4 or 8, got '{}'", n, v);
         t.engine->self_draft_bits = v[0] - '0';
         return Status::Ok();
       }},
      EngineString("self_draft_cache", &EngineOptions::self_draft_cache),
      EngineBool("expert_cache", &EngineOptions::expert_cache),
      {"expert_policy",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedEngine(n, t));
         if (v != "lru" && v != "lfu" && v != "decay") return Errorf("{}: expected lru, lfu or decay, got '{}'", n, v);
         t.engine->expert_policy = std::string(v);
         return Status::Ok();
       }},
      EngineBool("expert_lookahead", &EngineOptions::expert_lookahead),
      EngineBool("expert_next_token", &EngineOptions::expert_next_token),
      SamplingNumber("temperature", &SamplingOptions::temperature, 0, kNoLimit),
      SamplingNumber("top_k", &SamplingOptions::top_k, 0, INT_MAX),
      SamplingNumber("top_p", &SamplingOptions::top_p, 0, 1),
      SamplingNumber("min_p", &SamplingOptions::min_p, 0, 1),
      {"repeat_penalty",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedGenerate(n, t));
         double d = 0;
         FS_RETURN_IF_ERROR(ParseDouble(n, v, 0, kNoLimit, &d));
         if (d <= 0) return Errorf("{}: expected a number > 0, got '{}'", n, v);
         t.generate->sampling.repeat_penalty = static_cast<float>(d);
         return Status::Ok();
       }},
      SamplingNumber("repeat_last_n", &SamplingOptions::repeat_last_n, -1, INT_MAX),
      {"num_predict",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedGenerate(n, t));
         int64_t i = 0;
         if (v == "-1") {
           t.generate->max_tokens = INT_MAX;  // Generate stops at the end of the context
           return Status::Ok();
         }
         Status s = ParseInt(n, v, 1, INT_MAX, &i);
         if (!s.ok()) return Errorf("{}: expected a positive integer or -1, got '{}'", n, v);
         t.generate->max_tokens = static_cast<int>(i);
         return Status::Ok();
       }},
      {"stop",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedGenerate(n, t));
         if (v.empty()) return Errorf("{}: expected a non-empty string, got ''", n);
         t.generate->stop.emplace_back(v);
         return Status::Ok();
       }},
      {"seed",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedGenerate(n, t));
         uint64_t u = 0;
         const char* end = v.data() + v.size();
         auto [ptr, ec] = std::from_chars(v.data(), end, u);
         if (v.empty() || ec != std::errc() || ptr != end) {
           return Errorf("{}: expected an integer in [0, 2^64), got '{}'", n, v);
         }
         t.generate->sampling.seed = u;
         if (t.seed_given != nullptr) *t.seed_given = true;
         return Status::Ok();
       }},
      GenerateNumber("lookup", &GenerateOptions::lookup_ngram, 0, 64),
      GenerateNumber("draft_max", &GenerateOptions::draft_max, 1, 64),
      {"ignore_eos",
       [](std::string_view n, std::string_view v, const OptionTarget& t) -> Status {
         FS_RETURN_IF_ERROR(NeedGenerate(n, t));
         return ParseBool(n, v, &t.generate->ignore_eos);
       }},
  };
  return table;
}

}  // namespace

Status SetOption(std::string_view name, std::string_view value, const OptionTarget& target) {
  for (const Entry& e : Table()) {
    if (e.name == name) return e.set(name, value, target);
  }
  return Errorf("unknown option '{}'", name);
}

bool IsOptionName(std::string_view name) {
  for (const Entry& e : Table()) {
    if (e.name == name) return true;
  }
  return false;
}

const std::vector<std::string_view>& OptionNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const Entry& e : Table()) v.push_back(e.name);
    return v;
  }();
  return names;
}

}  // namespace flashstream
