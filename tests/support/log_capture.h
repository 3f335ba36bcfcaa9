// LogCapture: what spdlog's default logger writes while it lives (pattern "%v", the last 1,000
// lines), for tests that check a message was logged, and how often.
#pragma once

#include <initializer_list>
#include <memory>
#include <string_view>

#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

namespace nfsprov::testing {

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Lines that contain every one of `parts`.
  int Count(std::initializer_list<std::string_view> parts) const;

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace nfsprov::testing
