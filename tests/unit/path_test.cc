#include "nfs/path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace nfsprov::nfs {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using namespace std::string_view_literals;

MATCHER_P(IsInvalidArgumentWith, text, "") {
  if (arg.code() != StatusCode::kInvalidArgument) {
    *result_listener << "code is " << StatusCodeName(arg.code());
    return false;
  }
  if (arg.message().find(text) == std::string::npos) {
    *result_listener << "message is: " << arg.message();
    return false;
  }
  return true;
}

// --- QuoteForMessage ---

TEST(QuoteForMessageTest, KeepsPrintableAsciiInQuotes) {
  EXPECT_EQ(QuoteForMessage("a/b c~"), R"("a/b c~")");
  EXPECT_EQ(QuoteForMessage(""), R"("")");
}

TEST(QuoteForMessageTest, EscapesQuoteAndBackslash) {
  EXPECT_EQ(QuoteForMessage(R"(a"b\c)"), R"("a\"b\\c")");
}

TEST(QuoteForMessageTest, EscapesControlAndHighBytesAsHex) {
  EXPECT_EQ(QuoteForMessage("\x00x"sv), R"("\x00x")");
  EXPECT_EQ(QuoteForMessage("\n\t\x7f"), R"("\x0a\x09\x7f")");
  EXPECT_EQ(QuoteForMessage("\xc3\xa9"), R"("\xc3\xa9")");
}

TEST(QuoteForMessageTest, KeepsAStringThatFitsExactly) {
  std::string fits(78, 'a');  // 78 + 2 quotes = 80
  EXPECT_EQ(QuoteForMessage(fits), '"' + fits + '"');
}

TEST(QuoteForMessageTest, TruncatesLongInputToEightyBytes) {
  std::string quoted = QuoteForMessage(std::string(79, 'a'));
  EXPECT_EQ(quoted, '"' + std::string(75, 'a') + "...\"");
  EXPECT_EQ(quoted.size(), 80u);
  EXPECT_EQ(QuoteForMessage(std::string(4096, 'b')), '"' + std::string(75, 'b') + "...\"");
}

TEST(QuoteForMessageTest, NeverCutsAnEscapeInHalf) {
  // 4-byte escapes: 18 of them (72 bytes) fit before the ellipsis, a 19th would not.
  std::string quoted = QuoteForMessage(std::string(100, '\x01'));
  std::string expected = "\"";
  for (int i = 0; i < 18; ++i) expected += "\\x01";
  expected += "...\"";
  EXPECT_EQ(quoted, expected);
  EXPECT_LE(quoted.size(), 80u);
}

// --- ValidateName ---

TEST(ValidateNameTest, AcceptsOrdinaryNames) {
  EXPECT_TRUE(ValidateName("pvc-1234").ok());
  EXPECT_TRUE(ValidateName("a").ok());
  EXPECT_TRUE(ValidateName(".hidden").ok());
  EXPECT_TRUE(ValidateName("...").ok());
  EXPECT_TRUE(ValidateName("....").ok());
  EXPECT_TRUE(ValidateName("..a").ok());
}

TEST(ValidateNameTest, AcceptsOddButLegalBytes) {
  EXPECT_TRUE(ValidateName("line\nbreak").ok());
  EXPECT_TRUE(ValidateName("back\\slash").ok());
  EXPECT_TRUE(ValidateName("caf\xc3\xa9").ok());
  EXPECT_TRUE(ValidateName("\xff\xfe").ok());
  EXPECT_TRUE(ValidateName(" ").ok());
}

TEST(ValidateNameTest, RejectsEmpty) {
  EXPECT_THAT(ValidateName(""), IsInvalidArgumentWith("name is empty"));
}

TEST(ValidateNameTest, RejectsDotAndDotDot) {
  EXPECT_THAT(ValidateName("."), IsInvalidArgumentWith(R"(name "." is not allowed)"));
  EXPECT_THAT(ValidateName(".."), IsInvalidArgumentWith(R"(name ".." is not allowed)"));
}

TEST(ValidateNameTest, RejectsSlash) {
  EXPECT_THAT(ValidateName("a/b"), IsInvalidArgumentWith(R"(name "a/b": contains '/')"));
  EXPECT_THAT(ValidateName("/"), IsInvalidArgumentWith("contains '/'"));
  EXPECT_THAT(ValidateName("../x"), IsInvalidArgumentWith("contains '/'"));
}

TEST(ValidateNameTest, RejectsNulAnywhere) {
  EXPECT_THAT(ValidateName("\0x"sv), IsInvalidArgumentWith(R"(name "\x00x": contains a NUL byte)"));
  EXPECT_THAT(ValidateName("a\0b"sv), IsInvalidArgumentWith(R"("a\x00b": contains a NUL byte)"));
  EXPECT_THAT(ValidateName("ab\0"sv), IsInvalidArgumentWith("NUL"));
}

TEST(ValidateNameTest, LengthLimitIs255Bytes) {
  EXPECT_TRUE(ValidateName(std::string(255, 'a')).ok());
  Status too_long = ValidateName(std::string(256, 'a'));
  EXPECT_THAT(too_long, IsInvalidArgumentWith("longer than 255 bytes"));
  // The hostile name is quoted in short form, not dumped.
  EXPECT_THAT(too_long.message(), HasSubstr("aaa...\""));
  EXPECT_LT(too_long.message().size(), 150u);
}

TEST(ValidateNameTest, LengthCountsBytesNotCharacters) {
  std::string two_byte_chars;
  for (int i = 0; i < 127; ++i) two_byte_chars += "\xc3\xa9";  // 254 bytes
  EXPECT_TRUE(ValidateName(two_byte_chars).ok());
  EXPECT_THAT(ValidateName(two_byte_chars + "\xc3\xa9"), IsInvalidArgumentWith("longer than 255"));
}

// --- ValidateRelativePath ---

TEST(ValidateRelativePathTest, AcceptsNormalPaths) {
  EXPECT_TRUE(ValidateRelativePath("a").ok());
  EXPECT_TRUE(ValidateRelativePath("a/b/c").ok());
  EXPECT_TRUE(ValidateRelativePath("ns/pvc-1/data").ok());
  EXPECT_TRUE(ValidateRelativePath("..../...").ok());
  EXPECT_TRUE(ValidateRelativePath(".a/b.").ok());
  EXPECT_TRUE(ValidateRelativePath("new\nline/back\\slash/\xe2\x82\xac").ok());
}

TEST(ValidateRelativePathTest, RejectsEmpty) {
  EXPECT_THAT(ValidateRelativePath(""), IsInvalidArgumentWith("path is empty"));
}

TEST(ValidateRelativePathTest, RejectsDotDotEverywhere) {
  EXPECT_THAT(ValidateRelativePath(".."), IsInvalidArgumentWith(R"(segment ".." is not allowed)"));
  EXPECT_THAT(ValidateRelativePath("../x"),
              IsInvalidArgumentWith(R"(path "../x": segment ".." is not allowed)"));
  EXPECT_THAT(ValidateRelativePath("x/.."),
              IsInvalidArgumentWith(R"(path "x/..": segment ".." is not allowed)"));
  EXPECT_THAT(ValidateRelativePath("a/../b"),
              IsInvalidArgumentWith(R"(path "a/../b": segment ".." is not allowed)"));
  EXPECT_THAT(ValidateRelativePath("a/b/../../../etc"), IsInvalidArgumentWith(R"(".." is not)"));
}

TEST(ValidateRelativePathTest, RejectsDot) {
  EXPECT_THAT(ValidateRelativePath("."), IsInvalidArgumentWith(R"(segment "." is not allowed)"));
  EXPECT_THAT(ValidateRelativePath("./x"),
              IsInvalidArgumentWith(R"(path "./x": segment "." is not allowed)"));
  EXPECT_THAT(ValidateRelativePath("x/."),
              IsInvalidArgumentWith(R"(path "x/.": segment "." is not allowed)"));
}

TEST(ValidateRelativePathTest, RejectsAbsolute) {
  EXPECT_THAT(ValidateRelativePath("/abs"),
              IsInvalidArgumentWith(R"(path "/abs": must be relative, not absolute)"));
  EXPECT_THAT(ValidateRelativePath("/"), IsInvalidArgumentWith("must be relative"));
  EXPECT_THAT(ValidateRelativePath("//x"), IsInvalidArgumentWith("must be relative"));
}

TEST(ValidateRelativePathTest, RejectsEmptySegments) {
  EXPECT_THAT(ValidateRelativePath("a//b"), IsInvalidArgumentWith(R"(path "a//b": empty segment)"));
  EXPECT_THAT(ValidateRelativePath("a/"), IsInvalidArgumentWith(R"(path "a/": ends with '/')"));
  EXPECT_THAT(ValidateRelativePath("a/b//"), IsInvalidArgumentWith("empty segment"));
}

TEST(ValidateRelativePathTest, RejectsEmbeddedNul) {
  EXPECT_THAT(ValidateRelativePath("a\0b"sv),
              IsInvalidArgumentWith(R"(segment "a\x00b": contains a NUL byte)"));
  EXPECT_THAT(ValidateRelativePath("ok/a\0/ok"sv), IsInvalidArgumentWith(R"("a\x00": contains)"));
  EXPECT_THAT(ValidateRelativePath("\0"sv), IsInvalidArgumentWith("NUL"));
}

TEST(ValidateRelativePathTest, SegmentLimitIs255Bytes) {
  const std::string ok(255, 'a');
  EXPECT_TRUE(ValidateRelativePath("x/" + ok + "/y").ok());
  Status bad = ValidateRelativePath("x/" + std::string(256, 'a') + "/y");
  EXPECT_THAT(bad, IsInvalidArgumentWith(": longer than 255 bytes"));
  EXPECT_THAT(bad.message(), HasSubstr(R"(segment "aaaa)"));
  EXPECT_THAT(bad.message(), StartsWith(R"(path "x/aaaa)"));
}

TEST(ValidateRelativePathTest, PathLimitIs4096Bytes) {
  // 16 segments of 255 bytes + 15 slashes = 4095; one more "b" gives exactly 4096.
  std::string path;
  for (int i = 0; i < 16; ++i) path += std::string(255, 'a') + "/";
  path += "b";
  ASSERT_EQ(path.size(), 4097u);
  path.erase(0, 1);
  ASSERT_EQ(path.size(), 4096u);
  EXPECT_TRUE(ValidateRelativePath(path).ok());
  EXPECT_THAT(ValidateRelativePath(path + "c"),
              IsInvalidArgumentWith("path is 4097 bytes, longer than 4096"));
  EXPECT_THAT(ValidateRelativePath(std::string(5000, 'a')),
              IsInvalidArgumentWith("path is 5000 bytes, longer than 4096"));
}

// --- ValidateRoot ---

TEST(ValidateRootTest, AcceptsSlashAndAbsolutePaths) {
  EXPECT_TRUE(ValidateRoot("/").ok());
  EXPECT_TRUE(ValidateRoot("/a").ok());
  EXPECT_TRUE(ValidateRoot("/x/y").ok());
  EXPECT_TRUE(ValidateRoot("/...").ok());
}

TEST(ValidateRootTest, RejectsEmpty) {
  EXPECT_THAT(ValidateRoot(""), IsInvalidArgumentWith("root is empty"));
}

TEST(ValidateRootTest, RejectsRelative) {
  EXPECT_THAT(ValidateRoot("a"), IsInvalidArgumentWith(R"(root "a": must be absolute)"));
  EXPECT_THAT(ValidateRoot("a/b"), IsInvalidArgumentWith("must be absolute"));
}

TEST(ValidateRootTest, RejectsTrailingAndDoubledSlash) {
  EXPECT_THAT(ValidateRoot("/a/"), IsInvalidArgumentWith(R"(root "/a/": ends with '/')"));
  EXPECT_THAT(ValidateRoot("//"), IsInvalidArgumentWith(R"(root "//": empty segment)"));
  EXPECT_THAT(ValidateRoot("/a//b"), IsInvalidArgumentWith("empty segment"));
}

TEST(ValidateRootTest, RejectsDotSegments) {
  EXPECT_THAT(ValidateRoot("/a/../b"),
              IsInvalidArgumentWith(R"(root "/a/../b": segment ".." is not allowed)"));
  EXPECT_THAT(ValidateRoot("/.."), IsInvalidArgumentWith(R"(segment ".." is not allowed)"));
  EXPECT_THAT(ValidateRoot("/./a"), IsInvalidArgumentWith(R"(segment "." is not allowed)"));
}

TEST(ValidateRootTest, RejectsNulAndLongSegments) {
  EXPECT_THAT(ValidateRoot("/a\0"sv), IsInvalidArgumentWith("contains a NUL byte"));
  EXPECT_THAT(ValidateRoot("/" + std::string(256, 'r')), IsInvalidArgumentWith("longer than 255"));
  EXPECT_THAT(ValidateRoot("/" + std::string(5000, 'r')),
              IsInvalidArgumentWith("root is 5001 bytes, longer than 4096"));
}

// --- JoinUnderRoot ---

TEST(JoinUnderRootTest, JoinsUnderSlash) {
  Result<std::string> joined = JoinUnderRoot("/", "a/b");
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ(*joined, "/a/b");
}

TEST(JoinUnderRootTest, JoinsUnderDeeperRoot) {
  Result<std::string> joined = JoinUnderRoot("/x/y", "pvc-1");
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ(*joined, "/x/y/pvc-1");
}

TEST(JoinUnderRootTest, RejectsHostileRelativePaths) {
  for (std::string_view bad : {"..", "../x", "x/..", "./x", "x/.", "/abs", "a//b", "a/", "", "."}) {
    Result<std::string> joined = JoinUnderRoot("/x/y", bad);
    EXPECT_FALSE(joined.ok()) << "accepted " << bad;
    EXPECT_EQ(joined.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(joined.status().message(), StartsWith("path")) << bad;
  }
  EXPECT_THAT(JoinUnderRoot("/", "a\0b"sv).status(), IsInvalidArgumentWith("NUL"));
}

TEST(JoinUnderRootTest, RejectsBadRoots) {
  EXPECT_THAT(JoinUnderRoot("", "a").status(), IsInvalidArgumentWith("root is empty"));
  EXPECT_THAT(JoinUnderRoot("x", "a").status(), IsInvalidArgumentWith("must be absolute"));
  EXPECT_THAT(JoinUnderRoot("/x/", "a").status(), IsInvalidArgumentWith(R"(root "/x/")"));
  EXPECT_THAT(JoinUnderRoot("/x/../..", "a").status(), IsInvalidArgumentWith(R"(root "/x/../..")"));
}

TEST(JoinUnderRootTest, LimitsTheJoinedLength) {
  std::string root = "/" + std::string(200, 'r');  // 201 bytes
  std::string relative;
  while (relative.size() + 256 <= 3894) relative += std::string(255, 'a') + "/";
  relative += std::string(3894 - relative.size(), 'b');
  ASSERT_EQ(relative.size(), 3894u);
  Result<std::string> fits = JoinUnderRoot(root, relative);  // 201 + 1 + 3894 = 4096
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->size(), 4096u);
  EXPECT_THAT(JoinUnderRoot(root, relative + "b").status(),
              IsInvalidArgumentWith("joined path is 4097 bytes, longer than 4096"));
}

}  // namespace
}  // namespace nfsprov::nfs
