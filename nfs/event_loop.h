// EventLoop: one libnfs context, owned and driven by one thread.
//
// libnfs contexts are not thread-safe, so each EventLoop runs a thread that is the only one ever
// to touch its context: it polls the socket, dispatches libnfs callbacks and runs closures posted
// from other threads. Work is expressed as *calls*: an attempt function that starts asynchronous
// work on the current context and reports once through `done`.
//
// Reconnect: libnfs's own auto-reconnect gives up for good when the server restarts, so it is off.
// When an attempt fails with a transport error (connection reset or refused, RPC timeout,
// cancelled by a context teardown), the loop throws the context away at the top of its next turn,
// mounts again with exponential backoff (100 ms .. 2 s), and runs every affected call again from
// scratch on the new context. A call is retried until its deadline or kMaxAttempts; an attempt must
// therefore be safe to run again (callers use idempotent NFS operations, or treat EEXIST/ENOENT
// after a retry accordingly). A call still in flight at its deadline finishes with ETIMEDOUT.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "nfs/url.h"

struct nfs_context;
struct rpc_context;

namespace nfsprov::nfs {

using Clock = std::chrono::steady_clock;

struct LoopOptions {
  std::chrono::seconds rpc_timeout{10};           // per RPC, enforced by libnfs
  std::chrono::milliseconds connect_timeout{10000};  // how long Connect waits for the first mount
};

class EventLoop {
 public:
  // err is 0 or a negative errno; message says what failed (empty on success).
  using Done = std::function<void(int err, std::string message)>;
  using Attempt = std::function<void(nfs_context* ctx, Done done)>;

  static constexpr int kMaxAttempts = 8;

  // Starts the thread and mounts `url`. Fails with UNAVAILABLE naming the server when the first
  // mount does not succeed within options.connect_timeout.
  static Result<std::unique_ptr<EventLoop>> Connect(const NfsUrl& url, LoopOptions options);
  // Stops the thread; calls still pending finish with ECANCELED before it returns.
  ~EventLoop();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Thread-safe: runs fn on the loop thread soon, in posting order.
  void Post(std::function<void()> fn);
  bool InLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  // Attempts started on this connection so far (one NFS request each, except composite file
  // reads and writes): for benchmarks and metrics. Thread-safe.
  uint64_t attempts_started() const { return attempts_started_.load(std::memory_order_relaxed); }
  const NfsUrl& url() const { return url_; }

  // Loop thread only. Runs `attempt` (again after reconnects) until it succeeds, fails with a
  // non-transport error, or `deadline` passes; then calls `finish` exactly once.
  //
  // kOpenState calls (they OPEN and CLOSE files through libnfs) run one at a time per loop:
  // libnfs 4.0 uses one NFSv4 open-owner per connection, whose sequence ids break when two
  // OPEN/CLOSE requests are in flight at once (the server answers NFS4ERR_BAD_SEQID).
  enum class Lane { kParallel, kOpenState };
  void Run(Attempt attempt, Clock::time_point deadline, Done finish, Lane lane = Lane::kParallel);

  // Loop thread only: the rpc context of the live libnfs context, for raw NFSv4 COMPOUNDs from
  // inside an attempt (the attempt receives the nfs_context; this maps it).
  static rpc_context* RpcOf(nfs_context* ctx);

  // True for errors that mean "the connection failed", not "the server said no".
  static bool IsTransportError(int err);

  // False once `ctx` has failed (any transport error) and while it is destroyed. libnfs fails
  // all outstanding requests of a broken connection in one sweep and asserts its queue is empty
  // afterwards, so callbacks must not queue follow-up requests (a close, an unlink) on it; the
  // call is retried on the next connection instead. Loop thread only.
  static bool Accepts(nfs_context* ctx);
  static void MarkBroken(nfs_context* ctx);

 private:
  struct Call;
  enum class State { kConnecting, kConnected, kBroken };

  EventLoop(NfsUrl url, LoopOptions options);
  void ThreadMain();
  void RunPosted();
  void Start(const std::shared_ptr<Call>& call);
  void Admit(const std::shared_ptr<Call>& call);  // start now, or queue for a connection
  void StartNextOpenStateCall();
  void OnAttemptDone(const std::shared_ptr<Call>& call, uint64_t generation, int err,
                     std::string message);
  void Finish(const std::shared_ptr<Call>& call, int err, std::string message);
  void BeginConnect();
  void OnConnected(int err, std::string message);
  void TearDownContext();
  void ExpireDeadlines(Clock::time_point now);
  std::string UnreachableMessage() const;

  const NfsUrl url_;
  const LoopOptions options_;
  std::string client_name_;  // NFSv4 client id string, unique per loop

  // Loop-thread state.
  nfs_context* ctx_ = nullptr;
  State state_ = State::kConnecting;
  bool teardown_pending_ = false;
  uint64_t generation_ = 0;  // bumped on every successful mount
  std::chrono::milliseconds backoff_{100};
  Clock::time_point next_deadline_check_{};
  Clock::time_point next_connect_{};
  std::string last_connect_error_;
  std::list<std::shared_ptr<Call>> in_flight_;
  std::list<std::shared_ptr<Call>> waiting_;  // for a (re)connect
  std::list<std::shared_ptr<Call>> open_state_queue_;  // kOpenState calls behind the running one
  std::shared_ptr<Call> open_state_running_;
  std::function<void(Status)> on_first_connect_;

  // Cross-thread state.
  std::atomic<uint64_t> attempts_started_{0};
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  bool stop_ = false;
  int wake_fd_ = -1;  // eventfd: Post() wakes poll()
  std::thread thread_;
};

}  // namespace nfsprov::nfs
