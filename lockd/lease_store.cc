#include "lockd/lease_store.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "lockd/lock_request.h"
#include "nfs/path.h"
#include "nfs/tree.h"
#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"
#include "provisioner/volume_params.h"

namespace nfsprov::lockd {
namespace {

constexpr std::string_view kTokensName = "tokens";  // generation 0; "tokens.<g>" after it
constexpr std::string_view kLeasePrefix = "lease.";
constexpr std::string_view kVersion = "v1";
constexpr uint32_t kPrivateMode = 0700;

// The lock's directory; checked before anything reaches the server.
Result<std::string> LockDir(const std::string& volume_key, const std::string& name) {
  NFSPROV_RETURN_IF_ERROR(ValidateKey(volume_key));
  NFSPROV_RETURN_IF_ERROR(ValidateLockName(name));
  return MetadataStore::VolumeLocksDir(volume_key) + "/" + name;
}

// Creates `dirs` (each the parent of the next), starting from the deepest one whose parent
// exists: a new lock of a known volume costs one MKDIR.
Status MakeDirs(nfs::Client& client, const std::vector<std::string>& dirs) {
  std::size_t next = dirs.size();  // dirs[next..] remain to be made
  while (next > 0) {
    Status made = client.Mkdir(dirs[next - 1], kPrivateMode);
    if (made.ok() || made.code() == StatusCode::kAlreadyExists) break;
    if (made.code() != StatusCode::kNotFound || next == 1) return made;
    --next;
  }
  for (; next < dirs.size(); ++next) {
    Status made = client.Mkdir(dirs[next], kPrivateMode);
    if (!made.ok() && made.code() != StatusCode::kAlreadyExists) return made;
  }
  return {};
}

// kNew: expected to be new (a lease's first write), replaced if it exists; kOnlyNew: created or
// ALREADY_EXISTS; kExisting: replaced.
enum class Expect { kNew, kOnlyNew, kExisting };

// Sets the symlink at `path` to `text`. A record expected to be new is created exclusively: one
// CREATE, about half what a replace costs the server (CREATE + RENAME).
Status SetRecord(nfs::Client& client, const std::string& path, const std::string& text,
                 Expect expect) {
  if (expect != Expect::kExisting) {
    Status created = client.Symlink(text, path);
    if (created.code() != StatusCode::kAlreadyExists || expect == Expect::kOnlyNew) return created;
  }
  return client.ReplaceSymlink(text, path);
}

// Writes a record of the lock: one request while the lock's directory exists; otherwise the
// directories are made and the write is tried once more.
Status WriteRecord(nfs::Client& client, const std::string& volume_key, const std::string& name,
                   const std::string& entry, const std::string& text, Expect expect) {
  Result<std::string> dir = LockDir(volume_key, name);
  if (!dir.ok()) return dir.status();
  const std::string path = *dir + "/" + entry;
  Status written = SetRecord(client, path, text, expect);
  if (written.code() != StatusCode::kNotFound) return written;
  NFSPROV_RETURN_IF_ERROR(MakeDirs(client, {"/" + std::string(kMetadataDir), MetadataStore::LocksDir(),
                                            MetadataStore::VolumeLocksDir(volume_key), *dir}));
  return SetRecord(client, path, text, expect);
}

// A decimal number as EncodeLease writes it: digits only, no sign, no leading zero.
bool ParseNumber(std::string_view text, uint64_t* value) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

// The value of "<key>=<value>", or nullopt when `field` is not that.
std::optional<std::string_view> FieldValue(std::string_view field, std::string_view key) {
  if (!field.starts_with(key) || field.size() <= key.size() || field[key.size()] != '=') {
    return std::nullopt;
  }
  return field.substr(key.size() + 1);
}

// Space-separated fields; empty ones (doubled spaces) are kept so they fail to parse.
std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    std::size_t space = text.find(' ', start);
    fields.push_back(text.substr(start, space - start));
    if (space == std::string_view::npos) return fields;
    start = space + 1;
  }
}

