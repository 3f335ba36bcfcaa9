// Process-wide logging set-up and the one-line-per-operation convention.
//
// ConfigureLogging installs an spdlog default logger that writes to stderr (collected by the
// container runtime; stdout stays free), in one of two formats:
//   text  2024-05-01T10:00:00.123Z info message
//   json  {"time":"2024-05-01T10:00:00.123Z","level":"info","msg":"message"}
// json is one object per line with every string escaped (invalid UTF-8 becomes U+FFFD), so a
// message holding quotes or newlines can neither break a line nor forge another. Times are UTC
// with milliseconds. Levels print as trace/debug/info/warn/error/critical. Until it is called,
// spdlog's built-in default logger is used.
//
// OpLog is created when a CSI operation starts; Done() writes the operation's single summary
// line, at info when it succeeded and at warn when it failed:
//   text  ... info method=CreateVolume volume_id=pvc-1 duration_ms=12 result=OK msg=""
//   json  {...,"level":"warn","msg":"<status message>","method":"DeleteVolume",
//          "volume_id":"pvc-1","duration_ms":12,"result":"NOT_FOUND"}
// Callers pass identifiers only (CSI volume id or name), never parameters, secrets or mount
// options, which is what keeps secrets out of the log.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace nfsprov {

// format: "text" or "json"; level: "trace", "debug", "info", "warn" or "error". Anything else is
// INVALID_ARGUMENT naming the allowed values, and leaves the current logger untouched. Meant to
// be called once at start-up, before other threads log.
Status ConfigureLogging(std::string_view format, std::string_view level);

class OpLog {
 public:
  OpLog(std::string method, std::string volume_id);
  OpLog(const OpLog&) = delete;
  OpLog& operator=(const OpLog&) = delete;

  // Logs the summary line with the time elapsed since construction, and returns that time.
  std::chrono::steady_clock::duration Done(const Status& status);

 private:
  std::string method_;
  std::string volume_id_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace nfsprov
