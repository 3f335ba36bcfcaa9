// Volume and snapshot records: JSON round trips, every way a record can be malformed, and the
// paths MetadataStore builds for them.
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"

namespace nfsprov {
namespace {

using nlohmann::json;

VolumeRecord FullVolume() {
  VolumeRecord r;
  r.name = "pvc-0b5c7a7e-2f7c-4d5e-9a43-5f1c7f7e9d21";
  r.key = KeyForName(r.name);
  r.path = "team-a/db/data";
  r.capacity_bytes = int64_t{3} << 40;
  r.parameters = {{"server", "nfs.example.com"}, {"share", "/export/k8s"}, {"onDelete", "archive"}};
  r.layout = "subdir";
  r.content_source = "volume:nfsprov1|v|4|0|nfs.example.com|/export/k8s|abc";
  r.created_unix_ms = 1712345678901;
  r.state = VolumeState::kReady;
  return r;
}

SnapshotRecord FullSnapshot() {
  SnapshotRecord r;
  r.name = "snapshot-7d1e";
  r.key = KeyForName(r.name);
  r.source_volume_id = "nfsprov1|v|4|0|nfs.example.com|/export/k8s|" + KeyForName("pv");
  r.source_key = KeyForName("pv");
  r.size_bytes = 987654321;
  r.created_unix_ms = 1712345678999;
  r.ready = true;
  return r;
}

// The record's JSON with `edit` applied, re-serialised.
template <typename Edit>
std::string EditedVolume(Edit edit) {
  json j = json::parse(ToJson(FullVolume()));
  edit(j);
  return j.dump();
}

void ExpectMalformed(const Result<VolumeRecord>& parsed, const std::string& mention) {
  ASSERT_FALSE(parsed.ok()) << "accepted; expected an error mentioning " << mention;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInternal);
  EXPECT_NE(parsed.status().message().find(mention), std::string::npos)
      << parsed.status().message();
}

TEST(MetadataJsonTest, VolumeRoundTripKeepsEveryField) {
  VolumeRecord ready = FullVolume();
  auto parsed = VolumeRecordFromJson(ToJson(ready));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, ready);

  VolumeRecord creating = ready;
  creating.state = VolumeState::kCreating;
  creating.parameters.clear();
  creating.content_source.clear();
  creating.capacity_bytes = std::numeric_limits<int64_t>::max();
  creating.created_unix_ms = std::numeric_limits<int64_t>::min();
  parsed = VolumeRecordFromJson(ToJson(creating));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, creating);
}

TEST(MetadataJsonTest, VolumeJsonHasTheDocumentedFieldsAndTypes) {
  json j = json::parse(ToJson(FullVolume()));
  EXPECT_EQ(j.at("state"), "ready");
  EXPECT_TRUE(j.at("created_unix_ms").is_number_integer());
  EXPECT_EQ(j.at("created_unix_ms"), 1712345678901);
  EXPECT_EQ(j.at("capacity_bytes"), int64_t{3} << 40);
  EXPECT_EQ(j.at("parameters").at("onDelete"), "archive");
  EXPECT_EQ(j.at("path"), "team-a/db/data");
  EXPECT_EQ(j.at("shared_root"), "");
  EXPECT_EQ(j.size(), 10u);

  VolumeRecord creating = FullVolume();
  creating.state = VolumeState::kCreating;
  EXPECT_EQ(json::parse(ToJson(creating)).at("state"), "creating");
}

TEST(MetadataJsonTest, SnapshotRoundTripKeepsEveryField) {
  SnapshotRecord ready = FullSnapshot();
  auto parsed = SnapshotRecordFromJson(ToJson(ready));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, ready);

  SnapshotRecord pending = ready;
  pending.ready = false;
  pending.size_bytes = 0;
  parsed = SnapshotRecordFromJson(ToJson(pending));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, pending);

  json j = json::parse(ToJson(ready));
  EXPECT_EQ(j.at("ready"), true);
  EXPECT_TRUE(j.at("size_bytes").is_number_integer());
  EXPECT_EQ(j.size(), 7u);
}

TEST(MetadataJsonTest, TextThatIsNotJsonIsInternal) {
  for (const char* text : {"", "{", "{\"name\": \"a\",}", "garbage", "{} trailing"}) {
    auto parsed = VolumeRecordFromJson(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInternal) << text;
    EXPECT_EQ(parsed.status().message().rfind("volume record is not valid JSON: ", 0), 0u)
        << parsed.status().message();
  }
  auto snapshot = SnapshotRecordFromJson("nope");
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().code(), StatusCode::kInternal);
  EXPECT_EQ(snapshot.status().message().rfind("snapshot record is not valid JSON: ", 0), 0u)
      << snapshot.status().message();
}

TEST(MetadataJsonTest, JsonThatIsNotAnObjectIsMalformed) {
  for (const char* text : {"[1, 2]", "\"record\"", "42", "null"}) {
    ExpectMalformed(VolumeRecordFromJson(text), "not a JSON object");
  }
}

TEST(MetadataJsonTest, EveryMissingFieldIsNamed) {
  for (const char* field : {"name", "key", "path", "capacity_bytes", "parameters", "layout",
                            "content_source", "created_unix_ms", "state"}) {
    ExpectMalformed(VolumeRecordFromJson(EditedVolume([&](json& j) { j.erase(field); })),
                    "missing field \"" + std::string(field) + "\"");
  }
  for (const char* field : {"name", "key", "source_volume_id", "source_key", "size_bytes",
                            "created_unix_ms", "ready"}) {
    json j = json::parse(ToJson(FullSnapshot()));
    j.erase(field);
    auto parsed = SnapshotRecordFromJson(j.dump());
    ASSERT_FALSE(parsed.ok()) << field;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInternal);
    EXPECT_NE(parsed.status().message().find("missing field \"" + std::string(field) + "\""),
              std::string::npos)
        << parsed.status().message();
  }
}

