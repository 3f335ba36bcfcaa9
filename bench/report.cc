#include "bench/report.h"

#include <cstdio>
#include <cstdlib>

namespace nfsprov::bench {

void Emit(const std::string& name, const std::string& unit, double value) {
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.3f}\n", name.c_str(), unit.c_str(), value);
  std::fflush(stdout);
}

void EmitVs(const std::string& name, const std::string& unit, double value,
            const std::string& baseline, double baseline_value, double ratio) {
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.3f,\"baseline\":\"%s\","
              "\"baseline_value\":%.3f,\"ratio\":%.3f}\n",
              name.c_str(), unit.c_str(), value, baseline.c_str(), baseline_value, ratio);
  std::fflush(stdout);
}

void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

void Must(const Status& s) {
  if (!s.ok()) Die(s.ToString());
}

}  // namespace nfsprov::bench
