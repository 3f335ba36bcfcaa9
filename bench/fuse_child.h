// FuseChild: `nfsprov fuse-mount` as a child process of a benchmark, mounted when constructed
// (or the benchmark dies), stopped with SIGTERM and unmounted when destroyed.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace nfsprov::bench {

class FuseChild {
 public:
  // `extra`: more fuse-mount flags (e.g. quota enforcement).
  FuseChild(const std::string& binary, const std::string& url, const std::string& target,
            const std::vector<std::string>& extra = {});
  ~FuseChild();
  FuseChild(const FuseChild&) = delete;
  FuseChild& operator=(const FuseChild&) = delete;

 private:
  std::string target_;
  pid_t pid_ = -1;
};

}  // namespace nfsprov::bench
