// nfs::Client against a real nfs-ganesha: every operation, its errors, reconnects.
#include "nfs/client.h"
#include "nfs/tree.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/ganesha_server.h"

namespace nfsprov::nfs {
namespace {

using testing::GaneshaServer;

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    Status assert_ok_status_ = (expr);                   \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ClientOptions options;
    options.call_timeout = std::chrono::milliseconds(3000);
    options.rpc_timeout = std::chrono::seconds(2);
    auto client = Client::Connect(server_->Url(), options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
  }

  std::string Local(const std::string& path) const { return server_->export_dir() + path; }

  std::unique_ptr<GaneshaServer> server_;
  std::unique_ptr<Client> client_;
};

// Each connection's event loop is a thread named for what it does, whatever thread connected it.
TEST_F(ClientTest, EventLoopThreadsAreNamed) {
  int loops = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    loops += name == "nfs-loop" ? 1 : 0;
  }
  EXPECT_GE(loops, 1);
}

TEST_F(ClientTest, MkdirStatAndModes) {
  ASSERT_OK(client_->Mkdir("/a", 0750));
  ASSERT_OK(client_->Mkdir("/a/b", 02770));
  struct stat st;
  ASSERT_EQ(stat(Local("/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02770u);  // exact, not masked by a umask
  auto attr = client_->Stat("/a");
  ASSERT_TRUE(attr.ok()) << attr.status().ToString();
  EXPECT_EQ(attr->type, FileType::kDirectory);
  EXPECT_EQ(attr->mode, 0750u);

  Status again = client_->Mkdir("/a", 0750);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.sys_errno(), EEXIST);
  EXPECT_NE(again.message().find("mkdir /a"), std::string::npos) << again.message();
}

TEST_F(ClientTest, StatMissingIsNotFoundNamingThePath) {
  auto attr = client_->Stat("/nope/deeper");
  ASSERT_FALSE(attr.ok());
  EXPECT_EQ(attr.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(attr.status().sys_errno(), ENOENT);
  EXPECT_NE(attr.status().message().find("/nope/deeper"), std::string::npos);
}

TEST_F(ClientTest, RejectsUnsafePathsWithoutTouchingTheServer) {
  for (const char* bad : {"a", "/a/../b", "/a//b", "/a/", "", "/./a"}) {
    EXPECT_EQ(client_->Mkdir(bad, 0755).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(client_->Stat(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(client_->Rename("/x", "/../y").code(), StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, ChmodChownRmdirUnlinkRename) {
  ASSERT_OK(client_->Mkdir("/d", 0700));
  ASSERT_OK(client_->WriteFileAtomic("/d/f", "data", 0600));
  ASSERT_OK(client_->Chmod("/d/f", 0640));
  ASSERT_OK(client_->Chown("/d/f", 1234, 5678));
  struct stat st;
  ASSERT_EQ(stat(Local("/d/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);

  Status not_empty = client_->Rmdir("/d");
  EXPECT_EQ(not_empty.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(not_empty.sys_errno(), ENOTEMPTY);

  ASSERT_OK(client_->Rename("/d/f", "/d/g"));
  EXPECT_NE(access(Local("/d/g").c_str(), F_OK), -1);
  EXPECT_EQ(client_->Unlink("/d/f").code(), StatusCode::kNotFound);
  ASSERT_OK(client_->Unlink("/d/g"));
  ASSERT_OK(client_->Rmdir("/d"));
  EXPECT_EQ(access(Local("/d").c_str(), F_OK), -1);
}

TEST_F(ClientTest, ReadDirReturnsEntriesWithAttributes) {
  ASSERT_OK(client_->Mkdir("/r", 0755));
  ASSERT_OK(client_->Mkdir("/r/sub", 0711));
  ASSERT_OK(client_->WriteFileAtomic("/r/file", std::string(1000, 'z'), 0644));
  ASSERT_OK(client_->Symlink("../elsewhere", "/r/link"));
  auto entries = client_->ReadDir("/r");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  std::map<std::string, FileAttr> by_name;
  for (auto& e : *entries) by_name[e.name] = e.attr;
  ASSERT_EQ(by_name.size(), 3u);
  EXPECT_EQ(by_name["sub"].type, FileType::kDirectory);
  EXPECT_EQ(by_name["sub"].mode, 0711u);
  EXPECT_EQ(by_name["file"].type, FileType::kRegular);
  EXPECT_EQ(by_name["file"].size, 1000u);
  EXPECT_EQ(by_name["link"].type, FileType::kSymlink);
  EXPECT_EQ(client_->ReadDir("/missing").status().code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, SymlinkReadlinkAndLstatDoNotFollow) {
  ASSERT_OK(client_->Symlink("/etc/passwd", "/l"));
  auto target = client_->Readlink("/l");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "/etc/passwd");
  auto attr = client_->Lstat("/l");
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->type, FileType::kSymlink);
  EXPECT_EQ(client_->Symlink(std::string_view("a\0b", 3), "/m").code(), StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, MkdirSetsOwnerAndRefusesOversizedModes) {
  ASSERT_OK(client_->Mkdir("/owned", 02750, 1001, 2002));
  struct stat st;
  ASSERT_EQ(stat(Local("/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02750u);
  EXPECT_EQ(st.st_uid, 1001u);
  EXPECT_EQ(st.st_gid, 2002u);
  EXPECT_EQ(client_->Mkdir("/bad", 010000).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Mkdir("/", 0755).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(client_->Mkdir("/missing/child", 0755).code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, SymlinksHoldTextAndReplaceAtomically) {
  std::string json(2500, 'j');
  ASSERT_OK(client_->Symlink(json, "/rec"));
  EXPECT_EQ(client_->Symlink("other", "/rec").code(), StatusCode::kAlreadyExists) << "not exclusive";
  EXPECT_EQ(client_->Readlink("/rec").value_or(""), json);
  ASSERT_OK(client_->ReplaceSymlink("{\"v\":2}", "/rec"));
  EXPECT_EQ(client_->Readlink("/rec").value_or(""), "{\"v\":2}");
  ASSERT_OK(client_->ReplaceSymlink("fresh", "/new-rec"));  // replacing nothing creates it
  EXPECT_EQ(client_->Readlink("/new-rec").value_or(""), "fresh");
  EXPECT_EQ(client_->ReplaceSymlink(std::string(3001, 'x'), "/rec").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Readlink("/rec").value_or(""), "{\"v\":2}") << "a refused replace changed it";
  auto entries = client_->ReadDir("/");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 2u) << "a temporary link was left behind";
}

TEST_F(ClientTest, CreateInOrderMakesEverythingInOneRequest) {
  ASSERT_OK(client_->Mkdir("/meta", 0700));
  const uint64_t before = client_->RequestCount();
  ASSERT_OK(client_->CreateInOrder({NewEntry::Symlink("owner", "/meta/claim"),
                                    NewEntry::Directory("/vol", 02770, 1001, 2002),
                                    NewEntry::Symlink(std::string(500, 'r'), "/meta/record")}));
  EXPECT_EQ(client_->RequestCount() - before, 1u);
  struct stat st;
  ASSERT_EQ(stat(Local("/vol").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02770u);
  EXPECT_EQ(st.st_uid, 1001u);
  EXPECT_EQ(st.st_gid, 2002u);
  EXPECT_EQ(client_->Readlink("/meta/claim").value_or(""), "owner");
  EXPECT_EQ(client_->Readlink("/meta/record").value_or(""), std::string(500, 'r'));
}

TEST_F(ClientTest, CreateInOrderStopsAtTheFirstFailureAndNamesIt) {
  ASSERT_EQ(mkdir(Local("/taken").c_str(), 0755), 0);
  Status s = client_->CreateInOrder({NewEntry::Symlink("owner", "/claim"),
                                     NewEntry::Directory("/taken", 0755),
                                     NewEntry::Symlink("record", "/record")});
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  EXPECT_NE(s.message().find("mkdir /taken"), std::string::npos) << s.message();
  EXPECT_EQ(client_->Readlink("/claim").value_or(""), "owner") << "the entry before it exists";
  EXPECT_EQ(client_->Lstat("/record").status().code(), StatusCode::kNotFound) << "the one after was tried";

  s = client_->CreateInOrder({NewEntry::Symlink("again", "/claim"), NewEntry::Directory("/fresh", 0755)});
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("symlink /claim"), std::string::npos) << s.message();
  EXPECT_EQ(client_->Lstat("/fresh").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->Readlink("/claim").value_or(""), "owner") << "never replaced";
}

TEST_F(ClientTest, CreateInOrderRefusesWhatDoesNotFitInOneRequest) {
  const uint64_t before = client_->RequestCount();
  Status s = client_->CreateInOrder({NewEntry::Symlink(std::string(2000, 'a'), "/a"),
                                     NewEntry::Symlink(std::string(2000, 'b'), "/b")});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.code(), StatusCode::kUnavailable) << "must not look like a broken connection: " << s.ToString();
  EXPECT_NE(s.message().find("does not fit"), std::string::npos) << s.message();
  EXPECT_LE(client_->RequestCount() - before, 1u) << "retried as if the connection had failed";
  EXPECT_EQ(client_->Lstat("/a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->CreateInOrder({NewEntry::Directory("/", 0755)}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(client_->CreateInOrder({NewEntry::Directory("/ok", 0755), NewEntry::Directory("/x/../y", 0755)}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Lstat("/ok").status().code(), StatusCode::kNotFound) << "checked before anything is sent";
}

TEST_F(ClientTest, StatFsReportsTheFilesystem) {
  auto fs = client_->StatFs("/");
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  struct statvfs local;
  ASSERT_EQ(statvfs(server_->export_dir().c_str(), &local), 0);
  EXPECT_EQ(fs->total_bytes, local.f_blocks * local.f_frsize);
  EXPECT_GT(fs->free_bytes, 0u);
  EXPECT_GT(fs->total_inodes, 0u);
}

TEST_F(ClientTest, AtomicWriteReplacesContentAndLeavesNoTemporaryFiles) {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  ASSERT_OK(client_->WriteFileAtomic("/state.json", "{\"v\":1}", 0640));
  ASSERT_OK(client_->WriteFileAtomic("/state.json", big, 0640));
  auto read = client_->ReadFile("/state.json", 8 << 20);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, big);
  auto entries = client_->ReadDir("/");
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u) << entries->front().name;

  auto too_big = client_->ReadFile("/state.json", 1024);
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(client_->ReadFile("/absent").status().code(), StatusCode::kNotFound);
  Status missing_dir = client_->WriteFileAtomic("/no/such/dir/f", "x");
  EXPECT_EQ(missing_dir.code(), StatusCode::kNotFound) << missing_dir.ToString();
}

TEST_F(ClientTest, ManyThreadsShareOneClient) {
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string dir = "/t" + std::to_string(t) + "_" + std::to_string(i);
        if (!client_->Mkdir(dir, 0755).ok()) ++failures;
        // Files need NFSv4 open state: concurrent writers must not break each other's OPENs.
        if (i % 10 == 0 && !client_->WriteFileAtomic(dir + "/f", dir).ok()) ++failures;
        if (i % 10 == 0 && client_->ReadFile(dir + "/f").value_or("") != dir) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto entries = client_->ReadDir("/");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(ClientTest, RootSquashGivesPermissionDenied) {
  server_.reset();
  testing::GaneshaOptions options;
  options.root_squash_export = true;
  auto server = GaneshaServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = Client::Connect((*server)->SquashedUrl());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Status s = (*client)->Mkdir("/x", 0755);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.sys_errno(), EACCES);
  EXPECT_NE(s.message().find("/x"), std::string::npos);
}

TEST_F(ClientTest, UnreachableServerIsUnavailableAndRecovers) {
  ASSERT_OK(client_->Mkdir("/before", 0755));
  ASSERT_TRUE(server_->Pause().ok());
  auto start = std::chrono::steady_clock::now();
  Status s = client_->Mkdir("/during", 0755);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos) << s.message();
  EXPECT_LT(waited, std::chrono::seconds(10));
  ASSERT_TRUE(server_->Resume().ok());
  Status after = client_->Mkdir("/after", 0755);
  EXPECT_TRUE(after.ok()) << after.ToString();
  EXPECT_TRUE(client_->Stat("/before").ok());
}

TEST_F(ClientTest, ServerRestartIsTransparent) {
  ASSERT_OK(client_->WriteFileAtomic("/f", "one"));
  ASSERT_TRUE(server_->Restart().ok());
  auto read = client_->ReadFile("/f");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "one");
  EXPECT_TRUE(client_->WriteFileAtomic("/f", "two").ok());
}

TEST(ClientConnectTest, BadUrlAndClosedPort) {
  EXPECT_EQ(Client::Connect("http://x/y").status().code(), StatusCode::kInvalidArgument);
  ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(3000);
  auto client = Client::Connect("nfs://127.0.0.1/export?version=4&nfsport=1", options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable) << client.status().ToString();
  EXPECT_NE(client.status().message().find("127.0.0.1"), std::string::npos);
}

}  // namespace
}  // namespace nfsprov::nfs

namespace nfsprov::nfs {
namespace {

// Path-based calls over NFSv3 (needs rpcbind, which the fixture starts when it can).
TEST(ClientV3Test, PathOperationsWorkOverNfsV3) {
  testing::GaneshaOptions options;
  options.enable_v3 = true;
  auto server = testing::GaneshaServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  if (!(*server)->V3Available()) GTEST_SKIP() << "rpcbind cannot run here";
  auto client = Client::Connect((*server)->UrlV3());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Client& c = **client;
  EXPECT_EQ(c.url().version, 3);
  ASSERT_TRUE(c.Mkdir("/v3", 02750).ok());
  auto attr = c.Stat("/v3");
  ASSERT_TRUE(attr.ok()) << attr.status().ToString();
  EXPECT_EQ(attr->mode, 02750u);
  ASSERT_TRUE(c.WriteFileAtomic("/v3/f", "over v3", 0640).ok());
  EXPECT_EQ(c.ReadFile("/v3/f").value_or(""), "over v3");
  ASSERT_TRUE(c.ReplaceSymlink("record", "/v3/rec").ok());
  EXPECT_EQ(c.Readlink("/v3/rec").value_or(""), "record");
  auto entries = c.ReadDir("/v3");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 2u);
  EXPECT_EQ(c.Mkdir("/v3", 0755).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(c.CreateInOrder({NewEntry::Symlink("owner", "/v3/claim"), NewEntry::Directory("/v3/d", 0770)}).ok());
  EXPECT_EQ(c.Readlink("/v3/claim").value_or(""), "owner");
  EXPECT_EQ(c.Stat("/v3/d").value_or(FileAttr{}).mode, 0770u);
  EXPECT_EQ(RemoveTree(c, "/v3").status().code(), StatusCode::kUnimplemented)
      << "the tree engine is NFSv4-only and must say so";
}

}  // namespace
}  // namespace nfsprov::nfs
