// What every benchmark prints: one JSON line per measurement on stdout (logs go to stderr), and
// how it stops when a step it relies on fails.
//   {"name":"node.idle_rss","unit":"MiB","value":9.1}
//   {"name":"...","unit":"ops/s","value":400,"baseline":"raw_pipelined_mkdir","baseline_value":9391,"ratio":0.043}
#pragma once

#include <string>

#include "common/status.h"

namespace nfsprov::bench {

void Emit(const std::string& name, const std::string& unit, double value);
// The ratio is the caller's: it depends on whether higher is better and on the goal's shape.
void EmitVs(const std::string& name, const std::string& unit, double value,
            const std::string& baseline, double baseline_value, double ratio);

// Prints "<program>: <what>" to stderr and exits 1.
[[noreturn]] void Die(const std::string& what);
void Must(const Status& s);
template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) Die(r.status().ToString());
  return std::move(r).value();
}

}  // namespace nfsprov::bench
