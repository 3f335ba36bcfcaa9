#include "provisioner/controller.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <shared_mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/crash_point.h"
#include "common/thread_name.h"
#include "nfs/path.h"
#include "nfs/tree.h"
#include "provisioner/object_id.h"
#include "provisioner/quota.h"

namespace nfsprov {
namespace {

constexpr uint32_t kDefaultMode = 0777;  // docs/storageclass.md: pods of any uid can write
constexpr std::size_t kMaxNameBytes = 253;  // a Kubernetes object name
// A share's size changes rarely (an administrator grows it): read once a minute at most.
constexpr std::chrono::seconds kShareSizeMaxAge{60};

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
    if (extra == 4 || i + extra >= s.size()) return false;  // bad lead byte, or cut short
    for (std::size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += extra + 1;
  }
  return true;
}

Status ValidateName(std::string_view what, const std::string& name) {
  if (name.empty()) return InvalidArgument(std::string(what) + " name is required");
  if (name.size() > kMaxNameBytes)
    return InvalidArgument(std::string(what) + " name is " + std::to_string(name.size()) +
                           " bytes, longer than " + std::to_string(kMaxNameBytes));
  if (!IsValidUtf8(name))
    return InvalidArgument(std::string(what) + " name " + nfs::QuoteForMessage(name) + " is not valid UTF-8");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      return InvalidArgument(std::string(what) + " name " + nfs::QuoteForMessage(name) +
                             " contains control characters");
    if (c == '/')
      return InvalidArgument(std::string(what) + " name " + nfs::QuoteForMessage(name) +
                             " contains '/' (a Kubernetes object name never does)");
  }
  return Status();
}

// A record's path must be what ParseVolumeParams would accept; anything else means the record
// was tampered with, and the directory is left alone.
Status CheckRecordPath(const VolumeRecord& record) {
  if (Status s = ValidateVolumePath(record.path); !s.ok())
    return Internal("volume record " + record.key + " has an unsafe path (" + s.message() +
                    "); refusing to touch it");
  return Status();
}

std::string Nonce() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

// Whether the directory of `record` is this volume's own leftover: from an earlier attempt that
// stopped half-way or crashed, or from a request whose reply a server restart lost (its retry
// then sees EEXIST). Ours means created no earlier than the volume's claim on the path (both
// times from the server's clock; the caller holds the claim, and every way of creating the
// directory claims first) and either empty or a partial copy still carrying the copy engine's
// staging directory. A foreign directory is older, or holds data: never ours.
Result<bool> IsOwnLeftover(nfs::Client& client, const std::string& dir, const VolumeRecord& record) {
  Result<nfs::FileAttr> made = client.Lstat(dir);
  if (!made.ok()) return made.status();
  Result<nfs::FileAttr> claimed = client.Lstat(MetadataStore::ClaimPath(record.path));
  if (!claimed.ok()) return claimed.status();
  auto when = [](const nfs::Timestamp& t) { return std::make_pair(t.seconds, t.nanoseconds); };
  if (made->type != nfs::FileType::kDirectory || when(made->ctime) < when(claimed->ctime)) return false;
  Result<std::vector<nfs::DirEntry>> entries = client.ReadDir(dir);
  if (!entries.ok()) return entries.status();
  return entries->empty() ||
         std::any_of(entries->begin(), entries->end(), [](const nfs::DirEntry& e) {
           return e.name.starts_with(nfs::kCopyStagingPrefix);
         });
}

// Creates every missing parent directory of `path` (relative) with mode 0755, from the first
// '/' at or after `from` (a prefix known to exist can be skipped).
Status MakeParents(nfs::Client& client, const std::string& path, std::size_t from = 0) {
  std::size_t slash = from;
  while ((slash = path.find('/', slash)) != std::string::npos) {
    std::string parent = "/" + path.substr(0, slash);
    Status s = client.Mkdir(parent, 0755);
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
    ++slash;
  }
  return Status();
}

// Removes empty parents of `path` (relative), deepest first, stopping at the first that is not
// empty or not there, and before `stop` (an ancestor, or "" for the share root). rmdir never
// removes a non-empty directory.
void RemoveEmptyParents(nfs::Client& client, const std::string& path, const std::string& stop = "") {
  std::string parent = path;
  while (true) {
    std::size_t slash = parent.rfind('/');
    if (slash == std::string::npos) return;
    parent.resize(slash);
    if (parent == stop || !client.Rmdir("/" + parent).ok()) return;
  }
}

std::string SourceText(const ContentSource& source) {
  switch (source.kind) {
    case ContentSource::Kind::kNone: return "";
    case ContentSource::Kind::kSnapshot: return "snapshot:" + source.id;
    case ContentSource::Kind::kVolume: return "volume:" + source.id;
  }
  return "";
}

ContentSource SourceFromText(const std::string& text) {
  ContentSource source;
  if (text.starts_with("snapshot:")) source = {ContentSource::Kind::kSnapshot, text.substr(9)};
  if (text.starts_with("volume:")) source = {ContentSource::Kind::kVolume, text.substr(7)};
  return source;
}

// How a claim's owner is named in a message.
std::string OwnerText(const std::string& owner) {
  return owner == kSharedRootOwner ? std::string("a shared root") : "volume key " + owner;
}

// The nearest proper ancestor of `path` that is a volume's or a shared root's directory, with the
// claim's owner; nullopt when there is none. One claim lookup per ancestor (none for a top-level
// path).
struct Enclosing {
  std::string ancestor, owner;
};
Result<std::optional<Enclosing>> EnclosingVolume(MetadataStore& store, const std::string& path) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    const std::string ancestor = path.substr(0, slash);
    Result<std::optional<std::string>> owner = store.ClaimOwner(ancestor);
    if (!owner.ok()) return owner.status();
    if (owner->has_value()) return std::optional<Enclosing>(Enclosing{ancestor, **owner});
  }
  return std::optional<Enclosing>();
}

Status NestingRefused(const std::string& path, const Enclosing& enclosing) {
  return FailedPrecondition("directory " + path + " would lie inside " + enclosing.ancestor +
                            ", the directory of " + OwnerText(enclosing.owner) + "; volumes cannot nest");
}

// Volumes never nest: no proper ancestor of `path` may be a volume's or a shared root's directory.
Status CheckNotInsideVolume(MetadataStore& store, const std::string& path) {
  Result<std::optional<Enclosing>> enclosing = EnclosingVolume(store, path);
  if (!enclosing.ok()) return enclosing.status();
  return enclosing->has_value() ? NestingRefused(path, **enclosing) : Status();
}

// A volume's (or another shared root's) directory at or below `dir`, as "<path>, the directory of
// <whose>"; nullopt when there is none. Reads every volume record of the share.
Result<std::optional<std::string>> VolumeInside(MetadataStore& store, const std::string& dir) {
  Result<std::vector<VolumeRecord>> records = store.ListVolumes();
  if (!records.ok()) return records.status();
  for (const VolumeRecord& record : *records) {
    if (record.shared_root == dir) continue;
    const std::string& inside = record.layout == "shared" ? record.shared_root : record.path;
    if (inside == dir || inside.starts_with(dir + "/"))
      return std::optional<std::string>(inside + ", the directory of " +
                                        (record.layout == "shared" ? "another shared root" : "volume " + record.name));
  }
  return std::optional<std::string>();
}

