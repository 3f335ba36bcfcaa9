// ProbeMount: is a mounted filesystem answering, without ever blocking the caller on it.
//
// A stat() on a hard NFS mount whose server is gone blocks (killably, but forever), and so does
// one on a FUSE mount whose daemon hangs. ProbeMount runs stat() + statvfs() (statvfs always
// goes to the server or daemon; stat may be answered from the attribute cache) on a detached
// thread and waits at most `timeout` for it. At most one probe thread per path (the string as
// given; Unmount passes the mountinfo target) is in flight:
// callers that arrive while one runs wait for that one's result instead of starting another, so
// a hung mount costs one blocked thread, not one per call. A healthy result carries the statvfs
// figures, so a caller that wants usage need not touch the mount again.
#pragma once

#include <sys/statvfs.h>

#include <chrono>
#include <string>
#include <string_view>

namespace nfsprov::mount {

enum class MountState {
  kHealthy,
  kStale,         // ESTALE: the server no longer knows the exported directory
  kDisconnected,  // ENOTCONN or ECONNABORTED: the FUSE daemon is gone
  kUnresponsive,  // no answer within the timeout (dead server, hung daemon)
  kError,         // any other errno (see sys_errno and message)
};

std::string_view MountStateName(MountState state);

struct MountHealth {
  MountState state = MountState::kHealthy;
  int sys_errno = 0;    // the errno behind kStale, kDisconnected and kError
  std::string message;  // "stat /path: Stale file handle"; empty when healthy
  struct statvfs fs {};  // what statvfs returned, when healthy: usage without a second call
};

MountHealth ProbeMount(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace nfsprov::mount
