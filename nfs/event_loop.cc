#include "nfs/event_loop.h"

#include "common/thread_name.h"
#include "nfs/libnfs_call.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <future>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <spdlog/spdlog.h>

namespace nfsprov::nfs {
namespace {

constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);
constexpr auto kPollInterval = std::chrono::milliseconds(100);  // libnfs timeouts need service()
// How often the loop looks for calls past their deadline: every call pending is visited, and
// the loop turns once per reply when busy, while deadlines are seconds long.
constexpr auto kDeadlineCheckInterval = std::chrono::milliseconds(10);

// The context of this thread's loop that failed and awaits replacement (see Accepts). One loop
// per thread, so one pointer; cleared when a new context is made (it may reuse the address).
thread_local nfs_context* tls_broken_context = nullptr;

void DestroyContext(nfs_context* ctx) {
  tls_broken_context = ctx;
  nfs_destroy_context(ctx);
}

void MountTrampoline(int err, nfs_context* ctx, void* data, void* private_data) {
  std::unique_ptr<EventLoop::Done> done(static_cast<EventLoop::Done*>(private_data));
  std::string message;
  if (err != 0) message = data != nullptr ? static_cast<const char*>(data) : internal::LibnfsError(ctx);
  (*done)(err, std::move(message));
}

}  // namespace

struct EventLoop::Call {
  Attempt attempt;
  Done finish;
  Clock::time_point deadline;
  int attempts = 0;
  bool finished = false;
  std::list<std::shared_ptr<Call>>::iterator where;  // in in_flight_ while running
  bool running = false;
  Lane lane = Lane::kParallel;
};

EventLoop::EventLoop(NfsUrl url, LoopOptions options)
    : url_(std::move(url)), options_(options) {
  static std::atomic<uint64_t> next_id{0};
  char host[64] = "host";
  gethostname(host, sizeof(host) - 1);
  client_name_ = "nfsprov-" + std::string(host) + "-" + std::to_string(getpid()) + "-" +
                 std::to_string(next_id.fetch_add(1)) + "-" +
                 std::to_string(Clock::now().time_since_epoch().count());
}

Result<std::unique_ptr<EventLoop>> EventLoop::Connect(const NfsUrl& url, LoopOptions options) {
  std::unique_ptr<EventLoop> loop(new EventLoop(url, options));
  loop->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wake_fd_ < 0) return Status::FromErrno(errno, "eventfd for the NFS event loop");

  auto connected = std::make_shared<std::promise<Status>>();
  std::future<Status> first = connected->get_future();
  loop->on_first_connect_ = [connected](Status s) { connected->set_value(std::move(s)); };
  loop->thread_ = std::thread([l = loop.get()] { l->ThreadMain(); });
  loop->Post([l = loop.get()] { l->BeginConnect(); });

  if (first.wait_for(options.connect_timeout) != std::future_status::ready) {
    return Unavailable("NFS server " + url.Display() + " did not answer within " +
                       std::to_string(options.connect_timeout.count()) + " ms");
  }
  Status s = first.get();
  if (!s.ok()) return s;
  return loop;
}

EventLoop::~EventLoop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  uint64_t one = 1;
  if (wake_fd_ >= 0 && write(wake_fd_, &one, sizeof(one)) < 0) {
    // The loop also wakes every kPollInterval, so a failed wake-up only delays shutdown.
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // eventfd only fails when its counter would overflow: the loop is awake anyway.
  }
}

rpc_context* EventLoop::RpcOf(nfs_context* ctx) { return nfs_get_rpc_context(ctx); }

bool EventLoop::Accepts(nfs_context* ctx) { return ctx != tls_broken_context; }

void EventLoop::MarkBroken(nfs_context* ctx) { tls_broken_context = ctx; }

bool EventLoop::IsTransportError(int err) {
  switch (-err) {
    case EFAULT:      // libnfs: "RPC error" / failed to (re)connect
    case EINTR:       // libnfs: request cancelled by a context teardown
    case ETIMEDOUT:   // libnfs: RPC timeout
    case ENOTCONN: case ECONNRESET: case ECONNREFUSED: case EPIPE: case ESHUTDOWN:
      return true;
    default:
      return false;
  }
}

