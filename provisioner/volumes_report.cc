#include "provisioner/volumes_report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "nfs/path.h"
#include "provisioner/capacity_ledger.h"
#include "provisioner/object_id.h"
#include "provisioner/quota.h"
#include "provisioner/volume_params.h"

namespace nfsprov {
namespace {

using ordered_json = nlohmann::ordered_json;

// A directory that is missing has nothing in it: a share nothing was ever created on has no
// .nfsprov, and a root whose last reference went has no refs directory.
Result<std::vector<nfs::DirEntry>> ListIfPresent(nfs::Client& client, const std::string& dir) {
  Result<std::vector<nfs::DirEntry>> entries = client.ReadDir(dir);
  if (entries.status().code() == StatusCode::kNotFound) return std::vector<nfs::DirEntry>();
  return entries;
}

// "/" for the share root, "/a/b" for "a/b".
std::string Absolute(const std::string& relative) { return relative.empty() ? "/" : "/" + relative; }

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

// The directory a record owns: its own, or for layout shared its root (a subDir inside a root
// is the root's data, like everything else in it, and is never looked into).
const std::string& OwnedDirectory(const VolumeRecord& record) {
  return record.shared_root.empty() ? record.path : record.shared_root;
}

// "a" and "a/b" for "a/b/c".
void AddParents(const std::string& path, std::set<std::string>& parents) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
    parents.insert(path.substr(0, slash));
}

// Parsing failures are INTERNAL (metadata_store.h): they make a Problem. Any other failure means
// the share could not be read, and ends the report.
bool IsMalformed(const Status& status) { return status.code() == StatusCode::kInternal; }

}  // namespace

std::vector<std::string> DirectoriesToList(const std::vector<VolumeRecord>& volumes) {
  std::set<std::string> dirs = {""};
  for (const VolumeRecord& record : volumes) AddParents(OwnedDirectory(record), dirs);
  return {dirs.begin(), dirs.end()};
}