std::string TokensEntry(uint64_t generation) {
  if (generation == 0) return std::string(kTokensName);
  return std::string(kTokensName) + "." + std::to_string(generation);
}

// The generation a directory entry holds a token reservation of, if it is one.
std::optional<uint64_t> TokensGeneration(std::string_view entry) {
  if (entry == kTokensName) return 0;
  const std::string prefix = std::string(kTokensName) + ".";
  uint64_t generation = 0;
  if (!entry.starts_with(prefix) || !ParseNumber(entry.substr(prefix.size()), &generation) ||
      generation == 0) {
    return std::nullopt;
  }
  return generation;
}

}  // namespace

Result<StoredLock> LeaseStore::Load(const std::string& volume_key, const std::string& name) {
  Result<std::string> dir = LockDir(volume_key, name);
  if (!dir.ok()) return dir.status();
  Result<std::vector<nfs::DirEntry>> entries = client_->ReadDir(*dir);
  if (!entries.ok()) {
    if (entries.status().code() == StatusCode::kNotFound) return StoredLock();
    return entries.status();
  }
  StoredLock lock;
  bool have_tokens = false;
  for (const nfs::DirEntry& entry : *entries) {
    // Anything but "tokens[.<g>]" and "lease.<valid id>" is not a record: in particular the
    // temporary links ("<name>.nfsprov-tmp-<hex>") a replace interrupted by a crash leaves behind.
    const std::string_view entry_name = entry.name;
    const std::optional<uint64_t> generation = TokensGeneration(entry_name);
    const bool is_tokens = generation.has_value();
    const std::string_view lease_id =
        entry_name.starts_with(kLeasePrefix) ? entry_name.substr(kLeasePrefix.size()) : "";
    if (!is_tokens && (lease_id.empty() || !ValidateLeaseId(lease_id).ok())) continue;
    // Only the newest reservation counts (an older one is left when its drop did not happen).
    if (is_tokens && have_tokens && *generation < lock.generation) continue;
    const std::string path = *dir + "/" + entry.name;
    Result<std::string> text = client_->Readlink(path);
    if (!text.ok()) {
      if (text.status().code() == StatusCode::kNotFound) continue;  // deleted since the listing
      return text.status();
    }
    if (is_tokens) {
      Result<Reservation> reservation = DecodeReservation(*text);
      if (!reservation.ok()) return reservation.status().WithContext(path);
      lock.generation = *generation;
      lock.reserved = reservation->reserved;
      lock.grace = reservation->grace;
      have_tokens = true;
    } else {
      Result<StoredLease> lease = DecodeLease(std::string(lease_id), *text);
      if (!lease.ok()) return lease.status().WithContext(path);
      lock.leases.push_back(std::move(lease).value());
    }
  }
  std::sort(lock.leases.begin(), lock.leases.end(),
            [](const StoredLease& a, const StoredLease& b) { return a.lease_id < b.lease_id; });
  return lock;
}

Status LeaseStore::Reserve(const std::string& volume_key, const std::string& name,
                           uint64_t generation, const Reservation& reservation) {
  if (generation == 0) return InvalidArgument("token reservations start at generation 1");
  return WriteRecord(*client_, volume_key, name, TokensEntry(generation),
                     EncodeReservation(reservation), Expect::kOnlyNew);
}

Status LeaseStore::DropReservation(const std::string& volume_key, const std::string& name,
                                   uint64_t generation) {
  Result<std::string> dir = LockDir(volume_key, name);
  if (!dir.ok()) return dir.status();
  return IgnoreNotFound(client_->Unlink(*dir + "/" + TokensEntry(generation)));
}

