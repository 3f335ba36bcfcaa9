// Lease records: the exact text EncodeLease writes, round trips, and every way DecodeLease
// refuses a record; plus the volume directory LeaseStore names.
#include <gtest/gtest.h>

#include "lockd/lease_store.h"
#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"

namespace nfsprov::lockd {
namespace {

using namespace std::chrono_literals;

constexpr char kLeaseId[] = "0123456789abcdef0123456789abcdef";

StoredLease Lease(LockMode mode, uint64_t token, std::chrono::milliseconds ttl) {
  return StoredLease{kLeaseId, mode, token, ttl};
}

TEST(LeaseStoreCodecTest, EncodesTheDocumentedText) {
  EXPECT_EQ(EncodeLease(Lease(LockMode::kExclusive, 7, 30s)), "v1 mode=x token=7 ttl_ms=30000");
  EXPECT_EQ(EncodeLease(Lease(LockMode::kShared, 18446744073709551615u, 1500ms)),
            "v1 mode=s token=18446744073709551615 ttl_ms=1500");
}

TEST(LeaseStoreCodecTest, RoundTrips) {
  for (const StoredLease& lease :
       {Lease(LockMode::kExclusive, 1, 1s), Lease(LockMode::kShared, 42, 3600s),
        Lease(LockMode::kShared, UINT64_MAX, 1ms)}) {
    Result<StoredLease> decoded = DecodeLease(kLeaseId, EncodeLease(lease));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, lease);
  }
}

TEST(LeaseStoreCodecTest, DecodeTakesTheIdFromTheCaller) {
  Result<StoredLease> decoded = DecodeLease("other-lease-id-0001", "v1 mode=s token=3 ttl_ms=5000");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->lease_id, "other-lease-id-0001");
  EXPECT_EQ(decoded->mode, LockMode::kShared);
  EXPECT_EQ(decoded->token, 3u);
  EXPECT_EQ(decoded->ttl, 5s);
}

TEST(LeaseStoreCodecTest, DecodeRejectsMalformedRecords) {
  for (const char* text : {
           "",
           "garbage",
           "v1",
           "v2 mode=x token=1 ttl_ms=1000",          // unknown version
           "v1 mode=x token=1",                      // missing ttl
           "v1 mode=x ttl_ms=1000",                  // missing token
           "v1 token=1 ttl_ms=1000",                 // missing mode
           "v1 mode=x token=1 ttl_ms=1000 extra=1",  // unknown field
           "v1 ttl_ms=1000 mode=x token=1",          // fields out of order
           "v1 mode=e token=1 ttl_ms=1000",          // unknown mode
           "v1 mode= token=1 ttl_ms=1000",
           "v1 mode=xs token=1 ttl_ms=1000",
           "v1 mode=x token=0 ttl_ms=1000",          // token 0 is never granted
           "v1 mode=x token= ttl_ms=1000",
           "v1 mode=x token=abc ttl_ms=1000",
           "v1 mode=x token=-1 ttl_ms=1000",
           "v1 mode=x token=+1 ttl_ms=1000",
           "v1 mode=x token=01 ttl_ms=1000",         // not as EncodeLease writes it
           "v1 mode=x token=1.5 ttl_ms=1000",
           "v1 mode=x token=18446744073709551616 ttl_ms=1000",  // 2^64
           "v1 mode=x token=1 ttl_ms=0",
           "v1 mode=x token=1 ttl_ms=1s",
           "v1 mode=x token=1 ttl_ms=9223372036854775808",  // beyond milliseconds
           "v1 mode=x token=1 ttl_ms=1000 ",
           " v1 mode=x token=1 ttl_ms=1000",
           "v1  mode=x token=1 ttl_ms=1000",
           "v1 mode=x tokens=1 ttl_ms=1000",
           "v1 mode=x token=1\nttl_ms=1000",
       }) {
    Result<StoredLease> decoded = DecodeLease(kLeaseId, text);
    EXPECT_EQ(decoded.status().code(), StatusCode::kInternal) << "accepted: " << text;
  }
}

TEST(LeaseStoreCodecTest, DecodeErrorQuotesTheRecord) {
  Result<StoredLease> decoded = DecodeLease(kLeaseId, "v1 mode=q token=1 ttl_ms=1000");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("mode=q"), std::string::npos)
      << decoded.status().ToString();
}

TEST(LeaseStoreCodecTest, VolumeLocksDirIsTheMetadataStores) {
  const std::string key = KeyForName("pvc-1");
  EXPECT_EQ(MetadataStore::VolumeLocksDir(key), "/.nfsprov/locks/" + key);
  EXPECT_EQ(MetadataStore::VolumeLocksDir(""), "");
  EXPECT_EQ(MetadataStore::VolumeLocksDir("../../etc"), "");
  EXPECT_EQ(MetadataStore::VolumeLocksDir(key + "/x"), "");
}

TEST(LeaseStoreCodecTest, ReservationsRoundTripWithAndWithoutGrace) {
  EXPECT_EQ(EncodeReservation({42, std::chrono::milliseconds(0)}), "v1 reserved=42");
  EXPECT_EQ(EncodeReservation({42, 2500ms}), "v1 reserved=42 grace_ms=2500");
  for (const Reservation& r : {Reservation{0, 0ms}, Reservation{7, 1000ms}, Reservation{1u << 30, 3600s}}) {
    Result<Reservation> decoded = DecodeReservation(EncodeReservation(r));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, r);
  }
}

TEST(LeaseStoreCodecTest, DecodeReservationRejectsMalformedRecords) {
  for (const char* text : {"", "v1", "v2 reserved=1", "v1 reserved=", "v1 reserved=x", "v1 grace_ms=5",
                           "v1 reserved=1 grace_ms=0", "v1 reserved=1 grace_ms=3600001",
                           "v1 reserved=1 grace_ms=5 extra=1", "v1 reserved=1 ttl_ms=5"}) {
    Result<Reservation> decoded = DecodeReservation(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInternal) << text;
  }
}

}  // namespace

}  // namespace nfsprov::lockd
