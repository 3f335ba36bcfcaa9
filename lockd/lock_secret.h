// Per-volume lock secrets: HMAC-SHA256 (OpenSSL) of the volume ID under the driver's key.
//
// The controller writes a volume's secret into its lock file at provisioning; lockd recomputes it
// from the volume ID a client names and compares in constant time. The key never leaves the
// controller and lockd; a secret opens only its own volume's locks.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace nfsprov::lockd {

class LockKey {
 public:
  // Reads the key from a file (a mounted Kubernetes Secret): at least 32 bytes after trimming a
  // final newline. INVALID_ARGUMENT (too short, naming the file, never the content) or the
  // errno of the read.
  static Result<LockKey> FromFile(const std::string& path);
  // For tests: the same rule on the bytes.
  static Result<LockKey> FromBytes(std::string bytes);

  // 64 lowercase hex characters: HMAC-SHA256(key, "nfsprov-lock-v1:" + volume_id).
  std::string SecretFor(std::string_view volume_id) const;
  // Whether `secret` is SecretFor(volume_id); constant time in the secret's content.
  bool Verify(std::string_view volume_id, std::string_view secret) const;

 private:
  explicit LockKey(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string bytes_;
};

}  // namespace nfsprov::lockd
