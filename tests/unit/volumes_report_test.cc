// `nfsprov volumes` without a server: the orphan rules on hand-made listings, the directories the
// reader must list for them, the defaults shown for onDelete and quotaEnforcement, and both
// renderers (exact JSON field names, one table line per volume, the summary).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provisioner/object_id.h"
#include "provisioner/volumes_report.h"

namespace nfsprov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

VolumeRecord Exclusive(const std::string& name, const std::string& path) {
  VolumeRecord r;
  r.name = name;
  r.key = KeyForName(name);
  r.path = path;
  r.state = VolumeState::kReady;
  return r;
}

VolumeRecord Shared(const std::string& name, const std::string& root, const std::string& sub = "") {
  VolumeRecord r = Exclusive(name, sub.empty() ? root : root + "/" + sub);
  r.layout = "shared";
  r.shared_root = root;
  return r;
}

ShareListing ListingOf(std::vector<VolumeRecord> volumes) {
  ShareListing listing;
  for (const VolumeRecord& r : volumes) listing.record_keys.insert(r.key);
  listing.volumes = std::move(volumes);
  return listing;
}

TEST(DirectoriesToListTest, RootAndParentsOfVolumesAndRootsButNeverInsideThem) {
  std::vector<VolumeRecord> volumes = {Exclusive("a", "volumes/ns/a"), Exclusive("b", "top"),
                                       Shared("c", "apps/api", "plugins/x")};
  EXPECT_THAT(DirectoriesToList(volumes), ElementsAre("", "apps", "volumes", "volumes/ns"));
  EXPECT_THAT(DirectoriesToList({}), ElementsAre(""));
}

TEST(FindOrphansTest, DirectoriesOfNoVolumeAreOrphansParentsAndRootsAreNot) {
  ShareListing listing = ListingOf({Exclusive("a", "ns/a"), Shared("b", "api", "plugins")});
  listing.directories[""] = {".nfsprov", "api", "kept", "ns"};
  listing.directories["ns"] = {"a", "old"};
  std::vector<Orphan> orphans = FindOrphans(listing);
  ASSERT_EQ(orphans.size(), 2u);
  EXPECT_EQ(orphans[0].kind, "directory");
  EXPECT_EQ(orphans[0].name, "kept");
  EXPECT_THAT(orphans[0].reason, HasSubstr("not the directory of any volume record"));
  EXPECT_EQ(orphans[1].name, "ns/old");
}

TEST(FindOrphansTest, ClaimsOfMissingVolumesForeignPathsAndUnknownRoots) {
  VolumeRecord a = Exclusive("a", "ns/a");
  VolumeRecord root_volume = Shared("r", "api");
  ShareListing listing = ListingOf({a, root_volume});
  listing.claims[KeyForName("ns/a")] = a.key;                                // fine
  listing.claims[KeyForName("api")] = std::string(kSharedRootOwner);         // fine
  listing.claims[KeyForName("gone")] = KeyForName("deleted");                // no record
  listing.claims[KeyForName("elsewhere")] = a.key;                           // another path
  listing.claims[KeyForName("old-root")] = std::string(kSharedRootOwner);    // no record names it
  std::vector<Orphan> orphans = FindOrphans(listing);
  ASSERT_EQ(orphans.size(), 3u);
  std::map<std::string, std::string> reasons;
  for (const Orphan& o : orphans) {
    EXPECT_EQ(o.kind, "claim");
    reasons[o.name] = o.reason;
  }
  EXPECT_THAT(reasons[KeyForName("gone")], HasSubstr(KeyForName("deleted") + ", which has no record"));
  EXPECT_THAT(reasons[KeyForName("elsewhere")], HasSubstr("whose record names another path (ns/a)"));
  EXPECT_THAT(reasons[KeyForName("old-root")], HasSubstr("shared root that no volume record names"));
}

TEST(FindOrphansTest, ReferencesAndUsageOfMissingVolumes) {
  VolumeRecord r = Shared("r", "api");
  ShareListing listing = ListingOf({r});
  listing.root_refs[KeyForName("api")] = {r.key, KeyForName("gone")};
  listing.root_refs[KeyForName("lost")] = {KeyForName("lost-volume")};
  listing.usage_keys = {r.key, KeyForName("gone")};
  std::vector<Orphan> orphans = FindOrphans(listing);
  ASSERT_EQ(orphans.size(), 3u);
  EXPECT_EQ(orphans[0].kind, "root-reference");
  EXPECT_EQ(orphans[1].kind, "root-reference");
  std::set<std::string> names = {orphans[0].name, orphans[1].name};
  EXPECT_TRUE(names.contains(KeyForName("api") + "/" + KeyForName("gone")));
  EXPECT_TRUE(names.contains(KeyForName("lost") + "/" + KeyForName("lost-volume")));
  for (const Orphan& o : orphans) {
    if (o.name.starts_with(KeyForName("api"))) {
      EXPECT_THAT(o.reason, HasSubstr("shared root api "));
    } else if (o.kind == "root-reference") {
      EXPECT_THAT(o.reason, HasSubstr("shared root with path key " + KeyForName("lost")));
    }
  }
  EXPECT_EQ(orphans[2], (Orphan{"usage", KeyForName("gone"),
                                "usage record of volume key " + KeyForName("gone") + ", which has no record"}));
}

