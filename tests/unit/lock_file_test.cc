// The lock file: JSON round trips, every way it can be malformed (never echoing the secret), and
// reading it from a volume directory.
#include "lockd/lock_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nfsprov::lockd {
namespace {

using nlohmann::json;

const std::string kSecret = "3da82d5e996dd687a0567afcd785c650fd02bac262c837313f4273b34ba494fd";

LockFile Full() {
  LockFile f;
  f.volume_id = "nfsprov1|v|4|0|nfs.example.com|/export/k8s|abc";
  f.address = "lockd.nfsprov.svc:7070";
  f.secret = kSecret;
  f.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  return f;
}

template <typename Edit>
std::string Edited(Edit edit) {
  json j = json::parse(ToJson(Full()));
  edit(j);
  return j.dump();
}

void ExpectInvalid(const Result<LockFile>& parsed, const std::string& mention) {
  ASSERT_FALSE(parsed.ok()) << "accepted; expected an error mentioning " << mention;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(mention), std::string::npos)
      << parsed.status().message();
  EXPECT_EQ(parsed.status().message().find(kSecret.substr(0, 16)), std::string::npos)
      << "the secret leaked: " << parsed.status().message();
}

class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/nfsprov-lock-file-XXXXXX";
    const char* made = ::mkdtemp(path);
    EXPECT_NE(made, nullptr);
    path_ = path;
  }
  ~TempDir() {
    ::unlink((path_ + "/" + std::string(kLockFileName)).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& content) const {
    std::ofstream(path_ + "/" + std::string(kLockFileName), std::ios::binary) << content;
  }

 private:
  std::string path_;
};

TEST(LockFileTest, RoundTripWithCa) {
  const LockFile f = Full();
  Result<LockFile> parsed = LockFileFromJson(ToJson(f));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, f);
}

TEST(LockFileTest, RoundTripWithoutCaOmitsTheKey) {
  LockFile f = Full();
  f.ca_pem.clear();
  const std::string text = ToJson(f);
  EXPECT_FALSE(json::parse(text).contains("caPem")) << text;
  Result<LockFile> parsed = LockFileFromJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, f);
}

TEST(LockFileTest, UsesTheDocumentedKeys) {
  const json j = json::parse(ToJson(Full()));
  EXPECT_EQ(j.at("version"), 1);
  EXPECT_EQ(j.at("volumeId"), Full().volume_id);
  EXPECT_EQ(j.at("address"), Full().address);
  EXPECT_EQ(j.at("secret"), kSecret);
  EXPECT_EQ(j.at("caPem"), Full().ca_pem);
  EXPECT_EQ(j.size(), 5u);
}

TEST(LockFileTest, MissingFields) {
  for (const char* key : {"volumeId", "address", "secret"}) {
    ExpectInvalid(LockFileFromJson(Edited([&](json& j) { j.erase(key); })),
                  std::string("no \"") + key + "\"");
    ExpectInvalid(LockFileFromJson(Edited([&](json& j) { j[key] = ""; })),
                  std::string("\"") + key + "\" is empty");
    ExpectInvalid(LockFileFromJson(Edited([&](json& j) { j[key] = 7; })),
                  std::string("\"") + key + "\" is not a string");
  }
  ExpectInvalid(LockFileFromJson(Edited([](json& j) { j.erase("version"); })), "no \"version\"");
  ExpectInvalid(LockFileFromJson(Edited([](json& j) { j["caPem"] = true; })),
                "\"caPem\" is not a string");
}

TEST(LockFileTest, BadVersion) {
  ExpectInvalid(LockFileFromJson(Edited([](json& j) { j["version"] = 2; })),
                "lock file has version 2; this nfsprov reads version 1");
  ExpectInvalid(LockFileFromJson(Edited([](json& j) { j["version"] = 0; })), "version 0");
  ExpectInvalid(LockFileFromJson(Edited([](json& j) { j["version"] = "1"; })),
                "\"version\" is not an integer");
  ExpectInvalid(LockFileFromJson(Edited([](json& j) { j["version"] = 1.5; })),
                "\"version\" is not an integer");
}

TEST(LockFileTest, NotJson) {
  ExpectInvalid(LockFileFromJson(""), "not valid JSON");
  ExpectInvalid(LockFileFromJson("volumeId: x"), "not valid JSON");
  ExpectInvalid(LockFileFromJson("[1, 2]"), "not a JSON object");
  // Cut inside the secret: the parser's complaint would quote it, the message must not.
  const std::string text = ToJson(Full());
  ExpectInvalid(LockFileFromJson(text.substr(0, text.find(kSecret) + 40)), "not valid JSON");
}

TEST(LockFileTest, UnknownKeysAreIgnored) {
  Result<LockFile> parsed = LockFileFromJson(Edited([](json& j) { j["comment"] = "hi"; }));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, Full());
}

TEST(LockFileTest, ReadLockFileFromVolumeDir) {
  TempDir dir;
  dir.Write(ToJson(Full()));
  Result<LockFile> read = ReadLockFile(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, Full());
}

TEST(LockFileTest, ReadLockFileMissingIsNotFound) {
  TempDir dir;
  Result<LockFile> read = ReadLockFile(dir.path());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(read.status().message(),
            dir.path() + " has no .nfsprov-lock.json: the volume was not provisioned by a "
                         "StorageClass with locks: \"true\"");
}

TEST(LockFileTest, ReadLockFileMalformedNamesThePath) {
  TempDir dir;
  dir.Write("{\"version\": 1, \"secret\": \"" + kSecret + "\"}");
  Result<LockFile> read = ReadLockFile(dir.path());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read.status().message().find(dir.path() + "/.nfsprov-lock.json"), std::string::npos)
      << read.status().message();
  EXPECT_NE(read.status().message().find("no \"volumeId\""), std::string::npos)
      << read.status().message();
  EXPECT_EQ(read.status().message().find(kSecret), std::string::npos);
}

TEST(LockFileTest, ReadLockFileOtherErrorsKeepTheErrno) {
  TempDir dir;
  // A directory where the file should be: reading it fails with EISDIR.
  const std::string path = dir.path() + "/" + std::string(kLockFileName);
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  Result<LockFile> read = ReadLockFile(dir.path());
  ::rmdir(path.c_str());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().sys_errno(), EISDIR);
  EXPECT_EQ(read.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().message();
}

}  // namespace
}  // namespace nfsprov::lockd
