// ShareRegistry: one NFS client, metadata store, trash reaper and usage scanner per share, created
// on first use.
//
// Shares are identified by ShareRef::Key(). Connecting happens outside the registry's lock, so a
// slow or unreachable server never blocks calls to other shares; an unreachable server gives
// UNAVAILABLE naming it, and the next call tries again. Shares the controller was configured
// with (--share) are listed by Known() even before first use, so ListVolumes and the reapers
// cover them after a restart.
//
// While it lives, the registry reports the connected shares' volumes, usage and trash backlog
// to the default metrics registry at scrape time, from memory (docs/metrics.md).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "nfs/client.h"
#include "provisioner/capacity_ledger.h"
#include "provisioner/keyed_mutex.h"
#include "provisioner/layout_gate.h"
#include "provisioner/metadata_store.h"
#include "provisioner/reaper.h"
#include "provisioner/share.h"
#include "provisioner/usage_scanner.h"

namespace nfsprov {

struct ShareHandle {
  ShareRef share;
  std::shared_ptr<nfs::Client> client;
  std::shared_ptr<MetadataStore> store;
  std::shared_ptr<Reaper> reaper;
  std::shared_ptr<LayoutGate> layout_lock;  // nesting checks (layout_gate.h)
  std::shared_ptr<CapacityLedger> ledger;  // admission (docs/quota.md); loaded on first need
  std::shared_ptr<UsageScanner> usage;
};

class ShareRegistry {
 public:
  ShareRegistry(nfs::ClientOptions client_options, std::chrono::milliseconds reap_interval,
                UsageScanOptions usage_options);
  ~ShareRegistry();

  // Remembers a share (no connection yet).
  void Add(const ShareRef& share);
  // Connects if needed. The share's layout (.nfsprov) exists when this succeeds.
  Result<ShareHandle> Get(const ShareRef& share);
  // The share's handle if it is connected already; never connects, never waits for NFS.
  std::optional<ShareHandle> Connected(const ShareRef& share);
  // Every share added, or used successfully, so far; sorted by Key().
  std::vector<ShareRef> Known();

 private:
  nfs::ClientOptions client_options_;
  std::chrono::milliseconds reap_interval_;
  UsageScanOptions usage_options_;
  KeyedMutex connecting_;
  std::mutex mu_;
  std::map<std::string, ShareRef> known_;
  std::map<std::string, ShareHandle> connected_;
  // Last: destroyed before the members its collector reads.
  metrics::CollectorHandle collector_;
};

}  // namespace nfsprov