// Before a shared root adopts an existing directory: no volume may lie inside it (it would be
// shared, and deleted with the root).
Status CheckNoVolumeInside(MetadataStore& store, const std::string& root) {
  Result<std::optional<std::string>> inside = VolumeInside(store, root);
  if (!inside.ok()) return inside.status();
  if (!inside->has_value()) return Status();
  return FailedPrecondition("shared root " + root + " would contain " + **inside + "; volumes cannot nest");
}

// The answer for a directory that was there before the volume: never shared silently (data loss
// waits there). When it holds a volume (a racing create of a volume inside it can leave it so),
// the message names that volume instead of suggesting to delete the directory.
Status ForeignDirectory(MetadataStore& store, const VolumeParams& params, const std::string& name) {
  const std::string where = "directory " + params.path + " already exists on " + params.share.Url().Display();
  Result<std::optional<std::string>> inside = VolumeInside(store, params.path);
  if (inside.ok() && inside->has_value())
    return AlreadyExists(where + " and holds " + **inside + "; volumes cannot nest");
  return AlreadyExists(where + " and belongs to no volume named " + name +
                       "; delete or rename it, or use a static volume to adopt it");
}

VolumeRecord NewRecord(const CreateVolumeArgs& args, const VolumeParams& params, const std::string& key,
                       int64_t capacity) {
  VolumeRecord r;
  r.name = args.name;
  r.key = key;
  r.path = params.path;
  r.capacity_bytes = capacity;
  r.parameters = params.given;
  r.content_source = SourceText(args.source);
  r.created_unix_ms = NowUnixMs();
  if (!params.shared_root.empty()) {
    r.layout = "shared";
    r.shared_root = params.shared_root;
  }
  return r;
}

// The record of a volume that was already asked for: the same volume only when the arguments
// agree.
Status CheckSameVolume(const VolumeRecord& record, const CreateVolumeArgs& args, const VolumeParams& params) {
  if (record.name != args.name)
    return Internal("volume key " + record.key + " is recorded for another name: " + record.name);
  if (record.parameters != params.given || record.path != params.path ||
      record.content_source != SourceText(args.source))
    return AlreadyExists("volume " + args.name + " already exists with different parameters or content source");
  bool fits = record.capacity_bytes >= args.capacity.required_bytes &&
              (args.capacity.limit_bytes == 0 || record.capacity_bytes <= args.capacity.limit_bytes);
  if (!fits)
    return AlreadyExists("volume " + args.name + " already exists with capacity " +
                         std::to_string(record.capacity_bytes) + " bytes, outside the requested range");
  return Status();
}

// Renames `dir` into the trash or the archive as `policy` says (retain: nothing); returns
// whether it went to the trash. A directory already gone is fine (a retried delete).
Result<bool> ApplyOnDelete(nfs::Client& client, const std::string& policy, const std::string& path,
                           const std::string& key) {
  Status moved;
  bool trashed = false;
  const std::string dir = MetadataStore::VolumeDir(path);
  if (policy == "archive") {
    std::string target = MetadataStore::ArchivePath(path, key);
    NFSPROV_RETURN_IF_ERROR(MakeParents(client, target.substr(1)));
    moved = client.Rename(dir, target);
  } else if (policy != "retain") {
    moved = client.Rename(dir, MetadataStore::TrashDir() + "/" + key + "." + Nonce());
    trashed = moved.ok();
  }
  if (!moved.ok() && moved.code() != StatusCode::kNotFound) return moved;
  if (policy != "retain") RemoveEmptyParents(client, path);
  return trashed;
}

// The parameters that name a share and its admission limits. The subDir and sharedRoot templates
// need PVC names that GetCapacity and ControllerExpandVolume do not have, and do not matter there.
Result<VolumeParams> ParseShareParams(std::map<std::string, std::string> parameters) {
  parameters.erase("subDir");
  parameters.erase("sharedRoot");
  return ParseVolumeParams(parameters, "capacity");
}


ObjectId IdFor(ObjectKind kind, const ShareRef& share, const std::string& key) {
  ObjectId id;
  id.kind = kind;
  id.share = share;
  id.share.nfs_version = share.ProtocolVersion() == 3 ? "3" : "4";
  id.key = key;
  return id;
}

Result<ObjectId> DecodeKind(const std::string& text, ObjectKind kind) {
  Result<ObjectId> id = DecodeId(text);
  if (!id.ok()) return id.status();
  if (id->kind != kind)
    return InvalidArgument(std::string(kind == ObjectKind::kVolume ? "volume" : "snapshot") +
                           " ID expected, got a " +
                           (kind == ObjectKind::kVolume ? "snapshot" : "volume") + " ID");
  return id;
}

// Splits "shareKey\x1fkey" tokens; the separator cannot occur in either part.
constexpr char kTokenSeparator = '\x1f';

}  // namespace

Result<int64_t> ResolveCapacity(const CapacityRange& range) {
  if (range.required_bytes < 0 || range.limit_bytes < 0)
    return InvalidArgument("capacity range must not be negative");
  if (range.limit_bytes > 0 && range.required_bytes > range.limit_bytes)
    return Status(StatusCode::kOutOfRange,
                  "required_bytes " + std::to_string(range.required_bytes) + " exceeds limit_bytes " +
                      std::to_string(range.limit_bytes));
  int64_t wanted = range.required_bytes > 0 ? range.required_bytes : range.limit_bytes;
  int64_t rounded = (wanted + kCapacityGranularity - 1) / kCapacityGranularity * kCapacityGranularity;
  if (range.limit_bytes > 0) rounded = std::min(rounded, range.limit_bytes);
  return rounded;
}

Controller::Controller(ControllerOptions options)
    : shares_(options.client, options.reap_interval, options.usage),
      quota_backend_(options.quota_backend),
      lock_file_(options.lock_file) {
  for (const auto& share : options.shares) shares_.Add(share);
}

Controller::~Controller() {
  std::unique_lock<std::mutex> lock(calls_mu_);
  calls_ended_.wait(lock, [&] { return calls_running_ == 0; });
}

Result<Controller::Prepared> Controller::Prepare(const CreateVolumeArgs& args) {
  NFSPROV_RETURN_IF_ERROR(ValidateName("volume", args.name));
  Result<VolumeParams> params = ParseVolumeParams(args.parameters, args.name);
  if (!params.ok()) return params.status();
  if (params->read_only && !args.writer_access_mode.empty())
    return InvalidArgument("the StorageClass has readOnly: \"true\", but access mode " + args.writer_access_mode +
                           " writes; ask for ReadOnlyMany (MULTI_NODE_READER_ONLY) or SINGLE_NODE_READER_ONLY");
  if (params->locks && !lock_file_)
    return FailedPrecondition("the StorageClass has locks: \"true\", but this controller runs without "
                              "--lock-key-file and --lockd-address (docs/locks.md)");
  std::string key = KeyForName(args.name);
  Result<std::string> id = EncodeId(IdFor(ObjectKind::kVolume, params->share, key));
  if (!id.ok()) return id.status();
  return Prepared{std::move(params).value(), std::move(key), std::move(id).value()};
}

