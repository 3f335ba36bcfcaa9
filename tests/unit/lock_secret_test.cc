// LockKey: known-answer HMAC-SHA256 secrets, verification, and the key file's rules.
#include "lockd/lock_secret.h"

#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace nfsprov::lockd {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";
const std::string kVolume = "nfsprov1|v|4|0|nfs.example.com|/export/k8s|abc";
// HMAC-SHA256(kKey, "nfsprov-lock-v1:" + kVolume), computed with Python's hmac module.
const std::string kVolumeSecret =
    "3da82d5e996dd687a0567afcd785c650fd02bac262c837313f4273b34ba494fd";

LockKey MustKey(const std::string& bytes) {
  Result<LockKey> key = LockKey::FromBytes(bytes);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return std::move(key).value();
}

// The openssl command line's answer for the same HMAC, or "" when openssl cannot be run.
std::string OpensslHmac(const std::string& key, const std::string& volume_id) {
  const std::string cmd = "printf %s 'nfsprov-lock-v1:" + volume_id +
                          "' | openssl dgst -sha256 -hmac '" + key + "' 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
  if (::pclose(pipe) != 0) return "";
  // "SHA2-256(stdin)= <hex>\n"
  const auto space = out.rfind(' ');
  if (space == std::string::npos) return "";
  out = out.substr(space + 1);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char path[] = "/tmp/nfsprov-lock-key-XXXXXX";
    const int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = path;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(LockSecretTest, KnownAnswer) {
  EXPECT_EQ(MustKey(kKey).SecretFor(kVolume), kVolumeSecret);
}

TEST(LockSecretTest, MatchesOpensslCommandLine) {
  const std::string key = "another key of at least thirty-two bytes";
  const std::string volume = "nfsprov1|v|4|0|10.0.0.5|/srv/nfs|pvc-123";
  const std::string expected = OpensslHmac(key, volume);
  if (expected.empty()) GTEST_SKIP() << "openssl command not available";
  ASSERT_EQ(expected.size(), 64u) << expected;
  EXPECT_EQ(MustKey(key).SecretFor(volume), expected);
}

TEST(LockSecretTest, SecretIsLowercaseHexAndDependsOnVolumeAndKey) {
  const LockKey key = MustKey(kKey);
  const std::string a = key.SecretFor("vol-a");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_EQ(key.SecretFor("vol-a"), a);
  EXPECT_NE(key.SecretFor("vol-b"), a);
  EXPECT_NE(MustKey(kKey + "x").SecretFor("vol-a"), a);
}

TEST(LockSecretTest, VerifyAcceptsOnlyTheVolumesSecret) {
  const LockKey key = MustKey(kKey);
  EXPECT_TRUE(key.Verify(kVolume, kVolumeSecret));
  EXPECT_FALSE(key.Verify("other-volume", kVolumeSecret)) << "a secret opens only its volume";
  std::string flipped = kVolumeSecret;
  flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(key.Verify(kVolume, flipped));
  EXPECT_FALSE(key.Verify(kVolume, kVolumeSecret.substr(0, 63)));
  EXPECT_FALSE(key.Verify(kVolume, kVolumeSecret + "0"));
  EXPECT_FALSE(key.Verify(kVolume, ""));
  std::string upper = kVolumeSecret;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(key.Verify(kVolume, upper)) << "exact lowercase hex only";
}

TEST(LockSecretTest, ShortKeyIsRejected) {
  Result<LockKey> key = LockKey::FromBytes(std::string(31, 'k'));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(key.status().message(), "lock key is 31 bytes; it must be at least 32");
  // The newline does not count towards the length.
  EXPECT_FALSE(LockKey::FromBytes(std::string(31, 'k') + "\n").ok());
  EXPECT_FALSE(LockKey::FromBytes("").ok());
  EXPECT_TRUE(LockKey::FromBytes(std::string(32, 'k')).ok());
}

TEST(LockSecretTest, FromFileStripsOneTrailingNewline) {
  const std::string expected = MustKey(kKey).SecretFor(kVolume);
  for (const char* ending : {"", "\n", "\r\n"}) {
    TempFile file(kKey + ending);
    Result<LockKey> key = LockKey::FromFile(file.path());
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->SecretFor(kVolume), expected) << "ending " << testing::PrintToString(ending);
  }
  // Only one newline is trimmed: the second is part of the key.
  TempFile two(kKey + "\n\n");
  Result<LockKey> key = LockKey::FromFile(two.path());
  ASSERT_TRUE(key.ok());
  EXPECT_NE(key->SecretFor(kVolume), expected);
}

TEST(LockSecretTest, FromFileNamesTheFileNeverTheContent) {
  const std::string content = "short-secret-content";
  TempFile file(content + "\n");
  Result<LockKey> key = LockKey::FromFile(file.path());
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(key.status().message().find(file.path()), std::string::npos)
      << key.status().message();
  EXPECT_NE(key.status().message().find("20 bytes"), std::string::npos)
      << key.status().message();
  EXPECT_EQ(key.status().message().find(content), std::string::npos) << key.status().message();
}

TEST(LockSecretTest, FromFileMissingIsNotFound) {
  const std::string path = "/nonexistent-nfsprov-dir/lock.key";
  Result<LockKey> key = LockKey::FromFile(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(key.status().sys_errno(), ENOENT);
  EXPECT_NE(key.status().message().find(path), std::string::npos) << key.status().message();
}

}  // namespace
}  // namespace nfsprov::lockd
