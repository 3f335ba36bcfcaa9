// Self-test of the GaneshaServer fixture: a real nfs-ganesha spoken to with libnfs.
#include "tests/support/ganesha_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>  // libnfs.h uses struct timeval without including it
#include <unistd.h>

#include <nfsc/libnfs.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace nfsprov::testing {
namespace {

namespace fs = std::filesystem;

// One libnfs context mounted on a URL; ok() says whether the mount worked.
class NfsMount {
 public:
  explicit NfsMount(const std::string& url) : ctx_(nfs_init_context()) {
    nfs_set_timeout(ctx_, 2000);
    nfs_url* parsed = nfs_parse_url_dir(ctx_, url.c_str());
    if (parsed == nullptr) {
      rc_ = -EINVAL;
    } else {
      rc_ = nfs_mount(ctx_, parsed->server, parsed->path);
      nfs_destroy_url(parsed);
    }
    if (rc_ != 0) error_ = LastError();
  }
  ~NfsMount() { nfs_destroy_context(ctx_); }
  NfsMount(const NfsMount&) = delete;
  NfsMount& operator=(const NfsMount&) = delete;

  bool ok() const { return rc_ == 0; }
  const std::string& error() const { return error_; }

  int Mkdir(const std::string& path) { return nfs_mkdir(ctx_, path.c_str()); }

  // 0 or -errno.
  int WriteFile(const std::string& path, const std::string& content) {
    nfsfh* fh = nullptr;
    // nfs_creat opens NFSv4 files read-only in libnfs 4.0, so writes fail with NFS4ERR_OPENMODE.
    if (int rc = nfs_open2(ctx_, path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644, &fh); rc != 0) {
      return rc;
    }
    int written = nfs_write(ctx_, fh, content.size(), content.data());
    int closed = nfs_close(ctx_, fh);
    if (written < 0) return written;
    return static_cast<size_t>(written) == content.size() ? closed : -EIO;
  }

  std::string ReadFile(const std::string& path) {
    nfsfh* fh = nullptr;
    if (nfs_open(ctx_, path.c_str(), O_RDONLY, &fh) != 0) {
      return "<open failed: " + LastError() + ">";
    }
    std::string content(4096, '\0');
    int got = nfs_read(ctx_, fh, content.size(), content.data());
    nfs_close(ctx_, fh);
    if (got < 0) return "<read failed: " + LastError() + ">";
    content.resize(static_cast<size_t>(got));
    return content;
  }

 private:
  std::string LastError() const {
    const char* error = nfs_get_error(ctx_);
    return error != nullptr ? error : "";
  }

  nfs_context* ctx_;
  int rc_ = 0;
  std::string error_;
};

std::string LocalFile(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) return "<" + error.message() + ">";
  std::ifstream in(path, std::ios::binary);
  std::string content(size, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  return content;
}

std::unique_ptr<GaneshaServer> StartOrDie(GaneshaOptions options = {}) {
  auto server = GaneshaServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

TEST(GaneshaServerTest, ServesNfsV4BackedByExportDir) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_GT(server->pid(), 0);
  EXPECT_EQ(server->Url(),
            "nfs://127.0.0.1/export?version=4&nfsport=" + std::to_string(server->port()));

  NfsMount nfs(server->Url());
  ASSERT_TRUE(nfs.ok()) << nfs.error();
  ASSERT_EQ(nfs.Mkdir("/dir"), 0);
  ASSERT_EQ(nfs.WriteFile("/dir/file", "hello"), 0);

  EXPECT_TRUE(fs::is_directory(fs::path(server->export_dir()) / "dir"));
  EXPECT_EQ(LocalFile(fs::path(server->export_dir()) / "dir" / "file"), "hello");
}

// The benchmarks put the export on tmpfs (bench/bench_server.h): the server must serve from there
// and remove everything it made under the parent, and nothing else.
TEST(GaneshaServerTest, ServesAnExportUnderTheParentDirItIsGiven) {
  const fs::path parent = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const fs::path neighbour = parent / ("nfsprov-neighbour-" + std::to_string(::getpid()));
  fs::create_directory(neighbour);
  fs::path root;
  {
    GaneshaOptions options;
    options.parent_dir = parent.string();
    auto server = StartOrDie(options);
    ASSERT_NE(server, nullptr);
    root = fs::path(server->export_dir()).parent_path();
    EXPECT_EQ(root.parent_path(), parent);
    NfsMount nfs(server->Url());
    ASSERT_TRUE(nfs.ok()) << nfs.error();
    ASSERT_EQ(nfs.WriteFile("/file", "on the given parent"), 0);
    EXPECT_EQ(LocalFile(fs::path(server->export_dir()) / "file"), "on the given parent");
  }
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::is_directory(neighbour));
  fs::remove(neighbour);
}

TEST(GaneshaServerTest, KeepsNfsV4StateInItsOwnDirectory) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  NfsMount nfs(server->Url());
  ASSERT_TRUE(nfs.ok()) << nfs.error();
  fs::path root = fs::path(server->export_dir()).parent_path();
  EXPECT_TRUE(fs::is_directory(root / "recovery" / "v4recov"));
}

TEST(GaneshaServerTest, TwoServersRunSideBySide) {
  auto a = StartOrDie();
  auto b = StartOrDie();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->port(), b->port());
  EXPECT_NE(a->export_dir(), b->export_dir());

  NfsMount nfs_a(a->Url());
  NfsMount nfs_b(b->Url());
  ASSERT_TRUE(nfs_a.ok()) << nfs_a.error();
  ASSERT_TRUE(nfs_b.ok()) << nfs_b.error();
  ASSERT_EQ(nfs_a.WriteFile("/only-a", "a"), 0);
  ASSERT_EQ(nfs_b.WriteFile("/only-b", "b"), 0);

  EXPECT_TRUE(fs::exists(fs::path(a->export_dir()) / "only-a"));
  EXPECT_FALSE(fs::exists(fs::path(a->export_dir()) / "only-b"));
  EXPECT_TRUE(fs::exists(fs::path(b->export_dir()) / "only-b"));
  EXPECT_FALSE(fs::exists(fs::path(b->export_dir()) / "only-a"));
}

