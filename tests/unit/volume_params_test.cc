#include "provisioner/volume_params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>

namespace nfsprov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

using Params = std::map<std::string, std::string>;
using namespace std::string_literals;

constexpr std::string_view kVolumeName = "pvc-4bcb1a7e";

// The two required keys plus `extra` (which may override them).
Params With(Params extra) {
  Params params{{"server", "nfs.example.com"}, {"share", "/export/k8s"}};
  for (auto& [key, value] : extra) params[key] = value;
  return params;
}

// PVC/PV names as the external-provisioner passes them with --extra-create-metadata.
Params WithMetadata(Params extra) {
  Params params = With(std::move(extra));
  params.emplace("csi.storage.k8s.io/pvc/name", "data-db-0");
  params.emplace("csi.storage.k8s.io/pvc/namespace", "prod");
  params.emplace("csi.storage.k8s.io/pv/name", "pvc-4bcb1a7e");
  return params;
}

VolumeParams MustParse(const Params& params, std::string_view name = kVolumeName) {
  Result<VolumeParams> parsed = ParseVolumeParams(params, name);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : VolumeParams{};
}

// Expects INVALID_ARGUMENT and returns the message.
std::string MustReject(const Params& params, std::string_view name = kVolumeName) {
  Result<VolumeParams> parsed = ParseVolumeParams(params, name);
  EXPECT_FALSE(parsed.ok()) << "accepted; path " << (parsed.ok() ? parsed->path : "");
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << parsed.status().ToString();
  return parsed.status().message();
}

// --- defaults and the required keys ---

TEST(ParseVolumeParamsTest, Defaults) {
  VolumeParams params = MustParse(With({}));
  EXPECT_EQ(params.share.server, "nfs.example.com");
  EXPECT_EQ(params.share.share, "/export/k8s");
  EXPECT_EQ(params.share.port, 0);
  EXPECT_EQ(params.share.nfs_version, "4");
  EXPECT_EQ(params.path, kVolumeName);  // no subDir: the volume name
  EXPECT_EQ(params.mount_permissions, std::nullopt);
  EXPECT_EQ(params.uid, std::nullopt);
  EXPECT_EQ(params.gid, std::nullopt);
  EXPECT_EQ(params.on_delete, OnDelete::kDelete);
  EXPECT_EQ(params.mount_options, "");
  EXPECT_THAT(params.given, ElementsAre(Pair("server", "nfs.example.com"),
                                        Pair("share", "/export/k8s")));
}

TEST(ParseVolumeParamsTest, EveryParameterSet) {
  VolumeParams params = MustParse(WithMetadata({{"port", "2049"},
                                                {"nfsVersion", "4.1"},
                                                {"subDir", "${pvc.metadata.namespace}/x"},
                                                {"mountPermissions", "02770"},
                                                {"uid", "1000"},
                                                {"gid", "2000"},
                                                {"onDelete", "archive"},
                                                {"mountOptions", "hard,nconnect=4"}}));
  EXPECT_EQ(params.share.port, 2049);
  EXPECT_EQ(params.share.nfs_version, "4.1");
  EXPECT_EQ(params.path, "prod/x");
  EXPECT_EQ(params.mount_permissions, 02770u);
  EXPECT_EQ(params.uid, 1000u);
  EXPECT_EQ(params.gid, 2000u);
  EXPECT_EQ(params.on_delete, OnDelete::kArchive);
  EXPECT_EQ(params.mount_options, "hard,nconnect=4");
  // Every key as given, the template unrendered; the sidecar keys left out.
  EXPECT_THAT(params.given,
              ElementsAre(Pair("gid", "2000"), Pair("mountOptions", "hard,nconnect=4"),
                          Pair("mountPermissions", "02770"), Pair("nfsVersion", "4.1"),
                          Pair("onDelete", "archive"), Pair("port", "2049"),
                          Pair("server", "nfs.example.com"), Pair("share", "/export/k8s"),
                          Pair("subDir", "${pvc.metadata.namespace}/x"), Pair("uid", "1000")));
}

TEST(ParseVolumeParamsTest, ServerAndShareAreRequired) {
  EXPECT_EQ(MustReject({{"share", "/export"}}), "parameter server is required");
  EXPECT_EQ(MustReject({{"server", "h"}}), "parameter share is required");
  EXPECT_EQ(MustReject({}), "parameter server is required");
  // Sidecar keys do not count.
  EXPECT_EQ(MustReject({{"csi.storage.k8s.io/server", "h"}, {"share", "/e"}}),
            "parameter server is required");
}

