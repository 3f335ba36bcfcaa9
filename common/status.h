// Status and Result<T>: errors as values at every module edge.
//
// A Status is OK or carries a code (what kind of failure, mapped once to a gRPC code at the
// CSI boundary), the POSIX errno when the failure came from NFS or the OS (0 otherwise), and a
// message a person can act on (it names the path or parameter involved). No exceptions cross
// module edges.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nfsprov {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong; retrying will not help
  kNotFound,           // the named object does not exist
  kAlreadyExists,      // the named object exists and conflicts
  kPermissionDenied,   // the server or a policy refused
  kFailedPrecondition, // the object is in the wrong state for this call (e.g. not empty)
  kResourceExhausted,  // out of space, quota, inodes or capacity
  kUnavailable,        // the NFS server cannot be reached now; a retry may succeed
  kDeadlineExceeded,   // the call ran out of time
  kAborted,            // a concurrent operation got in the way; retry
  kUnimplemented,      // not supported by this build or this server
  kInternal,           // a bug or an unexpected reply
  kOutOfRange,         // a requested size or range cannot be satisfied (CSI capacity_range)
};

std::string_view StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  // Maps a positive POSIX errno to a code and keeps the errno.
  static Status FromErrno(int sys_errno, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  int sys_errno() const { return sys_errno_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND: stat /vols/a: No such file or directory" (or "OK").
  std::string ToString() const;
  // The same status with "context: " put in front of the message.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  int sys_errno_ = 0;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }

// OK for NOT_FOUND (removing what is already gone), `status` otherwise.
inline Status IgnoreNotFound(Status status) {
  return status.code() == StatusCode::kNotFound ? Status() : status;
}

// A value or the Status that explains why there is none. Never holds an OK status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nfsprov

// Returns early from the enclosing function with the status of `expr` when it is an error.
#define NFSPROV_RETURN_IF_ERROR(expr)              \
  do {                                             \
    ::nfsprov::Status nfsprov_status_ = (expr);    \
    if (!nfsprov_status_.ok()) return nfsprov_status_; \
  } while (0)
