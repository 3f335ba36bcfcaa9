// The pipelined tree engine against a real nfs-ganesha: delete, copy and scan of generated trees.
#include "nfs/tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/ganesha_server.h"
#include "tests/support/local_tree.h"

namespace nfsprov::nfs {
namespace {

using testing::GaneshaServer;
using testing::TreeShape;

// At least 10,000 entries: 781 directories with 12 files and an outward symlink each, plus a
// chain deeper than any COMPOUND a path-based call could resolve.
TreeShape BigShape(const std::string& outside) {
  TreeShape shape;
  shape.fanout_dirs = 5;
  shape.levels = 4;
  shape.files_per_dir = 12;
  shape.file_bytes = 100;
  shape.chain_depth = 120;
  shape.outside_target = outside;
  return shape;
}

class TreeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(testing::GaneshaOptions options) {
    client_.reset();
    server_.reset();
    auto server = GaneshaServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    client_ = Connect(server_->Url());
  }

  std::unique_ptr<Client> Connect(const std::string& url) {
    ClientOptions options;
    options.call_timeout = std::chrono::milliseconds(5000);
    options.rpc_timeout = std::chrono::seconds(2);
    auto client = Client::Connect(url, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  std::string Local(const std::string& path) const { return server_->export_dir() + path; }

  // A directory beside the trees that symlinks point into; it must survive every delete.
  void MakeOutside() {
    ASSERT_EQ(mkdir(Local("/outside").c_str(), 0755), 0);
    ASSERT_EQ(symlink("/etc", Local("/outside/etc-link").c_str()), 0);
    FILE* f = fopen(Local("/outside/keep").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("precious", f);
    fclose(f);
  }

  void ExpectOutsideIntact() {
    struct stat st;
    EXPECT_EQ(stat(Local("/outside/keep").c_str(), &st), 0) << "a symlink was followed";
    EXPECT_EQ(st.st_size, 8);
  }

  std::unique_ptr<GaneshaServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(TreeTest, ScanCountsEveryEntryWithoutFollowingSymlinks) {
  MakeOutside();
  auto made = testing::MakeTree(Local("/t"), BigShape("../../outside"));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_GE(made->entries(), 10000u);
  auto stats = ScanTree(*client_, "/t");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->files, made->files);
  EXPECT_EQ(stats->dirs, made->dirs);
  EXPECT_EQ(stats->symlinks, made->symlinks);
  EXPECT_EQ(stats->bytes, made->bytes);
  EXPECT_GT(stats->used_bytes, 0u);
  EXPECT_EQ(stats->error_count, 0u);
}

TEST_F(TreeTest, RemoveDeletesTheTreeAndNothingItLinksTo) {
  MakeOutside();
  auto made = testing::MakeTree(Local("/t"), BigShape(Local("/outside")));  // absolute links
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_EQ(mkdir(Local("/sibling").c_str(), 0755), 0);

  auto stats = RemoveTree(*client_, "/t");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->inodes(), made->entries());
  EXPECT_EQ(access(Local("/t").c_str(), F_OK), -1);
  EXPECT_EQ(access(Local("/sibling").c_str(), F_OK), 0);
  ExpectOutsideIntact();

  // Idempotent: a second call finds nothing and succeeds.
  auto again = RemoveTree(*client_, "/t");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->inodes(), 0u);
}

TEST_F(TreeTest, RemoveRefusesTheExportRootAndBadPaths) {
  ASSERT_EQ(mkdir(Local("/keep").c_str(), 0755), 0);
  EXPECT_EQ(RemoveTree(*client_, "/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RemoveTree(*client_, "/keep/..").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RemoveTree(*client_, "keep").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(access(Local("/keep").c_str(), F_OK), 0);
}

TEST_F(TreeTest, RemoveOfASymlinkRootRemovesOnlyTheLink) {
  MakeOutside();
  ASSERT_EQ(symlink(Local("/outside").c_str(), Local("/link").c_str()), 0);
  auto stats = RemoveTree(*client_, "/link");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->symlinks, 1u);
  struct stat st;
  EXPECT_NE(lstat(Local("/link").c_str(), &st), 0);
  ExpectOutsideIntact();
}

TEST_F(TreeTest, ThousandLevelsDeepScanCopyRemove) {
  TreeShape shape;
  shape.fanout_dirs = 0;
  shape.files_per_dir = 1;
  shape.chain_depth = 1000;
  auto made = testing::MakeTree(Local("/deep"), shape);
  ASSERT_TRUE(made.ok()) << made.status().ToString();

  auto scan = ScanTree(*client_, "/deep");
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(scan->dirs, 1001u);
  EXPECT_EQ(scan->files, 2u);

  auto copy = CopyTree(*client_, "/deep", "/deep-copy");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto copied = testing::CountTree(Local("/deep-copy"));
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(copied->dirs, 1001u);
  EXPECT_EQ(copied->files, 2u);

  for (const char* root : {"/deep", "/deep-copy"}) {
    auto removed = RemoveTree(*client_, root);
    ASSERT_TRUE(removed.ok()) << removed.status().ToString();
    EXPECT_EQ(removed->dirs, 1001u);
    EXPECT_EQ(access(Local(root).c_str(), F_OK), -1);
  }
}

TEST_F(TreeTest, CopyPreservesModesOwnersTimesLinksAndContent) {
  MakeOutside();
  TreeShape shape;
  shape.fanout_dirs = 3;
  shape.levels = 2;
  shape.files_per_dir = 4;
  shape.file_bytes = 5000;
  shape.chain_depth = 5;
  shape.outside_target = "../../outside";
  auto made = testing::MakeTree(Local("/src"), shape);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  // Variety the copy must keep: owners, special mode bits, old times, a large and an empty file.
  ASSERT_EQ(chown(Local("/src/f0").c_str(), 1234, 4321), 0);
  ASSERT_EQ(chmod(Local("/src/s1").c_str(), 02750), 0);
  ASSERT_EQ(lchown(Local("/src/out").c_str(), 77, 88), 0);
  struct timespec old[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  ASSERT_EQ(utimensat(AT_FDCWD, Local("/src/s0/f1").c_str(), old, 0), 0);
  {
    std::string big(700 * 1024 + 3, 'b');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
    FILE* f = fopen(Local("/src/big").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fwrite(big.data(), 1, big.size(), f);
    fclose(f);
    f = fopen(Local("/src/empty").c_str(), "w");
    fclose(f);
  }
  ASSERT_EQ(utimensat(AT_FDCWD, Local("/src/s2").c_str(), old, 0), 0);

  auto before = testing::DescribeTree(Local("/src"));
  ASSERT_TRUE(before.ok());
  auto copy = CopyTree(*client_, "/src", "/dst");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto after = testing::DescribeTree(Local("/dst"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*before, *after);  // includes no leftover staging directory
  auto source_now = testing::DescribeTree(Local("/src"));
  ASSERT_TRUE(source_now.ok());
  EXPECT_EQ(*before, *source_now) << "copy changed its source";

  struct stat src_root, dst_root;
  ASSERT_EQ(stat(Local("/src").c_str(), &src_root), 0);
  ASSERT_EQ(stat(Local("/dst").c_str(), &dst_root), 0);
  EXPECT_EQ(src_root.st_mode, dst_root.st_mode);
  EXPECT_EQ(src_root.st_mtim.tv_sec, dst_root.st_mtim.tv_sec);
  ExpectOutsideIntact();
}

TEST_F(TreeTest, CopyRefusesExistingTargetsAndCopiesIntoItself) {
  ASSERT_EQ(mkdir(Local("/a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(Local("/b").c_str(), 0755), 0);
  EXPECT_EQ(CopyTree(*client_, "/a", "/b").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(CopyTree(*client_, "/a", "/a/inner").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CopyTree(*client_, "/missing", "/c").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(access(Local("/a/inner").c_str(), F_OK), -1);
  EXPECT_EQ(access(Local("/c").c_str(), F_OK), -1);
}

TEST_F(TreeTest, ServerRestartDuringRemoveThenSecondCallFinishes) {
  MakeOutside();
  auto made = testing::MakeTree(Local("/t"), BigShape("../../outside"));
  ASSERT_TRUE(made.ok()) << made.status().ToString();

  auto start = std::chrono::steady_clock::now();
  auto first = std::async(std::launch::async, [&] { return RemoveTree(*client_, "/t"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto restart_at = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(first.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the delete finished before the restart; the test proves nothing";
  ASSERT_TRUE(server_->Restart().ok());
  Result<TreeStats> first_result = first.get();
  EXPECT_GT(std::chrono::steady_clock::now() - start, restart_at);
  if (!first_result.ok()) {
    EXPECT_TRUE(first_result.status().code() == StatusCode::kUnavailable ||
                first_result.status().code() == StatusCode::kDeadlineExceeded)
        << first_result.status().ToString();
  }

  auto second = RemoveTree(*client_, "/t");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(access(Local("/t").c_str(), F_OK), -1);
  ExpectOutsideIntact();
}

TEST_F(TreeTest, EntriesVanishingMidScanAreSkipped) {
  auto made = testing::MakeTree(Local("/t"), BigShape(""));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto scan = std::async(std::launch::async, [&] { return ScanTree(*client_, "/t"); });
  std::filesystem::remove_all(Local("/t/s3"));
  std::filesystem::remove_all(Local("/t/s4"));
  auto stats = scan.get();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_LE(stats->inodes(), made->entries());
  EXPECT_GT(stats->inodes(), 0u);
}

TEST_F(TreeTest, PermissionErrorsNameThePathAndDoNotStopTheWalk) {
  testing::GaneshaOptions options;
  options.root_squash_export = true;
  StartServer(options);
  const std::string& base = server_->squashed_dir();
  // Root owns "locked" (0755): a squashed client can list it but not remove from it. "open" is
  // world-writable, so its files can go. "private" (0700) cannot even be listed.
  ASSERT_EQ(mkdir((base + "/locked").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((base + "/locked/open").c_str(), 0777), 0);
  ASSERT_EQ(chmod((base + "/locked/open").c_str(), 0777), 0);  // past the umask
  for (const char* f : {"/locked/file", "/locked/open/gone"}) {
    FILE* fp = fopen((base + f).c_str(), "w");
    ASSERT_NE(fp, nullptr);
    fclose(fp);
  }
  ASSERT_EQ(chmod((base + "/locked/open/gone").c_str(), 0666), 0);
  ASSERT_EQ(mkdir((base + "/private").c_str(), 0700), 0);

  auto squashed = Connect(server_->SquashedUrl());
  ASSERT_NE(squashed, nullptr);
  auto removed = RemoveTree(*squashed, "/locked");
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.status().code(), StatusCode::kPermissionDenied) << removed.status().ToString();
  EXPECT_NE(removed.status().message().find("/locked/file"), std::string::npos)
      << removed.status().message();
  EXPECT_EQ(access((base + "/locked/open/gone").c_str(), F_OK), -1) << "the walk stopped early";
  EXPECT_EQ(access((base + "/locked/file").c_str(), F_OK), 0);

  auto scan = ScanTree(*squashed, "/private");
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), StatusCode::kPermissionDenied) << scan.status().ToString();
  EXPECT_NE(scan.status().message().find("/private"), std::string::npos);
}

}  // namespace
}  // namespace nfsprov::nfs
