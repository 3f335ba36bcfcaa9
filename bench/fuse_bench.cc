// nfsprov_fuse_bench: the FUSE mount (`nfsprov fuse-mount`) against raw libnfs on the same
// nfs-ganesha, in the same run, on loopback.
//
// Prints one JSON line per measurement, like nfsprov_bench: {"name","unit","value","baseline",
// "baseline_value","ratio"} with ratio = fuse / raw (> 1: the mount is faster).
//  - seq_write_1GiB: raw = one libnfs connection, nfs_pwrite_async in the largest pieces libnfs
//    4.0 can encode (nfs4::kMaxWriteBytes), 256 in flight, then fsync; fuse = write(2) of 1 MiB
//    buffers to a file on the mount, then fsync.
//  - seq_read_1GiB: raw = nfs_pread_async of readmax pieces, 8 in flight; fuse = read(2) of 1 MiB
//    buffers through a mount started after the writes (its page cache is empty; direct_io is off,
//    so the kernel's readahead is part of what is measured). Both read the file raw libnfs wrote,
//    which the server has in its own cache for both.
//  - small_file_creates: 2,000 files of 4 KiB, one at a time: raw = open(O_CREAT) + pwrite +
//    close through libnfs; fuse = open/write/close(2) on the mount (close commits the data).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench/fuse_child.h"
#include "bench/bench_server.h"
#include "bench/report.h"
#include "nfs/client.h"
#include "nfs/libnfs_call.h"
#include "nfs/nfs4_compound.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov {
namespace {

using Seconds = std::chrono::duration<double>;
using bench::Die;
using bench::Must;
using nfs::EventLoop;
using nfs::internal::CallSync;
using nfs::internal::ErrorText;
using nfs::internal::Issue;
using nfs::internal::Unit;

constexpr uint64_t kBigFile = uint64_t{1} << 30;
constexpr uint64_t kMiB = 1 << 20;
constexpr int kSmallFiles = 2000;
constexpr std::size_t kSmallFileBytes = 4096;

// ratio = fuse / raw: both are rates, higher is better.
void EmitVsRaw(const std::string& name, const std::string& unit, double fuse, double raw) {
  bench::EmitVs(name, unit, fuse, "raw_libnfs", raw, fuse / raw);
}

// Opens (creating if asked) `path` on `loop` through libnfs.
nfsfh* OpenRaw(EventLoop& loop, const std::string& path, int flags) {
  return Must(CallSync<nfsfh*>(loop, nfs::Clock::now() + std::chrono::seconds(30), "open " + path,
      [path, flags](nfs_context* ctx, std::shared_ptr<nfsfh*> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_open2_async(ctx, path.c_str(), flags, 0644, cb, priv); },
              [out, done](int err, void* data) {
                if (err == 0) *out = static_cast<nfsfh*>(data);
                done(err < 0 ? err : 0, err < 0 ? ErrorText(err, data) : "");
              });
      }, EventLoop::Lane::kOpenState));
}

// One libnfs call on an open file, waited for.
template <typename Submit>
void RawCall(EventLoop& loop, const std::string& what, Submit submit, EventLoop::Lane lane = EventLoop::Lane::kParallel) {
  Must(CallSync<Unit>(loop, nfs::Clock::now() + std::chrono::seconds(60), what,
      [submit](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return submit(ctx, cb, priv); },
              [done](int err, void* data) { done(err < 0 ? err : 0, err < 0 ? ErrorText(err, data) : ""); });
      }, lane));
}

// Streams `total` bytes through `piece`-byte requests with `window` in flight on one loop.
struct Stream {
  using Submit = std::function<int(nfs_context*, uint64_t at, uint64_t n, nfs_cb, void*)>;
  nfs_context* ctx = nullptr;
  uint64_t total = 0, piece = 0;
  int window = 0;
  Submit submit;
  uint64_t next = 0;
  int in_flight = 0;
  int err = 0;
  std::string message;
  EventLoop::Done done;

  static void Pump(const std::shared_ptr<Stream>& s) {
    while (s->err == 0 && s->in_flight < s->window && s->next < s->total) {
      uint64_t at = s->next, n = std::min(s->piece, s->total - at);
      s->next += n;
      ++s->in_flight;
      Issue(s->ctx, [&](nfs_cb cb, void* priv) { return s->submit(s->ctx, at, n, cb, priv); },
            [s](int e, void* data) {
              --s->in_flight;
              if (e < 0 && s->err == 0) {
                s->err = e;
                s->message = ErrorText(e, data);
              }
              Pump(s);
            });
    }
    if (s->in_flight == 0 && s->done) std::exchange(s->done, nullptr)(s->err, s->message);
  }

  static void Run(EventLoop& loop, uint64_t total, uint64_t piece, int window, Submit submit) {
    Must(CallSync<Unit>(loop, nfs::Clock::now() + std::chrono::seconds(600), "stream",
        [=](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
          auto s = std::make_shared<Stream>();
          s->ctx = ctx;
          s->total = total;
          s->piece = piece;
          s->window = window;
          s->submit = submit;
          s->done = std::move(done);
          Pump(s);
        }));
  }
};

