// Checks of what a lock client sends, shared by lockd and the client library so both refuse the
// same input with the same message. Each returns OK or INVALID_ARGUMENT naming the field, the
// rule and (for short values) the value.
#pragma once

#include <chrono>
#include <string_view>

#include "common/status.h"

namespace nfsprov::lockd {

inline constexpr std::size_t kMaxLockNameBytes = 200;
inline constexpr std::chrono::milliseconds kMinTtl{1000};
inline constexpr std::chrono::milliseconds kMaxTtl{3600 * 1000};

// 1..200 bytes of [A-Za-z0-9._:-], not starting with '.' (names become directory names on the
// share, so "/" and ".." can never appear).
Status ValidateLockName(std::string_view name);
// 16..64 bytes of [A-Za-z0-9_-].
Status ValidateLeaseId(std::string_view lease_id);
// kMinTtl..kMaxTtl ("ttl 0s is below the minimum of 1s", "ttl 31536000s is above the maximum of
// 3600s: renew the lease instead").
Status ValidateTtl(std::chrono::milliseconds ttl);

// A fresh random lease ID (32 hex characters from the OS's random source).
std::string NewLeaseId();

}  // namespace nfsprov::lockd
