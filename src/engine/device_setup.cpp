#include "engine/device_setup.h"

#include <charconv>
#include <cstdio>

#include "backend/gpu.h"
#include "engine/self_draft.h"
#include "store/gpu_store.h"
#include "store/streaming_store.h"

namespace flashstream {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Device memory kept free beyond the KV cache when the budget is automatic: activations,
// cuBLAS workspace and the dequantization panel of batched matmuls.
constexpr uint64_t kGpuReserve = 1536ull << 20;
constexpr uint64_t kProbeBytes = 256ull << 20;  // host -> device bandwidth probe

}  // namespace

Result<int> ParseDevice(const std::string& device) {
  if (device == "cpu") return -1;
  if (device == "cuda") return 0;
  if (device.rfind("cuda:", 0) == 0) {
    int n = -1;
    const char* b = device.data() + 5;
    const char* e = device.data() + device.size();
    const auto r = std::from_chars(b, e, n);
    if (r.ec == std::errc() && r.ptr == e && n >= 0) return n;
  }
  return Errorf("--device {}: expected cpu, cuda or cuda:N", device);
}

Status OpenGpuSession(const ModelIndex& index, const EngineOptions& options, int gpu, uint64_t kv_bytes,
                      const ProgressFn& progress, std::unique_ptr<Backend>* backend,
                      std::unique_ptr<WeightStore>* store, ResidencyPlan* plan) {
  if (options.use_mmap) return Errorf("--mmap maps weights for the CPU; it cannot be combined with --device cuda");
  FS_ASSIGN_OR_RETURN(GpuInfo info, QueryCudaDevice(gpu));
  FS_ASSIGN_OR_RETURN(*backend, OpenCudaBackend(gpu, options.bf16_activations));
  const LayerLayout layout = MeasureLayout(index);
  uint64_t weights = layout.global_bytes;
  for (uint64_t b : layout.layer_bytes) weights += b;

  GpuStoreOptions go;
  go.ring_slots = std::max(2, options.prefetch_slots);
  go.host.io.queue_depth = std::max(1, options.io_queue_depth);
  go.host.io.chunk_bytes = static_cast<uint64_t>(std::max(4, options.io_chunk_kib)) * 1024;
  go.host.max_slots = std::max(2, options.prefetch_slots);
  go.host.pacer = options.pacer;
  go.host_budget_bytes = options.ram_gib > 0 ? static_cast<uint64_t>(options.ram_gib * kGiB) : 0;
  if (options.vram_gib > 0) {
    go.vram_budget_bytes = static_cast<uint64_t>(options.vram_gib * kGiB);
  } else {
    const uint64_t keep = kv_bytes + kGpuReserve;
    const uint64_t usable = info.free_bytes > keep ? info.free_bytes - keep : 0;
    if (weights > usable) {
      go.vram_budget_bytes = std::max<uint64_t>(usable, 1);
      std::fprintf(stderr,
                   "flashstream: the model's %.2f GiB of weights exceed the %.2f GiB free on the GPU after the KV "
                   "cache: streaming the rest (set --vram to choose)\n",
                   weights / kGiB, usable / kGiB);
    }
  }
  if (go.vram_budget_bytes > 0 && go.vram_budget_bytes < weights) {
    Result<double> gbps = ProbeHostToDeviceGBps(gpu, kProbeBytes);
    if (gbps.ok()) go.pcie_gbps = *gbps;
    if (options.self_draft_bits > 0) {  // the copy lives in device memory, inside --vram
      PlanInput in;
      in.budget_bytes = go.vram_budget_bytes;
      in.global_bytes = layout.global_bytes;
      in.layer_bytes = layout.layer_bytes;
      in.max_slots = go.ring_slots;
      in.budget_flag = "--vram";
      FS_ASSIGN_OR_RETURN(const uint64_t reserve, SelfDraftStore::Reserve(index, in, options.self_draft_bits));
      go.vram_budget_bytes -= reserve;
      std::fprintf(stderr, "flashstream: self-draft: a %d-bit copy of the streamed layers takes %.2f GiB of --vram\n",
                   options.self_draft_bits, reserve / kGiB);
    }
  }
  FS_ASSIGN_OR_RETURN(*store, OpenGpuStore(index, **backend, go, progress, plan));
  if (plan->streams() || options.verbose) {
    std::fprintf(stderr, "flashstream: GPU %d (%s): %s", gpu, info.description.c_str(), plan->Describe().c_str());
    if (go.pcie_gbps > 0) std::fprintf(stderr, " (pinned host->GPU %.1f GB/s measured)", go.pcie_gbps);
    std::fprintf(stderr, "\n");
  }
  return Status::Ok();
}

}  // namespace flashstream
