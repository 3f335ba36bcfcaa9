#include "tests/support/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace nfsprov::testing {
namespace {

bool NameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool Digit(char c) { return c >= '0' && c <= '9'; }

// Reads a name at text[*pos] (metric names also allow ':'); "" when there is none.
std::string ReadName(const std::string& text, std::size_t* pos, bool colons) {
  const std::size_t start = *pos;
  while (*pos < text.size()) {
    const char c = text[*pos];
    const bool ok = NameStart(c) || (colons && c == ':') || (*pos > start && Digit(c));
    if (!ok) break;
    ++*pos;
  }
  return text.substr(start, *pos - start);
}

// Undoes the escapes of a help text (quotes false) or label value (true); nullopt on any other.
std::optional<std::string> Unescape(const std::string& text, bool quotes) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      if (quotes && text[i] == '"') return std::nullopt;
      out += text[i];
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    if (text[i] == '\\') out += '\\';
    else if (text[i] == 'n') out += '\n';
    else if (quotes && text[i] == '"') out += '"';
    else return std::nullopt;
  }
  return out;
}

std::optional<double> ParseValue(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  // Plain decimals only: strtod would also take leading spaces, hex, "inf" and "nan".
  if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || std::isnan(v) || std::isinf(v)) return std::nullopt;
  return v;
}

// Parses `name{labels} value` into *sample; the error says what is wrong.
Status ParseSample(const std::string& line, PromSample* sample) {
  std::size_t pos = 0;
  sample->name = ReadName(line, &pos, true);
  if (sample->name.empty()) return InvalidArgument("no metric name");
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (true) {
      const std::string label = ReadName(line, &pos, false);
      if (label.empty()) return InvalidArgument("bad label name");
      if (line.compare(pos, 2, "=\"") != 0) return InvalidArgument("label " + label + " lacks =\"");
      pos += 2;
      std::size_t end = pos;
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      if (end >= line.size()) return InvalidArgument("unterminated value of label " + label);
      std::optional<std::string> value = Unescape(line.substr(pos, end - pos), true);
      if (!value) return InvalidArgument("bad escape in label " + label);
      if (!sample->labels.emplace(label, *value).second) return InvalidArgument("label " + label + " twice");
      pos = end + 1;
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        break;
      }
      return InvalidArgument("expected , or } after label " + label);
    }
  }
  if (pos >= line.size() || line[pos] != ' ') return InvalidArgument("expected one space before the value");
  std::optional<double> value = ParseValue(line.substr(pos + 1));
  if (!value) return InvalidArgument("bad value \"" + line.substr(pos + 1) + "\"");
  sample->value = *value;
  return {};
}

// The family a sample belongs to, given the families typed so far.
std::string FamilyOf(const std::string& sample, const PromText& families) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (sample.size() > s.size() && sample.ends_with(s)) {
      auto it = families.find(sample.substr(0, sample.size() - s.size()));
      if (it != families.end() && it->second.type == "histogram") return it->first;
    }
  }
  return sample;
}

Status CheckHistogram(const PromFamily& family) {
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // le, count
    std::optional<double> sum, count;
  };
  std::map<std::map<std::string, std::string>, Series> series;
  for (const PromSample& s : family.samples) {
    std::map<std::string, std::string> labels = s.labels;
    if (s.name == family.name + "_bucket") {
      auto le = labels.find("le");
      if (le == labels.end()) return InvalidArgument(s.name + " without le");
      std::optional<double> bound = ParseValue(le->second);
      if (!bound) return InvalidArgument(s.name + " le=\"" + le->second + "\"");
      labels.erase(le);
      series[labels].buckets.emplace_back(*bound, s.value);
    } else if (labels.count("le") > 0) {
      return InvalidArgument(s.name + " has le");
    } else if (s.name == family.name + "_sum") {
      series[labels].sum = s.value;
    } else if (s.name == family.name + "_count") {
      series[labels].count = s.value;
    } else {
      return InvalidArgument(s.name + " in histogram " + family.name);
    }
  }
  for (const auto& [labels, s] : series) {
    const std::string what = "histogram " + family.name + " series " + std::to_string(labels.size()) +
                             " labels: ";
    if (s.buckets.empty() || !std::isinf(s.buckets.back().first))
      return InvalidArgument(what + "no le=\"+Inf\" bucket last");
    for (std::size_t i = 1; i < s.buckets.size(); ++i) {
      if (s.buckets[i].first <= s.buckets[i - 1].first) return InvalidArgument(what + "le not increasing");
      if (s.buckets[i].second < s.buckets[i - 1].second) return InvalidArgument(what + "not cumulative");
    }
    if (!s.sum || !s.count) return InvalidArgument(what + "no _sum or _count");
    if (*s.count != s.buckets.back().second) return InvalidArgument(what + "+Inf bucket != _count");
  }
  return {};
}

}  // namespace

Result<PromText> ParsePrometheusText(const std::string& text) {
  if (!text.empty() && text.back() != '\n') return InvalidArgument("the last line has no newline");
  PromText families;
  std::set<std::string> closed;  // families whose lines ended
  std::set<std::pair<std::string, std::map<std::string, std::string>>> series;
  std::string current;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto fail = [&](const std::string& why) {
      return InvalidArgument("line " + std::to_string(number) + " \"" + line + "\": " + why);
    };
    std::string family_name;
    PromSample sample;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::size_t pos = 7;
      family_name = ReadName(line, &pos, true);
      if (family_name.empty() || pos >= line.size() || line[pos] != ' ') return fail("bad name");
      const std::string rest = line.substr(pos + 1);
      PromFamily& family = families[family_name];
      family.name = family_name;
      if (line[2] == 'H') {
        if (!family.help.empty() || !family.samples.empty()) return fail("HELP twice or after samples");
        std::optional<std::string> help = Unescape(rest, false);
        if (!help || help->empty()) return fail("bad or empty help");
        family.help = *help;
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (!family.type.empty() || !family.samples.empty()) return fail("TYPE twice or after samples");
        if (kTypes.count(rest) == 0) return fail("unknown type");
        family.type = rest;
      }
    } else if (line.starts_with("#") || line.empty()) {
      return fail("neither HELP, TYPE nor a sample");
    } else {
      if (Status s = ParseSample(line, &sample); !s.ok()) return fail(s.message());
      family_name = FamilyOf(sample.name, families);
      auto it = families.find(family_name);
      if (it == families.end() || it->second.type.empty()) return fail("sample of a family without TYPE");
      if (it->second.type == "counter" && !(sample.value >= 0)) return fail("negative counter");
      if (!series.emplace(sample.name, sample.labels).second) return fail("series repeated");
      it->second.samples.push_back(sample);
    }
    if (family_name != current) {
      if (closed.count(family_name) > 0) return fail("family " + family_name + " resumed after another");
      if (!current.empty()) closed.insert(current);
      current = family_name;
    }
  }
  for (const auto& [name, family] : families) {
    if (family.type.empty() || family.help.empty()) return InvalidArgument(name + " lacks TYPE or HELP");
    if (family.type == "histogram") NFSPROV_RETURN_IF_ERROR(CheckHistogram(family));
  }
  return families;
}

std::optional<double> FindSample(const PromText& text, const std::string& name,
                                 const std::map<std::string, std::string>& labels) {
  for (const auto& [family_name, family] : text) {
    for (const PromSample& s : family.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

}  // namespace nfsprov::testing