TEST(ParseVolumeParamsTest, EmptyValuesAreRejectedForEveryKey) {
  for (std::string key : {"server", "share", "port", "nfsVersion", "subDir", "mountPermissions",
                          "uid", "gid", "onDelete", "mountOptions"}) {
    EXPECT_EQ(MustReject(With({{key, ""}})), "parameter " + key + ": the value is empty");
  }
}

// --- unknown and sidecar keys ---

TEST(ParseVolumeParamsTest, UnknownKeyListsTheSupportedOnes) {
  EXPECT_EQ(MustReject(With({{"foo", "1"}})),
            "unknown StorageClass parameter \"foo\"; supported: server, share, port, nfsVersion, "
            "subDir, mountPermissions, uid, gid, onDelete, mountOptions, sharedRoot, readOnly, locks, "
            "defaultCapacity, capacity, overcommit, quotaEnforcement");
  EXPECT_THAT(MustReject(With({{"", "1"}})), StartsWith("unknown StorageClass parameter \"\";"));
  EXPECT_THAT(MustReject(With({{"bad\nkey", "1"}})),
              StartsWith("unknown StorageClass parameter \"bad\\x0akey\";"));
  // Only the exact sidecar prefix is skipped.
  for (std::string key : {"csi.storage.k8s.io", "csi.storage.k8s.io.x/a", "csi.example.com/x",
                          "CSI.storage.k8s.io/pvc/name"}) {
    EXPECT_THAT(MustReject(With({{key, "1"}})),
                StartsWith("unknown StorageClass parameter \"" + key + "\";"));
  }
  // csi-driver-nfs keys this driver does not have.
  EXPECT_THAT(MustReject(With({{"mountPermission", "0777"}})),
              StartsWith("unknown StorageClass parameter \"mountPermission\";"));
}

TEST(ParseVolumeParamsTest, KeysAreCaseSensitiveWithAHint) {
  EXPECT_THAT(MustReject({{"Server", "h"}, {"share", "/e"}}),
              StartsWith("unknown StorageClass parameter \"Server\" (keys are case-sensitive: "
                         "did you mean \"server\"?); supported: server,"));
  EXPECT_THAT(MustReject(With({{"SUBDIR", "x"}})), HasSubstr("did you mean \"subDir\"?"));
}

TEST(ParseVolumeParamsTest, SidecarKeysAreIgnoredAndNotGiven) {
  VolumeParams params = MustParse(WithMetadata({
      {"csi.storage.k8s.io/provisioner-secret-name", "nfs-secret"},
      {"csi.storage.k8s.io/provisioner-secret-namespace", ""},  // empty: still not our business
      {"csi.storage.k8s.io/anything-new", "\n"},
  }));
  EXPECT_EQ(params.path, kVolumeName);  // metadata present but no subDir: still the volume name
  EXPECT_THAT(params.given, ElementsAre(Pair("server", "nfs.example.com"),
                                        Pair("share", "/export/k8s")));
}

// --- server and share ---

TEST(ParseVolumeParamsTest, ServerForms) {
  for (std::string server : {"nfs.example.com", "nfs-1", "10.0.0.1", "fd00::1", "::1",
                             "::ffff:10.0.0.1", "NFS.Example.COM"}) {
    EXPECT_EQ(MustParse(With({{"server", server}})).share.server, server);
  }
  for (std::string server : {"[::1]", "a b", "h/x", "h:2049", "h?x", "user@h", "h#x", "h%20",
                             "caf\xc3\xa9", "fd00::g", "h\n"}) {
    EXPECT_THAT(MustReject(With({{"server", server}})), StartsWith("parameter server: server \""))
        << server;
  }
  EXPECT_EQ(MustReject(With({{"server", "h/x"}})),
            "parameter server: server \"h/x\": must be a DNS name or IPv4 address (letters, "
            "digits, '.' and '-') or an IPv6 address without brackets (hex digits, ':' and '.')");
}

