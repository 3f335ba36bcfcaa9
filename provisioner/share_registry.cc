#include "provisioner/share_registry.h"

namespace nfsprov {
namespace {

metrics::CollectedFamily Family(const char* name, const char* help) { return {name, help, {}}; }

// The gauges of the connected shares (see the header).
std::vector<metrics::CollectedFamily> Collect(const std::vector<ShareHandle>& shares) {
  auto volumes = Family("nfsprov_volumes", "Volumes this controller knows, by state");
  auto used = Family("nfsprov_volume_used_bytes",
                     "Bytes the volume's directory held at its last usage scan");
  auto capacity = Family("nfsprov_volume_capacity_bytes", "The volume's provisioned capacity");
  auto backlog = Family("nfsprov_reaper_backlog", "Trash entries waiting to be removed");
  double ready = 0, creating = 0, waiting = 0;
  for (const ShareHandle& share : shares) {
    for (const UsageScanner::VolumeUsage& v : share.usage->Volumes()) {
      ++ready;
      capacity.samples.push_back({{{"volume", v.name}}, static_cast<double>(v.capacity_bytes)});
      if (v.used_bytes) used.samples.push_back({{{"volume", v.name}}, static_cast<double>(*v.used_bytes)});
    }
    creating += static_cast<double>(share.usage->creating());
    waiting += static_cast<double>(share.reaper->backlog());
  }
  volumes.samples = {{{{"state", "creating"}}, creating}, {{{"state", "ready"}}, ready}};
  backlog.samples = {{{}, waiting}};
  return {volumes, used, capacity, backlog};
}

}  // namespace

ShareRegistry::ShareRegistry(nfs::ClientOptions client_options,
                             std::chrono::milliseconds reap_interval, UsageScanOptions usage_options)
    : client_options_(client_options), reap_interval_(reap_interval), usage_options_(usage_options) {
  collector_ = metrics::Default().AddCollector([this] {
    std::vector<ShareHandle> shares;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, handle] : connected_) shares.push_back(handle);
    }
    return Collect(shares);
  });
}

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

std::optional<ShareHandle> ShareRegistry::Connected(const ShareRef& share) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = connected_.find(share.Key()); it != connected_.end()) return it->second;
  return std::nullopt;
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
  handle.layout_lock = std::make_shared<LayoutGate>();
  handle.ledger = std::make_shared<CapacityLedger>();
  NFSPROV_RETURN_IF_ERROR(handle.store->EnsureLayout());
  handle.reaper = std::make_shared<Reaper>(handle.client, reap_interval_);
  handle.reaper->Start();
  handle.usage = std::make_shared<UsageScanner>(handle.client, handle.store, usage_options_, handle.ledger);
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
