#include "common/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <ctime>
#include <iterator>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

namespace nfsprov {

namespace {

using Json = nlohmann::ordered_json;  // keeps time, level, msg first, as people read them

enum class Format { kText, kJson };

// OpLog needs the format to decide between a key=value message (text) and structured fields
// (json). Text until ConfigureLogging says otherwise, matching spdlog's built-in logger.
std::atomic<Format> g_format{Format::kText};

// The structured fields of the record being logged on this thread. OpLog sets it around one
// spdlog call; JsonFormatter reads it. That works because the logger is synchronous: the sink
// formats the record on the calling thread before spdlog::log returns.
thread_local const Json* t_fields = nullptr;

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    case spdlog::level::off: return "off";
    case spdlog::level::n_levels: break;
  }
  return "unknown";
}

// RFC 3339, UTC, milliseconds: 2024-05-01T10:00:00.123Z.
void AppendTime(std::chrono::system_clock::time_point time, spdlog::memory_buf_t& dest) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(dest), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis);
}

std::string ToJsonText(const Json& value) {
  // replace, not throw: a path or server reply with invalid UTF-8 must still be logged.
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    AppendTime(msg.time, dest);
    dest.push_back(' ');
    const std::string_view level = LevelName(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.push_back(' ');
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t time;
    AppendTime(msg.time, time);
    Json record;
    record["time"] = std::string(time.data(), time.size());
    record["level"] = LevelName(msg.level);
    record["msg"] = std::string(msg.payload.data(), msg.payload.size());
    if (t_fields != nullptr) {
      for (const auto& [key, value] : t_fields->items()) record[key] = value;
    }
    const std::string line = ToJsonText(record);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// A logfmt value: bare when that is unambiguous, otherwise a JSON-quoted string, so a value with
// spaces, quotes or newlines stays on its line and cannot imitate another key.
std::string LogfmtValue(std::string_view value) {
  bool bare = !value.empty();
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u >= 0x7f || c == '"' || c == '=' || c == '\\') {
      bare = false;
      break;
    }
  }
  return bare ? std::string(value) : ToJsonText(Json(std::string(value)));
}

}  // namespace

Status ConfigureLogging(std::string_view format, std::string_view level) {
  Format parsed_format;
  if (format == "text") {
    parsed_format = Format::kText;
  } else if (format == "json") {
    parsed_format = Format::kJson;
  } else {
    return InvalidArgument("log format \"" + std::string(format) +
                           "\" is not supported; use one of: text, json");
  }

  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 5> kLevels{{
      {"trace", spdlog::level::trace},
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
  }};
  const auto* found = std::find_if(kLevels.begin(), kLevels.end(),
                                   [&](const auto& entry) { return entry.first == level; });
  if (found == kLevels.end()) {
    return InvalidArgument("log level \"" + std::string(level) +
                           "\" is not supported; use one of: trace, debug, info, warn, error");
  }

  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (parsed_format == Format::kJson) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_formatter(std::make_unique<TextFormatter>());
  }
  auto logger = std::make_shared<spdlog::logger>("nfsprov", std::move(sink));
  logger->set_level(found->second);
  g_format.store(parsed_format);
  spdlog::set_default_logger(std::move(logger));
  return {};
}

OpLog::OpLog(std::string method, std::string volume_id)
    : method_(std::move(method)),
      volume_id_(std::move(volume_id)),
      start_(std::chrono::steady_clock::now()) {}

std::chrono::steady_clock::duration OpLog::Done(const Status& status) {
  const auto elapsed = std::chrono::steady_clock::now() - start_;
  const auto duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  const auto level = status.ok() ? spdlog::level::info : spdlog::level::warn;
  const std::string_view result = StatusCodeName(status.code());

  if (g_format.load() == Format::kJson) {
    const Json fields{{"method", method_},
                      {"volume_id", volume_id_},
                      {"duration_ms", duration_ms},
                      {"result", result}};
    t_fields = &fields;
    spdlog::log(level, "{}", status.message());  // spdlog reports its own failures, never throws
    t_fields = nullptr;
    return elapsed;
  }
  spdlog::log(level, "method={} volume_id={} duration_ms={} result={} msg={}",
              LogfmtValue(method_), LogfmtValue(volume_id_), duration_ms, result,
              LogfmtValue(status.message()));
  return elapsed;
}

}  // namespace nfsprov