TEST(ParseVolumeParamsTest, ShareForms) {
  EXPECT_EQ(MustParse(With({{"share", "/"}})).share.share, "/");
  EXPECT_EQ(MustParse(With({{"share", "/srv/nfs/k8s"}})).share.share, "/srv/nfs/k8s");
  EXPECT_EQ(MustReject(With({{"share", "/a/../b"}})),
            "parameter share: root \"/a/../b\": segment \"..\" is not allowed");
  EXPECT_EQ(MustReject(With({{"share", "export"}})),
            "parameter share: root \"export\": must be absolute");
  EXPECT_EQ(MustReject(With({{"share", "/export/"}})),
            "parameter share: root \"/export/\": ends with '/'");
  for (std::string share : {"/a//b"s, "/a/./b"s, "//"s, "/.."s, "/a\0b"s}) {
    EXPECT_THAT(MustReject(With({{"share", share}})), StartsWith("parameter share: root \""));
  }
}

// --- numbers and enumerations ---

TEST(ParseVolumeParamsTest, PortForms) {
  EXPECT_EQ(MustParse(With({{"port", "1"}})).share.port, 1);
  EXPECT_EQ(MustParse(With({{"port", "2049"}})).share.port, 2049);
  EXPECT_EQ(MustParse(With({{"port", "65535"}})).share.port, 65535);
  for (std::string port : {"0", "65536", "-1", "+1", " 2049", "2049 ", "0x10", "1e3", "20.49",
                           "99999999999999999999999"}) {
    EXPECT_EQ(MustReject(With({{"port", port}})),
              "parameter port: \"" + port + "\" must be a decimal number from 1 to 65535");
  }
}

TEST(ParseVolumeParamsTest, NfsVersionIsKeptAsGiven) {
  for (std::string version : {"3", "4", "4.0", "4.1", "4.2"}) {
    ShareRef share = MustParse(With({{"nfsVersion", version}})).share;
    EXPECT_EQ(share.nfs_version, version);
    EXPECT_EQ(share.ProtocolVersion(), version == "3" ? 3 : 4);
  }
  for (std::string version : {"2", "4.3", "v4", "4.", "41", " 4", "3.0", "4,1"}) {
    EXPECT_EQ(MustReject(With({{"nfsVersion", version}})),
              "parameter nfsVersion: \"" + version + "\" is not supported; use 3, 4, 4.0, 4.1 or 4.2");
  }
}

TEST(ParseVolumeParamsTest, MountPermissionsAreOctal) {
  EXPECT_EQ(MustParse(With({{"mountPermissions", "0777"}})).mount_permissions, 0777u);
  EXPECT_EQ(MustParse(With({{"mountPermissions", "2770"}})).mount_permissions, 02770u);
  EXPECT_EQ(MustParse(With({{"mountPermissions", "02770"}})).mount_permissions, 02770u);
  EXPECT_EQ(MustParse(With({{"mountPermissions", "0"}})).mount_permissions, 0u);
  EXPECT_EQ(MustParse(With({{"mountPermissions", "07777"}})).mount_permissions, 07777u);
  EXPECT_EQ(MustParse(With({{"mountPermissions", "755"}})).mount_permissions, 0755u);
  for (std::string mode : {"8", "0778", "10000", "017777", "-1", "+777", "0o777", "0x1ff", "rwx",
                           "777 ", "99999999999999999999999"}) {
    EXPECT_EQ(MustReject(With({{"mountPermissions", mode}})),
              "parameter mountPermissions: \"" + mode +
                  "\" must be an octal mode from 0 to 07777, e.g. \"0777\" or \"02770\"");
  }
}

TEST(ParseVolumeParamsTest, UidAndGid) {
  for (std::string key : {"uid", "gid"}) {
    auto owner = [&](const VolumeParams& p) { return key == "uid" ? p.uid : p.gid; };
    EXPECT_EQ(owner(MustParse(With({{key, "0"}}))), 0u) << key;
    EXPECT_EQ(owner(MustParse(With({{key, "1000"}}))), 1000u) << key;
    EXPECT_EQ(owner(MustParse(With({{key, "4294967294"}}))), 4294967294u) << key;
    for (std::string id : {"4294967295", "-1", "1.5", "abc", " 1", "0x10",
                           "99999999999999999999999"}) {
      EXPECT_EQ(MustReject(With({{key, id}})),
                "parameter " + key + ": \"" + id + "\" must be a decimal number from 0 to 4294967294");
    }
  }
}

