#include "provisioner/object_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

namespace nfsprov {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using namespace std::string_literals;

// KeyForName("pvc-4bcb1a7e-0c2f-4d5b-9f3a-2b1c0d9e8f7a"), computed outside this code with
//   printf %s NAME | sha256sum    and python3: base64.b32encode(digest).decode().lower()[:26]
constexpr std::string_view kPvcName = "pvc-4bcb1a7e-0c2f-4d5b-9f3a-2b1c0d9e8f7a";
constexpr std::string_view kPvcKey = "3wocmsouqxiuvwdh6lp37lt4te";

ObjectId MakeId(ObjectKind kind, ShareRef share, std::string key = std::string(kPvcKey)) {
  return ObjectId{kind, std::move(share), std::move(key)};
}

std::string MustEncode(const ObjectId& id) {
  Result<std::string> text = EncodeId(id);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "<error>";
}

std::string MustNotEncode(const ObjectId& id) {
  Result<std::string> text = EncodeId(id);
  EXPECT_FALSE(text.ok()) << "encoded as " << (text.ok() ? *text : "");
  EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument) << text.status().ToString();
  return text.status().message();
}

ObjectId MustDecode(std::string_view text) {
  Result<ObjectId> id = DecodeId(text);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : ObjectId{};
}

// Expects INVALID_ARGUMENT and returns the message.
std::string MustNotDecode(std::string_view text) {
  Result<ObjectId> id = DecodeId(text);
  EXPECT_FALSE(id.ok()) << "decoded " << testing::PrintToString(std::string(text));
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument) << id.status().ToString();
  return id.status().message();
}

void ExpectSameId(const ObjectId& actual, const ObjectId& expected) {
  EXPECT_EQ(actual.kind, expected.kind);
  EXPECT_EQ(actual.share, expected.share);
  EXPECT_EQ(actual.key, expected.key);
}

// An ID from its seven fields, without going through EncodeId.
std::string Raw(std::string_view kind, std::string_view nfs, std::string_view port,
                std::string_view server, std::string_view share,
                std::string_view key = kPvcKey) {
  std::string out = "nfsprov1";
  for (std::string_view field : {kind, nfs, port, server, share, key}) {
    out += '|';
    out += field;
  }
  return out;
}

// --- keys ---

TEST(KeyForNameTest, KnownVectors) {
  EXPECT_EQ(KeyForName(kPvcName), kPvcKey);
  EXPECT_EQ(KeyForName(""), "4oymiquy7qobjgx36tejs35zeq");
  EXPECT_EQ(KeyForName("snapshot-1"), "phdnme2exyaoos3e3nilloldto");
}

TEST(KeyForNameTest, KeysAreValidAndDistinct) {
  std::set<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    std::string key = KeyForName("pvc-" + std::to_string(i));
    EXPECT_TRUE(IsValidKey(key)) << key;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 1000u);
  EXPECT_NE(KeyForName("a"), KeyForName("A"));
  EXPECT_NE(KeyForName("a"s), KeyForName("a\0"s));  // the whole name is hashed, NULs included
}

TEST(KeyForNameTest, IsValidKey) {
  EXPECT_TRUE(IsValidKey(kPvcKey));
  EXPECT_TRUE(IsValidKey("abcdefghijklmnopqrstuvwxyz"));
  EXPECT_TRUE(IsValidKey("22334455667722334455667777"));
  EXPECT_FALSE(IsValidKey(""));
  EXPECT_FALSE(IsValidKey(kPvcKey.substr(1)));               // 25 characters
  EXPECT_FALSE(IsValidKey(std::string(kPvcKey) + "a"));      // 27 characters
  EXPECT_FALSE(IsValidKey("3WOCMSOUQXIUVWDH6LP37LT4TE"));    // uppercase
  EXPECT_FALSE(IsValidKey("3wocmsouqxiuvwdh6lp37lt4t8"));    // 8 is not base32
  EXPECT_FALSE(IsValidKey("3wocmsouqxiuvwdh6lp37lt4t9"));
  EXPECT_FALSE(IsValidKey("3wocmsouqxiuvwdh6lp37lt4t0"));
  EXPECT_FALSE(IsValidKey("3wocmsouqxiuvwdh6lp37lt4t1"));
  EXPECT_FALSE(IsValidKey("3wocmsouqxiuvwdh6lp37lt4t="));    // padding
  EXPECT_FALSE(IsValidKey("3wocmsouqxiuvwdh6lp37lt4t\0"s));
  EXPECT_FALSE(IsValidKey("../cmsouqxiuvwdh6lp37lt4te"));
}

// --- round trips ---