TEST(FindOrphansTest, AnUnparsableRecordStillOwnsItsClaimAndUsage) {
  ShareListing listing;
  const std::string key = KeyForName("broken");
  listing.record_keys.insert(key);
  listing.claims[KeyForName("somewhere")] = key;
  listing.usage_keys = {key};
  EXPECT_THAT(FindOrphans(listing), IsEmpty());
}

TEST(EffectiveParametersTest, DefaultsDependOnTheLayout) {
  VolumeRecord exclusive = Exclusive("a", "a");
  VolumeRecord shared = Shared("b", "api");
  EXPECT_EQ(EffectiveOnDelete(exclusive), "delete");
  EXPECT_EQ(EffectiveOnDelete(shared), "retain");
  shared.parameters["onDelete"] = "delete";
  EXPECT_EQ(EffectiveOnDelete(shared), "delete");
  EXPECT_EQ(EffectiveQuotaEnforcement(exclusive), "report");
  exclusive.parameters["quotaEnforcement"] = "readonly";
  EXPECT_EQ(EffectiveQuotaEnforcement(exclusive), "readonly");
}

// Two exclusive volumes (one measured and over quota) and two on one root, one orphan, trash.
VolumesReport SampleReport() {
  VolumesReport report;
  report.share = {.server = "nfs.example.com", .share = "/export/k8s", .port = 2049, .nfs_version = "4"};
  report.now_unix_ms = 1'000'000'000;
  auto row = [&](VolumeRecord r, int64_t capacity) {
    r.capacity_bytes = capacity;
    r.created_unix_ms = report.now_unix_ms - 90'000;
    return VolumeRow{r, std::nullopt, EffectiveOnDelete(r), EffectiveQuotaEnforcement(r)};
  };
  report.volumes = {row(Shared("pv-api", "api"), 1 << 30), row(Shared("pv-plugins", "api", "plugins"), int64_t{2} << 30),
                    row(Exclusive("pv-b", "b"), 1 << 20), row(Exclusive("pv-a", "ns/a"), 10 << 20)};
  report.volumes[2].usage = UsageRecord{"pv-b", KeyForName("pv-b"), "b", 1 << 20, 3 << 20, 7, 999'000'000, 5};
  report.roots = {{"api", {KeyForName("pv-api"), KeyForName("pv-plugins")}, std::nullopt}};
  report.orphans = {{"directory", "kept", "not the directory of any volume record"}};
  report.trash = {"abc.123"};
  report.problems = {{"volume record", KeyForName("bad"), "volume record is malformed"}};
  return report;
}

TEST(TotalsTest, ASharedRootCountsOnceAndUnmeasuredVolumesNotAtAll) {
  ReportTotals totals = Totals(SampleReport());
  EXPECT_EQ(totals.volumes, 4);
  EXPECT_EQ(totals.provisioned_bytes, (int64_t{2} << 30) + (1 << 20) + (10 << 20));
  EXPECT_EQ(totals.measured_bytes, 3 << 20);
  EXPECT_EQ(totals.orphans, 1);
}