TEST(GaneshaServerTest, StopRefusesMountsAndRestartServesTheSameData) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // Stays connected across the restart: the server must rebind its port despite the old
  // connection (TIME_WAIT on the server side).
  NfsMount old_client(server->Url());
  ASSERT_TRUE(old_client.ok()) << old_client.error();
  ASSERT_EQ(old_client.WriteFile("/kept", "survives restarts"), 0);

  ASSERT_TRUE(server->Stop().ok());
  EXPECT_EQ(server->pid(), -1);
  EXPECT_FALSE(NfsMount(server->Url()).ok());

  Status restarted = server->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  EXPECT_EQ(server->port(), port);
  NfsMount nfs(server->Url());
  ASSERT_TRUE(nfs.ok()) << nfs.error();
  EXPECT_EQ(nfs.ReadFile("/kept"), "survives restarts");
}

TEST(GaneshaServerTest, RestartWhileRunningReplacesTheProcess) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  const int old_pid = server->pid();
  Status restarted = server->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  EXPECT_NE(server->pid(), old_pid);
  EXPECT_TRUE(NfsMount(server->Url()).ok());
}

TEST(GaneshaServerTest, PauseMakesServerUnreachableUntilResume) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Pause().ok());
  EXPECT_FALSE(NfsMount(server->Url()).ok());
  Status resumed = server->Resume();
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  EXPECT_TRUE(NfsMount(server->Url()).ok());
}

TEST(GaneshaServerTest, RootSquashedExportRefusesRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "root squashing only shows for a root client";
  auto server = StartOrDie({.root_squash_export = true});
  ASSERT_NE(server, nullptr);
  ASSERT_FALSE(server->squashed_dir().empty());
  EXPECT_TRUE(fs::is_directory(server->squashed_dir()));
  EXPECT_EQ(server->SquashedUrl(),
            "nfs://127.0.0.1/squashed?version=4&nfsport=" + std::to_string(server->port()));

  NfsMount squashed(server->SquashedUrl());
  ASSERT_TRUE(squashed.ok()) << squashed.error();
  EXPECT_EQ(squashed.Mkdir("/denied"), -EACCES);
  EXPECT_FALSE(fs::exists(fs::path(server->squashed_dir()) / "denied"));

  NfsMount plain(server->Url());
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_EQ(plain.Mkdir("/allowed"), 0);
}

TEST(GaneshaServerTest, NoSquashedExportUnlessRequested) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->squashed_dir().empty());
  EXPECT_FALSE(server->V3Available());
  EXPECT_TRUE(server->UrlV3().empty());
}

TEST(GaneshaServerTest, ServesNfsV3WhenRpcbindRuns) {
  auto server = StartOrDie({.enable_v3 = true});
  ASSERT_NE(server, nullptr);
  if (!server->V3Available()) GTEST_SKIP() << "rpcbind is not available";
  EXPECT_EQ(server->UrlV3().rfind("nfs://127.0.0.1" + server->export_dir() + "?version=3&", 0), 0u)
      << server->UrlV3();

  NfsMount v3(server->UrlV3());
  ASSERT_TRUE(v3.ok()) << v3.error();
  ASSERT_EQ(v3.Mkdir("/by-v3"), 0);
  EXPECT_TRUE(fs::is_directory(fs::path(server->export_dir()) / "by-v3"));

  NfsMount v4(server->Url());
  ASSERT_TRUE(v4.ok()) << v4.error();
  EXPECT_EQ(v4.Mkdir("/by-v4"), 0);
}

// Both register NFSv3 with the one rpcbind; explicit ports in the URL keep clients independent
// of whichever registration rpcbind holds.
TEST(GaneshaServerTest, TwoNfsV3ServersRunSideBySide) {
  auto a = StartOrDie({.enable_v3 = true});
  auto b = StartOrDie({.enable_v3 = true});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  if (!a->V3Available() || !b->V3Available()) GTEST_SKIP() << "rpcbind is not available";

  NfsMount nfs_a(a->UrlV3());
  NfsMount nfs_b(b->UrlV3());
  ASSERT_TRUE(nfs_a.ok()) << nfs_a.error();
  ASSERT_TRUE(nfs_b.ok()) << nfs_b.error();
  EXPECT_EQ(nfs_a.Mkdir("/a"), 0);
  EXPECT_EQ(nfs_b.Mkdir("/b"), 0);
  EXPECT_TRUE(fs::is_directory(fs::path(a->export_dir()) / "a"));
  EXPECT_TRUE(fs::is_directory(fs::path(b->export_dir()) / "b"));

  // Stopping one unregisters NFSv3 from rpcbind; the other keeps serving on its ports.
  ASSERT_TRUE(a->Stop().ok());
  EXPECT_TRUE(NfsMount(b->UrlV3()).ok());
}

TEST(GaneshaServerTest, DestructorStopsServerAndRemovesItsDirectory) {
  auto server = StartOrDie({.root_squash_export = true});
  ASSERT_NE(server, nullptr);
  const pid_t pid = server->pid();
  const fs::path root = fs::path(server->export_dir()).parent_path();
  ASSERT_TRUE(fs::is_directory(root));
  ASSERT_EQ(::kill(pid, 0), 0);

  server.reset();

  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(fs::exists(root));
}

}  // namespace
}  // namespace nfsprov::testing
