#include "provisioner/share_registry.h"

namespace nfsprov {

ShareRegistry::~ShareRegistry() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, handle] : connected_) {
    handle.reaper->Stop();
    handle.usage->Stop();
  }
}

void ShareRegistry::Add(const ShareRef& share) {
  std::lock_guard<std::mutex> lock(mu_);
  known_.emplace(share.Key(), share);
}

Result<ShareHandle> ShareRegistry::Get(const ShareRef& share) {
  const std::string key = share.Key();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = connected_.find(key); it != connected_.end()) return it->second;
  }
  KeyedMutex::Lock connecting = connecting_.Acquire(key);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = connected_.find(key); it != connected_.end()) return it->second;
  }
  Result<std::unique_ptr<nfs::Client>> client = nfs::Client::Connect(share.Url(), client_options_);
  if (!client.ok()) return client.status();
  ShareHandle handle;
  handle.share = share;
  handle.client = std::shared_ptr<nfs::Client>(std::move(client).value());
  handle.store = std::make_shared<MetadataStore>(handle.client);
  handle.layout_lock = std::make_shared<std::shared_mutex>();
  handle.ledger = std::make_shared<CapacityLedger>();
  NFSPROV_RETURN_IF_ERROR(handle.store->EnsureLayout());
  handle.reaper = std::make_shared<Reaper>(handle.client, reap_interval_);
  handle.reaper->Start();
  handle.usage = std::make_shared<UsageScanner>(handle.client, handle.store, usage_options_);
  handle.usage->Start();
  // Only a share that answered becomes known: a bad ID must not break every later listing.
  std::lock_guard<std::mutex> lock(mu_);
  known_.emplace(key, share);
  connected_.emplace(key, handle);
  return handle;
}

std::vector<ShareRef> ShareRegistry::Known() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ShareRef> shares;
  for (const auto& [key, share] : known_) shares.push_back(share);
  return shares;
}

}  // namespace nfsprov