TEST(RenderJsonTest, FieldNamesAndValues) {
  // Ordered: the field order on output is part of what the docs show.
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(RenderJson(SampleReport()));
  std::vector<std::string> top;
  for (const auto& [k, v] : j.items()) top.push_back(k);
  EXPECT_THAT(top, ElementsAre("share", "now_unix_ms", "volumes", "roots", "orphans", "trash", "problems", "summary"));
  EXPECT_EQ(j["share"], (nlohmann::ordered_json{{"server", "nfs.example.com"}, {"export", "/export/k8s"},
                                        {"port", 2049}, {"nfs_version", 4}}));
  ASSERT_EQ(j["volumes"].size(), 4u);
  const nlohmann::ordered_json& b = j["volumes"][2];
  std::vector<std::string> fields;
  for (const auto& [k, v] : b.items()) fields.push_back(k);
  EXPECT_THAT(fields, ElementsAre("name", "key", "layout", "path", "shared_root", "state", "capacity_bytes", "usage",
                                  "over_quota", "created_unix_ms", "age_ms", "on_delete", "quota_enforcement"));
  EXPECT_EQ(b["name"], "pv-b");
  EXPECT_EQ(b["key"], KeyForName("pv-b"));
  EXPECT_EQ(b["layout"], "subdir");
  EXPECT_TRUE(b["shared_root"].is_null());
  EXPECT_EQ(b["state"], "ready");
  EXPECT_EQ(b["capacity_bytes"], 1 << 20);
  EXPECT_EQ(b["usage"], (nlohmann::ordered_json{{"used_bytes", 3 << 20}, {"used_inodes", 7}, {"quota_bytes", 1 << 20},
                                        {"scanned_unix_ms", 999'000'000}}));
  EXPECT_EQ(b["over_quota"], true);
  EXPECT_EQ(b["age_ms"], 90'000);
  EXPECT_EQ(b["on_delete"], "delete");
  EXPECT_EQ(b["quota_enforcement"], "report");
  const nlohmann::ordered_json& api = j["volumes"][0];
  EXPECT_EQ(api["shared_root"], "api");
  EXPECT_TRUE(api["usage"].is_null());
  EXPECT_EQ(api["over_quota"], false);
  EXPECT_EQ(api["on_delete"], "retain");
  EXPECT_EQ(j["roots"][0], (nlohmann::ordered_json{{"path", "api"},
                                           {"refs", {KeyForName("pv-api"), KeyForName("pv-plugins")}},
                                           {"ref_count", 2},
                                           {"teardown", nullptr}}));
  EXPECT_EQ(j["orphans"][0],
            (nlohmann::ordered_json{{"kind", "directory"}, {"name", "kept"}, {"reason", "not the directory of any volume record"}}));
  EXPECT_EQ(j["trash"], nlohmann::ordered_json::array({"abc.123"}));
  EXPECT_EQ(j["problems"][0], (nlohmann::ordered_json{{"kind", "volume record"}, {"key", KeyForName("bad")},
                                               {"message", "volume record is malformed"}}));
  EXPECT_EQ(j["summary"], (nlohmann::ordered_json{{"volumes", 4},
                                          {"provisioned_bytes", (int64_t{2} << 30) + (11 << 20)},
                                          {"measured_bytes", 3 << 20},
                                          {"orphans", 1}}));
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

TEST(RenderTableTest, HeaderOneAlignedLinePerVolumeSectionsAndSummary) {
  std::vector<std::string> lines = Lines(RenderTable(SampleReport()));
  ASSERT_GE(lines.size(), 6u);
  EXPECT_THAT(lines[0], ::testing::StartsWith("PATH"));
  for (const char* column : {"NAME", "LAYOUT", "STATE", "CAPACITY", "USED", "AGE", "ONDELETE", "QUOTA", "KEY"})
    EXPECT_THAT(lines[0], HasSubstr(column));
  // The rows as given were sorted by path by the reader; the renderer keeps their order.
  EXPECT_THAT(lines[1], ::testing::StartsWith("api "));
  EXPECT_THAT(lines[2], ::testing::StartsWith("api/plugins "));
  EXPECT_THAT(lines[3], ::testing::StartsWith("b "));
  EXPECT_THAT(lines[4], ::testing::StartsWith("ns/a "));
  EXPECT_EQ(lines[5], "");
  // Aligned: every column starts at the header's offset.
  const std::size_t used = lines[0].find("USED");
  EXPECT_EQ(lines[3].substr(used, std::string("3 MiB (over quota)").size()), "3 MiB (over quota)");
  EXPECT_EQ(lines[1].substr(used, std::string("not measured yet").size()), "not measured yet");
  EXPECT_EQ(lines[1].substr(lines[0].find("LAYOUT"), 12), "shared (api)");
  EXPECT_EQ(lines[3].substr(lines[0].find("AGE"), 2), "1m");
  EXPECT_EQ(lines[3].substr(lines[0].find("KEY")), KeyForName("pv-b"));
  const std::string text = RenderTable(SampleReport());
  EXPECT_THAT(text, HasSubstr("SHARED ROOT"));
  EXPECT_THAT(text, HasSubstr("\nORPHAN  KIND       REASON\nkept    directory  not the directory of any volume record\n"));
  EXPECT_THAT(text, HasSubstr("trash, pending deletion by the reaper: 1\n  abc.123\n"));
  EXPECT_THAT(text, HasSubstr(KeyForName("bad")));
  EXPECT_EQ(lines.back(), "4 volumes, 2.0 GiB provisioned, 3 MiB measured, 1 orphan");
}

TEST(RenderTableTest, AnEmptyShareIsAHeaderAndASummary) {
  VolumesReport report;
  report.share = {.server = "s", .share = "/e"};
  EXPECT_EQ(RenderTable(report),
            "PATH  NAME  LAYOUT  STATE  CAPACITY  USED  AGE  ONDELETE  QUOTA  KEY\n\n"
            "0 volumes, 0 B provisioned, 0 B measured, 0 orphans\n");
}

}  // namespace
}  // namespace nfsprov
