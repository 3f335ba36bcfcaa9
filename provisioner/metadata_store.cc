#include "provisioner/metadata_store.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "nfs/path.h"
#include "provisioner/object_id.h"
#include "provisioner/volume_params.h"

namespace nfsprov {
namespace {

using nlohmann::json;

constexpr std::string_view kVolumes = "volumes";
constexpr std::string_view kSnapshots = "snapshots";
constexpr std::string_view kClaims = "claims";
constexpr std::string_view kTrash = "trash";
constexpr std::string_view kArchive = "archive";
constexpr std::string_view kRoots = "roots";
constexpr std::string_view kLocks = "locks";
constexpr std::string_view kUsage = "usage";
constexpr std::string_view kTeardownSuffix = ".teardown";
constexpr std::string_view kRecordSuffix = ".json";
constexpr uint32_t kPrivateMode = 0700;
// Claim retries when the owner releases between our failed symlink and our readlink.
constexpr int kClaimAttempts = 8;

// "/.nfsprov", or "/.nfsprov/<sub>" for one of the fixed subdirectories above.
std::string AreaDir() { return "/" + std::string(kMetadataDir); }
std::string AreaDir(std::string_view sub) { return AreaDir() + "/" + std::string(sub); }

// A claim names a volume key or kSharedRootOwner.
Status CheckOwner(std::string_view owner) {
  return MetadataStore::IsClaimOwner(owner) ? Status() : ValidateKey(owner);
}

// "/.nfsprov/<sub>/<key><suffix>" for a valid key.
Result<std::string> KeyedPath(std::string_view sub, std::string_view key,
                              std::string_view suffix) {
  NFSPROV_RETURN_IF_ERROR(ValidateKey(key));
  return nfs::JoinUnderRoot(AreaDir(sub), std::string(key) + std::string(suffix));
}

// The claim symlink for a volume directory. Only canonical paths are accepted, so one directory
// cannot be claimed twice under two spellings ("a/b" and "a//b").
Result<std::string> ClaimLink(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateVolumePath(path));
  return KeyedPath(kClaims, KeyForName(path), "");
}

// The refs directory of a shared root, or its teardown mark.
Result<std::string> RootPath(std::string_view root, std::string_view suffix) {
  NFSPROV_RETURN_IF_ERROR(ValidateVolumePath(root));
  return KeyedPath(kRoots, KeyForName(root), suffix);
}

// --- JSON ---------------------------------------------------------------------------------

// A well-formed JSON document that is not a valid record. Thrown and caught in this file only.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string_view StateName(VolumeState state) {
  return state == VolumeState::kReady ? "ready" : "creating";
}

VolumeState ParseState(const std::string& name) {
  if (name == StateName(VolumeState::kReady)) return VolumeState::kReady;
  if (name == StateName(VolumeState::kCreating)) return VolumeState::kCreating;
  throw FormatError("unknown state " + nfs::QuoteForMessage(name));
}

const json& Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) throw FormatError("missing field \"" + std::string(name) + "\"");
  return *it;
}

[[noreturn]] void WrongType(const char* name, const char* expected) {
  throw FormatError("field \"" + std::string(name) + "\" is not " + expected);
}

std::string StringField(const json& object, const char* name) {
  const json& value = Field(object, name);
  if (!value.is_string()) WrongType(name, "a string");
  return value.get<std::string>();
}

// Integers only: nlohmann would silently truncate 1.5 or wrap 2^63 into an int64_t.
int64_t IntegerField(const json& object, const char* name) {
  const json& value = Field(object, name);
  bool fits = value.is_number_integer() &&
              (!value.is_number_unsigned() ||
               value.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()});
  if (!fits) WrongType(name, "a 64-bit integer");
  return value.get<int64_t>();
}

bool BoolField(const json& object, const char* name) {
  const json& value = Field(object, name);
  if (!value.is_boolean()) WrongType(name, "a boolean");
  return value.get<bool>();
}

