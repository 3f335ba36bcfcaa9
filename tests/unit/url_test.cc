#include "nfs/url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace nfsprov::nfs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using namespace std::string_view_literals;

NfsUrl MustParse(std::string_view text) {
  Result<NfsUrl> url = ParseNfsUrl(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status().ToString();
  return url.ok() ? *url : NfsUrl{};
}

// Expects `text` to be rejected as INVALID_ARGUMENT and returns the message.
std::string MustReject(std::string_view text) {
  Result<NfsUrl> url = ParseNfsUrl(text);
  EXPECT_FALSE(url.ok()) << "accepted " << text;
  EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument) << url.status().ToString();
  return url.status().message();
}

// --- accepted forms ---

TEST(ParseNfsUrlTest, Ipv4WithDefaults) {
  NfsUrl url = MustParse("nfs://127.0.0.1/export");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.export_path, "/export");
  EXPECT_EQ(url.version, 4);
  EXPECT_EQ(url.nfs_port, 0);
  EXPECT_EQ(url.mount_port, 0);
}

TEST(ParseNfsUrlTest, DnsNameWithDeepExport) {
  NfsUrl url = MustParse("nfs://nfs-1.Example.com/srv/nfs/k8s");
  EXPECT_EQ(url.host, "nfs-1.Example.com");
  EXPECT_EQ(url.export_path, "/srv/nfs/k8s");
}

TEST(ParseNfsUrlTest, BracketedIpv6) {
  NfsUrl url = MustParse("nfs://[::1]/export");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.export_path, "/export");
  EXPECT_EQ(MustParse("nfs://[fe80::1:2]:2050/e").nfs_port, 2050);
  EXPECT_EQ(MustParse("nfs://[::ffff:10.0.0.1]/e").host, "::ffff:10.0.0.1");
}

TEST(ParseNfsUrlTest, HostPortIsTheNfsPort) {
  NfsUrl url = MustParse("nfs://server:2049/export");
  EXPECT_EQ(url.host, "server");
  EXPECT_EQ(url.nfs_port, 2049);
  EXPECT_EQ(MustParse("nfs://server:1/e").nfs_port, 1);
  EXPECT_EQ(MustParse("nfs://server:65535/e").nfs_port, 65535);
}

TEST(ParseNfsUrlTest, QueryParameters) {
  NfsUrl url = MustParse("nfs://server/export?version=3&nfsport=2049&mountport=635");
  EXPECT_EQ(url.version, 3);
  EXPECT_EQ(url.nfs_port, 2049);
  EXPECT_EQ(url.mount_port, 635);
  EXPECT_EQ(MustParse("nfs://server/export?mountport=20048&version=3").mount_port, 20048);
  EXPECT_EQ(MustParse("nfs://server/export?nfsport=12049").nfs_port, 12049);
}

TEST(ParseNfsUrlTest, MinorVersionsMeanFour) {
  for (std::string_view v : {"4", "4.0", "4.1", "4.2"}) {
    EXPECT_EQ(MustParse("nfs://h1/e?version=" + std::string(v)).version, 4) << v;
  }
}

TEST(ParseNfsUrlTest, TrailingSlashIsDropped) {
  EXPECT_EQ(MustParse("nfs://server/export/").export_path, "/export");
  EXPECT_EQ(MustParse("nfs://server/a/b/?version=4").export_path, "/a/b");
}

TEST(ParseNfsUrlTest, ExportSlash) {
  EXPECT_EQ(MustParse("nfs://server/").export_path, "/");
  EXPECT_EQ(MustParse("nfs://server/?version=4.1").export_path, "/");
}

TEST(ParseNfsUrlTest, ExportMayHoldBytesLegalInNames) {
  EXPECT_EQ(MustParse("nfs://server/a b/c@d/e:f").export_path, "/a b/c@d/e:f");
}

// --- rejections ---

