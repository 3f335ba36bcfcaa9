// ConfigureLogging and OpLog, checked on what actually reaches file descriptor 2.
#include "common/logging.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace nfsprov {
namespace {

// Redirects fd 2 into a temporary file for the lifetime of the object.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char name[] = "/tmp/nfsprov-logging-test-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    saved_ = ::dup(2);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    Restore();
    ::unlink(path_.c_str());
  }

  // Restores stderr and returns everything written to it meanwhile, split into lines.
  std::vector<std::string> Lines() {
    Restore();
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

const std::regex kTimeRe(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

nlohmann::json ParseLine(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
  return j;
}

class LoggingTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(ConfigureLogging("text", "info").ok()); }
};

TEST_F(LoggingTest, JsonLinesCarryTimeLevelAndMessage) {
  ASSERT_TRUE(ConfigureLogging("json", "info").ok());
  StderrCapture capture;
  spdlog::info("controller started on {}", "node-1");
  spdlog::warn("share is slow");
  spdlog::debug("below the level, not written");
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);

  const nlohmann::json first = ParseLine(lines[0]);
  ASSERT_TRUE(first.is_object());
  EXPECT_EQ(first.value("msg", ""), "controller started on node-1");
  EXPECT_EQ(first.value("level", ""), "info");
  EXPECT_TRUE(std::regex_match(first.value("time", ""), kTimeRe)) << lines[0];
  // time, level, msg come first, in that order.
  EXPECT_EQ(lines[0].rfind("{\"time\":", 0), 0u) << lines[0];

  const nlohmann::json second = ParseLine(lines[1]);
  EXPECT_EQ(second.value("level", ""), "warn");
  EXPECT_EQ(second.value("msg", ""), "share is slow");
}

TEST_F(LoggingTest, JsonTimeIsUtcNow) {
  ASSERT_TRUE(ConfigureLogging("json", "info").ok());
  StderrCapture capture;
  // The clock spdlog reads: time() is the coarse clock, which lags it by up to a tick, so a log
  // line written just after a second boundary could look later than a time() taken after it.
  const std::time_t before = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  spdlog::info("tick");
  const std::time_t after = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string time = ParseLine(lines[0]).value("time", "");
  std::tm tm{};
  ASSERT_NE(::strptime(time.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << time;
  const std::time_t logged = ::timegm(&tm);  // read as UTC: a local time would be off by hours
  EXPECT_GE(logged, before) << time;
  EXPECT_LE(logged, after) << time;
}

TEST_F(LoggingTest, JsonEscapesQuotesNewlinesAndBadUtf8) {
  ASSERT_TRUE(ConfigureLogging("json", "trace").ok());
  const std::string tricky = "say \"hi\"\n{\"level\":\"error\"}\ttab\\ end";
  StderrCapture capture;
  spdlog::trace("{}", tricky);
  spdlog::info("{}", std::string("bad byte \xff here"));
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u) << "a newline in a message must not start a new line";
  EXPECT_EQ(ParseLine(lines[0]).value("msg", ""), tricky);
  EXPECT_EQ(ParseLine(lines[0]).value("level", ""), "trace");
  EXPECT_EQ(ParseLine(lines[1]).value("msg", ""), "bad byte \xEF\xBF\xBD here");
}

TEST_F(LoggingTest, JsonOpLogFields) {
  ASSERT_TRUE(ConfigureLogging("json", "info").ok());
  StderrCapture capture;
  OpLog ok("CreateVolume", "pvc-1");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ok.Done(Status());
  OpLog failed("DeleteVolume", "pvc-\"2\"");
  failed.Done(NotFound("no volume \"pvc-2\"\nat /vols"));
  spdlog::info("plain line after OpLog");
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 3u);

  const nlohmann::json a = ParseLine(lines[0]);
  EXPECT_EQ(a.value("level", ""), "info");
  EXPECT_EQ(a.value("method", ""), "CreateVolume");
  EXPECT_EQ(a.value("volume_id", ""), "pvc-1");
  EXPECT_EQ(a.value("result", ""), "OK");
  EXPECT_EQ(a.value("msg", "absent"), "");
  ASSERT_TRUE(a.contains("duration_ms") && a["duration_ms"].is_number_integer()) << lines[0];
  EXPECT_GE(a["duration_ms"].get<int>(), 20);
  EXPECT_TRUE(std::regex_match(a.value("time", ""), kTimeRe)) << lines[0];

  const nlohmann::json b = ParseLine(lines[1]);
  EXPECT_EQ(b.value("level", ""), "warn");
  EXPECT_EQ(b.value("method", ""), "DeleteVolume");
  EXPECT_EQ(b.value("volume_id", ""), "pvc-\"2\"");
  EXPECT_EQ(b.value("result", ""), "NOT_FOUND");
  EXPECT_EQ(b.value("msg", ""), "no volume \"pvc-2\"\nat /vols");

  // The fields belong to the OpLog record only.
  const nlohmann::json c = ParseLine(lines[2]);
  EXPECT_FALSE(c.contains("method")) << lines[2];
  EXPECT_FALSE(c.contains("result")) << lines[2];
}