std::map<std::string, std::string> StringMapField(const json& object, const char* name) {
  const json& value = Field(object, name);
  if (!value.is_object()) WrongType(name, "an object");
  std::map<std::string, std::string> out;
  for (const auto& [entry, text] : value.items()) {
    if (!text.is_string()) {
      throw FormatError("field \"" + std::string(name) + "\" entry " +
                        nfs::QuoteForMessage(entry) + " is not a string");
    }
    out[entry] = text.get<std::string>();
  }
  return out;
}

json Encode(const VolumeRecord& r) {
  return {{"name", r.name},
          {"key", r.key},
          {"path", r.path},
          {"capacity_bytes", r.capacity_bytes},
          {"parameters", r.parameters},
          {"layout", r.layout},
          {"shared_root", r.shared_root},
          {"content_source", r.content_source},
          {"created_unix_ms", r.created_unix_ms},
          {"state", StateName(r.state)}};
}

json Encode(const SnapshotRecord& r) {
  return {{"name", r.name},
          {"key", r.key},
          {"source_volume_id", r.source_volume_id},
          {"source_key", r.source_key},
          {"size_bytes", r.size_bytes},
          {"created_unix_ms", r.created_unix_ms},
          {"ready", r.ready}};
}

// Every field is required (a record written by this driver has them all); unknown fields are
// ignored so that records written by a newer version stay readable.
void Decode(const json& j, VolumeRecord& r) {
  r.name = StringField(j, "name");
  r.key = StringField(j, "key");
  r.path = StringField(j, "path");
  r.capacity_bytes = IntegerField(j, "capacity_bytes");
  r.parameters = StringMapField(j, "parameters");
  r.layout = StringField(j, "layout");
  if (r.layout != "subdir" && r.layout != "shared")
    throw FormatError("field \"layout\" is " + nfs::QuoteForMessage(r.layout) + ", not subdir or shared");
  if (r.layout == "shared") {
    r.shared_root = StringField(j, "shared_root");
    if (Status root = ValidateVolumePath(r.shared_root); !root.ok()) throw FormatError(root.message());
    if (r.path != r.shared_root && !r.path.starts_with(r.shared_root + "/"))
      throw FormatError("path " + nfs::QuoteForMessage(r.path) + " is not inside shared_root " +
                        nfs::QuoteForMessage(r.shared_root));
  }
  r.content_source = StringField(j, "content_source");
  r.created_unix_ms = IntegerField(j, "created_unix_ms");
  r.state = ParseState(StringField(j, "state"));
  if (Status path = ValidateVolumePath(r.path); !path.ok()) throw FormatError(path.message());
}

json Encode(const UsageRecord& r) {
  return {{"name", r.name},
          {"key", r.key},
          {"path", r.path},
          {"quota_bytes", r.quota_bytes},
          {"used_bytes", r.used_bytes},
          {"used_inodes", r.used_inodes},
          {"scanned_unix_ms", r.scanned_unix_ms},
          {"scan_ms", r.scan_ms}};
}

void Decode(const json& j, UsageRecord& r) {
  r.name = StringField(j, "name");
  r.key = StringField(j, "key");
  r.path = StringField(j, "path");
  r.quota_bytes = IntegerField(j, "quota_bytes");
  r.used_bytes = IntegerField(j, "used_bytes");
  r.used_inodes = IntegerField(j, "used_inodes");
  r.scanned_unix_ms = IntegerField(j, "scanned_unix_ms");
  r.scan_ms = IntegerField(j, "scan_ms");
  if (Status path = ValidateVolumePath(r.path); !path.ok()) throw FormatError(path.message());
}

void Decode(const json& j, SnapshotRecord& r) {
  r.name = StringField(j, "name");
  r.key = StringField(j, "key");
  r.source_volume_id = StringField(j, "source_volume_id");
  r.source_key = StringField(j, "source_key");
  r.size_bytes = IntegerField(j, "size_bytes");
  r.created_unix_ms = IntegerField(j, "created_unix_ms");
  r.ready = BoolField(j, "ready");
}

