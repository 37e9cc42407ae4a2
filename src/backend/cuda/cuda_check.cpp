// Failure paths of launch_check.h.
#include "backend/cuda/launch_check.h"
#include "core/check.h"

namespace flashstream::cuda {

void CheckLaunchResult(cudaError_t err, const char* file, int line) {
  if (err != cudaSuccess) {
    detail::CheckFailed(file, line, "kernel launch", cudaGetErrorString(err));
  }
}

void FailUnsupportedDType(const char* what, DType dtype, const char* file, int line) {
  detail::CheckFailed(file, line, what, fmt::format("unsupported weight dtype {}", Name(dtype)));
}

}  // namespace flashstream::cuda
