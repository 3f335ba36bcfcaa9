// Metrics: counters and histograms with labels, plus collectors (the gauges), rendered in the
// Prometheus text exposition format 0.0.4 (served by csi/metrics_server.h, docs/metrics.md).
//
// A family has a name, a help text and fixed label names; it holds one child per tuple of label
// values, made on first use and kept for the family's life. Recording on a child is a few
// atomic operations; With() takes the family's mutex to find the child, so a hot path with fixed
// labels keeps the reference it returned. Families are meant to be made once (a function-local
// static) and never freed: Add* with a name already registered returns that family.
//
// Collectors are callbacks run at scrape time for values read from existing state (volumes,
// backlogs, locks held); every gauge is one, so no value is kept twice. They must be cheap and
// must not wait for I/O. Families of the same name from several collectors are merged. A
// collector stays registered while its handle lives; the handle's destructor waits for a scrape
// that is running it.
//
// Why one process-wide registry (Default()), as Prometheus client libraries have: what records
// (the CSI handler wrapper, the NFS layer) lies far from main(), and threading a registry through
// every constructor would buy nothing, since a process serves one /metrics. Tests that check
// exact output make their own Registry.
//
// Exposition: families sorted by name; children by label values; label names in the family's
// order (a histogram's "le" last); label values escaped (\\, \", \n), help text too (\\, \n);
// histogram buckets cumulative, ending in le="+Inf" equal to _count.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nfsprov::metrics {

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing, without +Inf.
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double v);

  // A consistent-enough copy: counts per bucket (not cumulative; the last is +Inf), and the sum.
  struct Snapshot {
    std::vector<uint64_t> counts;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

template <typename Metric>
class Family {
 public:
  template <typename... Args>
  Family(std::string name, std::string help, std::vector<std::string> label_names, Args... args)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        make_([args...] { return std::make_unique<Metric>(args...); }) {}

  // The child for these values (as many as the family has label names).
  Metric& With(const LabelValues& values) {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<Metric>& child = children_[values];
    if (child == nullptr) child = make_();
    return *child;
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls fn(values, metric) for every child, in label-value order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<Metric>> children_;
};

// What a collector reports: gauge samples of one family.
struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;  // name, value
  double value = 0;
};
struct CollectedFamily {
  std::string name;
  std::string help;
  std::vector<Sample> samples;
};
using Collector = std::function<std::vector<CollectedFamily>()>;

class Registry;

// Keeps a collector registered; destroying it unregisters the collector.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
  CollectorHandle(CollectorHandle&& other) noexcept
      : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  ~CollectorHandle();

 private:
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names);
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);
  [[nodiscard]] CollectorHandle AddCollector(Collector collector);

  // Every family and every collector's samples, in the text format.
  std::string Expose() const;

 private:
  friend class CollectorHandle;
  void RemoveCollector(uint64_t id);
  // The family `name` in `families`, made with `args` when new.
  template <typename Metric, typename... Args>
  Family<Metric>& Add(std::map<std::string, std::unique_ptr<Family<Metric>>>& families,
                      const char* type, const std::string& name, const std::string& help,
                      std::vector<std::string> label_names, Args... args);
  // Aborts (a bug, found by any test) on an invalid name or a name taken by another type.
  void CheckNewName(const std::string& name, const std::vector<std::string>& label_names,
                    const char* type);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
  // Held while collectors run, so RemoveCollector waits for a scrape in progress.
  mutable std::mutex collectors_mu_;
  std::map<uint64_t, Collector> collectors_;
  uint64_t next_collector_ = 1;
};

// The process-wide registry (see the header comment for why there is one).
Registry& Default();

// Text format helpers, exposed for tests.
std::string EscapeLabelValue(std::string_view value);
std::string FormatValue(double value);  // "+Inf", "-Inf", "NaN" or the shortest exact decimal
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

}  // namespace nfsprov::metrics
