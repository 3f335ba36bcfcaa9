// Volume and snapshot IDs: versioned, self-describing, at most 128 bytes.
//
//   nfsprov1|v|4|2049|nfs.example.com|/export/k8s|<key>
//   version kind nfs port server          share    key
//
// kind is 'v' (volume) or 's' (snapshot); the nfs field is the protocol the controller speaks
// (3 or 4); port 0 means the default. The key is KeyForName(CSI name): 26 lowercase base32
// characters of SHA-256, so the ID's length does not depend on PVC or PV names. The key names
// the object's record in the share's metadata area, which holds the resolved directory path:
// nothing is recomputed from a template later. In the share field '%' and '|' are written %25
// and %7C. An ID longer than 128 bytes cannot be made (server and share names too long):
// INVALID_ARGUMENT at CreateVolume. DecodeId rejects anything malformed with INVALID_ARGUMENT
// saying what is wrong, and re-validates server and share (nfs/url.h, nfs/path.h rules).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "provisioner/share.h"

namespace nfsprov {

inline constexpr std::size_t kMaxIdBytes = 128;
inline constexpr std::size_t kKeyChars = 26;

enum class ObjectKind { kVolume, kSnapshot };

struct ObjectId {
  ObjectKind kind = ObjectKind::kVolume;
  ShareRef share;  // nfs_version holds only "3" or "4" after decoding
  std::string key;
};

// 26 chars of base32 (a-z, 2-7) of SHA-256(name); also used for path claims.
std::string KeyForName(std::string_view name);
bool IsValidKey(std::string_view key);
// OK, or INVALID_ARGUMENT quoting the key and saying what a key is.
Status ValidateKey(std::string_view key);

Result<std::string> EncodeId(const ObjectId& id);
Result<ObjectId> DecodeId(std::string_view text);

}  // namespace nfsprov