TEST(MetadataJsonTest, WrongTypesAreNamed) {
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) { j["name"] = 7; })),
                  "field \"name\" is not a string");
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) { j["capacity_bytes"] = "10"; })),
                  "field \"capacity_bytes\" is not a 64-bit integer");
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) { j["created_unix_ms"] = 1.5; })),
                  "field \"created_unix_ms\" is not a 64-bit integer");
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) {
                    j["capacity_bytes"] = uint64_t{1} << 63;  // one past int64's maximum
                  })),
                  "field \"capacity_bytes\" is not a 64-bit integer");
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) { j["parameters"] = "a=b"; })),
                  "field \"parameters\" is not an object");
  ExpectMalformed(
      VolumeRecordFromJson(EditedVolume([](json& j) { j["parameters"]["uid"] = 1000; })),
      "field \"parameters\" entry \"uid\" is not a string");
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) { j["state"] = "deleted"; })),
                  "unknown state \"deleted\"");
  ExpectMalformed(VolumeRecordFromJson(EditedVolume([](json& j) { j["state"] = 1; })),
                  "field \"state\" is not a string");

  json snapshot = json::parse(ToJson(FullSnapshot()));
  snapshot["ready"] = "yes";
  auto parsed = SnapshotRecordFromJson(snapshot.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("field \"ready\" is not a boolean"), std::string::npos)
      << parsed.status().message();
}

TEST(MetadataJsonTest, UnsafeVolumePathsAreMalformed) {
  for (const char* path : {"", "/abs", "a/../b", "a//b", "a/", "..", ".nfsprov",
                           ".nfsprov/volumes"}) {
    ExpectMalformed(VolumeRecordFromJson(EditedVolume([&](json& j) { j["path"] = path; })),
                    "volume record is malformed");
  }
  auto lookalike = VolumeRecordFromJson(EditedVolume([](json& j) { j["path"] = ".nfsprovx/a"; }));
  EXPECT_TRUE(lookalike.ok()) << lookalike.status().ToString();
}

TEST(MetadataJsonTest, SharedLayoutKeepsItsRootAndThePathMustLieInIt) {
  VolumeRecord shared = FullVolume();
  shared.layout = "shared";
  shared.shared_root = "team-a/db";
  auto parsed = VolumeRecordFromJson(ToJson(shared));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, shared);
  shared.shared_root = shared.path;  // the root itself
  EXPECT_TRUE(VolumeRecordFromJson(ToJson(shared)).ok());

  shared.shared_root = "team-a/d";  // a prefix of the path's text, not of its segments
  ExpectMalformed(VolumeRecordFromJson(ToJson(shared)), "is not inside shared_root");
  shared.shared_root = "../x";
  ExpectMalformed(VolumeRecordFromJson(ToJson(shared)), "volume record is malformed");
  VolumeRecord unknown = FullVolume();
  unknown.layout = "nested";
  ExpectMalformed(VolumeRecordFromJson(ToJson(unknown)), "field \"layout\" is \"nested\"");
}

TEST(MetadataJsonTest, UnknownFieldsAreIgnored) {
  auto parsed = VolumeRecordFromJson(EditedVolume([](json& j) { j["added_later"] = {1, 2}; }));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, FullVolume());
}

TEST(MetadataJsonTest, InvalidUtf8IsReplacedNotThrown) {
  VolumeRecord record = FullVolume();
  record.name = "bad\xff";
  std::string text;
  ASSERT_NO_THROW(text = ToJson(record));
  auto parsed = VolumeRecordFromJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->name, "bad\xEF\xBF\xBD");  // U+FFFD
}

TEST(MetadataPathsTest, VolumeDirIsUnderTheRootAndNeverTheDriversArea) {
  EXPECT_EQ(MetadataStore::VolumeDir("team/db"), "/team/db");
  EXPECT_EQ(MetadataStore::VolumeDir(".nfsprovx"), "/.nfsprovx");
  for (const char* bad : {"", "/team", "team/../..", "team//db", "team/", ".nfsprov",
                          ".nfsprov/volumes"}) {
    EXPECT_EQ(MetadataStore::VolumeDir(bad), "") << bad;
  }
}

TEST(MetadataPathsTest, KeyedAndArchivePaths) {
  const std::string key = KeyForName("pv-1");
  EXPECT_EQ(MetadataStore::TrashDir(), "/.nfsprov/trash");
  EXPECT_EQ(MetadataStore::SnapshotDataDir(key), "/.nfsprov/snapshots/" + key);
  EXPECT_EQ(MetadataStore::SnapshotDataDir("../volumes"), "");
  EXPECT_EQ(MetadataStore::ArchivePath("team/db", key), "/.nfsprov/archive/team/db." + key);
  EXPECT_EQ(MetadataStore::ArchivePath("team/", key), "");
  EXPECT_EQ(MetadataStore::ArchivePath("../db", key), "");
  EXPECT_EQ(MetadataStore::ArchivePath("team/db", "not-a-key"), "");
  EXPECT_EQ(MetadataStore::ArchivePath(std::string(250, 'x'), key), "");  // name > 255 bytes
}

}  // namespace
}  // namespace nfsprov