double RawWrite(EventLoop& loop, const std::string& path, const std::string& buffer) {
  nfsfh* fh = OpenRaw(loop, path, O_CREAT | O_TRUNC | O_WRONLY);
  auto start = nfs::Clock::now();
  Stream::Run(loop, kBigFile, nfs::nfs4::kMaxWriteBytes, 256,
         [fh, &buffer](nfs_context* ctx, uint64_t at, uint64_t n, nfs_cb cb, void* priv) {
           return nfs_pwrite_async(ctx, fh, at, n, buffer.data() + at % kMiB, cb, priv);
         });
  RawCall(loop, "fsync", [fh](nfs_context* ctx, nfs_cb cb, void* priv) { return nfs_fsync_async(ctx, fh, cb, priv); });
  double s = Seconds(nfs::Clock::now() - start).count();
  RawCall(loop, "close", [fh](nfs_context* ctx, nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
          EventLoop::Lane::kOpenState);
  return s;
}

double RawRead(EventLoop& loop, const std::string& path) {
  nfsfh* fh = OpenRaw(loop, path, O_RDONLY);
  auto start = nfs::Clock::now();
  Stream::Run(loop, kBigFile, kMiB, 8, [fh](nfs_context* ctx, uint64_t at, uint64_t n, nfs_cb cb, void* priv) {
    return nfs_pread_async(ctx, fh, at, n, cb, priv);
  });
  double s = Seconds(nfs::Clock::now() - start).count();
  RawCall(loop, "close", [fh](nfs_context* ctx, nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
          EventLoop::Lane::kOpenState);
  return s;
}

double RawCreates(EventLoop& loop, const std::string& dir, const std::string& data) {
  auto start = nfs::Clock::now();
  for (int i = 0; i < kSmallFiles; ++i) {
    nfsfh* fh = OpenRaw(loop, dir + "/f" + std::to_string(i), O_CREAT | O_EXCL | O_WRONLY);
    Stream::Run(loop, data.size(), nfs::nfs4::kMaxWriteBytes, 4,
           [fh, &data](nfs_context* ctx, uint64_t at, uint64_t n, nfs_cb cb, void* priv) {
             return nfs_pwrite_async(ctx, fh, at, n, data.data() + at, cb, priv);
           });
    RawCall(loop, "close", [fh](nfs_context* ctx, nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
            EventLoop::Lane::kOpenState);
  }
  return Seconds(nfs::Clock::now() - start).count();
}

double FuseWrite(const std::string& path, const std::string& buffer) {
  auto start = nfs::Clock::now();
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) Die("open " + path);
  for (uint64_t at = 0; at < kBigFile; at += kMiB)
    if (write(fd, buffer.data(), kMiB) != static_cast<ssize_t>(kMiB)) Die("write " + path);
  if (fsync(fd) != 0 || close(fd) != 0) Die("fsync/close " + path);
  return Seconds(nfs::Clock::now() - start).count();
}

double FuseRead(const std::string& path) {
  std::string buffer(kMiB, '\0');
  auto start = nfs::Clock::now();
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) Die("open " + path);
  uint64_t total = 0;
  for (ssize_t n; (n = read(fd, buffer.data(), kMiB)) > 0;) total += static_cast<uint64_t>(n);
  close(fd);
  if (total != kBigFile) Die("short read of " + path);
  return Seconds(nfs::Clock::now() - start).count();
}

double FuseCreates(const std::string& dir, const std::string& data) {
  auto start = nfs::Clock::now();
  for (int i = 0; i < kSmallFiles; ++i) {
    std::string path = dir + "/f" + std::to_string(i);
    int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0 || write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) || close(fd) != 0)
      Die("create " + path);
  }
  return Seconds(nfs::Clock::now() - start).count();
}

int Main() {
  spdlog::set_level(spdlog::level::warn);
  auto server = bench::StartBenchServer();
  auto client = Must(nfs::Client::Connect(server->Url(), nfs::ClientOptions{.connections = 1}));
  EventLoop& loop = client->NextLoop();
  char tmpl[] = "/tmp/nfsprov-fuse-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  const std::string target = tmpl;
  std::string buffer(kMiB, '\0');
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>(i * 7 + 3);
  const double mib = static_cast<double>(kBigFile) / kMiB;

  double raw_write = RawWrite(loop, "/raw.bin", buffer);
  double fuse_write;
  {
    bench::FuseChild m(NFSPROV_BINARY, server->Url(), target);
    fuse_write = FuseWrite(target + "/fuse.bin", buffer);
  }
  EmitVsRaw("fuse.seq_write_1GiB", "MB/s", mib / fuse_write, mib / raw_write);

  double raw_read = RawRead(loop, "/raw.bin");
  double fuse_read;
  {
    bench::FuseChild m(NFSPROV_BINARY, server->Url(), target);  // fresh mount: nothing of raw.bin in its page cache
    fuse_read = FuseRead(target + "/raw.bin");
  }
  EmitVsRaw("fuse.seq_read_1GiB", "MB/s", mib / fuse_read, mib / raw_read);

  std::string small(kSmallFileBytes, 's');
  for (const char* dir : {"/raw_small", "/fuse_small"})
    bench::Must(client->Mkdir(dir, 0755));
  double raw_creates = RawCreates(loop, "/raw_small", small);
  double fuse_creates;
  {
    bench::FuseChild m(NFSPROV_BINARY, server->Url(), target);
    fuse_creates = FuseCreates(target + "/fuse_small", small);
  }
  EmitVsRaw("fuse.small_file_creates_4KiB", "files/s", kSmallFiles / fuse_creates, kSmallFiles / raw_creates);
  rmdir(target.c_str());
  return 0;
}

}  // namespace
}  // namespace nfsprov

int main() { return nfsprov::Main(); }