Result<Volume> Controller::CreateVolume(const CreateVolumeArgs& args) {
  Result<Prepared> prepared = Prepare(args);
  if (!prepared.ok()) return prepared.status();
  KeyedMutex::Lock lock = locks_.Acquire(prepared->id);
  return CreateLocked(args, *prepared);
}

void Controller::CreateVolume(CreateVolumeArgs args, CreateDone done) {
  Result<Prepared> prepared = Prepare(args);
  if (!prepared.ok()) return done(prepared.status());
  if (StartCreateAtOnce(args, *prepared, done)) return;
  InBackground([this, args = std::move(args), done = std::move(done)] { done(CreateVolume(args)); });
}

// One asynchronous one-request create, from its start to its answer: the locks it holds go with it
// to whichever thread finishes it.
struct Controller::AtOnceCall {
  CreateVolumeArgs args;
  Prepared prepared;
  std::optional<KeyedMutex::Lock> name_lock;
  std::shared_lock<LayoutGate> layout;
  Admission admission;
  VolumeRecord record;
  CreateDone done;
};

// Every step before the COMPOUND is answered from memory here: the share is connected and its
// ledger loaded, its size known (or given), the path has no parent to check for nesting, and the
// locks are free. After a made volume nothing needs NFS either (no quota backend, no lock file,
// no content source), so the reply finishes the call on the event loop.
bool Controller::StartCreateAtOnce(const CreateVolumeArgs& args, const Prepared& prepared, const CreateDone& done) {
  const VolumeParams& params = prepared.params;
  if (args.source.kind != ContentSource::Kind::kNone || !params.shared_root.empty() || params.locks ||
      quota_backend_ || params.path.find('/') != std::string::npos)
    return false;
  std::optional<ShareHandle> share = shares_.Connected(params.share);
  if (!share || share->client->url().version != 4 || !share->ledger->loaded() ||
      (!params.share_capacity && !share->ledger->ShareSize(kShareSizeMaxAge)))
    return false;
  std::optional<KeyedMutex::Lock> name_lock = locks_.TryAcquire(prepared.id);
  if (!name_lock) return false;
  std::shared_lock<LayoutGate> layout(*share->layout_lock, std::try_to_lock);
  if (!layout.owns_lock()) return false;
  Result<Admission> admitted = Admit(args, prepared);
  if (!admitted.ok()) {
    layout.unlock();
    name_lock.reset();
    done(admitted.status());
    return true;
  }
  VolumeRecord record = NewRecord(args, params, prepared.key, admitted->capacity);
  record.state = VolumeState::kReady;
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    ++calls_running_;
  }
  auto call = std::make_shared<AtOnceCall>(AtOnceCall{args, prepared, std::move(name_lock), std::move(layout),
                                                      std::move(admitted).value(), std::move(record), done});
  MetadataStore& store = *call->admission.share.store;
  store.StartCreateVolumeAtOnce(
      call->record, params.mount_permissions.value_or(kDefaultMode), params.uid, params.gid,
      [this, call](Status made, std::size_t created) {
        if (made.ok()) {
          // A top-level path has no enclosing volume to look for (CheckedNew).
          const AtOnceCall& c = *call;
          return FinishCreateAtOnce(call, ToVolume(c.prepared.params.share, c.prepared.id, c.record));
        }
        // Taking back what a refused request made, or going step by step, waits for NFS.
        InBackground([this, call, outcome = AtOnceOutcome{call->record, std::move(made), created}] {
          AtOnceCall& c = *call;
          FinishCreateAtOnce(call, CreateExclusive(c.args, c.prepared.params, c.prepared.key, c.prepared.id,
                                                   c.admission.capacity, c.admission.share, &outcome));
        });
      });
  return true;
}

void Controller::FinishCreateAtOnce(const std::shared_ptr<AtOnceCall>& call, Result<Volume> made) {
  AtOnceCall& c = *call;
  c.layout.unlock();
  Result<Volume> result = Conclude(c.args, c.prepared, c.admission, std::move(made));
  c.name_lock.reset();
  c.done(std::move(result));
  CallEnded();
}

void Controller::InBackground(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    ++calls_running_;
  }
  std::thread([this, task = std::move(task)] {
    NameThisThread("create-volume");
    task();
    CallEnded();
  }).detach();
}

void Controller::CallEnded() {
  std::lock_guard<std::mutex> lock(calls_mu_);
  if (--calls_running_ == 0) calls_ended_.notify_all();
}

// Admission first: the volume's capacity is reserved in the share's ledger before anything is
// made, and the reservation is taken back if the create fails.
Result<Volume> Controller::CreateLocked(const CreateVolumeArgs& args, const Prepared& prepared) {
  Result<Admission> admitted = Admit(args, prepared);
  if (!admitted.ok()) return admitted.status();
  const VolumeParams& params = prepared.params;
  ShareHandle& share = admitted->share;
  Result<Volume> made = [&]() -> Result<Volume> {
    if (!params.shared_root.empty()) {
      std::unique_lock layout(*share.layout_lock);
      return CreateShared(args, params, prepared.key, prepared.id, admitted->capacity, share);
    }
    std::shared_lock layout(*share.layout_lock);
    return CreateExclusive(args, params, prepared.key, prepared.id, admitted->capacity, share);
  }();
  return Conclude(args, prepared, *admitted, std::move(made));
}

Result<Controller::Admission> Controller::Admit(const CreateVolumeArgs& args, const Prepared& prepared) {
  const VolumeParams& params = prepared.params;
  Result<int64_t> capacity = ResolveCapacity(args.capacity);
  if (!capacity.ok()) return capacity.status();
  if (*capacity == 0 && params.default_capacity)
    capacity = ResolveCapacity({*params.default_capacity, 0});
  Result<ShareHandle> share = shares_.Get(params.share);
  if (!share.ok()) return share.status();
  Result<CapacityLedger*> ledger = Ledger(*share);
  if (!ledger.ok()) return ledger.status();
  Result<int64_t> limit = ProvisionLimit(*share, params);
  if (!limit.ok()) return limit.status();
  Admission admission{*share, *ledger, *capacity, (*ledger)->Find(prepared.key)};
  NFSPROV_RETURN_IF_ERROR((*ledger)->Reserve(prepared.key, {*capacity, params.shared_root}, *limit));
  return admission;
}