TEST(ParseVolumeParamsTest, OnDelete) {
  EXPECT_EQ(MustParse(With({{"onDelete", "delete"}})).on_delete, OnDelete::kDelete);
  EXPECT_EQ(MustParse(With({{"onDelete", "retain"}})).on_delete, OnDelete::kRetain);
  EXPECT_EQ(MustParse(With({{"onDelete", "archive"}})).on_delete, OnDelete::kArchive);
  for (std::string policy : {"Delete", "RETAIN", "keep", "delete "}) {
    EXPECT_EQ(MustReject(With({{"onDelete", policy}})),
              "parameter onDelete: \"" + policy +
                  "\" is not supported; use delete, retain or archive (lowercase)");
  }
  EXPECT_EQ(OnDeleteName(OnDelete::kDelete), "delete");
  EXPECT_EQ(OnDeleteName(OnDelete::kRetain), "retain");
  EXPECT_EQ(OnDeleteName(OnDelete::kArchive), "archive");
}

TEST(ParseVolumeParamsTest, MountOptions) {
  EXPECT_EQ(MustParse(With({{"mountOptions", "nfsvers=4.1,hard"}})).mount_options,
            "nfsvers=4.1,hard");
  std::string longest(1024, 'o');
  EXPECT_EQ(MustParse(With({{"mountOptions", longest}})).mount_options, longest);
  EXPECT_EQ(MustReject(With({{"mountOptions", longest + "o"}})),
            "parameter mountOptions: the value is 1025 bytes, longer than 1024");
  for (std::string options : {"hard\nsoft"s, "hard\0soft"s, "hard\rsoft"s}) {
    EXPECT_THAT(MustReject(With({{"mountOptions", options}})),
                HasSubstr("contains a NUL byte or a line break, which are not allowed"));
  }
}

// --- subDir ---

TEST(ParseVolumeParamsTest, SubDirWithAllVariables) {
  VolumeParams params = MustParse(WithMetadata(
      {{"subDir", "${pvc.metadata.namespace}/${pvc.metadata.name}/${pv.metadata.name}"}}));
  EXPECT_EQ(params.path, "prod/data-db-0/pvc-4bcb1a7e");
}

TEST(ParseVolumeParamsTest, SubDirWithoutVariables) {
  EXPECT_EQ(MustParse(With({{"subDir", "static/dir"}})).path, "static/dir");
}

TEST(ParseVolumeParamsTest, SubDirMessageNamesTemplateAndRenderedPath) {
  Params params = WithMetadata({{"subDir", "${pvc.metadata.name}/../x"}});
  params["csi.storage.k8s.io/pvc/name"] = "a";
  EXPECT_EQ(MustReject(params),
            "parameter subDir: template \"${pvc.metadata.name}/../x\": path \"a/../x\": "
            "segment \"..\" is not allowed");
}

TEST(ParseVolumeParamsTest, SubDirTemplateErrors) {
  EXPECT_EQ(MustReject(WithMetadata({{"subDir", "${pvc.name}"}})),
            "parameter subDir: template \"${pvc.name}\": unknown variable \"${pvc.name}\"; "
            "known: ${pvc.metadata.name}, ${pvc.metadata.namespace}, ${pv.metadata.name}");
  EXPECT_EQ(MustReject(WithMetadata({{"subDir", "a/${pvc.metadata.name"}})),
            "parameter subDir: template \"a/${pvc.metadata.name\": \"${\" at byte 2 has no "
            "closing '}'");
  // No --extra-create-metadata: the values are missing.
  EXPECT_EQ(MustReject(With({{"subDir", "${pvc.metadata.namespace}"}})),
            "parameter subDir: template \"${pvc.metadata.namespace}\": "
            "${pvc.metadata.namespace} has no value: parameter "
            "\"csi.storage.k8s.io/pvc/namespace\" is missing (the external-provisioner passes it "
            "with --extra-create-metadata)");
}

// A subDir whose rendering is unsafe, with the metadata that produces it.
struct UnsafeRendering {
  std::string sub_dir;
  std::string pvc_name;
  std::string problem;
};

