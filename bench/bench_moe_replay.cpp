// Replays recorded MoE routing traces (bench_moe --trace) against each expert-cache replacement
// policy and cache size, with the same slot table the engine runs (store/expert_policy.h): a
// layer's routed experts are looked up in ascending id, the ones already taken in this layer are
// never evicted for another of the same layer (as in the cache). Pass 0 (the prompt) warms the
// cache and is not counted. Prints one JSON object: per policy and size, the hit rate and the
// expert bytes read per decoded token. Also replays Belady's optimal choice (evict the expert
// used furthest in the future) as the bound no policy can beat.
//   bench_moe_replay TRACE --slot-mib M --slots 100,200,400 [--half-lives 2,8,32]
#include <fmt/format.h>  // fmt::print

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>  // JSON output
#include <sstream>
#include <string>
#include <vector>

#include "store/expert_policy.h"

using namespace flashstream;

namespace {

struct Access {
  int pass = 0;
  int layer = 0;
  std::vector<int> keys;  // layer * n_expert + expert, ascending
};

std::vector<double> ParseList(const std::string& s) {
  std::vector<double> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::atof(item.c_str()));
  return out;
}

struct Replay {
  uint64_t hits = 0, misses = 0;
};

// A policy's hits and misses over the decode passes.
Replay RunPolicy(const std::vector<Access>& trace, ExpertPolicy policy, int n_keys, int slots, double half_life) {
  ExpertSlots table(policy, n_keys, slots, half_life);
  std::vector<uint8_t> in_layer(static_cast<size_t>(n_keys), 0);
  Replay r;
  for (const Access& a : trace) {
    for (int k : a.keys) in_layer[static_cast<size_t>(k)] = 1;
    for (int k : a.keys) {
      const bool hit = table.Find(k) >= 0;
      if (a.pass > 0) ++(hit ? r.hits : r.misses);
      if (!hit) {
        const int s = table.Victim([&](int slot) {
          const int held = table.key(slot);
          return held < 0 || in_layer[static_cast<size_t>(held)] == 0;
        });
        if (s >= 0) table.Assign(s, k);
      }
      table.Touch(k);
    }
    for (int k : a.keys) in_layer[static_cast<size_t>(k)] = 0;
  }
  return r;
}

// Belady: on a miss evict the held expert whose next use is furthest away.
Replay RunBelady(const std::vector<Access>& trace, int n_keys, int slots) {
  std::vector<std::pair<size_t, int>> uses;  // (access index, key) in order
  for (size_t i = 0; i < trace.size(); ++i) {
    for (int k : trace[i].keys) uses.emplace_back(i, k);
  }
  std::vector<size_t> next(uses.size());
  std::vector<size_t> last(static_cast<size_t>(n_keys), std::numeric_limits<size_t>::max());
  for (size_t u = uses.size(); u-- > 0;) {
    next[u] = last[static_cast<size_t>(uses[u].second)];
    last[static_cast<size_t>(uses[u].second)] = uses[u].first;
  }
  std::vector<size_t> next_use(static_cast<size_t>(n_keys), std::numeric_limits<size_t>::max());
  std::vector<int> held;
  std::vector<uint8_t> in_cache(static_cast<size_t>(n_keys), 0);
  Replay r;
  for (size_t u = 0; u < uses.size(); ++u) {
    const auto [i, k] = uses[u];
    const bool hit = in_cache[static_cast<size_t>(k)] != 0;
    if (trace[i].pass > 0) ++(hit ? r.hits : r.misses);
    next_use[static_cast<size_t>(k)] = next[u];
    if (hit) continue;
    if (static_cast<int>(held.size()) < slots) {
      held.push_back(k);
      in_cache[static_cast<size_t>(k)] = 1;
      continue;
    }
    // The furthest next use among held keys not used in this access (and k itself: bypass).
    size_t far = next_use[static_cast<size_t>(k)];
    int victim = -1;
    for (size_t h = 0; h < held.size(); ++h) {
      const int hk = held[h];
      if (std::binary_search(trace[i].keys.begin(), trace[i].keys.end(), hk)) continue;
      if (next_use[static_cast<size_t>(hk)] >= far) {
        far = next_use[static_cast<size_t>(hk)];
        victim = static_cast<int>(h);
      }
    }
    if (victim < 0) continue;  // k itself is used furthest: not cached
    in_cache[static_cast<size_t>(held[static_cast<size_t>(victim)])] = 0;
    held[static_cast<size_t>(victim)] = k;
    in_cache[static_cast<size_t>(k)] = 1;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_moe_replay TRACE --slot-mib M --slots a,b,c [--half-lives 2,8,32]\n");
    return 2;
  }
  double slot_mib = 1;
  std::vector<double> sizes, half_lives = {2, 8, 32};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--slot-mib")
      slot_mib = std::atof(argv[i + 1]);
    else if (flag == "--slots")
      sizes = ParseList(argv[i + 1]);
    else if (flag == "--half-lives")
      half_lives = ParseList(argv[i + 1]);
  }
  std::ifstream in(argv[1]);
  if (!in) {
    fmt::print(stderr, "bench_moe_replay: cannot open {}\n", argv[1]);
    return 1;
  }
  int n_layers = 0, n_expert = 0, n_used = 0;
  std::vector<Access> trace;
  std::string line;
  int passes = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (line.rfind("#", 0) == 0) {
      std::string tag;
      ls >> tag >> tag >> n_layers >> tag >> n_expert >> tag >> n_used;
      continue;
    }
    Access a;
    ls >> a.pass >> a.layer;
    for (int e; ls >> e;) a.keys.push_back(a.layer * n_expert + e);
    passes = std::max(passes, a.pass);
    trace.push_back(std::move(a));
  }
  if (n_expert <= 0 || trace.empty() || passes == 0) {
    fmt::print(stderr, "bench_moe_replay: {}: no header or no decode passes\n", argv[1]);
    return 1;
  }
  const int n_keys = n_layers * n_expert;
  nlohmann::json rows = nlohmann::json::array();
  auto add = [&](const std::string& name, int slots, const Replay& r) {
    const uint64_t uses = r.hits + r.misses;
    rows.push_back({{"policy", name},
                    {"slots", slots},
                    {"cache_fraction", static_cast<double>(slots) / n_keys},
                    {"hit_rate", uses > 0 ? static_cast<double>(r.hits) / uses : 0},
                    {"mib_per_token", static_cast<double>(r.misses) * slot_mib / passes}});
  };
  const double uses_per_token = static_cast<double>(n_layers) * n_used;
  for (double size : sizes) {
    const int slots = static_cast<int>(size);
    add("lru", slots, RunPolicy(trace, ExpertPolicy::kLru, n_keys, slots, 1));
    add("lfu", slots, RunPolicy(trace, ExpertPolicy::kLfu, n_keys, slots, 1));
    for (double h : half_lives) {
      add(fmt::format("decay{}", h), slots, RunPolicy(trace, ExpertPolicy::kDecay, n_keys, slots, h * uses_per_token));
    }
    add("belady", slots, RunBelady(trace, n_keys, slots));
  }
  nlohmann::json out = {{"trace", argv[1]},        {"n_layers", n_layers},    {"n_expert", n_expert},
                        {"n_expert_used", n_used}, {"decode_passes", passes}, {"slot_mib", slot_mib},
                        {"results", rows}};
  fmt::print("{}\n", out.dump());
  return 0;
}
