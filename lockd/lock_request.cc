#include "lockd/lock_request.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <string>

#include "nfs/path.h"

namespace nfsprov::lockd {

namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// "5s", or "1500ms" when not whole seconds.
std::string Duration(std::chrono::milliseconds ttl) {
  if (ttl.count() % 1000 != 0) return std::to_string(ttl.count()) + "ms";
  return std::to_string(ttl.count() / 1000) + "s";
}

}  // namespace

Status ValidateLockName(std::string_view name) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  if (name.size() > kMaxLockNameBytes) {
    return InvalidArgument("lock name is " + std::to_string(name.size()) +
                           " bytes; the maximum is " + std::to_string(kMaxLockNameBytes));
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return InvalidArgument("lock name " + nfs::QuoteForMessage(name) +
                             " may only contain letters, digits, '.', '_', ':' and '-'");
    }
  }
  // Names are directory names on the share: no ".", "..", or hidden entries.
  if (name.front() == '.') {
    return InvalidArgument("lock name " + nfs::QuoteForMessage(name) + " may not start with '.'");
  }
  return Status();
}

Status ValidateLeaseId(std::string_view lease_id) {
  constexpr std::size_t kMin = 16;
  constexpr std::size_t kMax = 64;
  if (lease_id.size() < kMin || lease_id.size() > kMax) {
    return InvalidArgument("lease ID is " + std::to_string(lease_id.size()) +
                           " bytes; it must be " + std::to_string(kMin) + " to " +
                           std::to_string(kMax));
  }
  for (char c : lease_id) {
    if (!IsAlnum(c) && c != '_' && c != '-') {
      return InvalidArgument("lease ID " + nfs::QuoteForMessage(lease_id) +
                             " may only contain letters, digits, '_' and '-'");
    }
  }
  return Status();
}

Status ValidateTtl(std::chrono::milliseconds ttl) {
  if (ttl < kMinTtl) {
    return InvalidArgument("ttl " + Duration(ttl) + " is below the minimum of " +
                           Duration(kMinTtl));
  }
  if (ttl > kMaxTtl) {
    return InvalidArgument("ttl " + Duration(ttl) + " is above the maximum of " +
                           Duration(kMaxTtl) + ": renew the lease instead");
  }
  return Status();
}

std::string NewLeaseId() {
  unsigned char bytes[16];
  // Without a random source two clients could share a lease ID; that must never happen quietly.
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(2 * sizeof(bytes));
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

}  // namespace nfsprov::lockd