TEST(ParseVolumeParamsTest, SubDirRenderingToUnsafePaths) {
  const UnsafeRendering cases[] = {
      {"${pvc.metadata.name}", "", "path is empty"},
      {"${pvc.metadata.name}", "..", "path \"..\": segment \"..\" is not allowed"},
      {"${pvc.metadata.name}/x", ".", "path \"./x\": segment \".\" is not allowed"},
      {"${pvc.metadata.name}", "/abs", "path \"/abs\": must be relative, not absolute"},
      {"/${pvc.metadata.name}", "abs", "path \"/abs\": must be relative, not absolute"},
      {"a/${pvc.metadata.name}/b", "", "path \"a//b\": empty segment"},
      {"a/${pvc.metadata.name}", "", "path \"a/\": ends with '/'"},
      {"${pvc.metadata.name}/x", ".nfsprov",
       "path \".nfsprov/x\": \".nfsprov\" is reserved for the driver's records"},
      {".nfsprov", "unused", "path \".nfsprov\": \".nfsprov\" is reserved for the driver's records"},
  };
  for (const UnsafeRendering& c : cases) {
    Params params = WithMetadata({{"subDir", c.sub_dir}});
    params["csi.storage.k8s.io/pvc/name"] = c.pvc_name;
    EXPECT_EQ(MustReject(params), "parameter subDir: template \"" + c.sub_dir + "\": " + c.problem);
  }
}

// --- sharedRoot and readOnly ---

TEST(ParseVolumeParamsTest, SharedRootIsThePathAndDefaultsToRetain) {
  VolumeParams params = MustParse(WithMetadata({{"sharedRoot", "apps/${pvc.metadata.namespace}"}}));
  EXPECT_EQ(params.shared_root, "apps/prod");
  EXPECT_EQ(params.path, "apps/prod");
  EXPECT_EQ(params.on_delete, OnDelete::kRetain);
  EXPECT_FALSE(params.read_only);
  EXPECT_THAT(params.given, ::testing::Contains(Pair("sharedRoot", "apps/${pvc.metadata.namespace}")));
}

TEST(ParseVolumeParamsTest, SubDirWithSharedRootLiesInsideIt) {
  VolumeParams params = MustParse(With({{"sharedRoot", "api"}, {"subDir", "plugins/v1"}, {"onDelete", "delete"}}));
  EXPECT_EQ(params.shared_root, "api");
  EXPECT_EQ(params.path, "api/plugins/v1");
  EXPECT_EQ(params.on_delete, OnDelete::kDelete);  // an explicit onDelete wins
}

TEST(ParseVolumeParamsTest, WithoutSharedRootNothingIsShared) {
  VolumeParams params = MustParse(With({}));
  EXPECT_EQ(params.shared_root, "");
  EXPECT_EQ(params.on_delete, OnDelete::kDelete);
}

TEST(ParseVolumeParamsTest, SharedRootAndSubDirMayNotEscape) {
  EXPECT_EQ(MustReject(With({{"sharedRoot", "../other"}})),
            "parameter sharedRoot: template \"../other\": path \"../other\": segment \"..\" is not allowed");
  EXPECT_EQ(MustReject(With({{"sharedRoot", "/etc"}})),
            "parameter sharedRoot: template \"/etc\": path \"/etc\": must be relative, not absolute");
  EXPECT_EQ(MustReject(With({{"sharedRoot", ".nfsprov"}})),
            "parameter sharedRoot: template \".nfsprov\": path \".nfsprov\": \".nfsprov\" is reserved for "
            "the driver's records");
  EXPECT_EQ(MustReject(With({{"sharedRoot", "api"}, {"subDir", "../../x"}})),
            "parameter subDir: template \"../../x\": path \"../../x\": segment \"..\" is not allowed");
  EXPECT_EQ(MustReject(With({{"sharedRoot", "api"}, {"subDir", "/x"}})),
            "parameter subDir: template \"/x\": path \"/x\": must be relative, not absolute");
}

TEST(ParseVolumeParamsTest, ReadOnlyIsTrueOrFalse) {
  EXPECT_TRUE(MustParse(With({{"readOnly", "true"}})).read_only);
  EXPECT_FALSE(MustParse(With({{"readOnly", "false"}})).read_only);
  EXPECT_EQ(MustReject(With({{"readOnly", "yes"}})), "parameter readOnly: \"yes\" must be \"true\" or \"false\"");
}

// --- quotas ---

