#include "tests/support/log_capture.h"

#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

namespace nfsprov::testing {

LogCapture::LogCapture() : previous_(spdlog::default_logger()) {
  auto logger = std::make_shared<spdlog::logger>("capture", sink_);
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
}

LogCapture::~LogCapture() { spdlog::set_default_logger(previous_); }

int LogCapture::Count(std::initializer_list<std::string_view> parts) const {
  int n = 0;
  for (const std::string& line : sink_->last_formatted()) {
    n += std::all_of(parts.begin(), parts.end(),
                     [&](std::string_view p) { return line.find(p) != std::string::npos; });
  }
  return n;
}

}  // namespace nfsprov::testing
