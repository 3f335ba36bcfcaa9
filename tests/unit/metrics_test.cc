// The metrics core and its text exposition (common/metrics.h), checked with exact output and
// with the strict exposition parser the end-to-end tests use (tests/support/prometheus_text.h).
#include "common/metrics.h"

#include <cmath>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "csi/metrics_server.h"
#include "tests/support/prometheus_text.h"

namespace nfsprov::metrics {
namespace {

using ::testing::HasSubstr;
using nfsprov::testing::FindSample;
using nfsprov::testing::ParsePrometheusText;

TEST(MetricsTest, CounterFamilyRendersHelpTypeAndSortedChildren) {
  Registry registry;
  auto& calls = registry.AddCounter("x_calls_total", "Calls.", {"method", "code"});
  calls.With({"b", "OK"}).Inc(2);
  calls.With({"a", "NOT_FOUND"}).Inc();
  EXPECT_EQ(registry.Expose(),
            "# HELP x_calls_total Calls.\n"
            "# TYPE x_calls_total counter\n"
            "x_calls_total{method=\"a\",code=\"NOT_FOUND\"} 1\n"
            "x_calls_total{method=\"b\",code=\"OK\"} 2\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  const CollectorHandle handle = registry.AddCollector([] {
    return std::vector<CollectedFamily>{{"x_g", "a \\ b\nc \"q\"", {{{{"v", "back\\slash \"quoted\"\nnew"}}, 1.5}}}};
  });
  EXPECT_EQ(registry.Expose(),
            "# HELP x_g a \\\\ b\\nc \"q\"\n"
            "# TYPE x_g gauge\n"
            "x_g{v=\"back\\\\slash \\\"quoted\\\"\\nnew\"} 1.5\n");
  auto parsed = ParsePrometheusText(registry.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(FindSample(*parsed, "x_g", {{"v", "back\\slash \"quoted\"\nnew"}}), 1.5);
  EXPECT_EQ(parsed->at("x_g").help, "a \\ b\nc \"q\"");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndInInf) {
  Registry registry;
  auto& h = registry.AddHistogram("x_seconds", "Time.", {"method"}, {0.25, 1, 10});
  Histogram& child = h.With({"m"});
  for (double v : {0.125, 0.25, 0.5, 3.0, 100.0}) child.Observe(v);  // 0.25 counts in le="0.25"
  EXPECT_EQ(registry.Expose(),
            "# HELP x_seconds Time.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{method=\"m\",le=\"0.25\"} 2\n"
            "x_seconds_bucket{method=\"m\",le=\"1\"} 3\n"
            "x_seconds_bucket{method=\"m\",le=\"10\"} 4\n"
            "x_seconds_bucket{method=\"m\",le=\"+Inf\"} 5\n"
            "x_seconds_sum{method=\"m\"} 103.875\n"
            "x_seconds_count{method=\"m\"} 5\n");
  EXPECT_TRUE(ParsePrometheusText(registry.Expose()).ok());
}

TEST(MetricsTest, FamiliesSortedByNameAndCollectorsMerged) {
  Registry registry;
  registry.AddCounter("x_b_total", "B.", {}).With({}).Inc();
  CollectorHandle one = registry.AddCollector([] {
    return std::vector<CollectedFamily>{{"x_a", "A.", {{{{"k", "1"}}, 1}}}};
  });
  {
    CollectorHandle two = registry.AddCollector([] {
      return std::vector<CollectedFamily>{{"x_a", "A.", {{{{"k", "2"}}, 2}}}, {"x_c", "C.", {{{}, 3}}}};
    });
    EXPECT_EQ(registry.Expose(),
              "# HELP x_a A.\n# TYPE x_a gauge\nx_a{k=\"1\"} 1\nx_a{k=\"2\"} 2\n"
              "# HELP x_b_total B.\n# TYPE x_b_total counter\nx_b_total 1\n"
              "# HELP x_c C.\n# TYPE x_c gauge\nx_c 3\n");
  }
  // The handle is gone: so is its collector.
  EXPECT_EQ(registry.Expose(),
            "# HELP x_a A.\n# TYPE x_a gauge\nx_a{k=\"1\"} 1\n"
            "# HELP x_b_total B.\n# TYPE x_b_total counter\nx_b_total 1\n");
}

TEST(MetricsTest, AddingAnExistingNameReturnsTheSameFamily) {
  Registry registry;
  auto& first = registry.AddCounter("x_total", "X.", {"a"});
  auto& again = registry.AddCounter("x_total", "X.", {"a"});
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(&first.With({"v"}), &again.With({"v"}));
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Registry registry;
  auto& c = registry.AddCounter("x_total", "X.", {"t"});
  auto& h = registry.AddHistogram("x_seconds", "X.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.With({t % 2 == 0 ? "even" : "odd"}).Inc();
        h.With({}).Observe(0.5);
        if (i % 1000 == 0) {
          EXPECT_TRUE(ParsePrometheusText(registry.Expose()).ok());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto parsed = ParsePrometheusText(registry.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(FindSample(*parsed, "x_total", {{"t", "even"}}), 40000);
  EXPECT_EQ(FindSample(*parsed, "x_total", {{"t", "odd"}}), 40000);
  EXPECT_EQ(FindSample(*parsed, "x_seconds_count"), 80000);
  EXPECT_EQ(FindSample(*parsed, "x_seconds_sum"), 40000);
}

TEST(MetricsTest, FormatValueAndNames) {
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_TRUE(IsValidMetricName("nfsprov_grpc_requests_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName("9a"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("_a9"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
}

TEST(MetricsDeathTest, InvalidOrClashingNamesAreBugs) {
  Registry registry;
  EXPECT_DEATH(registry.AddCounter("bad-name", "X.", {}), "invalid metric name");
  EXPECT_DEATH(registry.AddCounter("x", "X.", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(registry.AddHistogram("x", "X.", {"le"}, {1}), "label named le");
  registry.AddCounter("x_total", "X.", {});
  EXPECT_DEATH(registry.AddHistogram("x_total", "X.", {}, {1}), "another type");
}

// The parser the end-to-end tests rely on must reject what Prometheus would (or what our output
// must never contain).
TEST(PrometheusTextTest, RejectsMalformedText) {
  const char* bad[] = {
      "x 1\n",                                                      // no TYPE
      "# TYPE x gauge\n# HELP x X.\nx 1",                           // no final newline
      "# TYPE x gauge\n# HELP x X.\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",  // series twice
      "# TYPE x gauge\n# HELP x X.\nx{a=\"\\t\"} 1\n",              // unknown escape
      "# TYPE x gauge\n# HELP x X.\nx{1a=\"v\"} 1\n",               // bad label name
      "# TYPE x gauge\n# HELP x X.\nx  1\n",                        // two spaces
      "# TYPE x gauge\n# HELP x X.\nx one\n",                       // bad value
      "# TYPE x gauge\n# HELP x X.\n\nx 1\n",                       // empty line
      "# TYPE x counter\n# HELP x X.\nx -1\n",                      // negative counter
      "# TYPE x gauge\n# HELP x X.\n# TYPE y gauge\n# HELP y Y.\ny 1\nx 1\n",  // interleaved
      "# TYPE h histogram\n# HELP h H.\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
      "h_sum 1\nh_count 1\n",  // not cumulative
      "# TYPE h histogram\n# HELP h H.\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
      "# TYPE h histogram\n# HELP h H.\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // != count
  };
  for (const char* text : bad) EXPECT_FALSE(ParsePrometheusText(text).ok()) << text;
  EXPECT_TRUE(ParsePrometheusText("# HELP x X.\n# TYPE x gauge\nx{a=\"\\\"\"} +Inf\n").ok());
}

TEST(MetricsServerTest, ParsesHostPort) {
  auto any = csi::ParseHostPort(":9820");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 9820);
  auto v6 = csi::ParseHostPort("[::1]:9821");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9821);
  auto local = csi::ParseHostPort("127.0.0.1:9822");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->host, "127.0.0.1");
  for (const char* bad : {"9820", ":0", ":65536", ":x", "::1:80", "[::1:80", "host:"}) {
    auto parsed = csi::ParseHostPort(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(bad));
  }
}

}  // namespace
}  // namespace nfsprov::metrics
