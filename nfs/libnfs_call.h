// Internal to nfs/: issuing one libnfs asynchronous call from inside an EventLoop attempt, and
// running a loop call from another thread (waiting for it, or not).
#pragma once

#include <cerrno>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include <nfsc/libnfs.h>

#include "common/status.h"
#include "nfs/event_loop.h"

namespace nfsprov::nfs::internal {

// Receives libnfs's (err, data): on success data is the call's result (valid only during the
// callback); on failure err is a negative errno and data the error text.
using LibnfsCallback = std::function<void(int err, void* data)>;

// libnfs's last error text for ctx; libnfs may have none (NULL).
inline std::string LibnfsError(nfs_context* ctx) {
  const char* text = ctx != nullptr ? nfs_get_error(ctx) : nullptr;
  return text != nullptr && *text != '\0' ? text : "unknown libnfs error";
}

void LibnfsTrampoline(int err, nfs_context* ctx, void* data, void* private_data);

// Runs `submit(trampoline, private_data)` (a libnfs *_async call). If libnfs refuses the request
// up front, the callback runs at once with a transport error, so the loop reconnects and retries.
template <typename Submit>
void Issue(nfs_context* ctx, Submit submit, LibnfsCallback callback) {
  if (!EventLoop::Accepts(ctx)) {
    std::string message = "connection closing";
    return callback(-EINTR, message.data());
  }
  auto* box = new LibnfsCallback(std::move(callback));
  if (submit(&LibnfsTrampoline, static_cast<void*>(box)) != 0) {
    std::unique_ptr<LibnfsCallback> owned(box);
    std::string message = LibnfsError(ctx);
    (*owned)(-EFAULT, message.data());
  }
}

// The message of a failed libnfs call: libnfs's text for transport errors (it says what broke),
// strerror otherwise (libnfs's NFS error text repeats the wrong path).
std::string ErrorText(int err, void* data);

// Counts a failed call in nfsprov_nfs_errors_total{op,code} (docs/metrics.md): op is the first
// word of `what` ("mkdir /a": mkdir), or "create" when `what` is empty (Client::CreateInOrder,
// whose messages name their own steps); code is status's code.
void CountError(std::string_view what, const Status& status);

// Runs a call on `loop` from any thread, and hands its result to `done` on the loop thread (which
// must therefore not wait for another call on that loop). `attempt(ctx, out, done)` fills *out
// before calling done(0, ""). `what` ("mkdir /a") prefixes error messages; empty when the
// attempt's messages say themselves what failed.
template <typename T, typename AttemptFn>
void CallAsync(EventLoop& loop, Clock::time_point deadline, std::string what, AttemptFn attempt,
               std::function<void(Result<T>)> done, EventLoop::Lane lane = EventLoop::Lane::kParallel) {
  auto out = std::make_shared<T>();
  loop.Post([&loop, deadline, out, lane, what = std::move(what), attempt = std::move(attempt),
             done = std::move(done)]() mutable {
    loop.Run(
        [out, attempt](nfs_context* ctx, EventLoop::Done attempt_done) {
          *out = T();  // a retried attempt starts clean
          attempt(ctx, out, std::move(attempt_done));
        },
        deadline,
        [out, done, what](int err, std::string message) {
          if (err == 0) return done(std::move(*out));
          Status failed = Status::FromErrno(-err, what.empty() ? message : what + ": " + message);
          CountError(what, failed);
          done(std::move(failed));
        },
        lane);
  });
}

// CallAsync from any thread but the loop's, waiting for the result.
template <typename T, typename AttemptFn>
Result<T> CallSync(EventLoop& loop, Clock::time_point deadline, std::string what,
                   AttemptFn attempt, EventLoop::Lane lane = EventLoop::Lane::kParallel) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  std::future<Result<T>> future = promise->get_future();
  CallAsync<T>(loop, deadline, std::move(what), std::move(attempt),
               [promise](Result<T> result) { promise->set_value(std::move(result)); }, lane);
  return future.get();
}

struct Unit {};  // the "no value" result of CallSync

inline Status ToStatus(const Result<Unit>& r) { return r.status(); }

}  // namespace nfsprov::nfs::internal
