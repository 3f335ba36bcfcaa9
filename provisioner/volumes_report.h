// VolumesReport: the operator's read-only view of one share (`nfsprov volumes`, docs/controller.md).
//
// ReadVolumesReport reads, and never writes (no EnsureLayout, no record is touched): every volume
// record with its usage record, the shared roots those records name (references, teardown mark),
// the claims, the references under .nfsprov/roots, the trash, and the directories on the way to
// the volumes (the share root and each parent of a volume's directory or shared root; never the
// inside of a volume). What it read goes through FindOrphans, pure logic. A record that cannot be
// parsed is a Problem in the report, not an error; a share that cannot be reached or listed is
// the error (UNAVAILABLE and the like, naming the server).
//
// RenderTable and RenderJson print one report; RunVolumes is the whole subcommand: exit status 0
// when the report was printed, 2 when the share could not be reached or read, 1 for an invalid
// server or export path (message on `err`, naming the server and the reason).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "nfs/client.h"
#include "provisioner/metadata_store.h"
#include "provisioner/share.h"

namespace nfsprov {

// Something on the share that belongs to no volume record, and why it is reported.
struct Orphan {
  // "directory" (path relative to the share root), "claim" (the claim's name, a path key),
  // "root-reference" ("<root path key>/<volume key>") or "usage" (the volume key).
  std::string kind;
  std::string name;
  std::string reason;
  bool operator==(const Orphan&) const = default;
};

// What ReadVolumesReport listed: the input of FindOrphans.
struct ShareListing {
  std::vector<VolumeRecord> volumes;   // the records that parsed
  std::set<std::string> record_keys;   // every volume record present, parsed or not
  // Listed directories ("" is the share root) and the names of the directories in each.
  std::map<std::string, std::vector<std::string>> directories;
  std::map<std::string, std::string> claims;  // claim name (path key) -> owner (key or kSharedRootOwner)
  std::map<std::string, std::vector<std::string>> root_refs;  // root path key -> referencing keys
  std::vector<std::string> usage_keys;
};

// The directories whose subdirectories FindOrphans judges: the share root ("") and every strict
// parent of a volume's directory or shared root (never a directory inside a volume or a root:
// that is data). Sorted.
std::vector<std::string> DirectoriesToList(const std::vector<VolumeRecord>& volumes);

// The orphan rules, in one place. Sorted by kind, then name.
// - directory: a subdirectory of a listed directory (but .nfsprov at the share root) that is
//   not a volume's directory, not a shared root and not a parent of either;
// - claim: owned by a key with no record; owned by a volume whose record names another path;
//   or owned by kSharedRootOwner for a root that no record names;
// - root-reference: a reference whose key has no record;
// - usage: a usage record whose key has no record.
// Records that did not parse count as present (their claims and usage are not orphans), but
// their paths are unknown, so their directories are reported.
std::vector<Orphan> FindOrphans(const ShareListing& listing);

struct VolumeRow {
  VolumeRecord record;
  std::optional<UsageRecord> usage;  // nullopt: not measured yet
  std::string on_delete;             // as recorded, or the default for the layout
  std::string quota_enforcement;     // as recorded, or "report"
};

struct RootRow {
  std::string path;
  std::vector<std::string> refs;        // volume keys, sorted
  std::optional<std::string> teardown;  // the key holding the teardown mark
};

// A record that exists but cannot be used.
struct Problem {
  std::string kind;  // "volume record", "usage record" or "claim"
  std::string key;   // its key (for a claim, its name)
  std::string message;
};

struct VolumesReport {
  ShareRef share;
  int64_t now_unix_ms = 0;        // ages are counted from here
  std::vector<VolumeRow> volumes;  // sorted by path, then name
  std::vector<RootRow> roots;      // sorted by path
  std::vector<Orphan> orphans;
  std::vector<std::string> trash;  // entries of .nfsprov/trash, sorted
  std::vector<Problem> problems;
};

Result<VolumesReport> ReadVolumesReport(std::shared_ptr<nfs::Client> client, const ShareRef& share,
                                        int64_t now_unix_ms);

// Totals for the summary line. Provisioned counts a shared root once, with the largest capacity
// among its volumes (as admission does, capacity_ledger.h); measured counts each measured
// directory once (the volumes of one root share one usage).
struct ReportTotals {
  int64_t volumes = 0;
  int64_t provisioned_bytes = 0;
  int64_t measured_bytes = 0;
  int64_t orphans = 0;
};
ReportTotals Totals(const VolumesReport& report);

std::string RenderTable(const VolumesReport& report);
std::string RenderJson(const VolumesReport& report);  // fields: docs/controller.md

struct VolumesCommand {
  ShareRef share;
  std::string output = "table";  // table or json
  int nfs_timeout_s = 10;
};
int RunVolumes(const VolumesCommand& command, std::ostream& out, std::ostream& err);

}  // namespace nfsprov