void EventLoop::ThreadMain() {
  NameThisThread("nfs-loop");
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    RunPosted();
    if (teardown_pending_) TearDownContext();
    Clock::time_point now = Clock::now();
    if (state_ == State::kBroken && now >= next_connect_) BeginConnect();

    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, 0, 0}};
    nfs_context* polled = ctx_;
    if (polled != nullptr) {
      fds[1].fd = nfs_get_fd(polled);
      fds[1].events = static_cast<short>(nfs_which_events(polled));
    }
    int rc = poll(fds, polled != nullptr && fds[1].fd >= 0 ? 2 : 1,
                  static_cast<int>(kPollInterval.count()));
    if (rc > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t drained;
      if (read(wake_fd_, &drained, sizeof(drained)) < 0) {
        // EAGAIN: already drained.
      }
    }
    if (polled != nullptr && polled == ctx_ && !teardown_pending_) {
      int revents = (rc > 0 && fds[1].fd >= 0) ? fds[1].revents : 0;
      if (nfs_service(polled, revents) < 0) {
        MarkBroken(polled);
        last_connect_error_ = "connection lost (" + internal::LibnfsError(polled) + ")";
        spdlog::warn("nfs: connection to {} failed: {}", url_.Display(), last_connect_error_);
        teardown_pending_ = true;
        state_ = State::kBroken;
      }
    }
    if (Clock::time_point after = Clock::now(); after >= next_deadline_check_) {
      ExpireDeadlines(after);
      next_deadline_check_ = after + kDeadlineCheckInterval;
    }
  }

  // Shutdown: fail everything still pending, then drop the context.
  RunPosted();
  for (auto* pending : {&open_state_queue_, &waiting_}) {
    for (auto& call : std::vector<std::shared_ptr<Call>>(pending->begin(), pending->end()))
      Finish(call, -ECANCELED, "NFS client for " + url_.Display() + " is shutting down");
  }
  for (auto& call : std::vector<std::shared_ptr<Call>>(in_flight_.begin(), in_flight_.end()))
    Finish(call, -ECANCELED, "NFS client for " + url_.Display() + " is shutting down");
  if (ctx_ != nullptr) {
    nfs_context* ctx = ctx_;
    ctx_ = nullptr;
    DestroyContext(ctx);  // late callbacks find their calls finished and are ignored
  }
  if (on_first_connect_) on_first_connect_(Unavailable("NFS client shut down while connecting"));
}

void EventLoop::RunPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::Run(Attempt attempt, Clock::time_point deadline, Done finish, Lane lane) {
  auto call = std::make_shared<Call>();
  call->attempt = std::move(attempt);
  call->finish = std::move(finish);
  call->deadline = deadline;
  call->lane = lane;
  if (lane == Lane::kOpenState) {
    open_state_queue_.push_back(call);
    if (!open_state_running_) StartNextOpenStateCall();
    return;
  }
  Admit(call);
}

void EventLoop::Admit(const std::shared_ptr<Call>& call) {
  if (state_ == State::kConnected && !teardown_pending_) {
    Start(call);
  } else {
    waiting_.push_back(call);
  }
}

void EventLoop::StartNextOpenStateCall() {
  while (!open_state_queue_.empty()) {
    std::shared_ptr<Call> next = open_state_queue_.front();
    open_state_queue_.pop_front();
    if (next->finished) continue;  // expired while queued
    open_state_running_ = next;
    Admit(next);
    return;
  }
}

void EventLoop::Start(const std::shared_ptr<Call>& call) {
  ++call->attempts;
  attempts_started_.fetch_add(1, std::memory_order_relaxed);
  call->running = true;
  call->where = in_flight_.insert(in_flight_.end(), call);
  uint64_t generation = generation_;
  call->attempt(ctx_, [this, call, generation](int err, std::string message) {
    OnAttemptDone(call, generation, err, std::move(message));
  });
}

void EventLoop::OnAttemptDone(const std::shared_ptr<Call>& call, uint64_t generation, int err,
                              std::string message) {
  if (call->finished) return;  // it already timed out; this is the late answer
  if (call->running) {
    in_flight_.erase(call->where);
    call->running = false;
  }
  if (err == 0 || !IsTransportError(err)) {
    Finish(call, err, std::move(message));
    return;
  }
  if (call->attempts >= kMaxAttempts || Clock::now() >= call->deadline) {
    Finish(call, -EHOSTDOWN, "NFS server " + url_.Display() + " unreachable: " + message);
    return;
  }
  if (generation == generation_ && state_ == State::kConnected) {
    spdlog::warn("nfs: transport error on {} ({}); reconnecting", url_.Display(), message);
    last_connect_error_ = message;
    teardown_pending_ = true;
    state_ = State::kBroken;
    next_connect_ = Clock::now();
  }
  waiting_.push_back(call);
}

void EventLoop::Finish(const std::shared_ptr<Call>& call, int err, std::string message) {
  if (call->finished) return;
  call->finished = true;
  if (call->running) {
    in_flight_.erase(call->where);
    call->running = false;
  }
  Done finish = std::move(call->finish);
  call->attempt = nullptr;
  if (call == open_state_running_) {
    open_state_running_ = nullptr;
    StartNextOpenStateCall();
  }
  finish(err, std::move(message));
}

