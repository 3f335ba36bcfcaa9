// NfsFs in process against a real nfs-ganesha: the round trips a small-file create costs, counted
// with Client::RequestCount (one per attempt), and what the saved round trips must not change.
#include "fusefs/nfs_fs.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "nfs/url.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov::fusefs {
namespace {

using namespace std::chrono_literals;

class NfsFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    Result<nfs::NfsUrl> url = nfs::ParseNfsUrl(server_->Url());
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    auto fs = NfsFs::Connect(*url, /*read_only=*/false, 10s);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
  }

  uint64_t Requests() { return fs_->client().RequestCount(); }
  std::string ServerFile(const std::string& rel) {
    std::ifstream in(server_->export_dir() + rel, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::unique_ptr<OpenFile> CreateFile(const std::string& path) {
    std::unique_ptr<OpenFile> file;
    EXPECT_EQ(fs_->Create(path, 0640, O_CREAT | O_EXCL | O_WRONLY, 0, 0, &file), 0);
    return file;
  }
  // The requests `fn` sends.
  template <typename Fn>
  uint64_t RequestsOf(Fn fn) {
    const uint64_t before = Requests();
    fn();
    return Requests() - before;
  }

  std::unique_ptr<testing::GaneshaServer> server_;
  std::unique_ptr<NfsFs> fs_;
};

TEST_F(NfsFsTest, ACreatedFilesFirstSmallWriteIsStableSoCloseCommitsNothing) {
  std::unique_ptr<OpenFile> file = CreateFile("/small");
  ASSERT_NE(file, nullptr);
  const std::string data(4096, 's');
  ASSERT_EQ(fs_->Write(*file, data.data(), data.size(), 0), 4096);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->Commit(*file), 0); }), 0u);
  EXPECT_EQ(ServerFile("/small"), data);

  // A second write is UNSTABLE again and needs its COMMIT.
  ASSERT_EQ(fs_->Write(*file, data.data(), 100, 4096), 100);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->Commit(*file), 0); }), 1u);
  EXPECT_EQ(ServerFile("/small").size(), 4196u);
}

TEST_F(NfsFsTest, OtherFirstWritesStayUnstableAndAreCommitted) {
  const std::string big(NfsFs::kStableFirstWriteBytes + 1, 'b');
  std::unique_ptr<OpenFile> large = CreateFile("/large");
  ASSERT_NE(large, nullptr);
  ASSERT_EQ(fs_->Write(*large, big.data(), big.size(), 0), static_cast<int>(big.size()));
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->Commit(*large), 0); }), 1u);

  std::unique_ptr<OpenFile> offset = CreateFile("/offset");
  ASSERT_NE(offset, nullptr);
  ASSERT_EQ(fs_->Write(*offset, "x", 1, 10), 1);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->Commit(*offset), 0); }), 1u);

  std::unique_ptr<OpenFile> opened;  // opened, not created: its first write is no file's start
  ASSERT_EQ(fs_->Open("/large", O_WRONLY, &opened), 0);
  ASSERT_EQ(fs_->Write(*opened, "y", 1, 0), 1);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->Commit(*opened), 0); }), 1u);
  EXPECT_EQ(ServerFile("/large"), "y" + big.substr(1));
}

TEST_F(NfsFsTest, ACreateAnswersTheNextGetattrOfItsDirectoryOnce) {
  ASSERT_EQ(fs_->Mkdir("/d", 0755, 0, 0), 0);
  std::unique_ptr<OpenFile> file = CreateFile("/d/f");
  ASSERT_NE(file, nullptr);
  struct stat from_create {};
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/d", nullptr, &from_create), 0); }), 0u);
  struct stat from_server {};
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/d", nullptr, &from_server), 0); }), 1u);
  EXPECT_TRUE(S_ISDIR(from_create.st_mode));
  EXPECT_EQ(from_create.st_ino, from_server.st_ino);
  EXPECT_EQ(from_create.st_mode, from_server.st_mode);
  EXPECT_EQ(from_create.st_mtim.tv_sec, from_server.st_mtim.tv_sec);
  EXPECT_EQ(from_create.st_mtim.tv_nsec, from_server.st_mtim.tv_nsec);

  // Only the directory the create was in.
  std::unique_ptr<OpenFile> top = CreateFile("/g");
  ASSERT_NE(top, nullptr);
  struct stat st {};
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/d", nullptr, &st), 0); }), 1u);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/", nullptr, &st), 0); }), 0u);
}

TEST_F(NfsFsTest, AnyChangeAfterTheCreateOrTimeMakesTheDirectoryAskTheServer) {
  ASSERT_EQ(fs_->Mkdir("/d", 0755, 0, 0), 0);
  std::unique_ptr<OpenFile> first = CreateFile("/d/a");
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(fs_->Chmod("/d", 0700), 0);  // changes the directory itself after the create
  struct stat st {};
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/d", nullptr, &st), 0); }), 1u);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  std::unique_ptr<OpenFile> second = CreateFile("/d/b");
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(fs_->Unlink("/d/a"), 0);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/d", nullptr, &st), 0); }), 1u);

  std::unique_ptr<OpenFile> third = CreateFile("/d/c");
  ASSERT_NE(third, nullptr);
  std::this_thread::sleep_for(NfsFs::kPostOpAttrsMaxAge + 100ms);
  EXPECT_EQ(RequestsOf([&] { EXPECT_EQ(fs_->GetAttr("/d", nullptr, &st), 0); }), 1u);
}

}  // namespace
}  // namespace nfsprov::fusefs
