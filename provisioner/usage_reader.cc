#include "provisioner/usage_reader.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "provisioner/object_id.h"

namespace nfsprov {

UsageReader::UsageReader(nfs::ClientOptions options) : options_([&] {
  options.connections = 1;
  return options;
}()) {}

std::shared_ptr<UsageReader::Share> UsageReader::ShareFor(const nfs::NfsUrl& share) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Share>& entry = shares_[share.ToLibnfsUrl()];
  if (entry == nullptr) entry = std::make_shared<Share>();
  return entry;
}

Result<std::shared_ptr<MetadataStore>> UsageReader::Store(const nfs::NfsUrl& share) {
  std::shared_ptr<Share> entry = ShareFor(share);
  std::lock_guard<std::mutex> lock(entry->mu);
  if (entry->store == nullptr) {
    const auto now = std::chrono::steady_clock::now();
    if (now < entry->retry_at) return entry->connect_error;
    Result<std::unique_ptr<nfs::Client>> client = nfs::Client::Connect(share, options_);
    if (!client.ok()) {
      entry->connect_error = client.status();
      entry->retry_at = std::chrono::steady_clock::now() + kRetryConnectAfter;
      return client.status();
    }
    entry->store = std::make_shared<MetadataStore>(std::shared_ptr<nfs::Client>(std::move(client).value()));
  }
  return entry->store;
}

Result<VolumeRecords> UsageReader::Read(const nfs::NfsUrl& share, const std::string& key) {
  Result<std::shared_ptr<MetadataStore>> store = Store(share);
  if (!store.ok()) return store.status();
  Result<std::optional<VolumeRecord>> volume = (*store)->GetVolume(key);
  if (!volume.ok()) return volume.status();
  Result<std::optional<UsageRecord>> usage = (*store)->GetUsage(key);
  if (!usage.ok()) return usage.status();
  return VolumeRecords{*std::move(volume), *std::move(usage)};
}

Result<std::optional<UsageRecord>> UsageReader::ReadUsage(const nfs::NfsUrl& share,
                                                          const std::string& key) {
  Result<std::shared_ptr<MetadataStore>> store = Store(share);
  if (!store.ok()) return store.status();
  return (*store)->GetUsage(key);
}

std::optional<VolumeRecords> UsageReader::ReadForVolume(std::string_view volume_id) {
  Result<ObjectId> id = DecodeId(volume_id);
  if (!id.ok() || id->kind != ObjectKind::kVolume) return std::nullopt;
  const nfs::NfsUrl url = id->share.Url();
  Result<VolumeRecords> records = Read(url, id->key);
  std::shared_ptr<Share> entry = ShareFor(url);
  std::lock_guard<std::mutex> lock(entry->mu);
  if (records.ok()) {
    entry->last_error.clear();
    return *std::move(records);
  }
  // A stats poll every minute per volume would otherwise repeat the same line forever.
  if (std::string error = records.status().ToString(); error != entry->last_error) {
    spdlog::warn("usage of volume {} on {} cannot be read ({}); reporting the mount's own numbers",
                 volume_id, url.Display(), error);
    entry->last_error = std::move(error);
  }
  return std::nullopt;
}

}  // namespace nfsprov