// Invalid UTF-8 (impossible from gRPC, whose strings are UTF-8) is replaced instead of thrown.
std::string Serialize(const json& object) {
  return object.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

// Where each kind of record lives and what messages call it.
template <typename Record>
struct RecordKind;
template <>
struct RecordKind<VolumeRecord> {
  static constexpr std::string_view kSubdir = kVolumes;
  static constexpr std::string_view kNoun = "volume record";
};
template <>
struct RecordKind<SnapshotRecord> {
  static constexpr std::string_view kSubdir = kSnapshots;
  static constexpr std::string_view kNoun = "snapshot record";
};
template <>
struct RecordKind<UsageRecord> {
  static constexpr std::string_view kSubdir = kUsage;
  static constexpr std::string_view kNoun = "usage record";
};

// `what` names the record in messages: "volume record /.nfsprov/volumes/<key>.json".
template <typename Record>
Result<Record> Parse(std::string_view text, std::string_view what) {
  try {
    const json object = json::parse(text);
    if (!object.is_object()) throw FormatError("not a JSON object");
    Record record;
    Decode(object, record);
    return record;
  } catch (const json::parse_error& e) {
    return Internal(std::string(what) + " is not valid JSON: " + e.what());
  } catch (const FormatError& e) {
    return Internal(std::string(what) + " is malformed: " + e.what());
  }
}

// --- Records on the share -----------------------------------------------------------------

template <typename Record>
Result<std::string> RecordFile(std::string_view key) {
  return KeyedPath(RecordKind<Record>::kSubdir, key, kRecordSuffix);
}

template <typename Record>
Result<std::optional<Record>> GetRecord(nfs::Client& client, const std::string& key) {
  Result<std::string> file = RecordFile<Record>(key);
  if (!file.ok()) return file.status();
  Result<std::string> text = client.Readlink(*file);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<Record>();
    return text.status();
  }
  const std::string what = std::string(RecordKind<Record>::kNoun) + " " + *file;
  Result<Record> record = Parse<Record>(*text, what);
  if (!record.ok()) return record.status();
  if (record->key != key) {
    return Internal(what + " holds key " + nfs::QuoteForMessage(record->key) +
                    ", not its file name's");
  }
  return std::optional<Record>(std::move(record).value());
}

// The key is checked before EnsureLayout: an invalid call never reaches the server.
template <typename Record>
Status PutRecord(MetadataStore& store, const Record& record) {
  Result<std::string> file = RecordFile<Record>(record.key);
  if (!file.ok()) return file.status();
  NFSPROV_RETURN_IF_ERROR(store.EnsureLayout());
  return store.client().ReplaceSymlink(ToJson(record), *file).WithContext(
      std::string(RecordKind<Record>::kNoun) + " " + record.name);
}

template <typename Record>
Status DeleteRecord(nfs::Client& client, const std::string& key) {
  Result<std::string> file = RecordFile<Record>(key);
  if (!file.ok()) return file.status();
  return IgnoreNotFound(client.Unlink(*file));
}