Result<Volume> Controller::Conclude(const CreateVolumeArgs& args, const Prepared& prepared, Admission& admission,
                                    Result<Volume> made) {
  admission.ledger->Settle(prepared.key, made.ok() ? std::optional<CapacityLedger::Entry>(
                                                         {made->record.capacity_bytes, made->record.shared_root})
                                                   : admission.previous);
  if (!made.ok()) return made;
  ShareHandle& share = admission.share;
  // The volume exists; a failure here fails the call, and the retry sets the limit again.
  NFSPROV_RETURN_IF_ERROR(ApplyLimit(share, made->record));
  NFSPROV_RETURN_IF_ERROR(PlaceLockFile(share, *made, prepared.params));
  // A copy holds data at once; an empty directory (even a shared root, adopted or not) is
  // measured within the scan interval.
  share.usage->Track(made->record, args.source.kind != ContentSource::Kind::kNone);
  return made;
}

// A new volume without a content source is made in one request (MetadataStore::
// CreateVolumeAtOnce), which fails when anything of it is there already: an earlier attempt's
// claim, directory or record, or another volume's claim. That, a content source, or any other
// failure of that request goes step by step from reading the record: record `creating`, claim,
// directory (made, copied or adopted), record `ready`.
Result<Volume> Controller::CreateExclusive(const CreateVolumeArgs& args, const VolumeParams& params,
                                           const std::string& key, const std::string& id, int64_t capacity,
                                           ShareHandle& share, const AtOnceOutcome* sent) {
  MetadataStore& store = *share.store;
  auto new_record = [&] { return NewRecord(args, params, key, capacity); };
  NFSPROV_RETURN_IF_ERROR(CheckNotInsideVolume(store, params.path));

  if (args.source.kind == ContentSource::Kind::kNone) {
    VolumeRecord record = sent != nullptr ? sent->record : new_record();
    record.state = VolumeState::kReady;
    Status made = sent != nullptr
                      ? store.FinishCreateVolumeAtOnce(record, sent->made, sent->created)
                      : store.CreateVolumeAtOnce(record, params.mount_permissions.value_or(kDefaultMode),
                                                 params.uid, params.gid);
    if (made.ok()) return CheckedNew(share, params, id, record);
    if (made.code() == StatusCode::kAlreadyExists) return ForeignDirectory(store, params, args.name);
    // An unreachable server would fail the steps as well; the caller's retry resumes.
    if (made.code() == StatusCode::kUnavailable || made.code() == StatusCode::kDeadlineExceeded)
      return made;
    spdlog::debug("CreateVolume {}: one-request create stopped ({}); going step by step", args.name,
                  made.ToString());
  }

  Result<std::optional<VolumeRecord>> existing = store.GetVolume(key);
  if (!existing.ok()) return existing.status();
  VolumeRecord record;
  bool resuming = false;
  if (existing->has_value()) {
    record = **existing;
    NFSPROV_RETURN_IF_ERROR(CheckSameVolume(record, args, params));
    if (record.state == VolumeState::kReady) return ToVolume(params.share, id, record);
    resuming = true;  // an earlier attempt stopped half-way
  } else {
    record = new_record();
    record.state = VolumeState::kCreating;
    NFSPROV_RETURN_IF_ERROR(store.PutVolume(record));
  }

  Result<std::string> owner = store.Claim(record.path, key);
  if (!owner.ok()) return owner.status();
  if (*owner != key) {
    if (!resuming) NFSPROV_RETURN_IF_ERROR(store.DeleteVolume(key));
    return AlreadyExists("directory " + record.path + " on " + params.share.Url().Display() +
                         " already belongs to " + OwnerText(*owner));
  }
  Status populated = Populate(share, record, params, args.source);
  if (!populated.ok()) {
    if (populated.code() == StatusCode::kAlreadyExists) {
      // The directory was there before us: never share it silently (data loss waits there).
      NFSPROV_RETURN_IF_ERROR(store.Release(record.path, key));
      NFSPROV_RETURN_IF_ERROR(store.DeleteVolume(key));
      return ForeignDirectory(store, params, args.name);
    }
    return populated;
  }
  record.state = VolumeState::kReady;
  NFSPROV_RETURN_IF_ERROR(store.PutVolume(record));
  return CheckedNew(share, params, id, record);
}

// The check before a create cannot see a volume made at an ancestor at the same time; this one,
// after the claim and the directory exist, can (whichever of two racing creates comes second sees
// the other's claim). The loser's directory and any parents it made inside the other volume are
// removed again, then its claim and record.
Result<Volume> Controller::CheckedNew(ShareHandle& share, const VolumeParams& params, const std::string& id,
                                      const VolumeRecord& record) {
  Result<std::optional<Enclosing>> enclosing = EnclosingVolume(*share.store, record.path);
  if (!enclosing.ok()) return enclosing.status();
  if (!enclosing->has_value()) return ToVolume(params.share, id, record);
  // Its own new directory: empty, or a fresh copy of its content source, mounted by no one yet.
  Status undone = nfs::RemoveTree(*share.client, MetadataStore::VolumeDir(record.path)).status();
  if (undone.ok()) {
    RemoveEmptyParents(*share.client, record.path, (**enclosing).ancestor);
    undone = share.store->Release(record.path, record.key);
  }
  if (undone.ok()) undone = share.store->DeleteVolume(record.key);
  Status refused = NestingRefused(record.path, **enclosing);
  if (!undone.ok()) return undone.WithContext(refused.message() + "; then, taking the volume back");
  return refused;
}

// Step by step, each step resumable: record `creating`, reference on the root, root claimed
// (adopting its directory, or creating it) and subDir made, record `ready`.
Result<Volume> Controller::CreateShared(const CreateVolumeArgs& args, const VolumeParams& params,
                                        const std::string& key, const std::string& id, int64_t capacity,
                                        ShareHandle& share) {
  if (args.source.kind != ContentSource::Kind::kNone)
    return InvalidArgument("a volume on a shared root (parameter sharedRoot) cannot start from a snapshot "
                           "or a volume: its directory holds data every volume of the root shares");
  MetadataStore& store = *share.store;
  Result<std::optional<VolumeRecord>> existing = store.GetVolume(key);
  if (!existing.ok()) return existing.status();
  VolumeRecord record;
  if (existing->has_value()) {
    record = **existing;
    NFSPROV_RETURN_IF_ERROR(CheckSameVolume(record, args, params));
    if (record.state == VolumeState::kReady) return ToVolume(params.share, id, record);
  } else {
    record = NewRecord(args, params, key, capacity);
    record.state = VolumeState::kCreating;
    NFSPROV_RETURN_IF_ERROR(store.PutVolume(record));
  }
  CrashPoint("create-shared:recorded");
  Status bound = BindSharedRoot(share, params, key);
  if (bound.code() == StatusCode::kFailedPrecondition) {
    // Refused for good (the root would nest): the volume never existed; take back its traces.
    Status undone = store.RemoveRootRef(params.shared_root, key);
    if (undone.ok()) undone = store.DropRootRefsIfEmpty(params.shared_root).status();
    if (undone.ok()) undone = store.DeleteVolume(key);
    if (!undone.ok()) return undone.WithContext(bound.message() + "; then, taking back the volume's record");
  }
  NFSPROV_RETURN_IF_ERROR(bound);
  record.state = VolumeState::kReady;
  NFSPROV_RETURN_IF_ERROR(store.PutVolume(record));
  return ToVolume(params.share, id, record);
}

