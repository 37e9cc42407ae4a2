// The --self-draft disk cache on a small synthetic model: a copy read back from the cache equals
// the built copy byte for byte; a damaged, truncated or foreign file is refused and rebuilt; a
// changed model file gets a new key; a folder that cannot be written costs the cache, not the run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/self_draft.h"
#include "engine/self_draft_cache.h"
#include "formats/model_reader.h"
#include "store/weight_store.h"
#include "synth_models.h"

namespace flashstream {
namespace {

namespace fs = std::filesystem;

class SelfDraftCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::WriteSynthModel(DType::kQ8_0, 4, testing::WriteByteVocab());
    cache_ = testing::TempPath("sd_cache_unit");
    fs::remove_all(cache_);
    Result<ModelIndex> index = ReadModel(model_);
    ASSERT_TRUE(index.ok()) << index.status().message();
    index_ = std::move(index).value();
    Result<std::unique_ptr<WeightStore>> store = OpenMmapStore(index_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    fs::remove_all(cache_);
    fs::remove(model_);
  }
  std::unique_ptr<SelfDraftStore> Build(const std::string& cache_dir) {
    Result<std::unique_ptr<SelfDraftStore>> s = SelfDraftStore::Build(*store_, kMask, 4, pool_, nullptr, cache_dir);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::vector<fs::path> CacheFiles() const {
    std::vector<fs::path> files;
    if (fs::is_directory(cache_)) {
      for (const auto& e : fs::directory_iterator(cache_)) files.push_back(e.path());
    }
    return files;
  }
  // Every copied tensor of a and b holds the same dtype, shape and bytes.
  void ExpectSameCopy(SelfDraftStore& a, SelfDraftStore& b) {
    int compared = 0;
    for (int l = 0; l < index_.config.n_layers; ++l) {
      if (kMask[static_cast<size_t>(l)]) continue;
      Result<const LayerWeights*> la = a.Acquire(l), lb = b.Acquire(l);
      ASSERT_TRUE(la.ok() && lb.ok());
      for (const TensorInfo& t : index_.tensors) {
        const auto [layer, role] = SplitLayerName(t.name);
        if (layer != l) continue;
        const TensorView& va = (*la)->Get(role);
        const TensorView& vb = (*lb)->Get(role);
        ASSERT_EQ(va.dtype, vb.dtype) << t.name;
        ASSERT_EQ(va.bytes(), vb.bytes()) << t.name;
        EXPECT_EQ(std::memcmp(va.data, vb.data, va.bytes()), 0) << t.name;
        ++compared;
      }
      a.Release(l);
      b.Release(l);
    }
    EXPECT_GT(compared, 0);
  }

  const std::vector<bool> kMask = {true, false, false, true};  // layers 1 and 2 are copied
  std::string model_, cache_;
  ModelIndex index_;
  std::unique_ptr<WeightStore> store_;
  ThreadPool pool_{2};
};

TEST_F(SelfDraftCacheTest, ReadBackCopyEqualsTheBuiltOneByteForByte) {
  std::unique_ptr<SelfDraftStore> uncached = Build("");
  std::unique_ptr<SelfDraftStore> built = Build(cache_);
  ASSERT_TRUE(uncached && built);
  EXPECT_FALSE(built->from_cache());
  ASSERT_EQ(CacheFiles().size(), 1u);
  std::unique_ptr<SelfDraftStore> cached = Build(cache_);
  ASSERT_TRUE(cached);
  EXPECT_TRUE(cached->from_cache());
  EXPECT_EQ(cached->copy_bytes(), built->copy_bytes());
  ExpectSameCopy(*uncached, *built);
  ExpectSameCopy(*built, *cached);
}

TEST_F(SelfDraftCacheTest, DamagedFilesAreRefusedAndRebuilt) {
  ASSERT_TRUE(Build(cache_));
  ASSERT_EQ(CacheFiles().size(), 1u);
  const fs::path file = CacheFiles()[0];
  const auto rebuilt_and_valid = [&] {
    std::unique_ptr<SelfDraftStore> s = Build(cache_);
    EXPECT_TRUE(s && !s->from_cache());
    std::unique_ptr<SelfDraftStore> again = Build(cache_);
    EXPECT_TRUE(again && again->from_cache());
    EXPECT_EQ(CacheFiles().size(), 1u);  // rewritten in place, no temporary left behind
  };
  fs::resize_file(file, fs::file_size(file) - 1);  // truncated
  rebuilt_and_valid();
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('#');  // a different key
  }
  rebuilt_and_valid();
  {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f << "not a cache file";
  }
  rebuilt_and_valid();
}

TEST_F(SelfDraftCacheTest, KeyFollowsTheModelFileAndTheLayerSplit) {
  const auto key_of = [this](const std::vector<bool>& mask, int bits) {
    Result<std::string> k = SelfDraftCacheKey(index_, mask, bits);
    EXPECT_TRUE(k.ok()) << k.status().message();
    return k.ok() ? k.value() : std::string();
  };
  const std::string key = key_of(kMask, 4);
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key_of(kMask, 4), key);  // stable
  EXPECT_NE(key_of(kMask, 8), key);
  EXPECT_NE(key_of({true, true, false, true}, 4), key);
  fs::last_write_time(model_, fs::last_write_time(model_) + std::chrono::seconds(5));  // the model changed
  EXPECT_NE(key_of(kMask, 4), key);
  ModelIndex gone = index_;
  gone.files[0] += ".missing";
  Result<std::string> missing = SelfDraftCacheKey(gone, kMask, 4);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(".missing"), std::string::npos) << missing.status().message();
}

TEST_F(SelfDraftCacheTest, AnUnwritableFolderCostsTheCacheNotTheRun) {
  const std::string blocker = cache_ + "_file";
  std::ofstream(blocker) << "x";  // a file where the folder should be
  std::unique_ptr<SelfDraftStore> s = Build(blocker + "/sub");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->from_cache());
  EXPECT_GT(s->copy_bytes(), 0u);
  fs::remove(blocker);
}

}  // namespace
}  // namespace flashstream
