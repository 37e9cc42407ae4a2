// The memory-mapped weight store: the naive page-cache baseline. Every file is mapped
// read-only and pages come in on first touch; under memory pressure the kernel evicts them and
// reads them again, which is what a planned streaming store is measured against.
#include <fcntl.h>     // open
#include <sys/mman.h>  // mmap
#include <sys/stat.h>  // fstat
#include <unistd.h>    // close

#include <cerrno>
#include <cstring>

#include "store/layer_table.h"

namespace flashstream {
namespace {

class MmapStore final : public WeightStore {
 public:
  MmapStore(const ModelIndex& index, std::vector<std::pair<void*, size_t>> maps)
      : index_(index), maps_(std::move(maps)), table_(index_, Bases(maps_), std::vector<uint64_t>(maps_.size(), 0)) {}
  ~MmapStore() override {
    for (auto [p, n] : maps_) munmap(p, n);
  }
  const ModelIndex& index() const override { return index_; }
  const TensorView* Global(std::string_view name) const override { return table_.Global(name); }
  Result<const LayerWeights*> Acquire(int layer) override { return &table_.Layer(layer); }
  void Release(int layer) override {}
  StoreStats stats() const override { return StoreStats{}; }

 private:
  static std::vector<const std::byte*> Bases(const std::vector<std::pair<void*, size_t>>& maps) {
    std::vector<const std::byte*> bases;
    for (auto [p, n] : maps) bases.push_back(static_cast<const std::byte*>(p));
    return bases;
  }
  ModelIndex index_;
  std::vector<std::pair<void*, size_t>> maps_;
  LayerTable table_;
};

}  // namespace

Result<std::unique_ptr<WeightStore>> OpenMmapStore(const ModelIndex& index) {
  std::vector<std::pair<void*, size_t>> maps;
  auto unmap_all = [&maps] {
    for (auto [p, n] : maps) munmap(p, n);
  };
  for (const std::string& path : index.files) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0) {
      const std::string why = std::strerror(errno);
      if (fd >= 0) close(fd);
      unmap_all();
      return Errorf("{}: cannot open for mapping: {}", path, why);
    }
    const size_t size = static_cast<size_t>(std::max<off_t>(st.st_size, 1));
    void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
      unmap_all();
      return Errorf("{}: mmap of {} bytes failed", path, size);
    }
    maps.emplace_back(p, size);
  }
  return std::unique_ptr<WeightStore>(new MmapStore(index, std::move(maps)));
}

}  // namespace flashstream
