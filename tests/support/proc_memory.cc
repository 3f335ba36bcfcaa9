#include "tests/support/proc_memory.h"

#include <fstream>

namespace nfsprov::testing {

double ProcKb(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1));
  }
  return -1;
}

}  // namespace nfsprov::testing
