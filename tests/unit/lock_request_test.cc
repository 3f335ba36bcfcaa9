// Validation of what a lock client sends, and the messages a person reads when it is refused.
#include "lockd/lock_request.h"

#include <chrono>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace nfsprov::lockd {
namespace {

using std::chrono::milliseconds;

void ExpectInvalid(const Status& s, const std::string& message) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), message);
}

TEST(LockRequestTest, AcceptsValidLockNames) {
  for (const char* name : {"a", "db-migration", "tenant_1:job.v2", "A.b-c_d:e", "0"}) {
    EXPECT_TRUE(ValidateLockName(name).ok()) << name << ": " << ValidateLockName(name).ToString();
  }
  EXPECT_TRUE(ValidateLockName(std::string(kMaxLockNameBytes, 'x')).ok());
}

TEST(LockRequestTest, RejectsEmptyLockName) {
  ExpectInvalid(ValidateLockName(""), "lock name is empty");
}

TEST(LockRequestTest, RejectsLockNameWithSlash) {
  ExpectInvalid(ValidateLockName("a/b"),
                "lock name \"a/b\" may only contain letters, digits, '.', '_', ':' and '-'");
}

TEST(LockRequestTest, RejectsOtherCharacters) {
  for (const char* name : {"a b", "a\\b", "caf\xc3\xa9", "a\nb", "a*", "a\"b"}) {
    Status s = ValidateLockName(name);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
  }
  // Control bytes are escaped, not written into the message.
  EXPECT_EQ(ValidateLockName("a\nb").message().find('\n'), std::string::npos);
}

TEST(LockRequestTest, RejectsDotNames) {
  for (const char* name : {".", "..", ".hidden"}) {
    Status s = ValidateLockName(name);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(s.message().find("may not start with '.'"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(ValidateLockName("a..b").ok()) << "only a leading dot is special";
}

TEST(LockRequestTest, TooLongNameIsDescribedByLengthNotEchoed) {
  ExpectInvalid(ValidateLockName(std::string(4096, 'n')),
                "lock name is 4096 bytes; the maximum is 200");
  ExpectInvalid(ValidateLockName(std::string(kMaxLockNameBytes + 1, 'n')),
                "lock name is 201 bytes; the maximum is 200");
}

TEST(LockRequestTest, LongBadNameIsCutInTheMessage) {
  Status s = ValidateLockName(std::string(150, 'n') + "/");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_LT(s.message().size(), 200u) << s.message();
}

TEST(LockRequestTest, LeaseIds) {
  EXPECT_TRUE(ValidateLeaseId(std::string(16, 'a')).ok());
  EXPECT_TRUE(ValidateLeaseId(std::string(64, 'Z')).ok());
  EXPECT_TRUE(ValidateLeaseId("0123456789abcdef_-AZ").ok());
  ExpectInvalid(ValidateLeaseId(std::string(15, 'a')), "lease ID is 15 bytes; it must be 16 to 64");
  ExpectInvalid(ValidateLeaseId(std::string(65, 'a')), "lease ID is 65 bytes; it must be 16 to 64");
  ExpectInvalid(ValidateLeaseId(""), "lease ID is 0 bytes; it must be 16 to 64");
  ExpectInvalid(ValidateLeaseId("0123456789abcdef.x"),
                "lease ID \"0123456789abcdef.x\" may only contain letters, digits, '_' and '-'");
  EXPECT_EQ(ValidateLeaseId("0123456789abcdef:x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLeaseId("0123456789abcdef/x").code(), StatusCode::kInvalidArgument);
}

TEST(LockRequestTest, TtlBounds) {
  EXPECT_TRUE(ValidateTtl(kMinTtl).ok());
  EXPECT_TRUE(ValidateTtl(kMaxTtl).ok());
  EXPECT_TRUE(ValidateTtl(milliseconds(15000)).ok());
  ExpectInvalid(ValidateTtl(milliseconds(0)), "ttl 0s is below the minimum of 1s");
  ExpectInvalid(ValidateTtl(milliseconds(999)), "ttl 999ms is below the minimum of 1s");
  ExpectInvalid(ValidateTtl(milliseconds(-2000)), "ttl -2s is below the minimum of 1s");
  ExpectInvalid(ValidateTtl(milliseconds(31536000LL * 1000)),
                "ttl 31536000s is above the maximum of 3600s: renew the lease instead");
  ExpectInvalid(ValidateTtl(kMaxTtl + milliseconds(1)),
                "ttl 3600001ms is above the maximum of 3600s: renew the lease instead");
}

TEST(LockRequestTest, NewLeaseIdIsValidHexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewLeaseId();
    ASSERT_EQ(id.size(), 32u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_TRUE(ValidateLeaseId(id).ok()) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace nfsprov::lockd
