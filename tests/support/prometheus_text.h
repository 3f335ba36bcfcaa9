// ParsePrometheusText: a strict reader of the Prometheus text exposition format 0.0.4, for tests
// of /metrics. Stricter than Prometheus itself where our output has no reason to differ.
//
// Checks: every line ends in "\n" and is "# HELP name text", "# TYPE name type" or a sample
// "name{label="value",...} value" (labels optional, no timestamp); metric names match
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; label values and help text use
// only the escapes \\ \" (values only) and \n; each family has one HELP and one TYPE, the TYPE
// before its samples, and its lines are contiguous; every sample belongs to a family with a TYPE
// (a histogram's as name_bucket, name_sum or name_count); no series appears twice; counters are
// not negative; per histogram series, le values increase, counts are cumulative, the last bucket
// is le="+Inf" and equals _count, and _sum is there.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace nfsprov::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string name, help, type;
  std::vector<PromSample> samples;
};

using PromText = std::map<std::string, PromFamily>;  // by family name

// INVALID_ARGUMENT naming the line and what is wrong with it.
Result<PromText> ParsePrometheusText(const std::string& text);

// The value of sample `name` (a family's, or a histogram's name_count etc.) with exactly
// `labels`; nullopt when there is none.
std::optional<double> FindSample(const PromText& text, const std::string& name,
                                 const std::map<std::string, std::string>& labels = {});

}  // namespace nfsprov::testing
