#include "provisioner/quota.h"

#include "provisioner/capacity_ledger.h"

namespace nfsprov {

std::optional<std::string> OverQuota(const UsageRecord& usage) {
  if (usage.quota_bytes <= 0 || usage.used_bytes <= usage.quota_bytes) return std::nullopt;
  return "over quota: used " + HumanBytes(usage.used_bytes) + " of " + HumanBytes(usage.quota_bytes);
}

}  // namespace nfsprov