TEST(ObjectIdTest, VolumeV4HasTheDocumentedForm) {
  ObjectId id = MakeId(ObjectKind::kVolume, {"nfs.example.com", "/export/k8s", 2049, "4"});
  std::string text = MustEncode(id);
  EXPECT_EQ(text, "nfsprov1|v|4|2049|nfs.example.com|/export/k8s|" + std::string(kPvcKey));
  ExpectSameId(MustDecode(text), id);
}

TEST(ObjectIdTest, SnapshotV3) {
  ObjectId id = MakeId(ObjectKind::kSnapshot, {"10.0.0.7", "/", 0, "3"}, KeyForName("snap-1"));
  std::string text = MustEncode(id);
  EXPECT_EQ(text, "nfsprov1|s|3|0|10.0.0.7|/|" + KeyForName("snap-1"));
  ExpectSameId(MustDecode(text), id);
}

TEST(ObjectIdTest, MinorVersionIsStoredAsTheProtocol) {
  std::string text = MustEncode(MakeId(ObjectKind::kVolume, {"h", "/e", 0, "4.1"}));
  EXPECT_EQ(text, Raw("v", "4", "0", "h", "/e"));
  EXPECT_EQ(MustDecode(text).share.nfs_version, "4");
}

TEST(ObjectIdTest, Ipv6Server) {
  ObjectId id = MakeId(ObjectKind::kVolume, {"fd00::1:2", "/export", 2049, "4"});
  std::string text = MustEncode(id);
  EXPECT_EQ(text, Raw("v", "4", "2049", "fd00::1:2", "/export"));
  ExpectSameId(MustDecode(text), id);
}

TEST(ObjectIdTest, ShareWithSeparatorAndPercentIsEscaped) {
  ObjectId id = MakeId(ObjectKind::kVolume, {"h", "/ex|port/50%/%7C", 0, "4"});
  std::string text = MustEncode(id);
  EXPECT_EQ(text, Raw("v", "4", "0", "h", "/ex%7Cport/50%25/%257C"));
  ExpectSameId(MustDecode(text), id);
}

TEST(ObjectIdTest, PortBounds) {
  for (int port : {0, 1, 2049, 65535}) {
    ObjectId id = MakeId(ObjectKind::kVolume, {"h", "/e", port, "4"});
    std::string text = MustEncode(id);
    EXPECT_EQ(text, Raw("v", "4", std::to_string(port), "h", "/e"));
    EXPECT_EQ(MustDecode(text).share.port, port);
  }
}

TEST(ObjectIdTest, Utf8ShareRoundTrips) {
  ObjectId id = MakeId(ObjectKind::kVolume, {"h", "/donn\xc3\xa9" "es/\xf0\x9f\x98\x80", 0, "4"});
  ExpectSameId(MustDecode(MustEncode(id)), id);
}

TEST(ObjectIdTest, DecodeThenEncodeGivesTheSameText) {
  for (const std::string& text :
       {Raw("v", "4", "2049", "nfs.example.com", "/a/b"), Raw("s", "3", "0", "::1", "/"),
        Raw("v", "4", "65535", "h-1.example", "/%25%7C")}) {
    EXPECT_EQ(MustEncode(MustDecode(text)), text);
  }
}

// --- the 128-byte limit ---

// 43 fixed bytes ("nfsprov1|v|4|0|", two '|' and the key) leave 85 for server and share.
TEST(ObjectIdTest, EncodeAtAndOverTheLimit) {
  ObjectId id = MakeId(ObjectKind::kVolume, {std::string(20, 'a'), "/" + std::string(64, 'b'), 0, "4"});
  std::string text = MustEncode(id);
  EXPECT_EQ(text.size(), kMaxIdBytes);
  ExpectSameId(MustDecode(text), id);

  id.share.share += 'b';
  EXPECT_EQ(MustNotEncode(id),
            "the volume ID would be 129 bytes, over the 128-byte CSI limit: server "
            "\"aaaaaaaaaaaaaaaaaaaa\" (20 bytes) and share \"/" + std::string(65, 'b') +
            "\" (66 bytes escaped) are too long; together they may take at most 85 bytes");
}

TEST(ObjectIdTest, EscapingCountsTowardsTheLimit) {
  // 65 bytes as given, but the '|' takes three: 130 bytes.
  ObjectId id = MakeId(ObjectKind::kSnapshot,
                       {std::string(20, 'a'), "/" + std::string(63, 'b') + "|", 0, "4"});
  EXPECT_THAT(MustNotEncode(id), StartsWith("the snapshot ID would be 130 bytes, over the "
                                            "128-byte CSI limit"));
  EXPECT_THAT(MustNotEncode(id), HasSubstr("(67 bytes escaped)"));
}

