#include "provisioner/reaper.h"

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "nfs/path.h"
#include "nfs/tree.h"
#include "provisioner/metadata_store.h"

namespace nfsprov {
namespace {

// Records `message` as the last one logged in `remembered`; true when it differs (log it).
bool IsNew(std::string& remembered, const std::string& message) {
  if (remembered == message) return false;
  remembered = message;
  return true;
}

}  // namespace

Reaper::Reaper(std::shared_ptr<nfs::Client> client, std::chrono::milliseconds interval)
    : client_(std::move(client)), interval_(interval), trash_(MetadataStore::TrashDir()) {}

Reaper::~Reaper() { Stop(); }

void Reaper::Start() {
  std::lock_guard lock(mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Reaper::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Reaper::Stop() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

bool Reaper::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

void Reaper::Run() {
  NameThisThread("reaper");
  while (!Stopping()) {
    Round();
    WaitForNextRound();
  }
}

void Reaper::WaitForNextRound() {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, interval_, [this] { return stopping_ || woken_; });
  woken_ = false;
}

void Reaper::Round() {
  Result<std::vector<nfs::DirEntry>> entries = client_->ReadDir(trash_);
  if (!entries.ok() && entries.status().code() != StatusCode::kNotFound) {
    if (IsNew(listing_error_, entries.status().ToString())) {
      spdlog::warn("reaper: cannot list {} on {}, will retry: {}", trash_,
                   client_->url().Display(), listing_error_);
    }
    return;
  }
  listing_error_.clear();
  std::vector<std::string> names;
  if (entries.ok()) {  // no trash directory yet: nothing to do
    for (const nfs::DirEntry& entry : *entries) names.push_back(entry.name);
  }
  std::sort(names.begin(), names.end());
  // Forget the errors of entries that are gone, so one coming back is logged afresh.
  std::map<std::string, std::string> still_there;
  for (const std::string& name : names) still_there.insert(entry_errors_.extract(name));
  entry_errors_ = std::move(still_there);

  backlog_ = names.size();
  for (const std::string& name : names) {
    if (Stopping()) return;
    if (Reap(name)) {
      --backlog_;
      ++reaped_;
    }
  }
}

// Removes one trash entry and logs the outcome; true when it is gone.
bool Reaper::Reap(const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  Result<nfs::TreeStats> removed = Remove(name);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start).count();
  if (removed.ok()) {
    entry_errors_.erase(name);
    spdlog::info("reaper: removed {} from {} on {} ({} entries, {} bytes) in {} ms",
                 nfs::QuoteForMessage(name), trash_, client_->url().Display(),
                 removed->inodes(), removed->bytes, ms);
    return true;
  }
  if (IsNew(entry_errors_[name], removed.status().ToString())) {
    spdlog::warn("reaper: could not remove {} from {} on {} in {} ms, will retry: {}",
                 nfs::QuoteForMessage(name), trash_, client_->url().Display(), ms,
                 entry_errors_[name]);
  }
  return false;
}

Result<nfs::TreeStats> Reaper::Remove(const std::string& name) {
  Result<std::string> path = nfs::JoinUnderRoot(trash_, name);
  if (!path.ok()) return path.status();
  return nfs::RemoveTree(*client_, *path);
}

}  // namespace nfsprov