// Keys of the "<key>.json" files in one records directory, sorted. Anything else there is not a
// record: snapshot data directories, and temporary links a crashed replace left behind.
Result<std::vector<std::string>> ListKeys(nfs::Client& client, std::string_view sub) {
  Result<std::vector<nfs::DirEntry>> entries = client.ReadDir(AreaDir(sub));
  if (!entries.ok()) {
    if (entries.status().code() == StatusCode::kNotFound) return std::vector<std::string>();
    return entries.status();
  }
  std::vector<std::string> keys;
  for (const nfs::DirEntry& entry : *entries) {
    std::string_view name = entry.name;
    if (!name.ends_with(kRecordSuffix)) continue;
    name.remove_suffix(kRecordSuffix.size());
    if (IsValidKey(name)) keys.emplace_back(name);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

// The key a claim symlink names; anything else there is a corrupt claim, never ignored.
Result<std::string> ReadClaim(nfs::Client& client, const std::string& link) {
  Result<std::string> owner = client.Readlink(link);
  if (owner.ok() && !MetadataStore::IsClaimOwner(*owner)) {
    return Internal("claim " + link + " points to " + nfs::QuoteForMessage(*owner) +
                    ", which is neither a volume key nor " + std::string(kSharedRootOwner));
  }
  return owner;
}

}  // namespace

Status MetadataStore::EnsureLayout() {
  if (layout_ready_.load(std::memory_order_acquire)) return {};
  std::vector<std::string> dirs = {AreaDir()};
  for (std::string_view sub : {kVolumes, kSnapshots, kClaims, kTrash, kArchive, kRoots, kUsage}) {
    dirs.push_back(AreaDir(sub));
  }
  for (const std::string& dir : dirs) {
    Status made = client_->Mkdir(dir, kPrivateMode);
    if (!made.ok() && made.code() != StatusCode::kAlreadyExists) return made;
  }
  layout_ready_.store(true, std::memory_order_release);
  return {};
}

std::string MetadataStore::VolumeDir(const std::string& relative_path) {
  if (!ValidateVolumePath(relative_path).ok()) return "";
  return nfs::JoinUnderRoot("/", relative_path).value_or("");
}

std::string MetadataStore::SnapshotDataDir(const std::string& key) {
  return KeyedPath(kSnapshots, key, "").value_or("");
}

std::string MetadataStore::VolumeRecordPath(const std::string& key) {
  Result<std::string> file = RecordFile<VolumeRecord>(key);
  return file.ok() ? *file : std::string();
}

std::string MetadataStore::ClaimPath(const std::string& relative_path) {
  return ClaimLink(relative_path).value_or("");
}

std::string MetadataStore::TrashDir() { return AreaDir(kTrash); }
std::string MetadataStore::ClaimsDir() { return AreaDir(kClaims); }
std::string MetadataStore::RootsDir() { return AreaDir(kRoots); }
std::string MetadataStore::LocksDir() { return AreaDir(kLocks); }
std::string MetadataStore::VolumeLocksDir(const std::string& key) {
  return KeyedPath(kLocks, key, "").value_or("");
}

bool MetadataStore::IsClaimOwner(std::string_view owner) {
  return owner == kSharedRootOwner || IsValidKey(owner);
}

std::string MetadataStore::ArchivePath(const std::string& relative_path, const std::string& key) {
  if (!ValidateVolumePath(relative_path).ok() || !IsValidKey(key)) return "";
  return nfs::JoinUnderRoot(AreaDir(kArchive), relative_path + "." + key).value_or("");
}

Result<std::optional<VolumeRecord>> MetadataStore::GetVolume(const std::string& key) {
  return GetRecord<VolumeRecord>(*client_, key);
}

Status MetadataStore::PutVolume(const VolumeRecord& record) {
  NFSPROV_RETURN_IF_ERROR(ValidateVolumePath(record.path));
  return PutRecord(*this, record);
}

Status MetadataStore::DeleteVolume(const std::string& key) {
  return DeleteRecord<VolumeRecord>(*client_, key);
}

Result<std::vector<std::string>> MetadataStore::ListVolumeKeys() {
  return ListKeys(*client_, kVolumes);
}

Result<std::vector<VolumeRecord>> MetadataStore::ListVolumes() {
  Result<std::vector<std::string>> keys = ListVolumeKeys();
  if (!keys.ok()) return keys.status();
  std::vector<VolumeRecord> records;
  for (const std::string& key : *keys) {
    Result<std::optional<VolumeRecord>> record = GetVolume(key);
    if (!record.ok()) return record.status();
    if (record->has_value()) records.push_back(std::move(**record));
  }
  return records;
}

Result<std::optional<SnapshotRecord>> MetadataStore::GetSnapshot(const std::string& key) {
  return GetRecord<SnapshotRecord>(*client_, key);
}

Status MetadataStore::PutSnapshot(const SnapshotRecord& record) {
  return PutRecord(*this, record);
}

Status MetadataStore::DeleteSnapshot(const std::string& key) {
  return DeleteRecord<SnapshotRecord>(*client_, key);
}

Result<std::vector<std::string>> MetadataStore::ListSnapshotKeys() {
  return ListKeys(*client_, kSnapshots);
}

Result<std::optional<UsageRecord>> MetadataStore::GetUsage(const std::string& key) {
  return GetRecord<UsageRecord>(*client_, key);
}

Status MetadataStore::PutUsage(const UsageRecord& record) { return PutRecord(*this, record); }

Status MetadataStore::DeleteUsage(const std::string& key) {
  return DeleteRecord<UsageRecord>(*client_, key);
}

Result<std::vector<std::string>> MetadataStore::ListUsageKeys() { return ListKeys(*client_, kUsage); }

Status MetadataStore::DeleteVolumeLocks(const std::string& key) {
  NFSPROV_RETURN_IF_ERROR(ValidateKey(key));
  const std::string dir = VolumeLocksDir(key);
  Result<std::vector<nfs::DirEntry>> locks = client_->ReadDir(dir);
  if (!locks.ok()) return IgnoreNotFound(locks.status());
  for (const nfs::DirEntry& lock : *locks) {
    const std::string lock_dir = dir + "/" + lock.name;
    Result<std::vector<nfs::DirEntry>> records = client_->ReadDir(lock_dir);
    if (!records.ok()) {
      NFSPROV_RETURN_IF_ERROR(IgnoreNotFound(records.status()));
      continue;
    }
    for (const nfs::DirEntry& record : *records)
      NFSPROV_RETURN_IF_ERROR(IgnoreNotFound(client_->Unlink(lock_dir + "/" + record.name)));
    NFSPROV_RETURN_IF_ERROR(IgnoreNotFound(client_->Rmdir(lock_dir)));
  }
  return IgnoreNotFound(client_->Rmdir(dir));
}

Status MetadataStore::CreateVolumeAtOnce(const VolumeRecord& record, uint32_t mode,
                                         std::optional<uint32_t> uid, std::optional<uint32_t> gid) {
  Result<std::vector<nfs::NewEntry>> entries = AtOnceEntries(record, mode, uid, gid);
  if (!entries.ok()) return entries.status();
  std::size_t created = 0;
  Status made = client_->CreateInOrder(*entries, &created);
  return FinishCreateVolumeAtOnce(record, std::move(made), created);
}

void MetadataStore::StartCreateVolumeAtOnce(const VolumeRecord& record, uint32_t mode,
                                            std::optional<uint32_t> uid, std::optional<uint32_t> gid,
                                            CreateSent sent) {
  Result<std::vector<nfs::NewEntry>> entries = AtOnceEntries(record, mode, uid, gid);
  if (!entries.ok()) return sent(entries.status(), 0);
  client_->CreateInOrderAsync(*entries, std::move(sent));
}

// The claim, the directory and the ready record, in the order they are made.
Result<std::vector<nfs::NewEntry>> MetadataStore::AtOnceEntries(const VolumeRecord& record, uint32_t mode,
                                                                std::optional<uint32_t> uid,
                                                                std::optional<uint32_t> gid) {
  if (record.state != VolumeState::kReady)
    return InvalidArgument("CreateVolumeAtOnce writes the record last, so it must be ready");
  Result<std::string> claim = ClaimLink(record.path);
  if (!claim.ok()) return claim.status();
  Result<std::string> file = RecordFile<VolumeRecord>(record.key);
  if (!file.ok()) return file.status();
  NFSPROV_RETURN_IF_ERROR(EnsureLayout());
  return std::vector<nfs::NewEntry>{nfs::NewEntry::Symlink(record.key, *claim),
                                    nfs::NewEntry::Directory(VolumeDir(record.path), mode, uid, gid),
                                    nfs::NewEntry::Symlink(ToJson(record), *file)};
}

Status MetadataStore::FinishCreateVolumeAtOnce(const VolumeRecord& record, Status made, std::size_t created) {
  if (made.code() != StatusCode::kAlreadyExists) return made;
  // What this very request made is known to be new (creation is exclusive), and no earlier
  // attempt of this volume held the claim it just made, so what it ran into is not its own.
  if (created == 1) {
    // The directory was there before: never this volume's, whatever its age or content.
    NFSPROV_RETURN_IF_ERROR(Release(record.path, record.key));
    return made;
  }
  if (created == 2) {
    // The name has a record already, for another path (the same path's claim would have
    // stopped us first): the claim and the directory just made belong to no volume.
    Status removed = client_->Rmdir(VolumeDir(record.path));
    if (removed.ok()) removed = Release(record.path, record.key);
    if (!removed.ok()) return removed.WithContext("taking back what a refused create made");
  }
  return Status(StatusCode::kAborted, made.message());
}

// Symlink creation is exclusive on the server, so of many concurrent claims exactly one
// succeeds; the others read who won. A retried call that finds its own earlier link reads its
// own key, so claiming is idempotent.
Result<std::string> MetadataStore::Claim(const std::string& path, const std::string& key) {
  Result<std::string> link = ClaimLink(path);
  if (!link.ok()) return link.status();
  NFSPROV_RETURN_IF_ERROR(CheckOwner(key));
  NFSPROV_RETURN_IF_ERROR(EnsureLayout());
  for (int attempt = 0; attempt < kClaimAttempts; ++attempt) {
    Status made = client_->Symlink(key, *link);
    if (made.ok()) return key;
    if (made.code() != StatusCode::kAlreadyExists) return made;
    Result<std::string> owner = ReadClaim(*client_, *link);
    if (owner.status().code() != StatusCode::kNotFound) return owner;  // released meanwhile: retry
  }
  return Status(StatusCode::kAborted, "claim " + *link + " for " + nfs::QuoteForMessage(path) +
                                          " keeps changing owner; retry");
}

Status MetadataStore::Release(const std::string& path, const std::string& key) {
  Result<std::string> link = ClaimLink(path);
  if (!link.ok()) return link.status();
  NFSPROV_RETURN_IF_ERROR(CheckOwner(key));
  Result<std::string> owner = ReadClaim(*client_, *link);
  if (!owner.ok()) return IgnoreNotFound(owner.status());
  if (*owner != key) return {};
  return IgnoreNotFound(client_->Unlink(*link));
}

Result<std::optional<std::string>> MetadataStore::ClaimOwner(const std::string& path) {
  Result<std::string> link = ClaimLink(path);
  if (!link.ok()) return link.status();
  Result<std::string> owner = ReadClaim(*client_, *link);
  if (owner.ok()) return std::optional<std::string>(*owner);
  if (owner.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return owner.status();
}

Status MetadataStore::AddRootRef(const std::string& root, const std::string& key) {
  Result<std::string> refs = RootPath(root, "");
  if (!refs.ok()) return refs.status();
  NFSPROV_RETURN_IF_ERROR(ValidateKey(key));
  NFSPROV_RETURN_IF_ERROR(EnsureLayout());
  const std::string ref = *refs + "/" + key;
  for (int attempt = 0; attempt < kClaimAttempts; ++attempt) {
    Status dir = client_->Mkdir(*refs, kPrivateMode);
    if (!dir.ok() && dir.code() != StatusCode::kAlreadyExists) return dir;
    Status made = client_->Symlink(key, ref);
    if (made.ok() || made.code() == StatusCode::kAlreadyExists) return {};
    if (made.code() != StatusCode::kNotFound) return made;  // NOT_FOUND: the last one dropped it
  }
  return Status(StatusCode::kAborted, "references of shared root " + nfs::QuoteForMessage(root) +
                                          " keep being dropped; retry");
}

Status MetadataStore::RemoveRootRef(const std::string& root, const std::string& key) {
  Result<std::string> refs = RootPath(root, "");
  if (!refs.ok()) return refs.status();
  NFSPROV_RETURN_IF_ERROR(ValidateKey(key));
  return IgnoreNotFound(client_->Unlink(*refs + "/" + key));
}

Result<std::vector<std::string>> MetadataStore::RootRefs(const std::string& root) {
  Result<std::string> refs = RootPath(root, "");
  if (!refs.ok()) return refs.status();
  Result<std::vector<nfs::DirEntry>> entries = client_->ReadDir(*refs);
  if (!entries.ok()) {
    if (entries.status().code() == StatusCode::kNotFound) return std::vector<std::string>();
    return entries.status();
  }
  std::vector<std::string> keys;
  for (const nfs::DirEntry& entry : *entries) keys.push_back(entry.name);
  std::sort(keys.begin(), keys.end());
  return keys;
}

Result<bool> MetadataStore::DropRootRefsIfEmpty(const std::string& root) {
  Result<std::string> refs = RootPath(root, "");
  if (!refs.ok()) return refs.status();
  Status removed = client_->Rmdir(*refs);
  if (removed.ok() || removed.code() == StatusCode::kNotFound) return true;
  if (removed.code() == StatusCode::kFailedPrecondition) return false;  // ENOTEMPTY
  return removed;
}

Result<std::string> MetadataStore::MarkTeardown(const std::string& root, const std::string& key) {
  Result<std::string> mark = RootPath(root, kTeardownSuffix);
  if (!mark.ok()) return mark.status();
  NFSPROV_RETURN_IF_ERROR(ValidateKey(key));
  NFSPROV_RETURN_IF_ERROR(EnsureLayout());
  for (int attempt = 0; attempt < kClaimAttempts; ++attempt) {
    Status made = client_->Symlink(key, *mark);
    if (made.ok()) return key;
    if (made.code() != StatusCode::kAlreadyExists) return made;
    Result<std::string> owner = client_->Readlink(*mark);
    if (owner.status().code() != StatusCode::kNotFound) return owner;  // removed meanwhile: retry
  }
  return Status(StatusCode::kAborted, "teardown mark of shared root " + nfs::QuoteForMessage(root) +
                                          " keeps changing; retry");
}

Result<std::optional<std::string>> MetadataStore::TeardownOwner(const std::string& root) {
  Result<std::string> mark = RootPath(root, kTeardownSuffix);
  if (!mark.ok()) return mark.status();
  Result<std::string> owner = client_->Readlink(*mark);
  if (owner.ok()) return std::optional<std::string>(*owner);
  if (owner.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return owner.status();
}

Status MetadataStore::UnmarkTeardown(const std::string& root) {
  Result<std::string> mark = RootPath(root, kTeardownSuffix);
  if (!mark.ok()) return mark.status();
  return IgnoreNotFound(client_->Unlink(*mark));
}

std::string EffectiveOnDelete(const VolumeRecord& record) {
  auto it = record.parameters.find("onDelete");
  if (it != record.parameters.end()) return it->second;
  return std::string(OnDeleteName(record.layout == "shared" ? OnDelete::kRetain : OnDelete::kDelete));
}

std::string EffectiveQuotaEnforcement(const VolumeRecord& record) {
  auto it = record.parameters.find("quotaEnforcement");
  if (it != record.parameters.end()) return it->second;
  return std::string(QuotaEnforcementName(VolumeParams{}.quota_enforcement));
}

std::string ToJson(const VolumeRecord& record) { return Serialize(Encode(record)); }

Result<VolumeRecord> VolumeRecordFromJson(const std::string& json) {
  return Parse<VolumeRecord>(json, RecordKind<VolumeRecord>::kNoun);
}

std::string ToJson(const SnapshotRecord& record) { return Serialize(Encode(record)); }

Result<SnapshotRecord> SnapshotRecordFromJson(const std::string& json) {
  return Parse<SnapshotRecord>(json, RecordKind<SnapshotRecord>::kNoun);
}

std::string ToJson(const UsageRecord& record) { return Serialize(Encode(record)); }

Result<UsageRecord> UsageRecordFromJson(const std::string& json) {
  return Parse<UsageRecord>(json, RecordKind<UsageRecord>::kNoun);
}

}  // namespace nfsprov
