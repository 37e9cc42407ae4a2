// Digest: incremental SHA-256 or SHA-1 (OpenSSL's libcrypto), as lower-case hex. The hub names
// an LFS file by the SHA-256 of its bytes and a plain git file by the SHA-1 of
// "blob <size>\0" + bytes; downloads are checked against those names. Move-only; not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace flashstream::hub {

class Digest {
 public:
  static Digest Sha256();
  // SHA-1 of a git blob of `size` bytes (the header is hashed here; Update() the content).
  static Digest GitBlobSha1(uint64_t size);
  Digest(Digest&&) noexcept;
  Digest& operator=(Digest&&) noexcept;
  ~Digest();

  void Update(const void* data, size_t n);
  std::string HexFinal();  // once

 private:
  struct Impl;
  explicit Digest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashstream::hub