// The reference comes before anything else on the root: from then on no DeleteVolume can find
// the root unreferenced (the teardown mark check below covers one that already has).
Status Controller::BindSharedRoot(ShareHandle& share, const VolumeParams& params, const std::string& key) {
  MetadataStore& store = *share.store;
  nfs::Client& client = *share.client;
  const std::string& root = params.shared_root;
  NFSPROV_RETURN_IF_ERROR(CheckNotInsideVolume(store, root));
  NFSPROV_RETURN_IF_ERROR(store.AddRootRef(root, key));
  CrashPoint("create-shared:referenced");
  Result<std::optional<std::string>> tearing = store.TeardownOwner(root);
  if (!tearing.ok()) return tearing.status();
  if (tearing->has_value()) {
    Result<std::optional<VolumeRecord>> deleter = store.GetVolume(**tearing);
    if (!deleter.ok()) return deleter.status();
    if (deleter->has_value())
      return Status(StatusCode::kAborted, "shared root " + root + " is being removed by the deletion of volume " +
                                              (**deleter).name + " (its last reference); retry");
    NFSPROV_RETURN_IF_ERROR(store.UnmarkTeardown(root));  // that deletion finished: a stale mark
  }
  Result<std::optional<std::string>> owner = store.ClaimOwner(root);
  if (!owner.ok()) return owner.status();
  if (owner->has_value() && **owner != kSharedRootOwner)
    return FailedPrecondition("sharedRoot " + root + " is the directory of " + OwnerText(**owner) +
                              ", an exclusive volume; choose another sharedRoot");
  const uint32_t mode = params.mount_permissions.value_or(kDefaultMode);
  const std::string root_dir = MetadataStore::VolumeDir(root);
  if (!owner->has_value()) {
    Result<nfs::FileAttr> found = client.Lstat(root_dir);
    if (found.ok() && found->type != nfs::FileType::kDirectory)
      return FailedPrecondition("sharedRoot " + root + " exists and is not a directory");
    if (!found.ok() && found.status().code() != StatusCode::kNotFound) return found.status();
    if (found.ok()) {  // adopted as it is, unless it holds volumes
      Result<nfs::FileAttr> area = client.Lstat(root_dir + "/" + std::string(kMetadataDir));
      if (area.ok())
        return FailedPrecondition("sharedRoot " + root + " holds " + root + "/" + std::string(kMetadataDir) +
                                  ": it is a share of its own, with its own volumes");
      if (area.status().code() != StatusCode::kNotFound) return area.status();
      NFSPROV_RETURN_IF_ERROR(CheckNoVolumeInside(store, root));
    }
    Result<std::string> claimed = store.Claim(root, std::string(kSharedRootOwner));
    if (!claimed.ok()) return claimed.status();
    if (*claimed != kSharedRootOwner)
      return FailedPrecondition("sharedRoot " + root + " was just claimed by " + OwnerText(*claimed));
    CrashPoint("create-shared:claimed");
  }
  // Made with the class's mode and owner when missing; an existing directory is left as it is.
  auto make = [&](const std::string& path, std::size_t parents_from) {
    NFSPROV_RETURN_IF_ERROR(MakeParents(client, path, parents_from));
    Status made = client.Mkdir(MetadataStore::VolumeDir(path), mode, params.uid, params.gid);
    return made.code() == StatusCode::kAlreadyExists ? Status() : made;
  };
  NFSPROV_RETURN_IF_ERROR(make(root, 0));
  // subDir: only what lies below the root, which exists now.
  return params.path == root ? Status() : make(params.path, root.size() + 1);
}

// Reference dropped first, record deleted last, so a reference always has a record. The last
// reference is found by rmdir of the references directory under the teardown mark, which keeps
// creates away (they wait) until the root has had its onDelete.
Status Controller::DeleteShared(ShareHandle& share, const VolumeRecord& record) {
  MetadataStore& store = *share.store;
  const std::string& root = record.shared_root;
  NFSPROV_RETURN_IF_ERROR(store.RemoveRootRef(root, record.key));
  CrashPoint("delete-shared:unreferenced");
  Result<std::string> mark = store.MarkTeardown(root, record.key);
  if (!mark.ok()) return mark.status();
  if (*mark != record.key) {
    Result<std::optional<VolumeRecord>> other = store.GetVolume(*mark);
    if (!other.ok()) return other.status();
    if (other->has_value())
      return Status(StatusCode::kAborted, "the deletion of volume " + (**other).name + " is checking shared root " +
                                              root + " for its last reference; retry");
    NFSPROV_RETURN_IF_ERROR(store.UnmarkTeardown(root));  // stale: its volume is gone
    mark = store.MarkTeardown(root, record.key);
    if (!mark.ok()) return mark.status();
    if (*mark != record.key)
      return Status(StatusCode::kAborted, "another deletion is checking shared root " + root + "; retry");
  }
  CrashPoint("delete-shared:marked");
  Result<bool> last = store.DropRootRefsIfEmpty(root);
  if (!last.ok()) return last.status();
  bool trashed = false;
  if (*last) {
    CrashPoint("delete-shared:last");
    Result<std::optional<std::string>> owner = store.ClaimOwner(root);
    if (!owner.ok()) return owner.status();
    if (*owner == std::optional<std::string>(kSharedRootOwner)) {  // never claimed: nothing to do
      Result<bool> moved = ApplyOnDelete(*share.client, EffectiveOnDelete(record), root, record.key);
      if (!moved.ok()) return moved.status();
      trashed = *moved;
      CrashPoint("delete-shared:applied");
      if (quota_backend_) NFSPROV_RETURN_IF_ERROR(quota_backend_->ClearLimit(share.share, root));
      NFSPROV_RETURN_IF_ERROR(store.Release(root, std::string(kSharedRootOwner)));
    }
  }
  NFSPROV_RETURN_IF_ERROR(store.UnmarkTeardown(root));
  NFSPROV_RETURN_IF_ERROR(store.DeleteUsage(record.key));
  NFSPROV_RETURN_IF_ERROR(store.DeleteVolume(record.key));
  share.ledger->Remove(record.key);
  share.usage->Forget(record.key);
  if (trashed) share.reaper->Wake();
  return Status();
}

