#include "common/crash_point.h"

#include <csignal>
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

namespace nfsprov {

void CrashPoint(std::string_view name) {
  static const std::string armed = [] {
    const char* value = std::getenv("NFSPROV_CRASH_AT");
    return std::string(value == nullptr ? "" : value);
  }();
  if (armed.empty() || armed != name) return;
  spdlog::warn("NFSPROV_CRASH_AT={}: killing this process", armed);
  spdlog::default_logger()->flush();
  std::raise(SIGKILL);
}

}  // namespace nfsprov