TEST_F(LoggingTest, TextFormatAndOpLogLine) {
  ASSERT_TRUE(ConfigureLogging("text", "info").ok());
  StderrCapture capture;
  spdlog::info("hello");
  OpLog("CreateVolume", "pvc-1").Done(Status());
  OpLog("NodePublishVolume", "pvc 2").Done(Unavailable("server \"nfs\" down\nretry"));
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 3u);
  const std::string time = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";
  EXPECT_TRUE(std::regex_match(lines[0], std::regex(time + " info hello"))) << lines[0];
  const std::regex ok_line(time + R"( info method=CreateVolume volume_id=pvc-1)"
                                  R"( duration_ms=\d+ result=OK msg="")");
  EXPECT_TRUE(std::regex_match(lines[1], ok_line)) << lines[1];
  const std::regex error_line(time + R"( warn method=NodePublishVolume volume_id="pvc 2")"
                                     R"( duration_ms=\d+ result=UNAVAILABLE)"
                                     R"( msg="server \\"nfs\\" down\\nretry")");
  EXPECT_TRUE(std::regex_match(lines[2], error_line)) << lines[2];
}

TEST_F(LoggingTest, LevelFiltersOpLogSuccessButNotFailure) {
  ASSERT_TRUE(ConfigureLogging("json", "warn").ok());
  StderrCapture capture;
  spdlog::info("hidden");
  OpLog("CreateVolume", "pvc-1").Done(Status());
  OpLog("CreateVolume", "pvc-2").Done(Internal("boom"));
  spdlog::error("shown");
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(ParseLine(lines[0]).value("volume_id", ""), "pvc-2");
  EXPECT_EQ(ParseLine(lines[1]).value("level", ""), "error");
}

TEST_F(LoggingTest, RejectsUnknownFormatAndLevelNamingTheAllowedOnes) {
  const Status format = ConfigureLogging("xml", "info");
  EXPECT_EQ(format.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(format.message().find("\"xml\""), std::string::npos) << format.ToString();
  EXPECT_NE(format.message().find("text, json"), std::string::npos) << format.ToString();

  const Status level = ConfigureLogging("json", "verbose");
  EXPECT_EQ(level.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(level.message().find("\"verbose\""), std::string::npos) << level.ToString();
  EXPECT_NE(level.message().find("trace, debug, info, warn, error"), std::string::npos)
      << level.ToString();

  EXPECT_EQ(ConfigureLogging("JSON", "info").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfigureLogging("json", "warning").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfigureLogging("", "info").code(), StatusCode::kInvalidArgument);
}

TEST_F(LoggingTest, RejectedCallKeepsThePreviousConfiguration) {
  ASSERT_TRUE(ConfigureLogging("json", "error").ok());
  ASSERT_FALSE(ConfigureLogging("text", "loud").ok());
  StderrCapture capture;
  spdlog::warn("below error, not written");
  spdlog::error("still json");
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(ParseLine(lines[0]).value("msg", ""), "still json");
}

}  // namespace
}  // namespace nfsprov