TEST(ObjectIdTest, DecodeAtAndOverTheLimit) {
  std::string text = Raw("v", "4", "0", std::string(20, 'a'), "/" + std::string(64, 'b'));
  ASSERT_EQ(text.size(), 128u);
  EXPECT_EQ(MustDecode(text).share.share.size(), 65u);
  std::string longer = Raw("v", "4", "0", std::string(20, 'a'), "/" + std::string(65, 'b'));
  EXPECT_THAT(MustNotDecode(longer),
              HasSubstr(": is 129 bytes, longer than the 128-byte CSI limit"));
}

// --- what EncodeId refuses to make ---

TEST(ObjectIdTest, EncodeRejectsBadFields) {
  EXPECT_EQ(MustNotEncode(MakeId(ObjectKind::kVolume, {"h", "/e", 0, "4"}, "KEY")),
            "cannot make a volume ID: key \"KEY\" must be 26 characters from a-z and 2-7");
  EXPECT_THAT(MustNotEncode(MakeId(ObjectKind::kVolume, {"a b", "/e", 0, "4"})),
              StartsWith("cannot make a volume ID: server \"a b\": must be a DNS name"));
  EXPECT_THAT(MustNotEncode(MakeId(ObjectKind::kVolume, {"h|x", "/e", 0, "4"})),
              StartsWith("cannot make a volume ID: server \"h|x\""));
  EXPECT_EQ(MustNotEncode(MakeId(ObjectKind::kSnapshot, {"h", "/a/../b", 0, "4"})),
            "cannot make a snapshot ID: share: root \"/a/../b\": segment \"..\" is not allowed");
  EXPECT_EQ(MustNotEncode(MakeId(ObjectKind::kVolume, {"h", "/e", 65536, "4"})),
            "cannot make a volume ID: port 65536 is outside 0..65535 (0 means the default)");
  EXPECT_THAT(MustNotEncode(MakeId(ObjectKind::kVolume, {"h", "/e", -1, "4"})),
              HasSubstr("port -1 is outside 0..65535"));
  EXPECT_EQ(MustNotEncode(MakeId(ObjectKind::kVolume, {"h", "/\xff", 0, "4"})),
            "cannot make a volume ID: share \"/\\xff\" is not valid UTF-8, which CSI IDs must be");
}

// --- hostile IDs ---

TEST(ObjectIdDecodeTest, EmptyAndHuge) {
  EXPECT_EQ(MustNotDecode(""), "ID is empty");
  std::string huge(4096, 'a');
  std::string message = MustNotDecode(huge);
  EXPECT_THAT(message, HasSubstr(": is 4096 bytes, longer than the 128-byte CSI limit"));
  EXPECT_LT(message.size(), 200u);  // the ID itself is cut short in the message
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/" + std::string(4096, 'x'))),
              HasSubstr("bytes, longer than the 128-byte CSI limit"));
}

TEST(ObjectIdDecodeTest, NotOurs) {
  for (std::string text : {".."s, "pvc-4bcb1a7e"s, "nfs.example.com#share#pvc-1##"s, "/"s,
                           "NFSPROV1|v|4|0|h|/e|abcdefghijklmnopqrstuvwxyz"s, "|nfsprov1"s}) {
    EXPECT_THAT(MustNotDecode(text),
                HasSubstr(": not an ID made by this driver (no \"nfsprov1|\" prefix)"));
  }
  EXPECT_EQ(MustNotDecode("nfsprov2|v|4|0|h|/e|abcdefghijklmnopqrstuvwxyz"),
            "ID \"nfsprov2|v|4|0|h|/e|abcdefghijklmnopqrstuvwxyz\": format \"nfsprov2\" is not "
            "supported (this driver reads \"nfsprov1\")");
  EXPECT_THAT(MustNotDecode("nfsprov|v"), HasSubstr("format \"nfsprov\" is not supported"));
  EXPECT_THAT(MustNotDecode("nfsprov1\0|v"s),
              HasSubstr("format \"nfsprov1\\x00\" is not supported"));
}

TEST(ObjectIdDecodeTest, WrongFieldCount) {
  EXPECT_EQ(MustNotDecode("nfsprov1"),
            "ID \"nfsprov1\": has 1 '|'-separated fields, expected 7 "
            "(nfsprov1|kind|nfs|port|server|share|key)");
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/e") + "|x"), HasSubstr(": has 8 '|'"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/e") + "|"), HasSubstr(": has 8 '|'"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/a|b")), HasSubstr(": has 8 '|'"));
  EXPECT_THAT(MustNotDecode("nfsprov1|v|4|0|h|/e"), HasSubstr(": has 6 '|'"));
  EXPECT_THAT(MustNotDecode("nfsprov1||||||||"), HasSubstr(": has 9 '|'"));
}