// Creates the volume directory (empty, or as a copy of the content source) and gives it its mode
// and owner. A directory already there is adopted only when it is provably this volume's own
// leftover (IsOwnLeftover); otherwise ALREADY_EXISTS and it is left untouched.
Status Controller::Populate(ShareHandle& share, const VolumeRecord& record,
                            const VolumeParams& params, const ContentSource& source) {
  nfs::Client& client = *share.client;
  const std::string dir = MetadataStore::VolumeDir(record.path);
  const uint32_t mode = params.mount_permissions.value_or(kDefaultMode);
  NFSPROV_RETURN_IF_ERROR(MakeParents(client, record.path));
  auto refuse_unless_own = [&](const Status& exists) -> Status {
    Result<bool> own = IsOwnLeftover(client, dir, record);
    if (!own.ok()) return own.status();
    return *own ? Status() : exists;
  };
  if (source.kind == ContentSource::Kind::kNone) {
    Status made = client.Mkdir(dir, mode, params.uid, params.gid);  // one COMPOUND
    if (made.ok() || made.code() != StatusCode::kAlreadyExists) return made;
    NFSPROV_RETURN_IF_ERROR(refuse_unless_own(made));
  } else {
    Result<std::string> from = SourcePath(share, source);
    if (!from.ok()) return from.status();
    Result<nfs::TreeStats> copied = nfs::CopyTree(client, *from, dir);
    if (!copied.ok() && copied.status().code() == StatusCode::kAlreadyExists) {
      NFSPROV_RETURN_IF_ERROR(refuse_unless_own(copied.status()));
      Result<nfs::TreeStats> cleared = nfs::RemoveTree(client, dir);  // our partial copy
      if (!cleared.ok()) return cleared.status();
      copied = nfs::CopyTree(client, *from, dir);
    }
    if (!copied.ok()) return copied.status();
  }
  NFSPROV_RETURN_IF_ERROR(client.Chmod(dir, mode));
  if (params.uid || params.gid) {
    Result<nfs::FileAttr> attr = client.Stat(dir);
    if (!attr.ok()) return attr.status();
    NFSPROV_RETURN_IF_ERROR(
        client.Chown(dir, params.uid.value_or(attr->uid), params.gid.value_or(attr->gid)));
  }
  return Status();
}

Result<std::string> Controller::SourcePath(ShareHandle& share, const ContentSource& source) {
  bool snapshot = source.kind == ContentSource::Kind::kSnapshot;
  Result<ObjectId> id = DecodeKind(source.id, snapshot ? ObjectKind::kSnapshot : ObjectKind::kVolume);
  if (!id.ok()) return id.status().WithContext("content source");
  if (id->share.Key() != IdFor(ObjectKind::kVolume, share.share, "").share.Key())
    return InvalidArgument("content source " + source.id + " is on another share than the new volume");
  if (snapshot) {
    Result<std::optional<SnapshotRecord>> record = share.store->GetSnapshot(id->key);
    if (!record.ok()) return record.status();
    if (!record->has_value()) return NotFound("source snapshot " + source.id + " does not exist");
    if (!(**record).ready) return FailedPrecondition("source snapshot " + source.id + " is not ready yet");
    return MetadataStore::SnapshotDataDir(id->key);
  }
  Result<std::optional<VolumeRecord>> record = share.store->GetVolume(id->key);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return NotFound("source volume " + source.id + " does not exist");
  NFSPROV_RETURN_IF_ERROR(CheckRecordPath(**record));
  return MetadataStore::VolumeDir((**record).path);
}

Volume Controller::ToVolume(const ShareRef& share, const std::string& id, const VolumeRecord& record) {
  Volume v;
  v.id = id;
  v.capacity_bytes = record.capacity_bytes;
  v.record = record;
  v.share = share;
  v.source = SourceFromText(record.content_source);
  v.context["server"] = share.server;
  v.context["share"] = share.share;
  v.context["subDir"] = record.path;
  for (const char* key : {"port", "nfsVersion", "mountOptions", "readOnly", "quotaEnforcement"}) {
    if (auto it = record.parameters.find(key); it != record.parameters.end()) v.context[key] = it->second;
  }
  return v;
}