std::vector<Orphan> FindOrphans(const ShareListing& listing) {
  std::set<std::string> owned;    // volume directories and shared roots
  std::set<std::string> parents;  // strict parents of those
  std::map<std::string, std::string> root_by_key;  // root path key -> root path
  std::map<std::string, const VolumeRecord*> by_key;
  for (const VolumeRecord& record : listing.volumes) {
    by_key[record.key] = &record;
    if (!record.shared_root.empty()) root_by_key[KeyForName(record.shared_root)] = record.shared_root;
    owned.insert(OwnedDirectory(record));
    AddParents(OwnedDirectory(record), parents);
  }
  auto has_record = [&](const std::string& key) { return listing.record_keys.contains(key); };

  std::vector<Orphan> orphans;
  for (const auto& [dir, children] : listing.directories) {
    for (const std::string& child : children) {
      if (dir.empty() && child == kMetadataDir) continue;
      const std::string path = Join(dir, child);
      if (owned.contains(path) || parents.contains(path)) continue;
      orphans.push_back({"directory", path,
                         "not the directory of any volume record, nor a shared root or a parent of one"});
    }
  }
  for (const auto& [name, owner] : listing.claims) {
    if (owner == kSharedRootOwner) {
      if (!root_by_key.contains(name))
        orphans.push_back({"claim", name, "claims a shared root that no volume record names"});
      continue;
    }
    if (!has_record(owner)) {
      orphans.push_back({"claim", name, "owned by volume key " + owner + ", which has no record"});
      continue;
    }
    auto record = by_key.find(owner);  // a key's claim is always of its own directory
    if (record != by_key.end() && KeyForName(record->second->path) != name)
      orphans.push_back({"claim", name,
                         "owned by volume " + record->second->name + ", whose record names another path (" +
                             record->second->path + ")"});
  }
  for (const auto& [root_key, keys] : listing.root_refs) {
    auto root = root_by_key.find(root_key);
    const std::string root_name = root != root_by_key.end() ? "shared root " + root->second
                                                            : "shared root with path key " + root_key;
    for (const std::string& key : keys) {
      if (!has_record(key))
        orphans.push_back({"root-reference", root_key + "/" + key,
                           "reference to " + root_name + " from volume key " + key + ", which has no record"});
    }
  }
  for (const std::string& key : listing.usage_keys) {
    if (!has_record(key)) orphans.push_back({"usage", key, "usage record of volume key " + key + ", which has no record"});
  }
  std::sort(orphans.begin(), orphans.end(), [](const Orphan& a, const Orphan& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return orphans;
}

Result<VolumesReport> ReadVolumesReport(std::shared_ptr<nfs::Client> client_ptr, const ShareRef& share,
                                        int64_t now_unix_ms) {
  nfs::Client& client = *client_ptr;
  // The store writes only from Put*, Delete*, Claim, Release, the root calls that add, drop or
  // mark, and EnsureLayout; none is called here.
  MetadataStore store(client_ptr);
  VolumesReport report;
  report.share = share;
  report.now_unix_ms = now_unix_ms;
  ShareListing listing;

  Result<std::vector<std::string>> keys = store.ListVolumeKeys();
  if (!keys.ok()) return keys.status();
  for (const std::string& key : *keys) {
    Result<std::optional<VolumeRecord>> record = store.GetVolume(key);
    if (!record.ok()) {
      if (!IsMalformed(record.status())) return record.status();
      listing.record_keys.insert(key);
      report.problems.push_back({"volume record", key, record.status().message()});
      continue;
    }
    if (!record->has_value()) continue;  // deleted since the listing
    listing.record_keys.insert(key);
    VolumeRow row;
    row.record = **record;
    row.on_delete = EffectiveOnDelete(row.record);
    row.quota_enforcement = EffectiveQuotaEnforcement(row.record);
    Result<std::optional<UsageRecord>> usage = store.GetUsage(key);
    if (usage.ok()) {
      row.usage = *usage;
    } else if (IsMalformed(usage.status())) {
      report.problems.push_back({"usage record", key, usage.status().message()});
    } else {
      return usage.status();
    }
    listing.volumes.push_back(row.record);
    report.volumes.push_back(std::move(row));
  }
  std::sort(report.volumes.begin(), report.volumes.end(), [](const VolumeRow& a, const VolumeRow& b) {
    return std::tie(a.record.path, a.record.name) < std::tie(b.record.path, b.record.name);
  });

  std::set<std::string> roots;
  for (const VolumeRecord& record : listing.volumes)
    if (!record.shared_root.empty()) roots.insert(record.shared_root);
  for (const std::string& root : roots) {
    RootRow row{root, {}, std::nullopt};
    Result<std::vector<std::string>> refs = store.RootRefs(root);
    if (!refs.ok()) return refs.status();
    row.refs = *refs;
    Result<std::optional<std::string>> teardown = store.TeardownOwner(root);
    if (!teardown.ok()) return teardown.status();
    row.teardown = *teardown;
    report.roots.push_back(std::move(row));
  }

  Result<std::vector<std::string>> usage_keys = store.ListUsageKeys();
  if (!usage_keys.ok()) return usage_keys.status();
  listing.usage_keys = *usage_keys;

  Result<std::vector<nfs::DirEntry>> claims = ListIfPresent(client, MetadataStore::ClaimsDir());
  if (!claims.ok()) return claims.status();
  for (const nfs::DirEntry& entry : *claims) {
    if (entry.attr.type != nfs::FileType::kSymlink) {  // READLINK would fail, and end the report
      report.problems.push_back({"claim", entry.name, "not a symlink, so it is no claim"});
      continue;
    }
    Result<std::string> owner = client.Readlink(MetadataStore::ClaimsDir() + "/" + entry.name);
    if (owner.status().code() == StatusCode::kNotFound) continue;  // released since the listing
    if (!owner.ok()) return owner.status();
    if (!MetadataStore::IsClaimOwner(*owner)) {
      report.problems.push_back({"claim", entry.name,
                                 "claim points to " + nfs::QuoteForMessage(*owner) +
                                     ", which is neither a volume key nor " + std::string(kSharedRootOwner)});
      continue;
    }
    listing.claims[entry.name] = *owner;
  }

  // Entries of .nfsprov/roots are refs directories named by the root's path key, and teardown
  // marks beside them (symlinks), which are shown per root above.
  Result<std::vector<nfs::DirEntry>> ref_dirs = ListIfPresent(client, MetadataStore::RootsDir());
  if (!ref_dirs.ok()) return ref_dirs.status();
  for (const nfs::DirEntry& dir : *ref_dirs) {
    if (dir.attr.type != nfs::FileType::kDirectory) continue;
    Result<std::vector<nfs::DirEntry>> refs = ListIfPresent(client, MetadataStore::RootsDir() + "/" + dir.name);
    if (!refs.ok()) return refs.status();
    std::vector<std::string>& referencing = listing.root_refs[dir.name];
    for (const nfs::DirEntry& ref : *refs) referencing.push_back(ref.name);
    std::sort(referencing.begin(), referencing.end());
  }

  for (const std::string& dir : DirectoriesToList(listing.volumes)) {
    Result<std::vector<nfs::DirEntry>> entries = ListIfPresent(client, Absolute(dir));
    if (!entries.ok()) return entries.status();
    std::vector<std::string>& children = listing.directories[dir];
    for (const nfs::DirEntry& entry : *entries)
      if (entry.attr.type == nfs::FileType::kDirectory) children.push_back(entry.name);
    std::sort(children.begin(), children.end());
  }

  Result<std::vector<nfs::DirEntry>> trash = ListIfPresent(client, MetadataStore::TrashDir());
  if (!trash.ok()) return trash.status();
  for (const nfs::DirEntry& entry : *trash) report.trash.push_back(entry.name);
  std::sort(report.trash.begin(), report.trash.end());

  report.orphans = FindOrphans(listing);
  return report;
}

ReportTotals Totals(const VolumesReport& report) {
  ReportTotals totals;
  totals.volumes = static_cast<int64_t>(report.volumes.size());
  totals.orphans = static_cast<int64_t>(report.orphans.size());
  CapacityLedger ledger;
  std::map<std::string, CapacityLedger::Entry> entries;
  std::map<std::string, int64_t> measured;  // measured directory -> bytes
  for (const VolumeRow& row : report.volumes) {
    entries[row.record.key] = {row.record.capacity_bytes, row.record.shared_root};
    if (row.usage) measured[row.usage->path] = row.usage->used_bytes;
  }
  ledger.Load(std::move(entries));
  totals.provisioned_bytes = ledger.Provisioned();
  for (const auto& [path, bytes] : measured) totals.measured_bytes += bytes;
  return totals;
}

namespace {

// "3d4h", "5h12m", "7m", "42s": coarse on purpose, an operator reads the order of magnitude.
std::string HumanAge(int64_t ms) {
  int64_t s = std::max<int64_t>(ms, 0) / 1000;
  char text[32];
  if (s >= 86400) {
    std::snprintf(text, sizeof(text), "%lldd%lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  } else if (s >= 3600) {
    std::snprintf(text, sizeof(text), "%lldh%lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else if (s >= 60) {
    std::snprintf(text, sizeof(text), "%lldm", static_cast<long long>(s / 60));
  } else {
    std::snprintf(text, sizeof(text), "%llds", static_cast<long long>(s));
  }
  return text;
}

std::string StateText(VolumeState state) { return state == VolumeState::kReady ? "ready" : "creating"; }

// Columns padded to their widest cell, two spaces apart, no trailing blanks.
void AppendColumns(std::ostringstream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string UsageText(const VolumeRow& row) {
  if (!row.usage) return "not measured yet";
  std::string text = HumanBytes(row.usage->used_bytes);
  if (OverQuota(*row.usage)) text += " (over quota)";
  return text;
}

std::string Plural(int64_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

}  // namespace

std::string RenderTable(const VolumesReport& report) {
  std::ostringstream out;
  std::vector<std::vector<std::string>> rows = {
      {"PATH", "NAME", "LAYOUT", "STATE", "CAPACITY", "USED", "AGE", "ONDELETE", "QUOTA", "KEY"}};
  for (const VolumeRow& row : report.volumes) {
    const VolumeRecord& r = row.record;
    std::string layout = r.shared_root.empty() ? r.layout : r.layout + " (" + r.shared_root + ")";
    rows.push_back({r.path, r.name, layout, StateText(r.state), HumanBytes(r.capacity_bytes), UsageText(row),
                    HumanAge(report.now_unix_ms - r.created_unix_ms), row.on_delete, row.quota_enforcement, r.key});
  }
  AppendColumns(out, rows);
  if (!report.roots.empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> roots = {{"SHARED ROOT", "REFS", "TEARDOWN"}};
    for (const RootRow& root : report.roots)
      roots.push_back({root.path, std::to_string(root.refs.size()), root.teardown.value_or("-")});
    AppendColumns(out, roots);
  }
  if (!report.orphans.empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> orphans = {{"ORPHAN", "KIND", "REASON"}};
    for (const Orphan& orphan : report.orphans) orphans.push_back({orphan.name, orphan.kind, orphan.reason});
    AppendColumns(out, orphans);
  }
  if (!report.trash.empty()) {
    out << "\ntrash, pending deletion by the reaper: " << report.trash.size() << "\n";
    for (const std::string& entry : report.trash) out << "  " << entry << "\n";
  }
  if (!report.problems.empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> problems = {{"PROBLEM", "KEY", "MESSAGE"}};
    for (const Problem& problem : report.problems) problems.push_back({problem.kind, problem.key, problem.message});
    AppendColumns(out, problems);
  }
  ReportTotals totals = Totals(report);
  out << "\n"
      << Plural(totals.volumes, "volume") << ", " << HumanBytes(totals.provisioned_bytes) << " provisioned, "
      << HumanBytes(totals.measured_bytes) << " measured, " << Plural(totals.orphans, "orphan") << "\n";
  return out.str();
}

std::string RenderJson(const VolumesReport& report) {
  ordered_json volumes = ordered_json::array();
  for (const VolumeRow& row : report.volumes) {
    const VolumeRecord& r = row.record;
    ordered_json usage = nullptr;
    if (row.usage) {
      usage = {{"used_bytes", row.usage->used_bytes},
               {"used_inodes", row.usage->used_inodes},
               {"quota_bytes", row.usage->quota_bytes},
               {"scanned_unix_ms", row.usage->scanned_unix_ms}};
    }
    volumes.push_back({{"name", r.name},
                       {"key", r.key},
                       {"layout", r.layout},
                       {"path", r.path},
                       {"shared_root", r.shared_root.empty() ? ordered_json(nullptr) : ordered_json(r.shared_root)},
                       {"state", StateText(r.state)},
                       {"capacity_bytes", r.capacity_bytes},
                       {"usage", usage},
                       {"over_quota", row.usage && OverQuota(*row.usage).has_value()},
                       {"created_unix_ms", r.created_unix_ms},
                       {"age_ms", report.now_unix_ms - r.created_unix_ms},
                       {"on_delete", row.on_delete},
                       {"quota_enforcement", row.quota_enforcement}});
  }
  ordered_json roots = ordered_json::array();
  for (const RootRow& root : report.roots) {
    roots.push_back({{"path", root.path},
                     {"refs", root.refs},
                     {"ref_count", root.refs.size()},
                     {"teardown", root.teardown ? ordered_json(*root.teardown) : ordered_json(nullptr)}});
  }
  ordered_json orphans = ordered_json::array();
  for (const Orphan& orphan : report.orphans)
    orphans.push_back({{"kind", orphan.kind}, {"name", orphan.name}, {"reason", orphan.reason}});
  ordered_json problems = ordered_json::array();
  for (const Problem& problem : report.problems)
    problems.push_back({{"kind", problem.kind}, {"key", problem.key}, {"message", problem.message}});
  ReportTotals totals = Totals(report);
  ordered_json out = {
      {"share",
       {{"server", report.share.server},
        {"export", report.share.share},
        {"port", report.share.port},
        {"nfs_version", report.share.ProtocolVersion()}}},
      {"now_unix_ms", report.now_unix_ms},
      {"volumes", volumes},
      {"roots", roots},
      {"orphans", orphans},
      {"trash", report.trash},
      {"problems", problems},
      {"summary",
       {{"volumes", totals.volumes},
        {"provisioned_bytes", totals.provisioned_bytes},
        {"measured_bytes", totals.measured_bytes},
        {"orphans", totals.orphans}}}};
  return out.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

int RunVolumes(const VolumesCommand& command, std::ostream& out, std::ostream& err) {
  constexpr int kUnreadable = 2;
  Status valid = ValidateServer(command.share.server);
  if (valid.ok()) valid = nfs::ValidateRoot(command.share.share).WithContext("--share");
  if (!valid.ok()) {
    err << "nfsprov volumes: " << valid.ToString() << "\n";
    return 1;
  }
  const std::string where = "share " + command.share.Url().Display();
  nfs::ClientOptions options;
  options.connections = 1;  // a few hundred small sequential reads: one connection is plenty
  options.call_timeout = std::chrono::seconds(command.nfs_timeout_s);
  options.connect_timeout = std::chrono::seconds(command.nfs_timeout_s);
  options.rpc_timeout = std::chrono::seconds(command.nfs_timeout_s);
  Result<std::unique_ptr<nfs::Client>> client = nfs::Client::Connect(command.share.Url(), options);
  if (!client.ok()) {
    err << "nfsprov volumes: cannot reach " << where << ": " << client.status().ToString() << "\n";
    return kUnreadable;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  Result<VolumesReport> report = ReadVolumesReport(std::move(client).value(), command.share, now);
  if (!report.ok()) {
    err << "nfsprov volumes: cannot read " << where << ": " << report.status().ToString() << "\n";
    return kUnreadable;
  }
  out << (command.output == "json" ? RenderJson(*report) : RenderTable(*report));
  return 0;
}

}  // namespace nfsprov