void EventLoop::TearDownContext() {
  teardown_pending_ = false;
  if (ctx_ == nullptr) return;
  nfs_context* ctx = ctx_;
  ctx_ = nullptr;
  // Destroying the context cancels its outstanding requests: their callbacks run now and, being
  // transport errors, move the calls to waiting_ for the next connection.
  DestroyContext(ctx);
}

void EventLoop::BeginConnect() {
  if (ctx_ != nullptr) TearDownContext();
  state_ = State::kConnecting;
  ctx_ = nfs_init_context();
  tls_broken_context = nullptr;
  if (ctx_ == nullptr) {
    OnConnected(-ENOMEM, "cannot allocate a libnfs context");
    return;
  }
  nfs_set_autoreconnect(ctx_, 0);
  nfs_set_timeout(ctx_, static_cast<int>(options_.rpc_timeout.count() * 1000));
  nfs_umask(ctx_, 0);  // modes the driver asks for are exact
  // NFSv4 state is per client name: two connections sharing a name make the server treat each
  // connect as a reboot of the other and drop its open state. One name per loop; a new verifier
  // per connect (the old state died with the old connection).
  nfs4_set_client_name(ctx_, client_name_.c_str());
  char verifier[9];
  std::snprintf(verifier, sizeof(verifier), "%08x", static_cast<unsigned>(generation_ + 1));
  nfs4_set_verifier(ctx_, verifier);
  nfs_url* parsed = nfs_parse_url_dir(ctx_, url_.ToLibnfsUrl().c_str());
  if (parsed == nullptr) {
    OnConnected(-EINVAL, "libnfs rejected the URL: " + internal::LibnfsError(ctx_));
    return;
  }
  nfs_destroy_url(parsed);  // it set version and ports; host and path come from our own parse
  // (libnfs keeps IPv6 brackets and drops one-character host names).
  auto* done = new Done([this](int err, std::string message) {
    Post([this, err, message = std::move(message)]() mutable { OnConnected(err, std::move(message)); });
  });
  if (nfs_mount_async(ctx_, url_.host.c_str(), url_.export_path.c_str(), MountTrampoline, done) != 0) {
    std::string message = internal::LibnfsError(ctx_);
    delete done;
    OnConnected(-ECONNREFUSED, std::move(message));
  }
}

void EventLoop::OnConnected(int err, std::string message) {
  if (err == 0) {
    state_ = State::kConnected;
    ++generation_;
    backoff_ = std::chrono::milliseconds(100);
    if (generation_ > 1) spdlog::info("nfs: reconnected to {}", url_.Display());
    if (on_first_connect_) std::exchange(on_first_connect_, nullptr)(Status());
    std::list<std::shared_ptr<Call>> ready;
    ready.swap(waiting_);
    for (auto& call : ready) {
      if (!call->finished) Start(call);
    }
    return;
  }
  last_connect_error_ = message;
  state_ = State::kBroken;
  teardown_pending_ = true;
  next_connect_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  if (on_first_connect_) {
    std::string what = "cannot mount " + url_.Display() + ": " + message;
    std::exchange(on_first_connect_, nullptr)(IsTransportError(err)
                                                  ? Unavailable(std::move(what))
                                                  : Status::FromErrno(-err, std::move(what)));
    // The caller gives up on this loop; stop retrying in the background.
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
}

void EventLoop::ExpireDeadlines(Clock::time_point now) {
  std::vector<std::shared_ptr<Call>> expired;
  for (auto& call : open_state_queue_)
    if (now >= call->deadline) expired.push_back(call);
  for (auto& call : expired) {
    open_state_queue_.remove(call);
    Finish(call, -ETIMEDOUT, "NFS call to " + url_.Display() + " timed out waiting for its turn");
  }
  expired.clear();
  for (auto& call : waiting_)
    if (now >= call->deadline) expired.push_back(call);
  for (auto& call : expired) {
    waiting_.remove(call);
    Finish(call, -EHOSTDOWN, UnreachableMessage());
  }
  expired.clear();
  for (auto& call : in_flight_)
    if (now >= call->deadline) expired.push_back(call);
  for (auto& call : expired) {
    Finish(call, -ETIMEDOUT, "NFS call to " + url_.Display() + " timed out");
  }
}

std::string EventLoop::UnreachableMessage() const {
  return "NFS server " + url_.Display() + " unreachable" +
         (last_connect_error_.empty() ? std::string() : ": " + last_connect_error_);
}

}  // namespace nfsprov::nfs