Status LeaseStore::PutLease(const std::string& volume_key, const std::string& name,
                            const StoredLease& lease) {
  NFSPROV_RETURN_IF_ERROR(ValidateLeaseId(lease.lease_id));
  // What is written must load again: DecodeLease refuses these.
  if (lease.token == 0) return InvalidArgument("lease " + lease.lease_id + " has token 0");
  if (lease.ttl.count() <= 0) {
    return InvalidArgument("lease " + lease.lease_id + " has a ttl of " +
                           std::to_string(lease.ttl.count()) + "ms");
  }
  // Lease IDs are not reused: the first write of a lease's record (its grant) finds no record.
  return WriteRecord(*client_, volume_key, name, std::string(kLeasePrefix) + lease.lease_id,
                     EncodeLease(lease), Expect::kNew);
}

Status LeaseStore::DeleteLease(const std::string& volume_key, const std::string& name,
                               const std::string& lease_id) {
  Result<std::string> dir = LockDir(volume_key, name);
  if (!dir.ok()) return dir.status();
  NFSPROV_RETURN_IF_ERROR(ValidateLeaseId(lease_id));
  return IgnoreNotFound(client_->Unlink(*dir + "/" + std::string(kLeasePrefix) + lease_id));
}

std::string EncodeLease(const StoredLease& lease) {
  return std::string(kVersion) + " mode=" + (lease.mode == LockMode::kShared ? "s" : "x") +
         " token=" + std::to_string(lease.token) + " ttl_ms=" + std::to_string(lease.ttl.count());
}

Result<StoredLease> DecodeLease(const std::string& lease_id, std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Internal("lease record " + nfs::QuoteForMessage(text) + ": " + std::string(why) +
                    " (expected \"v1 mode=<x|s> token=<n> ttl_ms=<t>\")");
  };
  std::vector<std::string_view> fields = SplitFields(text);
  if (fields.size() != 4) return bad("wrong number of fields");
  if (fields[0] != kVersion) return bad("unknown version");
  StoredLease lease;
  lease.lease_id = lease_id;
  std::optional<std::string_view> mode = FieldValue(fields[1], "mode");
  if (mode == "x") {
    lease.mode = LockMode::kExclusive;
  } else if (mode == "s") {
    lease.mode = LockMode::kShared;
  } else {
    return bad("bad mode");
  }
  std::optional<std::string_view> token = FieldValue(fields[2], "token");
  if (!token || !ParseNumber(*token, &lease.token) || lease.token == 0) return bad("bad token");
  std::optional<std::string_view> ttl = FieldValue(fields[3], "ttl_ms");
  uint64_t ttl_ms = 0;
  if (!ttl || !ParseNumber(*ttl, &ttl_ms) || ttl_ms == 0 ||
      ttl_ms > static_cast<uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max())) {
    return bad("bad ttl_ms");
  }
  lease.ttl = std::chrono::milliseconds(ttl_ms);
  return lease;
}

std::string EncodeReservation(const Reservation& reservation) {
  std::string text = std::string(kVersion) + " reserved=" + std::to_string(reservation.reserved);
  if (reservation.grace.count() > 0) text += " grace_ms=" + std::to_string(reservation.grace.count());
  return text;
}

Result<Reservation> DecodeReservation(std::string_view text) {
  std::vector<std::string_view> fields = SplitFields(text);
  std::optional<std::string_view> reserved, grace = "0";
  if ((fields.size() == 2 || fields.size() == 3) && fields[0] == kVersion) {
    reserved = FieldValue(fields[1], "reserved");
    if (fields.size() == 3) grace = FieldValue(fields[2], "grace_ms");
  }
  Reservation reservation;
  uint64_t grace_ms = 0;
  if (!reserved || !grace || !ParseNumber(*reserved, &reservation.reserved) ||
      !ParseNumber(*grace, &grace_ms) || grace_ms > static_cast<uint64_t>(kMaxTtl.count()) ||
      (fields.size() == 3 && grace_ms == 0)) {
    return Internal("token record " + nfs::QuoteForMessage(text) +
                    " is not \"v1 reserved=<n>[ grace_ms=<t>]\"");
  }
  reservation.grace = std::chrono::milliseconds(grace_ms);
  return reservation;
}

}  // namespace nfsprov::lockd
