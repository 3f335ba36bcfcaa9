// The lock file: one dotfile in the root of a volume provisioned with locks: "true", written by
// CreateVolume, read by `nfsprov lock` and the client library. JSON:
//   {"version": 1, "volumeId": "...", "address": "lockd.nfsprov.svc:7070",
//    "secret": "<64 hex>", "caPem": "-----BEGIN CERTIFICATE-----..."}   (caPem: TLS only)
// Mode 0444: whoever can read the volume can lock in it; nobody else can.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "provisioner/volume_params.h"

namespace nfsprov::lockd {

// The file's name, which CreateVolume writes (provisioner/volume_params.h).
using nfsprov::kLockFileName;

struct LockFile {
  std::string volume_id;
  std::string address;  // host:port for grpc::CreateChannel
  std::string secret;
  std::string ca_pem;   // empty: plaintext; otherwise dial with TLS and verify against this CA
  bool operator==(const LockFile&) const = default;
};

std::string ToJson(const LockFile& file);
// INVALID_ARGUMENT naming what is wrong (not JSON, unknown version, missing field); never echoes
// the secret.
Result<LockFile> LockFileFromJson(std::string_view json);
// Reads <volume_dir>/.nfsprov-lock.json from the local file system (a mounted volume). NOT_FOUND
// says the volume was not provisioned with locks: "true".
Result<LockFile> ReadLockFile(const std::string& volume_dir);

}  // namespace nfsprov::lockd
