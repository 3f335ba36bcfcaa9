#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace nfsprov {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case StatusCode::kAborted: return "ABORTED";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
  }
  return "UNKNOWN";
}

Status Status::FromErrno(int sys_errno, std::string message) {
  StatusCode code = StatusCode::kInternal;
  switch (sys_errno) {
    case 0: code = StatusCode::kInternal; break;  // an error without an errno is still an error
    case ENOENT: case ESTALE: code = StatusCode::kNotFound; break;
    case EEXIST: code = StatusCode::kAlreadyExists; break;
    case EACCES: case EPERM: case EROFS: code = StatusCode::kPermissionDenied; break;
    case EINVAL: case ENAMETOOLONG: case ELOOP: code = StatusCode::kInvalidArgument; break;
    case ENOTEMPTY: case ENOTDIR: case EISDIR: case EXDEV: case EBUSY:
      code = StatusCode::kFailedPrecondition; break;
    case ENOSPC: case EDQUOT: case EFBIG: case EMFILE: code = StatusCode::kResourceExhausted; break;
    case ETIMEDOUT: code = StatusCode::kDeadlineExceeded; break;
    case ECONNREFUSED: case ECONNRESET: case EHOSTUNREACH: case ENETUNREACH: case ENOTCONN:
    case EPIPE: case EIO: case EAGAIN: case ESHUTDOWN: case EHOSTDOWN:
      code = StatusCode::kUnavailable; break;
    case ENOTSUP: case ENOSYS: code = StatusCode::kUnimplemented; break;
    case ECANCELED: code = StatusCode::kAborted; break;
    default: code = StatusCode::kInternal; break;
  }
  return Status(code, std::move(message), sys_errno);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m), sys_errno_);
}

}  // namespace nfsprov
