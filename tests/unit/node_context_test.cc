#include "provisioner/node_context.h"

#include <gtest/gtest.h>

namespace nfsprov {
namespace {

using Context = std::map<std::string, std::string>;

TEST(NodeContext, ControllerVolume) {
  Result<mount::NfsMountSpec> spec = MountSpecFromContext(
      {{"server", "nfs.example.com"}, {"share", "/export/k8s"}, {"subDir", "ns/pvc-1"},
       {"port", "2050"}, {"nfsVersion", "4.1"}, {"mountOptions", "hard,nconnect=4"}});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->server, "nfs.example.com");
  EXPECT_EQ(spec->remote_path, "/export/k8s/ns/pvc-1");
  EXPECT_EQ(spec->port, 2050);
  EXPECT_EQ(spec->nfs_version, "4.1");
  EXPECT_EQ(spec->options, (std::vector<std::string>{"hard", "nconnect=4"}));
  EXPECT_FALSE(spec->read_only);
  EXPECT_EQ(mount::MountSource(*spec), "nfs.example.com:/export/k8s/ns/pvc-1");
}

TEST(NodeContext, StaticVolumeDefaultsAndCoKeys) {
  Result<mount::NfsMountSpec> spec = MountSpecFromContext(
      {{"server", "fd00::1"}, {"share", "/"}, {"readOnly", "true"},
       {"csi.storage.k8s.io/pod.name", "web-0"}, {"storage.kubernetes.io/csiProvisionerIdentity", "x"}});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->remote_path, "/");
  EXPECT_EQ(spec->nfs_version, "4");
  EXPECT_EQ(spec->port, 0);
  EXPECT_TRUE(spec->read_only);
  EXPECT_EQ(mount::MountSource(*spec), "[fd00::1]:/");
}

TEST(NodeContext, RejectsWhatWouldMountTheWrongThing) {
  const Context base = {{"server", "10.0.0.1"}, {"share", "/export"}};
  auto with = [&](const std::string& key, const std::string& value) {
    Context c = base;
    c[key] = value;
    return MountSpecFromContext(c).status();
  };
  Status typo = with("subdir", "a");
  EXPECT_EQ(typo.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(typo.message().find("\"subdir\""), std::string::npos) << typo.message();
  EXPECT_EQ(with("subDir", "../etc").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("subDir", "/abs").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("subDir", ".nfsprov/volumes").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("port", "0").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("nfsVersion", "5").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("readOnly", "yes").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("mountOptions", "hard\nro").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("server", "bad host!").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with("share", "relative").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MountSpecFromContext({{"server", "10.0.0.1"}}).status().code(),
            StatusCode::kInvalidArgument);
  Status port = with("port", "70000");
  EXPECT_NE(port.message().find("volume context \"port\""), std::string::npos) << port.message();
}

}  // namespace
}  // namespace nfsprov
