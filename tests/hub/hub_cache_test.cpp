// The hub cache layout, repo specs, file choice and download digests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "hub/digest.h"
#include "hub/hf_cache.h"
#include "hub/puller.h"

namespace flashstream::hub {
namespace {

namespace fs = std::filesystem;

TEST(Digest, KnownVectors) {
  Digest sha = Digest::Sha256();
  sha.Update("abc", 3);
  EXPECT_EQ(sha.HexFinal(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // `git hash-object` of a file holding "hello\n".
  Digest git = Digest::GitBlobSha1(6);
  git.Update("hello\n", 6);
  EXPECT_EQ(git.HexFinal(), "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST(RepoSpec, ParsesIdsFilesAndRejectsPaths) {
  Result<RepoSpec> a = ParseRepoSpec("mlx-community/Llama-3.2-1B-Instruct-4bit");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->repo_id, "mlx-community/Llama-3.2-1B-Instruct-4bit");
  EXPECT_EQ(a->file, "");
  EXPECT_EQ(a->revision, "main");
  Result<RepoSpec> b = ParseRepoSpec("org/name:model-q4_k_m.gguf", "v1.0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->repo_id, "org/name");
  EXPECT_EQ(b->file, "model-q4_k_m.gguf");
  EXPECT_EQ(b->revision, "v1.0");
  for (const char* bad :
       {"model.gguf", "/abs/path", "./rel/path", "a/b/c", "org/", "/name", "~/x", "org/name:", "o rg/n"}) {
    EXPECT_FALSE(LooksLikeRepoId(bad)) << bad;
    Result<RepoSpec> r = ParseRepoSpec(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("ORG/NAME"), std::string::npos) << r.status().message();
  }
}

TEST(ChooseFiles, PicksWhatTheModelNeeds) {
  RepoSpec spec{"org/name", "", "main"};
  Result<std::vector<std::string>> hf =
      ChooseFiles({"README.md", "config.json", "tokenizer.json", "model-00001-of-00002.safetensors",
                   "model-00002-of-00002.safetensors", "model.safetensors.index.json", "onnx/model.onnx",
                   "original/consolidated.safetensors"},
                  spec);
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  EXPECT_EQ(*hf, (std::vector<std::string>{"config.json", "tokenizer.json", "model.safetensors.index.json",
                                           "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}));
  Result<std::vector<std::string>> one = ChooseFiles({"README.md", "m.Q4_K_M.gguf"}, spec);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::vector<std::string>{"m.Q4_K_M.gguf"});
  Result<std::vector<std::string>> many = ChooseFiles({"m.Q4_K_M.gguf", "m.Q8_0.gguf"}, spec);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("org/name:FILE"), std::string::npos) << many.status().message();
  EXPECT_NE(many.status().message().find("m.Q4_K_M.gguf, m.Q8_0.gguf"), std::string::npos);
  spec.file = "m.Q8_0.gguf";
  Result<std::vector<std::string>> named = ChooseFiles({"m.Q4_K_M.gguf", "m.Q8_0.gguf"}, spec);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(*named, std::vector<std::string>{"m.Q8_0.gguf"});
  spec.file = "absent.gguf";
  EXPECT_FALSE(ChooseFiles({"m.Q4_K_M.gguf"}, spec).ok());
  spec.file = "";
  EXPECT_FALSE(ChooseFiles({"model.safetensors"}, spec).ok());  // no config.json
  EXPECT_FALSE(ChooseFiles({"README.md"}, spec).ok());
}

TEST(HfCache, RootFollowsTheEnvironmentLikeHuggingfaceHub) {
  setenv("HF_HUB_CACHE", "/x/hub-cache", 1);
  EXPECT_EQ(HfCache::DefaultRoot(), "/x/hub-cache");
  unsetenv("HF_HUB_CACHE");
  setenv("HF_HOME", "/x/hf-home", 1);
  EXPECT_EQ(HfCache::DefaultRoot(), "/x/hf-home/hub");
  unsetenv("HF_HOME");
}

TEST(HfCache, LinksRefsListingAndRemoval) {
  const fs::path root = fs::temp_directory_path() / ("fs_hub_cache_" + std::to_string(getpid()));
  fs::remove_all(root);
  HfCache cache(root.string());
  const std::string commit(40, 'a');
  EXPECT_EQ(cache.RepoDir("org/name"), (root / "models--org--name").string());
  fs::create_directories(root / "models--org--name" / "blobs");
  std::ofstream(cache.BlobPath("org/name", "e1")) << "weights";
  ASSERT_TRUE(cache.Link("org/name", commit, "sub/dir/x.gguf", "e1").ok());
  EXPECT_EQ(fs::read_symlink(fs::path(cache.SnapshotDir("org/name", commit)) / "sub/dir/x.gguf").string(),
            "../../../../blobs/e1");
  EXPECT_EQ(cache.SnapshotFiles("org/name", commit), std::vector<std::string>{"sub/dir/x.gguf"});
  EXPECT_FALSE(cache.ReadRef("org/name", "main").has_value());
  ASSERT_TRUE(cache.WriteRef("org/name", "main", commit).ok());
  EXPECT_EQ(cache.ReadRef("org/name", "main"), commit);
  EXPECT_EQ(cache.ReadRef("org/name", std::string(40, 'b')), std::string(40, 'b'));  // a commit is itself
  const std::vector<CachedRepo> repos = cache.List();
  ASSERT_EQ(repos.size(), 1u);
  EXPECT_EQ(repos[0].repo_id, "org/name");
  EXPECT_EQ(repos[0].bytes, 7u);
  EXPECT_EQ(repos[0].format, "gguf");
  EXPECT_TRUE(cache.Remove("org/name").ok());
  EXPECT_FALSE(fs::exists(cache.RepoDir("org/name")));
  EXPECT_FALSE(cache.Remove("org/name").ok());
  fs::remove_all(root);
}

}  // namespace
}  // namespace flashstream::hub
