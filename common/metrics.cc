#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace nfsprov::metrics {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Help text escapes \\ and newlines; label values also double quotes.
std::string Escape(std::string_view text, bool quotes) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}

void AppendHeader(std::string& out, const std::string& name, const std::string& help,
                  std::string_view type) {
  out += "# HELP " + name + " " + Escape(help, false) + "\n";
  out += "# TYPE " + name + " " + std::string(type) + "\n";
}

// name{a="x",b="y"} value
void AppendSample(std::string& out, std::string_view name,
                  const std::vector<std::pair<std::string, std::string>>& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out += ',';
      out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
    }
    out += '}';
  }
  out += ' ' + FormatValue(value) + '\n';
}

std::vector<std::pair<std::string, std::string>> Zip(const std::vector<std::string>& names,
                                                     const LabelValues& values) {
  std::vector<std::pair<std::string, std::string>> labels;
  for (std::size_t i = 0; i < names.size(); ++i)
    labels.emplace_back(names[i], i < values.size() ? values[i] : "");
  return labels;
}

[[noreturn]] void Bug(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

}  // namespace

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]()) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
    Bug("histogram bounds must increase strictly");
}

void Histogram::Observe(double v) {
  const std::size_t bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());  // le: v <= bound
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    s.counts.push_back(counts_[i].load(std::memory_order_relaxed));
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    if (registry_ != nullptr) registry_->RemoveCollector(id_);
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

CollectorHandle::~CollectorHandle() {
  if (registry_ != nullptr) registry_->RemoveCollector(id_);
}

void Registry::CheckNewName(const std::string& name, const std::vector<std::string>& label_names,
                            const char* type) {
  if (!IsValidMetricName(name)) Bug("invalid metric name \"" + name + "\"");
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label) || label.starts_with("__"))
      Bug("invalid label name \"" + label + "\" in " + name);
  }
  if (counters_.count(name) + histograms_.count(name) > 0)
    Bug(name + " is registered with another type than " + type);
}

template <typename Metric, typename... Args>
Family<Metric>& Registry::Add(std::map<std::string, std::unique_ptr<Family<Metric>>>& families,
                              const char* type, const std::string& name, const std::string& help,
                              std::vector<std::string> label_names, Args... args) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = families.find(name); it != families.end()) return *it->second;
  CheckNewName(name, label_names, type);
  auto& family = families[name];
  family = std::make_unique<Family<Metric>>(name, help, std::move(label_names), std::move(args)...);
  return *family;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return Add(counters_, "counter", name, help, std::move(label_names));
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  if (std::find(label_names.begin(), label_names.end(), "le") != label_names.end())
    Bug("a histogram cannot have a label named le: " + name);
  return Add(histograms_, "histogram", name, help, std::move(label_names), std::move(bounds));
}

CollectorHandle Registry::AddCollector(Collector collector) {
  std::lock_guard<std::mutex> lock(collectors_mu_);
  const uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(collector));
  return CollectorHandle(this, id);
}

void Registry::RemoveCollector(uint64_t id) {
  std::lock_guard<std::mutex> lock(collectors_mu_);
  collectors_.erase(id);
}

std::string Registry::Expose() const {
  // Every family rendered into its own text, keyed by name, so the output is sorted by name.
  std::map<std::string, std::string> families;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, family] : counters_) {
      std::string& out = families[name];
      AppendHeader(out, name, family->help(), "counter");
      family->ForEach([&](const LabelValues& values, const Counter& c) {
        AppendSample(out, name, Zip(family->label_names(), values), static_cast<double>(c.Value()));
      });
    }
    for (const auto& [name, family] : histograms_) {
      std::string& out = families[name];
      AppendHeader(out, name, family->help(), "histogram");
      family->ForEach([&](const LabelValues& values, const Histogram& h) {
        const Histogram::Snapshot s = h.Read();
        auto labels = Zip(family->label_names(), values);
        uint64_t cumulative = 0;
        for (std::size_t i = 0; i < s.counts.size(); ++i) {
          cumulative += s.counts[i];
          auto with_le = labels;
          with_le.emplace_back("le", i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf");
          AppendSample(out, name + "_bucket", with_le, static_cast<double>(cumulative));
        }
        AppendSample(out, name + "_sum", labels, s.sum);
        AppendSample(out, name + "_count", labels, static_cast<double>(cumulative));
      });
    }
  }
  // Collected families: one header per name, however many collectors report it.
  std::map<std::string, CollectedFamily> collected;
  {
    std::lock_guard<std::mutex> lock(collectors_mu_);
    for (const auto& [id, collector] : collectors_) {
      for (CollectedFamily& family : collector()) {
        CollectedFamily& merged = collected[family.name];
        if (merged.name.empty()) {
          merged.name = family.name;
          merged.help = family.help;
        }
        for (Sample& s : family.samples) merged.samples.push_back(std::move(s));
      }
    }
  }
  for (const auto& [name, family] : collected) {
    if (!IsValidMetricName(name) || families.count(name) > 0) Bug("collected family " + name);
    std::string& out = families[name];
    AppendHeader(out, name, family.help, "gauge");
    for (const Sample& s : family.samples) AppendSample(out, name, s.labels, s.value);
  }
  std::string text;
  for (const auto& [name, out] : families) text += out;
  return text;
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: recorded into until exit
  return *registry;
}

std::string EscapeLabelValue(std::string_view value) { return Escape(value, true); }

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, end);
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsNameStart(c) || IsDigit(c) || c == ':'; });
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameStart(c) || IsDigit(c); });
}

}  // namespace nfsprov::metrics
