// The GPU entry points of a build without CUDA (FLASHSTREAM_CUDA=OFF): each one says so.
#include "backend/gpu.h"
#include "store/gpu_store.h"

namespace flashstream {
namespace {

Status NoCuda() {
  return Errorf("--device cuda: this flashstream was built without CUDA (configure with -DFLASHSTREAM_CUDA=ON)");
}

}  // namespace

Result<GpuInfo> QueryCudaDevice(int) { return NoCuda(); }
Result<std::unique_ptr<Backend>> OpenCudaBackend(int, bool) { return NoCuda(); }
Result<double> ProbeHostToDeviceGBps(int, uint64_t) { return NoCuda(); }
Result<std::unique_ptr<WeightStore>> OpenGpuStore(const ModelIndex&, Backend&, const GpuStoreOptions&,
                                                  const ProgressFn&, ResidencyPlan*) {
  return NoCuda();
}

}  // namespace flashstream
