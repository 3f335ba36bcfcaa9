#include "bench/raw_nfs.h"

#include <chrono>
#include <future>

#include "nfs/libnfs_call.h"

namespace nfsprov::bench {
namespace {

using Seconds = std::chrono::duration<double>;

// Loop-thread state of one RunPipelined: counters, per-request start times and latencies.
struct Pipeline {
  Pipeline(nfs::EventLoop& l, int count, const MakeCompound& m)
      : loop(l), n(count), make(m), started(static_cast<std::size_t>(count)) {
    run.latencies_s.resize(static_cast<std::size_t>(count));
  }

  // Issues request `next`; its reply issues the one after, keeping the window full.
  void IssueNext() {
    const int i = next++;
    const auto index = static_cast<std::size_t>(i);
    auto compound = make(i);
    started[index] = std::chrono::steady_clock::now();
    loop.Run(
        [compound](nfs_context* ctx, nfs::EventLoop::Done done) {
          compound->Send(ctx, [done](int err, std::string message, const COMPOUND4res*) {
            done(err, std::move(message));
          });
        },
        nfs::Clock::now() + std::chrono::seconds(60),
        [this, index](int err, std::string message) {
          run.latencies_s[index] = Seconds(std::chrono::steady_clock::now() - started[index]).count();
          if (err != 0 && first_error.empty()) first_error = message;
          if (err != 0) ++failed;
          if (++replied == n) {
            // The waiter may destroy *this as soon as the value is set: keep the promise alive.
            std::shared_ptr<std::promise<void>> keep = finished;
            return keep->set_value();
          }
          if (next < n) IssueNext();
        });
  }

  nfs::EventLoop& loop;
  const int n;
  const MakeCompound& make;
  std::vector<std::chrono::steady_clock::time_point> started;
  int next = 0, replied = 0, failed = 0;
  std::string first_error;
  PipelineRun run;
  std::shared_ptr<std::promise<void>> finished = std::make_shared<std::promise<void>>();
};

}  // namespace

Result<nfs::nfs4::FileHandle> HandleOf(nfs::Client& client, const std::string& path) {
  auto c = std::make_shared<nfs::nfs4::Compound>("lookup " + path);
  c->PutPath(client.url().export_path, path).GetFh();
  const std::size_t index = c->size() - 1;
  return nfs::internal::CallSync<nfs::nfs4::FileHandle>(
      client.NextLoop(), client.Deadline(), "lookup " + path,
      [c, index](nfs_context* ctx, std::shared_ptr<nfs::nfs4::FileHandle> out,
                 nfs::EventLoop::Done done) {
        c->Send(ctx, [out, done, index](int err, std::string message, const COMPOUND4res* res) {
          if (err == 0) *out = nfs::nfs4::FileHandleAt(*res, index);
          done(err, std::move(message));
        });
      });
}

MakeCompound MkdirUnder(const nfs::nfs4::FileHandle& parent) {
  return [parent](int i) {
    auto c = std::make_shared<nfs::nfs4::Compound>("mkdir");
    c->PutFh(parent).CreateDir("d" + std::to_string(i), {});
    return c;
  };
}

Result<PipelineRun> RunPipelined(nfs::EventLoop& loop, int n, int window, const MakeCompound& make) {
  if (n <= 0 || window <= 0) return InvalidArgument("RunPipelined needs n > 0 and window > 0");
  Pipeline pipeline(loop, n, make);
  std::future<void> finished = pipeline.finished->get_future();
  const auto start = std::chrono::steady_clock::now();
  loop.Post([&pipeline, window] {
    for (int k = 0; k < window && k < pipeline.n; ++k) pipeline.IssueNext();
  });
  finished.get();
  pipeline.run.seconds = Seconds(std::chrono::steady_clock::now() - start).count();
  if (pipeline.failed > 0)
    return Internal(std::to_string(pipeline.failed) + " of " + std::to_string(n) +
                    " raw requests failed; first: " + pipeline.first_error);
  return std::move(pipeline.run);
}

}  // namespace nfsprov::bench