TEST(ParseNfsUrlTest, RejectsMissingOrOtherScheme) {
  EXPECT_THAT(MustReject("server/export"), HasSubstr(R"(missing the "nfs://" scheme)"));
  EXPECT_THAT(MustReject("nfs:/server/export"), HasSubstr("missing the"));
  EXPECT_THAT(MustReject("http://server/export"), HasSubstr(R"(scheme "http" is not supported)"));
  EXPECT_THAT(MustReject("NFS://server/export"), HasSubstr(R"(scheme "NFS")"));
  EXPECT_THAT(MustReject(""), HasSubstr("missing the"));
}

TEST(ParseNfsUrlTest, MessageQuotesTheUrl) {
  EXPECT_THAT(MustReject("nfs://server/export?bogus=1"),
              StartsWith(R"(nfs url "nfs://server/export?bogus=1": )"));
}

TEST(ParseNfsUrlTest, RejectsEmptyHost) {
  EXPECT_THAT(MustReject("nfs:///export"), HasSubstr("host is empty"));
  EXPECT_THAT(MustReject("nfs://:2049/export"), HasSubstr("host is empty"));
  EXPECT_THAT(MustReject("nfs://[]/export"), HasSubstr("host is empty"));
  EXPECT_THAT(MustReject("nfs://"), HasSubstr("host is empty"));
}

TEST(ParseNfsUrlTest, RejectsUserInfoWithoutEchoingIt) {
  std::string message = MustReject("nfs://alice:s3cret@server/export");
  EXPECT_THAT(message, HasSubstr("user info"));
  EXPECT_THAT(message, Not(HasSubstr("s3cret")));
  EXPECT_THAT(MustReject("nfs://alice@server/export"), HasSubstr("user info"));
}

TEST(ParseNfsUrlTest, RejectsFragments) {
  EXPECT_THAT(MustReject("nfs://server/export#frag"), HasSubstr(R"(fragment "#frag")"));
  EXPECT_THAT(MustReject("nfs://server/export?version=4#x"), HasSubstr(R"(fragment "#x")"));
}

TEST(ParseNfsUrlTest, RejectsBadHostCharacters) {
  EXPECT_THAT(MustReject("nfs://ser_ver/export"), HasSubstr(R"(host "ser_ver")"));
  EXPECT_THAT(MustReject("nfs://ser%2fver/export"), HasSubstr(R"(host "ser%2fver")"));
  EXPECT_THAT(MustReject("nfs://ser\nver/export"), HasSubstr(R"(host "ser\x0aver")"));
  EXPECT_THAT(MustReject("nfs://[::1%eth0]/export"), HasSubstr(R"(host "::1%eth0")"));
  EXPECT_THAT(MustReject("nfs://[server]/export"), HasSubstr("must be IPv6"));
  EXPECT_THAT(MustReject("nfs://[10.0.0.1]/export"), HasSubstr("must be IPv6"));
}

TEST(ParseNfsUrlTest, RejectsMalformedBrackets) {
  EXPECT_THAT(MustReject("nfs://[::1/export"), HasSubstr("no ']'"));
  EXPECT_THAT(MustReject("nfs://[::1]x/export"), HasSubstr(R"(unexpected "x" after the host)"));
  EXPECT_THAT(MustReject("nfs://::1/export"), HasSubstr("must be in brackets"));
}

TEST(ParseNfsUrlTest, RejectsBadPorts) {
  for (std::string_view port : {"0", "65536", "99999999999999999999", "-1", "+1", " 1", "0x10",
                                "1.5", "20 49"}) {
    std::string message = MustReject("nfs://server:" + std::string(port) + "/e");
    EXPECT_THAT(message, HasSubstr("port \"" + std::string(port) + "\": must be a decimal"));
    message = MustReject("nfs://server/e?nfsport=" + std::string(port));
    EXPECT_THAT(message, HasSubstr("nfsport \"" + std::string(port) + "\""));
    message = MustReject("nfs://server/e?version=3&mountport=" + std::string(port));
    EXPECT_THAT(message, HasSubstr("mountport \"" + std::string(port) + "\""));
  }
  EXPECT_THAT(MustReject("nfs://server:/e"), HasSubstr(R"(port "": must be)"));
}

TEST(ParseNfsUrlTest, RejectsMissingExport) {
  EXPECT_THAT(MustReject("nfs://server"), HasSubstr("missing the export path"));
  EXPECT_THAT(MustReject("nfs://server?version=4"), HasSubstr("missing the export path"));
}

TEST(ParseNfsUrlTest, RejectsUnsafeExportPaths) {
  EXPECT_THAT(MustReject("nfs://server/a/../b"),
              HasSubstr(R"(export path: root "/a/../b": segment ".." is not allowed)"));
  EXPECT_THAT(MustReject("nfs://server/a//b"), HasSubstr("empty segment"));
  EXPECT_THAT(MustReject("nfs://server//a"),
              HasSubstr(R"(export path: root "//a": empty segment)"));
  EXPECT_THAT(MustReject("nfs://server/a//"), HasSubstr(R"(root "/a/": ends with '/')"));
  EXPECT_THAT(MustReject("nfs://server/./a"), HasSubstr(R"(segment "." is not allowed)"));
  EXPECT_THAT(MustReject("nfs://server/a\0b"sv), HasSubstr("NUL"));
}

TEST(ParseNfsUrlTest, RejectsUnknownKeys) {
  EXPECT_THAT(MustReject("nfs://server/e?uid=0"), HasSubstr(R"(unknown query parameter "uid")"));
  EXPECT_THAT(MustReject("nfs://server/e?Version=4"), HasSubstr(R"(parameter "Version")"));
  EXPECT_THAT(MustReject("nfs://server/e?version"), Not(HasSubstr("unknown")));
}

TEST(ParseNfsUrlTest, RejectsRepeatedKeys) {
  EXPECT_THAT(MustReject("nfs://server/e?version=4&version=4"),
              HasSubstr(R"("version" is given twice)"));
  EXPECT_THAT(MustReject("nfs://server/e?nfsport=1&nfsport=2"),
              HasSubstr(R"("nfsport" is given twice)"));
  EXPECT_THAT(MustReject("nfs://server:2049/e?nfsport=2049"),
              HasSubstr("NFS port is given twice"));
}

TEST(ParseNfsUrlTest, RejectsEmptyValuesAndParameters) {
  EXPECT_THAT(MustReject("nfs://server/e?version="), HasSubstr(R"("version" has an empty value)"));
  EXPECT_THAT(MustReject("nfs://server/e?nfsport"), HasSubstr(R"("nfsport" has an empty value)"));
  EXPECT_THAT(MustReject("nfs://server/e?"), HasSubstr("empty parameter"));
  EXPECT_THAT(MustReject("nfs://server/e?version=4&"), HasSubstr("empty parameter"));
  EXPECT_THAT(MustReject("nfs://server/e?&version=4"), HasSubstr("empty parameter"));
}

TEST(ParseNfsUrlTest, RejectsUnsupportedVersions) {
  for (std::string_view v : {"2", "5", "4.3", "3.0", "v4", "04", "4.", " 4"}) {
    EXPECT_THAT(MustReject("nfs://server/e?version=" + std::string(v)),
                HasSubstr("version \"" + std::string(v) + "\" is not supported"));
  }
}

TEST(ParseNfsUrlTest, RejectsMountPortWithVersionFour) {
  EXPECT_THAT(MustReject("nfs://server/e?mountport=635"), HasSubstr("mountport is only for"));
  EXPECT_THAT(MustReject("nfs://server/e?version=4.1&mountport=635"),
              HasSubstr("mountport is only for"));
}

// --- rendering ---

TEST(NfsUrlTest, ToLibnfsUrl) {
  EXPECT_EQ(MustParse("nfs://127.0.0.1:2049/export").ToLibnfsUrl(),
            "nfs://127.0.0.1/export/?version=4&nfsport=2049");
  EXPECT_EQ(MustParse("nfs://server/").ToLibnfsUrl(), "nfs://server/?version=4");
  EXPECT_EQ(MustParse("nfs://[::1]/a/b/").ToLibnfsUrl(), "nfs://[::1]/a/b/?version=4");
  EXPECT_EQ(MustParse("nfs://server/e?version=3&mountport=635&nfsport=2049").ToLibnfsUrl(),
            "nfs://server/e/?version=3&nfsport=2049&mountport=635");
  EXPECT_EQ(MustParse("nfs://server/e?version=4.2").ToLibnfsUrl(), "nfs://server/e/?version=4");
}

TEST(NfsUrlTest, ToLibnfsUrlRoundTrips) {
  for (std::string_view text : {"nfs://10.1.2.3:2049/srv/k8s?version=4.1",
                                "nfs://[fd00::7]/e?version=3&nfsport=2049&mountport=20048",
                                "nfs://server/"}) {
    NfsUrl url = MustParse(text);
    NfsUrl again = MustParse(url.ToLibnfsUrl());
    EXPECT_EQ(again.host, url.host) << text;
    EXPECT_EQ(again.export_path, url.export_path) << text;
    EXPECT_EQ(again.version, url.version) << text;
    EXPECT_EQ(again.nfs_port, url.nfs_port) << text;
    EXPECT_EQ(again.mount_port, url.mount_port) << text;
  }
}

TEST(NfsUrlTest, Display) {
  EXPECT_EQ(MustParse("nfs://server:2049/export").Display(), "nfs://server:2049/export (NFSv4)");
  EXPECT_EQ(MustParse("nfs://server/export?version=3").Display(), "nfs://server/export (NFSv3)");
  EXPECT_EQ(MustParse("nfs://[::1]:2049/").Display(), "nfs://[::1]:2049/ (NFSv4)");
  EXPECT_EQ(MustParse("nfs://server/e?version=3&mountport=635").Display(),
            "nfs://server/e (NFSv3, mountport 635)");
}

}  // namespace
}  // namespace nfsprov::nfs