TEST(ObjectIdDecodeTest, BadKind) {
  for (std::string kind : {"x", "V", "", "vs", "volume"}) {
    EXPECT_THAT(MustNotDecode(Raw(kind, "4", "0", "h", "/e")),
                HasSubstr(": kind \"" + kind + "\" must be \"v\" (volume) or \"s\" (snapshot)"));
  }
}

TEST(ObjectIdDecodeTest, BadNfsVersion) {
  for (std::string nfs : {"4.1", "2", "", "04", "v4"}) {
    EXPECT_THAT(MustNotDecode(Raw("v", nfs, "0", "h", "/e")),
                HasSubstr(": NFS version \"" + nfs + "\" must be 3 or 4"));
  }
}

TEST(ObjectIdDecodeTest, BadPort) {
  for (std::string port : {"02049", "00", "65536", "-1", "+1", "", " 1", "1 ", "0x10",
                           "99999999999999999999"}) {
    EXPECT_THAT(MustNotDecode(Raw("v", "4", port, "h", "/e")),
                HasSubstr(": port \"" + port +
                          "\" must be a decimal number from 0 to 65535 without leading zeros"));
  }
}

TEST(ObjectIdDecodeTest, BadServer) {
  EXPECT_EQ(MustNotDecode(Raw("v", "4", "0", "", "/e")),
            "ID \"" + Raw("v", "4", "0", "", "/e") +
                "\": server \"\": must be a DNS name or IPv4 address (letters, digits, '.' and "
                "'-') or an IPv6 address without brackets (hex digits, ':' and '.')");
  for (std::string server : {"a b"s, "[::1]"s, "h/x"s, "h:2049"s, "h%41"s, "user@h"s,
                             "h\x01"s, "\xc3\xa9"s, "h_x"s, "h\0x"s}) {
    EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", server, "/e")), HasSubstr(": server \""))
        << testing::PrintToString(server);
  }
}

TEST(ObjectIdDecodeTest, BadShare) {
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "")), HasSubstr(": share: root is empty"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/a/../b")),
              HasSubstr(": share: root \"/a/../b\": segment \"..\" is not allowed"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/..")),
              HasSubstr(": segment \"..\" is not allowed"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "a/b")), HasSubstr(": must be absolute"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/a/")), HasSubstr(": ends with '/'"));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "//")), HasSubstr(": share: root \"//\""));
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/a\0b"s)),
              HasSubstr("share: root \"/a\\x00b\": segment \"a\\x00b\": contains a NUL byte"));
}

TEST(ObjectIdDecodeTest, BadEscapes) {
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/a%41")),
              HasSubstr(": share has the escape \"%41\"; only %25 ('%') and %7C ('|') are used"));
  for (std::string share : {"/a%7c", "/a%2", "/a%", "/%%", "/a%2F", "/a%00"}) {
    EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", share)),
                HasSubstr(": share has the escape \"%"))
        << share;
  }
  // An escaped '/' or ".." cannot sneak past the path check: there is no such escape.
  EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/a/%2E%2E")), HasSubstr("escape \"%2E\""));
}

TEST(ObjectIdDecodeTest, InvalidUtf8) {
  for (std::string share : {"/\xff", "/\x80", "/\xc0\xaf", "/\xe0\x80\xaf", "/\xed\xa0\x80",
                            "/\xe2\x82", "/\xf4\x90\x80\x80", "/a\xc3"}) {
    EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", share)),
                HasSubstr("is not valid UTF-8, which CSI IDs must be"))
        << testing::PrintToString(share);
  }
  EXPECT_THAT(MustNotDecode("\xff\xfe|v"), HasSubstr("not an ID made by this driver"));
}

TEST(ObjectIdDecodeTest, BadKey) {
  for (std::string key : {"3WOCMSOUQXIUVWDH6LP37LT4TE", "3wocmsouqxiuvwdh6lp37lt4t8",
                          "3wocmsouqxiuvwdh6lp37lt4t9", "3wocmsouqxiuvwdh6lp37lt4t",
                          "3wocmsouqxiuvwdh6lp37lt4tee", "", "../../../../../../etc/pass"}) {
    EXPECT_THAT(MustNotDecode(Raw("v", "4", "0", "h", "/e", key)),
                HasSubstr(": key \"" + key + "\" must be 26 characters from a-z and 2-7"));
  }
}

}  // namespace
}  // namespace nfsprov
