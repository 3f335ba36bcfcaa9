#include "bench/fuse_child.h"

#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "bench/report.h"

extern "C" char** environ;

namespace nfsprov::bench {
namespace {

bool Mounted(const std::string& target) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.find(" " + target + " ") != std::string::npos) return true;
  return false;
}

}  // namespace

FuseChild::FuseChild(const std::string& binary, const std::string& url, const std::string& target,
                     const std::vector<std::string>& extra)
    : target_(target) {
  std::vector<std::string> args = {binary, "fuse-mount", "--url", url, "--target", target, "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) Die("spawn " + binary);
  for (int i = 0; i < 500 && !Mounted(target); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!Mounted(target)) Die("fuse mount did not come up at " + target);
}

FuseChild::~FuseChild() {
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  if (Mounted(target_)) umount2(target_.c_str(), MNT_DETACH);
}

}  // namespace nfsprov::bench
