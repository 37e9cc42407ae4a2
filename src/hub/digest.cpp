#include "hub/digest.h"

#include <openssl/evp.h>  // EVP_Digest*: SHA-256, SHA-1

#include "core/check.h"

namespace flashstream::hub {

struct Digest::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Digest::Digest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;
Digest::~Digest() = default;

Digest Digest::Sha256() {
  auto impl = std::make_unique<Impl>();
  impl->ctx = EVP_MD_CTX_new();
  FS_CHECK(impl->ctx != nullptr && EVP_DigestInit_ex(impl->ctx, EVP_sha256(), nullptr) == 1, "SHA-256 init");
  return Digest(std::move(impl));
}

Digest Digest::GitBlobSha1(uint64_t size) {
  auto impl = std::make_unique<Impl>();
  impl->ctx = EVP_MD_CTX_new();
  FS_CHECK(impl->ctx != nullptr && EVP_DigestInit_ex(impl->ctx, EVP_sha1(), nullptr) == 1, "SHA-1 init");
  Digest d(std::move(impl));
  const std::string header = "blob " + std::to_string(size);
  d.Update(header.c_str(), header.size() + 1);  // with the terminating NUL
  return d;
}

void Digest::Update(const void* data, size_t n) { EVP_DigestUpdate(impl_->ctx, data, n); }

std::string Digest::HexFinal() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

}  // namespace flashstream::hub
