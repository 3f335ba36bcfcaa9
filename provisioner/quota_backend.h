// QuotaBackend: where hard, kernel-enforced limits would be set for a volume's directory (XFS or
// ext4 project quotas through a helper on the NFS server host; docs/quota.md, "Kernel-enforced
// quotas"). No backend ships: this is the seam the controller calls, so one can be added without
// touching the controller's logic.
//
// Contract, as the controller uses it: SetLimit after a volume (or a shared root's first volume)
// is created and after every expansion, with the directory that holds the data (a volume's own,
// or the shared root) and its quota (for a shared root, the largest capacity among its volumes);
// ClearLimit after the directory has had its onDelete (the last volume of a shared root). Both
// must be idempotent (calls are repeated after crashes). A failure fails the controller's call,
// which the sidecar retries.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "provisioner/share.h"

namespace nfsprov {

class QuotaBackend {
 public:
  virtual ~QuotaBackend() = default;
  // `path` is relative to the share root; 0 bytes means no limit.
  virtual Status SetLimit(const ShareRef& share, const std::string& path, int64_t bytes) = 0;
  virtual Status ClearLimit(const ShareRef& share, const std::string& path) = 0;
};

}  // namespace nfsprov