TEST(ParseQuantityTest, KubernetesQuantitiesOfBytes) {
  EXPECT_EQ(*ParseQuantity("0"), 0);
  EXPECT_EQ(*ParseQuantity("1000000"), 1000000);
  EXPECT_EQ(*ParseQuantity("10Gi"), int64_t{10} << 30);
  EXPECT_EQ(*ParseQuantity("500Mi"), int64_t{500} << 20);
  EXPECT_EQ(*ParseQuantity("1.5Ki"), 1536);
  EXPECT_EQ(*ParseQuantity("1.5T"), int64_t{1500000000000});
  EXPECT_EQ(*ParseQuantity("2k"), 2000);
  EXPECT_EQ(*ParseQuantity(".5Ki"), 512);
  EXPECT_EQ(*ParseQuantity("0.1"), 1) << "a fraction of a byte rounds up";
  EXPECT_EQ(*ParseQuantity("7Ei"), int64_t{7} << 60);
  for (const char* bad : {"", "Gi", "10 Gi", "10gi", "10GB", "-1", "+1", "1e9", "1..5", "1.5.5", "8Ei", "0x10"}) {
    Result<int64_t> parsed = ParseQuantity(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseQuantity("10GB").status().message(), HasSubstr("\"10Gi\""));
}

TEST(ParseVolumeParamsTest, QuotaParameters) {
  VolumeParams params = MustParse(With({{"defaultCapacity", "1Gi"}, {"capacity", "1Ti"}, {"overcommit", "2.5"},
                                        {"quotaEnforcement", "readonly"}}));
  EXPECT_EQ(params.default_capacity, int64_t{1} << 30);
  EXPECT_EQ(params.share_capacity, int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(params.overcommit, 2.5);
  EXPECT_EQ(params.quota_enforcement, QuotaEnforcement::kReadOnly);
  VolumeParams defaults = MustParse(With({}));
  EXPECT_FALSE(defaults.default_capacity.has_value());
  EXPECT_FALSE(defaults.share_capacity.has_value());
  EXPECT_DOUBLE_EQ(defaults.overcommit, 1.0);
  EXPECT_EQ(defaults.quota_enforcement, QuotaEnforcement::kReport);
  EXPECT_EQ(MustReject(With({{"overcommit", "0.5"}})),
            "parameter overcommit: \"0.5\" must be a decimal number from 1 to 1000, e.g. \"1.5\"");
  EXPECT_EQ(MustReject(With({{"overcommit", "nan"}})),
            "parameter overcommit: \"nan\" must be a decimal number from 1 to 1000, e.g. \"1.5\"");
  EXPECT_EQ(MustReject(With({{"quotaEnforcement", "hard"}})),
            "parameter quotaEnforcement: \"hard\" is not supported; use none, report or readonly (lowercase)");
  EXPECT_THAT(MustReject(With({{"capacity", "lots"}})), StartsWith("parameter capacity: \"lots\" is not a quantity"));
}

TEST(ParseVolumeParamsTest, EverySegmentNamedLikeTheDriversAreaIsReserved) {
  // A share nested in this one (e.g. share/scratch) keeps its records at scratch/.nfsprov.
  EXPECT_EQ(MustReject(With({{"subDir", "x/.nfsprov"}})),
            "parameter subDir: template \"x/.nfsprov\": path \"x/.nfsprov\": \".nfsprov\" is reserved for the "
            "driver's records");
  EXPECT_EQ(MustReject(With({{"sharedRoot", "api"}, {"subDir", "a/.nfsprov/b"}})),
            "parameter subDir: template \"a/.nfsprov/b\": path \"a/.nfsprov/b\": \".nfsprov\" is reserved for the "
            "driver's records");
  EXPECT_EQ(MustParse(With({{"subDir", ".nfsprov2"}})).path, ".nfsprov2");
  EXPECT_EQ(MustParse(With({{"subDir", ".NFSPROV"}})).path, ".NFSPROV");
}

TEST(ParseVolumeParamsTest, SubDirLengthLimitIs4KiB) {
  // 512 segments of "aaaaaaa/" with the last '/' replaced: exactly 4096 bytes.
  std::string path;
  for (int i = 0; i < 512; ++i) path += "aaaaaaa/";
  path.back() = 'b';
  ASSERT_EQ(path.size(), 4096u);
  EXPECT_EQ(MustParse(With({{"subDir", path}})).path, path);
  // The same through a variable, one byte over.
  Params params = WithMetadata({{"subDir", path + "${pvc.metadata.name}"}});
  params["csi.storage.k8s.io/pvc/name"] = "c";
  EXPECT_THAT(MustReject(params), HasSubstr(": path is 4097 bytes, longer than 4096"));
  EXPECT_THAT(MustReject(With({{"subDir", std::string(300, 'x')}})),
              HasSubstr(": longer than 255 bytes"));
}

TEST(ParseVolumeParamsTest, DefaultPathIsTheVolumeNameTakenLiterally) {
  EXPECT_EQ(MustParse(With({}), "pvc-1").path, "pvc-1");
  // Not expanded, even with the metadata present.
  EXPECT_EQ(MustParse(WithMetadata({}), "${pvc.metadata.name}").path, "${pvc.metadata.name}");
  EXPECT_EQ(MustReject(With({}), ".."),
            "parameter subDir (not set, so the volume name is the path): path \"..\": segment "
            "\"..\" is not allowed");
  EXPECT_EQ(MustReject(With({}), ""),
            "parameter subDir (not set, so the volume name is the path): path is empty");
  EXPECT_THAT(MustReject(With({}), ".nfsprov"), HasSubstr("is reserved for the driver's records"));
  EXPECT_THAT(MustReject(With({}), "/etc"), HasSubstr("must be relative, not absolute"));
}

// --- RenderTemplate ---

std::string MustRender(std::string_view tmpl, const TemplateValues& values) {
  Result<std::string> rendered = RenderTemplate(tmpl, values);
  EXPECT_TRUE(rendered.ok()) << tmpl << ": " << rendered.status().ToString();
  return rendered.ok() ? *rendered : "<error>";
}

std::string MustNotRender(std::string_view tmpl, const TemplateValues& values) {
  Result<std::string> rendered = RenderTemplate(tmpl, values);
  EXPECT_FALSE(rendered.ok()) << tmpl << " rendered to " << (rendered.ok() ? *rendered : "");
  EXPECT_EQ(rendered.status().code(), StatusCode::kInvalidArgument);
  return rendered.status().message();
}

const TemplateValues kAll{"data", "prod", "pv-1"};

TEST(RenderTemplateTest, ReplacesEveryVariable) {
  EXPECT_EQ(MustRender("${pvc.metadata.namespace}-${pvc.metadata.name}-${pv.metadata.name}", kAll),
            "prod-data-pv-1");
  EXPECT_EQ(MustRender("${pv.metadata.name}${pv.metadata.name}", kAll), "pv-1pv-1");
  EXPECT_EQ(MustRender("", kAll), "");
}

TEST(RenderTemplateTest, DollarAndBracesAloneAreText) {
  EXPECT_EQ(MustRender("$x/{y}/a$/}", kAll), "$x/{y}/a$/}");
  EXPECT_EQ(MustRender("$${pv.metadata.name}}", kAll), "$pv-1}");
}

TEST(RenderTemplateTest, ValuesAreNotExpandedAgain) {
  TemplateValues values{"${pv.metadata.name}", std::nullopt, "pv-1"};
  EXPECT_EQ(MustRender("${pvc.metadata.name}", values), "${pv.metadata.name}");
}

TEST(RenderTemplateTest, OnlyNeededValuesMustBePresent) {
  EXPECT_EQ(MustRender("x/${pv.metadata.name}", TemplateValues{std::nullopt, std::nullopt, "pv"}),
            "x/pv");
  EXPECT_EQ(MustRender("plain", TemplateValues{}), "plain");
}

TEST(RenderTemplateTest, UnknownVariable) {
  EXPECT_EQ(MustNotRender("${foo}", kAll),
            "unknown variable \"${foo}\"; known: ${pvc.metadata.name}, "
            "${pvc.metadata.namespace}, ${pv.metadata.name}");
  EXPECT_THAT(MustNotRender("${}", kAll), StartsWith("unknown variable \"${}\";"));
  EXPECT_THAT(MustNotRender("${PVC.METADATA.NAME}", kAll),
              StartsWith("unknown variable \"${PVC.METADATA.NAME}\";"));
  EXPECT_THAT(MustNotRender("${pvc.metadata.name${pv.metadata.name}}", kAll),
              StartsWith("unknown variable \"${pvc.metadata.name${pv.metadata.name}\";"));
  EXPECT_THAT(MustNotRender("${ns}", kAll), StartsWith("unknown variable \"${ns}\";"));
}

TEST(RenderTemplateTest, Unterminated) {
  EXPECT_EQ(MustNotRender("${pvc.metadata.name", kAll), "\"${\" at byte 0 has no closing '}'");
  EXPECT_EQ(MustNotRender("abc${", kAll), "\"${\" at byte 3 has no closing '}'");
  EXPECT_EQ(MustNotRender("${pv.metadata.name}/${", kAll), "\"${\" at byte 20 has no closing '}'");
}

TEST(RenderTemplateTest, MissingValues) {
  EXPECT_THAT(MustNotRender("${pvc.metadata.name}", TemplateValues{}),
              StartsWith("${pvc.metadata.name} has no value: parameter "
                         "\"csi.storage.k8s.io/pvc/name\" is missing"));
  EXPECT_THAT(MustNotRender("${pvc.metadata.namespace}", TemplateValues{"a", std::nullopt, "b"}),
              StartsWith("${pvc.metadata.namespace} has no value: parameter "
                         "\"csi.storage.k8s.io/pvc/namespace\" is missing"));
  EXPECT_THAT(MustNotRender("x/${pv.metadata.name}", TemplateValues{"a", "b", std::nullopt}),
              StartsWith("${pv.metadata.name} has no value: parameter "
                         "\"csi.storage.k8s.io/pv/name\" is missing"));
}

TEST(RenderTemplateTest, LongTemplatesRenderWhole) {
  std::string tmpl;
  for (int i = 0; i < 200; ++i) tmpl += "${pvc.metadata.name}/";
  std::string rendered = MustRender(tmpl, kAll);
  EXPECT_EQ(rendered.size(), 200u * 5);
  EXPECT_TRUE(rendered.starts_with("data/data/"));
}

// --- ShareRef ---

TEST(ShareRefKeyTest, UrlCarriesEveryField) {
  ShareRef share{"fd00::1", "/export", 2049, "4.2"};
  nfs::NfsUrl url = share.Url();
  EXPECT_EQ(url.host, "fd00::1");
  EXPECT_EQ(url.export_path, "/export");
  EXPECT_EQ(url.version, 4);
  EXPECT_EQ(url.nfs_port, 2049);
  EXPECT_EQ(url.mount_port, 0);
  EXPECT_EQ(ShareRef({"h", "/", 0, "3"}).Url().version, 3);
}

TEST(ShareRefKeyTest, KeyIsTheLibnfsUrl) {
  EXPECT_EQ(ShareRef({"nfs.example.com", "/export/k8s", 2049, "4"}).Key(),
            "nfs://nfs.example.com/export/k8s/?version=4&nfsport=2049");
  EXPECT_EQ(ShareRef({"fd00::1", "/", 0, "3"}).Key(), "nfs://[fd00::1]/?version=3");
}

TEST(ShareRefKeyTest, KeyDependsOnConnectionFieldsOnly) {
  const ShareRef base{"h", "/e", 0, "4"};
  EXPECT_EQ(ShareRef({"h", "/e", 0, "4.1"}).Key(), base.Key());  // libnfs speaks NFSv4 either way
  EXPECT_NE(ShareRef({"h2", "/e", 0, "4"}).Key(), base.Key());
  EXPECT_NE(ShareRef({"h", "/e2", 0, "4"}).Key(), base.Key());
  EXPECT_NE(ShareRef({"h", "/e", 2049, "4"}).Key(), base.Key());
  EXPECT_NE(ShareRef({"h", "/e", 0, "3"}).Key(), base.Key());
}

TEST(ParseVolumeParamsTest, LocksIsABooleanAndNotForSharedRoots) {
  auto params = ParseVolumeParams(With({{"locks", "true"}}), "pv-1");
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_TRUE(params->locks);
  EXPECT_FALSE(ParseVolumeParams(With({}), "pv-1")->locks);
  EXPECT_THAT(MustReject(With({{"locks", "yes"}})), ::testing::HasSubstr("\"true\" or \"false\""));
  EXPECT_THAT(MustReject(With({{"locks", "true"}, {"sharedRoot", "cache"}})),
              ::testing::HasSubstr("shared root"));
}

}  // namespace
}  // namespace nfsprov
