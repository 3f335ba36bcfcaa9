#include "mount/probe.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/thread_name.h"

namespace nfsprov::mount {
namespace {

struct Probe {
  bool done = false;
  MountHealth result;
  std::condition_variable cv;
};

// Heap-allocated and never destroyed: a probe thread stuck on a dead mount may outlive main().
struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Probe>> in_flight;
};
Registry& GetRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

MountHealth FromErrno(int err, const char* call, const std::string& path) {
  MountHealth h;
  h.sys_errno = err;
  h.message = std::string(call) + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ESTALE:
      h.state = MountState::kStale;
      break;
    case ENOTCONN:      // a FUSE connection whose daemon is gone
    case ECONNABORTED:  // a FUSE request in flight when it went
      h.state = MountState::kDisconnected;
      break;
    default:
      h.state = MountState::kError;
      break;
  }
  return h;
}

MountHealth StatBoth(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return FromErrno(errno, "stat", path);
  MountHealth healthy;
  if (statvfs(path.c_str(), &healthy.fs) != 0) return FromErrno(errno, "statvfs", path);
  return healthy;
}

void RunProbe(std::string path, std::shared_ptr<Probe> probe) {
  NameThisThread("mount-probe");
  MountHealth result = StatBoth(path);
  Registry& registry = GetRegistry();
  std::lock_guard lock(registry.mu);
  probe->result = std::move(result);
  probe->done = true;
  auto it = registry.in_flight.find(path);
  if (it != registry.in_flight.end() && it->second == probe) registry.in_flight.erase(it);
  probe->cv.notify_all();
}

}  // namespace

std::string_view MountStateName(MountState state) {
  switch (state) {
    case MountState::kHealthy:
      return "healthy";
    case MountState::kStale:
      return "stale";
    case MountState::kDisconnected:
      return "disconnected";
    case MountState::kUnresponsive:
      return "unresponsive";
    case MountState::kError:
      return "error";
  }
  return "unknown";
}

MountHealth ProbeMount(const std::string& path, std::chrono::milliseconds timeout) {
  Registry& registry = GetRegistry();
  std::unique_lock lock(registry.mu);
  std::shared_ptr<Probe>& slot = registry.in_flight[path];
  if (!slot) {
    auto probe = std::make_shared<Probe>();
    try {
      std::thread(RunProbe, path, probe).detach();
    } catch (const std::system_error& e) {
      registry.in_flight.erase(path);
      return {MountState::kError, e.code().value(),
              "start probe thread for " + path + ": " + e.what(), {}};
    }
    slot = probe;
  }
  std::shared_ptr<Probe> probe = slot;  // the slot may be erased while we wait
  if (!probe->cv.wait_for(lock, timeout, [&] { return probe->done; })) {
    return {MountState::kUnresponsive, 0,
            "stat " + path + " did not return within " + std::to_string(timeout.count()) + " ms", {}};
  }
  return probe->result;
}

}  // namespace nfsprov::mount
