// SysError: a Status for a failed system call whose message ends in the errno's text
// ("mkdir /a/b: Permission denied"), as every error in this module reads.
#pragma once

#include <cstring>
#include <string>

#include "common/status.h"

namespace nfsprov::mount {

inline Status SysError(int sys_errno, const std::string& what) {
  return Status::FromErrno(sys_errno, what + ": " + std::strerror(sys_errno));
}

}  // namespace nfsprov::mount
