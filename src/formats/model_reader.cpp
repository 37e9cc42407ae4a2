#include "formats/model_reader.h"

#include <sys/stat.h>  // stat: folder check

#include "formats/gguf_model.h"
#include "formats/hf_model.h"

namespace flashstream {

Result<ModelIndex> ReadModel(const std::string& path) {
  if (IsHfFolder(path)) return ReadHfModel(path);
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Errorf("{}: a folder without config.json (expected a Hugging Face or MLX model folder)", path);
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const bool safetensors = base.size() > 12 && base.compare(base.size() - 12, 12, ".safetensors") == 0;
  if ((base == "config.json" || safetensors) && IsHfFolder(dir)) return ReadHfModel(dir);
  return ReadGgufModel(path);
}

}  // namespace flashstream
