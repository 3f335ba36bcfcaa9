#include "tests/support/proc_memory.h"

#include <fstream>
#include <sstream>

namespace nfsprov::testing {

double ProcKb(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1));
  }
  return -1;
}

double MappedRssKb(int pid, const std::string& prefix) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  if (!in) return -1;
  double total = 0;
  bool counting = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string first, second;
    fields >> first >> second;
    if (first.find('-') != std::string::npos && first.back() != ':') {  // a mapping's header line
      std::string offset, device, inode, path;
      fields >> offset >> device >> inode >> path;
      counting = path.rfind(prefix, 0) == 0;
    } else if (counting && first == "Rss:") {
      total += std::stod(second);
    }
  }
  return total;
}

}  // namespace nfsprov::testing
