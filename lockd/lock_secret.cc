#include "lockd/lock_secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <cstring>

#include "common/local_file.h"

namespace nfsprov::lockd {

namespace {

constexpr std::size_t kMinKeyBytes = 32;
// Versioned so a future scheme can never produce the same secret for the same volume.
constexpr std::string_view kSecretPrefix = "nfsprov-lock-v1:";

}  // namespace

Result<LockKey> LockKey::FromFile(const std::string& path) {
  Result<std::string> bytes = ReadLocalFile(path);
  if (!bytes.ok()) return bytes.status().WithContext("lock key file");
  Result<LockKey> key = FromBytes(std::move(bytes).value());
  if (!key.ok()) return key.status().WithContext("lock key file " + path);
  return key;
}

Result<LockKey> LockKey::FromBytes(std::string bytes) {
  // Secrets are often created with `echo`, which adds a newline that is not part of the key.
  if (bytes.ends_with("\r\n")) {
    bytes.resize(bytes.size() - 2);
  } else if (bytes.ends_with('\n')) {
    bytes.pop_back();
  }
  if (bytes.size() < kMinKeyBytes) {
    return InvalidArgument("lock key is " + std::to_string(bytes.size()) +
                           " bytes; it must be at least " + std::to_string(kMinKeyBytes));
  }
  return LockKey(std::move(bytes));
}

std::string LockKey::SecretFor(std::string_view volume_id) const {
  std::string message(kSecretPrefix);
  message += volume_id;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // Fails only when OpenSSL itself is broken; an empty secret would make Verify accept "".
  if (HMAC(EVP_sha256(), bytes_.data(), static_cast<int>(bytes_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &mac_len) == nullptr) {
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * mac_len);
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex += kHex[mac[i] >> 4];
    hex += kHex[mac[i] & 0xf];
  }
  return hex;
}

bool LockKey::Verify(std::string_view volume_id, std::string_view secret) const {
  const std::string expected = SecretFor(volume_id);
  // The length is public (always 64); only the content comparison must be constant time.
  return secret.size() == expected.size() &&
         CRYPTO_memcmp(secret.data(), expected.data(), expected.size()) == 0;
}

}  // namespace nfsprov::lockd