Status Controller::DeleteVolume(const std::string& volume_id) {
  Result<ObjectId> id = DecodeKind(volume_id, ObjectKind::kVolume);
  if (!id.ok()) return id.status();
  KeyedMutex::Lock lock = locks_.Acquire(volume_id);
  Result<ShareHandle> share = shares_.Get(id->share);
  if (!share.ok()) return share.status();
  Result<std::optional<VolumeRecord>> found = share->store->GetVolume(id->key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status();  // already deleted
  const VolumeRecord& record = **found;
  NFSPROV_RETURN_IF_ERROR(CheckRecordPath(record));
  if (record.layout == "shared") {
    std::unique_lock layout(*share->layout_lock);
    return DeleteShared(*share, record);
  }
  Result<bool> trashed = ApplyOnDelete(*share->client, EffectiveOnDelete(record), record.path, record.key);
  if (!trashed.ok()) return trashed.status();
  if (quota_backend_) NFSPROV_RETURN_IF_ERROR(quota_backend_->ClearLimit(share->share, record.path));
  if (auto locks = record.parameters.find("locks"); locks != record.parameters.end() && locks->second == "true")
    NFSPROV_RETURN_IF_ERROR(share->store->DeleteVolumeLocks(record.key));
  NFSPROV_RETURN_IF_ERROR(share->store->Release(record.path, record.key));
  NFSPROV_RETURN_IF_ERROR(share->store->DeleteUsage(record.key));
  NFSPROV_RETURN_IF_ERROR(share->store->DeleteVolume(record.key));
  share->ledger->Remove(record.key);
  share->usage->Forget(record.key);
  // Only now: a reaper round started earlier would compete with this call's own requests.
  if (*trashed) share->reaper->Wake();
  return Status();
}

Result<int64_t> Controller::ExpandVolume(const std::string& volume_id, const CapacityRange& capacity) {
  Result<ObjectId> id = DecodeKind(volume_id, ObjectKind::kVolume);
  if (!id.ok()) return id.status();
  Result<int64_t> wanted = ResolveCapacity(capacity);
  if (!wanted.ok()) return wanted.status();
  KeyedMutex::Lock lock = locks_.Acquire(volume_id);
  Result<ShareHandle> share = shares_.Get(id->share);
  if (!share.ok()) return share.status();
  Result<std::optional<VolumeRecord>> found = share->store->GetVolume(id->key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return NotFound("volume " + volume_id + " does not exist");
  VolumeRecord record = **found;
  if (*wanted < record.capacity_bytes)
    return Status(StatusCode::kOutOfRange, "volume " + record.name + " has " +
                                               std::to_string(record.capacity_bytes) +
                                               " bytes; shrinking to " + std::to_string(*wanted) +
                                               " is not supported");
  if (*wanted > record.capacity_bytes) {
    Result<VolumeParams> params = ParseShareParams(record.parameters);
    if (!params.ok()) return params.status().WithContext("volume record " + record.key);
    Result<CapacityLedger*> ledger = Ledger(*share);
    if (!ledger.ok()) return ledger.status();
    Result<int64_t> limit = ProvisionLimit(*share, *params);
    if (!limit.ok()) return limit.status();
    const std::optional<CapacityLedger::Entry> previous = (*ledger)->Find(record.key);
    NFSPROV_RETURN_IF_ERROR((*ledger)->Reserve(record.key, {*wanted, record.shared_root}, *limit));
    record.capacity_bytes = *wanted;
    Status written = share->store->PutVolume(record);
    (*ledger)->Settle(record.key, written.ok() ? std::optional<CapacityLedger::Entry>(
                                                     {record.capacity_bytes, record.shared_root})
                                               : previous);
    NFSPROV_RETURN_IF_ERROR(written);
    NFSPROV_RETURN_IF_ERROR(ApplyLimit(*share, record));
    share->usage->Track(record, true);  // the new quota reaches the usage record (and the nodes) soon
  }
  return record.capacity_bytes;
}

Status Controller::PlaceLockFile(ShareHandle& share, const Volume& volume, const VolumeParams& params) {
  const std::string path = nfs::JoinUnderRoot(MetadataStore::VolumeDir(volume.record.path), kLockFileName)
                               .value_or("");  // a record's path is valid; "" fails every call
  if (!params.locks) {
    if (volume.source.kind == ContentSource::Kind::kNone) return Status();
    return IgnoreNotFound(share.client->Unlink(path));  // a copy must not open its source's locks
  }
  const std::string text = lock_file_(volume.id);
  Result<std::string> current = share.client->ReadFile(path);
  if (current.ok() && *current == text) return Status();
  if (!current.ok() && current.status().code() != StatusCode::kNotFound) return current.status();
  // 0444: whoever can read the volume can lock in it (docs/locks.md).
  return share.client->WriteFileAtomic(path, text, 0444);
}

Status Controller::ApplyLimit(ShareHandle& share, const VolumeRecord& record) {
  if (!quota_backend_) return Status();
  const CapacityLedger::Entry entry{record.capacity_bytes, record.shared_root};
  const std::string& dir = record.layout == "shared" ? record.shared_root : record.path;
  return quota_backend_->SetLimit(share.share, dir, share.ledger->QuotaOf(entry));
}

Result<CapacityLedger*> Controller::Ledger(ShareHandle& share) {
  CapacityLedger& ledger = *share.ledger;
  if (ledger.loaded()) return &ledger;
  KeyedMutex::Lock lock = locks_.Acquire("ledger|" + share.share.Key());
  if (ledger.loaded()) return &ledger;
  const uint64_t point = ledger.SyncPoint();  // a delete meanwhile stays deleted
  Result<std::vector<VolumeRecord>> records = share.store->ListVolumes();
  if (!records.ok()) return records.status();
  ledger.Sync(LedgerEntries(*records), point);
  return &ledger;
}

Result<int64_t> Controller::ProvisionLimit(ShareHandle& share, const VolumeParams& params) {
  std::optional<int64_t> base = params.share_capacity;
  if (!base) base = share.ledger->ShareSize(kShareSizeMaxAge);
  if (!base) {
    Result<nfs::FsStats> fs = share.client->StatFs("/");
    if (!fs.ok()) return fs.status().WithContext("reading the share's size for admission");
    base = static_cast<int64_t>(std::min<uint64_t>(fs->total_bytes, std::numeric_limits<int64_t>::max()));
    share.ledger->SetShareSize(*base);
  }
  long double limit = static_cast<long double>(*base) * params.overcommit;
  return limit >= static_cast<long double>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(limit);
}

Result<std::pair<Volume, VolumeCondition>> Controller::GetVolume(const std::string& volume_id) {
  Result<ObjectId> id = DecodeKind(volume_id, ObjectKind::kVolume);
  if (!id.ok()) return id.status();
  Result<ShareHandle> share = shares_.Get(id->share);
  if (!share.ok()) return share.status();
  Result<std::optional<VolumeRecord>> found = share->store->GetVolume(id->key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return NotFound("volume " + volume_id + " does not exist");
  const VolumeRecord& record = **found;
  NFSPROV_RETURN_IF_ERROR(CheckRecordPath(record));
  VolumeCondition condition;
  if (record.state != VolumeState::kReady) {
    condition = {true, "volume is still being created"};
  } else {
    Result<nfs::FileAttr> attr = share->client->Lstat(MetadataStore::VolumeDir(record.path));
    if (!attr.ok()) {
      condition = {true, attr.status().code() == StatusCode::kNotFound
                             ? "volume directory /" + record.path + " is missing on the server"
                             : "cannot check the volume directory: " + attr.status().message()};
    } else if (attr->type != nfs::FileType::kDirectory) {
      condition = {true, "/" + record.path + " is no longer a directory"};
    } else {
      Result<std::optional<UsageRecord>> usage = share->store->GetUsage(record.key);
      if (!usage.ok()) return usage.status();
      if (usage->has_value()) {
        if (std::optional<std::string> over = QuotaCondition(record, **usage)) condition = {true, *over};
      }
    }
  }
  return std::make_pair(ToVolume(share->share, volume_id, record), condition);
}

// Pages through the records of every known share, share by share in Key() order, keys sorted.
template <typename T>
Result<Page<T>> Controller::PageRecords(
    int max_entries, const std::string& starting_token,
    const std::function<Result<std::vector<std::string>>(MetadataStore&)>& list_keys,
    const std::function<Result<std::optional<T>>(ShareHandle&, const std::string& key)>& load) {
  if (max_entries < 0) return InvalidArgument("max_entries must not be negative");
  std::string start_share, start_key;
  if (!starting_token.empty()) {
    std::size_t cut = starting_token.rfind(kTokenSeparator);
    if (cut == std::string::npos || !IsValidKey(starting_token.substr(cut + 1)))
      return Status(StatusCode::kAborted, "starting_token is not one this driver issued");
    start_share = starting_token.substr(0, cut);
    start_key = starting_token.substr(cut + 1);
  }
  Page<T> page;
  std::string last_key;
  bool started = start_share.empty();
  for (const ShareRef& ref : shares_.Known()) {
    if (!started && ref.Key() != start_share) continue;
    bool resume_here = !started;
    started = true;
    Result<ShareHandle> share = shares_.Get(ref);
    if (!share.ok()) return share.status();
    Result<std::vector<std::string>> keys = list_keys(*share->store);
    if (!keys.ok()) return keys.status();
    for (const std::string& key : *keys) {
      if (resume_here && key <= start_key) continue;
      if (max_entries > 0 && static_cast<int>(page.entries.size()) == max_entries) {
        page.next_token = ref.Key() + kTokenSeparator + last_key;
        return page;
      }
      Result<std::optional<T>> item = load(*share, key);
      if (!item.ok()) return item.status();
      if (!item->has_value()) continue;  // deleted meanwhile, or filtered out
      page.entries.push_back(std::move(**item));
      last_key = key;
    }
  }
  if (!started) return Status(StatusCode::kAborted, "starting_token names a share this controller does not know");
  return page;
}

Result<Page<Volume>> Controller::ListVolumes(int max_entries, const std::string& starting_token) {
  return PageRecords<Volume>(
      max_entries, starting_token, [](MetadataStore& store) { return store.ListVolumeKeys(); },
      [this](ShareHandle& share, const std::string& key) -> Result<std::optional<Volume>> {
        Result<std::optional<VolumeRecord>> record = share.store->GetVolume(key);
        if (!record.ok()) return record.status();
        if (!record->has_value()) return std::optional<Volume>();
        Result<std::string> id = EncodeId(IdFor(ObjectKind::kVolume, share.share, key));
        if (!id.ok()) return id.status();
        return std::optional<Volume>(ToVolume(share.share, *id, **record));
      });
}

namespace {

Snapshot ToSnapshot(const std::string& id, const SnapshotRecord& record) {
  return Snapshot{id, record.source_volume_id, record.size_bytes, record.created_unix_ms, record.ready};
}

Status CheckSnapshotParameters(const std::map<std::string, std::string>& parameters) {
  for (const auto& [key, value] : parameters) {
    if (!key.starts_with("csi.storage.k8s.io/"))
      return InvalidArgument("unknown VolumeSnapshotClass parameter " + nfs::QuoteForMessage(key) +
                             "; snapshots take no parameters (they live beside their volume)");
  }
  return Status();
}

}  // namespace

Result<Snapshot> Controller::CreateSnapshot(const std::string& source_volume_id,
                                            const std::string& name,
                                            const std::map<std::string, std::string>& parameters) {
  NFSPROV_RETURN_IF_ERROR(ValidateName("snapshot", name));
  if (source_volume_id.empty()) return InvalidArgument("source_volume_id is required");
  NFSPROV_RETURN_IF_ERROR(CheckSnapshotParameters(parameters));
  Result<ObjectId> source = DecodeKind(source_volume_id, ObjectKind::kVolume);
  if (!source.ok()) return source.status();
  const std::string key = KeyForName(name);
  ObjectId snapshot_oid = source.value();
  snapshot_oid.kind = ObjectKind::kSnapshot;
  snapshot_oid.key = key;
  Result<std::string> id = EncodeId(snapshot_oid);
  if (!id.ok()) return id.status();
  KeyedMutex::Lock lock = locks_.Acquire(*id);
  Result<ShareHandle> share = shares_.Get(source->share);
  if (!share.ok()) return share.status();
  MetadataStore& store = *share->store;

  Result<std::optional<VolumeRecord>> volume = store.GetVolume(source->key);
  if (!volume.ok()) return volume.status();
  if (!volume->has_value()) return NotFound("source volume " + source_volume_id + " does not exist");
  NFSPROV_RETURN_IF_ERROR(CheckRecordPath(**volume));

  Result<std::optional<SnapshotRecord>> existing = store.GetSnapshot(key);
  if (!existing.ok()) return existing.status();
  SnapshotRecord record;
  if (existing->has_value()) {
    record = **existing;
    if (record.name != name) return Internal("snapshot key " + key + " is recorded for another name");
    if (record.source_volume_id != source_volume_id)
      return AlreadyExists("snapshot " + name + " already exists for another source volume");
    if (record.ready) return ToSnapshot(*id, record);
  } else {
    record.name = name;
    record.key = key;
    record.source_volume_id = source_volume_id;
    record.source_key = source->key;
    record.created_unix_ms = NowUnixMs();
    NFSPROV_RETURN_IF_ERROR(store.PutSnapshot(record));
  }
  const std::string data = MetadataStore::SnapshotDataDir(key);
  Result<nfs::TreeStats> cleared = nfs::RemoveTree(store.client(), data);  // a partial copy
  if (!cleared.ok()) return cleared.status();
  Result<nfs::TreeStats> copied =
      nfs::CopyTree(store.client(), MetadataStore::VolumeDir((**volume).path), data);
  if (!copied.ok()) return copied.status();
  record.size_bytes = static_cast<int64_t>(copied->bytes);
  record.ready = true;
  NFSPROV_RETURN_IF_ERROR(store.PutSnapshot(record));
  return ToSnapshot(*id, record);
}

Status Controller::DeleteSnapshot(const std::string& snapshot_id) {
  Result<ObjectId> id = DecodeKind(snapshot_id, ObjectKind::kSnapshot);
  if (!id.ok()) return id.status();
  KeyedMutex::Lock lock = locks_.Acquire(snapshot_id);
  Result<ShareHandle> share = shares_.Get(id->share);
  if (!share.ok()) return share.status();
  Result<std::optional<SnapshotRecord>> found = share->store->GetSnapshot(id->key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status();
  Status moved = share->client->Rename(MetadataStore::SnapshotDataDir(id->key),
                                       MetadataStore::TrashDir() + "/" + id->key + "." + Nonce());
  if (!moved.ok() && moved.code() != StatusCode::kNotFound) return moved;
  NFSPROV_RETURN_IF_ERROR(share->store->DeleteSnapshot(id->key));
  share->reaper->Wake();  // after the call's own requests (see DeleteVolume)
  return Status();
}

Result<Page<Snapshot>> Controller::ListSnapshots(const std::string& snapshot_id,
                                                 const std::string& source_volume_id,
                                                 int max_entries,
                                                 const std::string& starting_token) {
  if (!snapshot_id.empty()) {
    // CSI: an unknown or malformed snapshot_id filter lists nothing; it is not an error.
    Result<ObjectId> id = DecodeKind(snapshot_id, ObjectKind::kSnapshot);
    Page<Snapshot> page;
    if (!id.ok()) return page;
    Result<ShareHandle> share = shares_.Get(id->share);
    if (!share.ok()) return share.status();
    Result<std::optional<SnapshotRecord>> record = share->store->GetSnapshot(id->key);
    if (!record.ok()) return record.status();
    if (record->has_value() &&
        (source_volume_id.empty() || (**record).source_volume_id == source_volume_id))
      page.entries.push_back(ToSnapshot(snapshot_id, **record));
    return page;
  }
  if (!source_volume_id.empty()) {
    Result<ObjectId> source = DecodeKind(source_volume_id, ObjectKind::kVolume);
    if (!source.ok()) return Page<Snapshot>();
    shares_.Add(source->share);
  }
  return PageRecords<Snapshot>(
      max_entries, starting_token, [](MetadataStore& store) { return store.ListSnapshotKeys(); },
      [&](ShareHandle& share, const std::string& key) -> Result<std::optional<Snapshot>> {
        Result<std::optional<SnapshotRecord>> record = share.store->GetSnapshot(key);
        if (!record.ok()) return record.status();
        if (!record->has_value()) return std::optional<Snapshot>();
        if (!source_volume_id.empty() && (**record).source_volume_id != source_volume_id)
          return std::optional<Snapshot>();
        ObjectId oid = IdFor(ObjectKind::kSnapshot, share.share, key);
        Result<std::string> id = EncodeId(oid);
        if (!id.ok()) return id.status();
        return std::optional<Snapshot>(ToSnapshot(*id, **record));
      });
}

Result<int64_t> Controller::GetCapacity(const std::map<std::string, std::string>& parameters) {
  VolumeParams params;
  if (!parameters.empty()) {
    Result<VolumeParams> parsed = ParseShareParams(parameters);
    if (!parsed.ok()) return parsed.status();
    params = *parsed;
  } else {
    std::vector<ShareRef> known = shares_.Known();
    if (known.empty()) return int64_t{0};
    params.share = known.front();
  }
  Result<ShareHandle> share = shares_.Get(params.share);
  if (!share.ok()) return share.status();
  Result<CapacityLedger*> ledger = Ledger(*share);
  if (!ledger.ok()) return ledger.status();
  Result<int64_t> limit = ProvisionLimit(*share, params);
  if (!limit.ok()) return limit.status();
  return std::max<int64_t>(0, *limit - (*ledger)->Provisioned());
}
}  // namespace nfsprov
