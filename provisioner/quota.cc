#include "provisioner/quota.h"

#include "provisioner/capacity_ledger.h"
#include "provisioner/volume_params.h"

namespace nfsprov {

std::optional<std::string> OverQuota(const UsageRecord& usage) {
  if (usage.quota_bytes <= 0 || usage.used_bytes <= usage.quota_bytes) return std::nullopt;
  return "over quota: used " + HumanBytes(usage.used_bytes) + " of " + HumanBytes(usage.quota_bytes);
}

std::optional<std::string> QuotaCondition(const VolumeRecord& volume, const UsageRecord& usage) {
  if (EffectiveQuotaEnforcement(volume) == QuotaEnforcementName(QuotaEnforcement::kNone)) return std::nullopt;
  return OverQuota(usage);
}

}  // namespace nfsprov
