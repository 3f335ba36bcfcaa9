// UsageReader: the node side's read-only view of a volume's records on its share: its
// VolumeRecord (capacity) and the UsageRecord the controller's usage scanner last wrote
// (docs/quota.md). Used by NodeGetVolumeStats and by the fuse-mount daemon's quota probe.
//
// Each share gets one nfs::Client (one connection), made on first use and kept. When connecting
// fails, calls for that share get the same error at once for kRetryConnectAfter before the next
// attempt, so a dead server costs one connect timeout per period, not one per stats call. Reading
// costs one READLINK per record. Thread-safe: calls for different shares never wait for each other.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "nfs/client.h"
#include "nfs/url.h"
#include "provisioner/metadata_store.h"

namespace nfsprov {

struct VolumeRecords {
  std::optional<VolumeRecord> volume;  // none: not (or no longer) recorded
  std::optional<UsageRecord> usage;    // none: not scanned yet
};

class UsageReader {
 public:
  static constexpr std::chrono::seconds kRetryConnectAfter{30};

  // options.connections is ignored: one connection per share is plenty for a READLINK or two.
  explicit UsageReader(nfs::ClientOptions options);

  // The records of volume `key` on the share whose root is `share`.
  Result<VolumeRecords> Read(const nfs::NfsUrl& share, const std::string& key);
  // Only the usage record (the quota probe polls this: one READLINK).
  Result<std::optional<UsageRecord>> ReadUsage(const nfs::NfsUrl& share, const std::string& key);

  // For a CSI volume ID: std::nullopt when the ID is not one of ours (a static volume's handle,
  // or a snapshot's) or when the share could not be read. That error is logged as a warning once
  // per share and distinct message (again after a success), never returned: callers fall back.
  std::optional<VolumeRecords> ReadForVolume(std::string_view volume_id);

 private:
  struct Share {
    std::mutex mu;  // held while connecting, so one share connects once
    std::shared_ptr<MetadataStore> store;
    Status connect_error;  // the last failed connect, returned until retry_at
    std::chrono::steady_clock::time_point retry_at{};
    std::string last_error;  // last warning logged by ReadForVolume
  };
  std::shared_ptr<Share> ShareFor(const nfs::NfsUrl& share);
  Result<std::shared_ptr<MetadataStore>> Store(const nfs::NfsUrl& share);

  const nfs::ClientOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Share>> shares_;  // by libnfs URL
};

}  // namespace nfsprov
