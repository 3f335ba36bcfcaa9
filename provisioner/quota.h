// Quota verdicts shared by the controller (ControllerGetVolume) and the node plugin
// (NodeGetVolumeStats, read-only enforcement): one rule, one message (docs/quota.md).
#pragma once

#include <optional>
#include <string>

#include "provisioner/metadata_store.h"

namespace nfsprov {

// "over quota: used 1.5 GiB of 1 GiB" when the measured usage exceeds a quota (quota 0: none).
std::optional<std::string> OverQuota(const UsageRecord& usage);
// What ControllerGetVolume and NodeGetVolumeStats report for `volume`: OverQuota, unless its
// class has quotaEnforcement: none (no condition at all).
std::optional<std::string> QuotaCondition(const VolumeRecord& volume, const UsageRecord& usage);

}  // namespace nfsprov
