#include "tests/support/private_libraries.h"

#include <stdlib.h>

#include <filesystem>
#include <sstream>
#include <system_error>

#include "tests/support/run_command.h"

namespace nfsprov::testing {

Result<int> UsePrivateLibraryCopies(const std::string& binary, const std::string& dir) {
  namespace fs = std::filesystem;
  const CommandResult ldd = RunCommand({"ldd", binary});
  if (ldd.exit_code != 0) return Internal("ldd " + binary + " failed: " + ldd.err);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return Internal("cannot create " + dir + ": " + error.message());
  std::istringstream lines(ldd.out);
  std::string line;
  int copied = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string name, arrow, path;  // "libx.so.1 => /usr/lib/.../libx.so.1 (0x...)"
    if (!(fields >> name >> arrow >> path) || arrow != "=>" || path.empty() || path[0] != '/') continue;
    fs::copy_file(path, dir + "/" + name, fs::copy_options::overwrite_existing, error);
    if (error) return Internal("cannot copy " + path + " into " + dir + ": " + error.message());
    ++copied;
  }
  if (setenv("LD_LIBRARY_PATH", dir.c_str(), 1) != 0) return Internal("cannot set LD_LIBRARY_PATH");
  return copied;
}

}  // namespace nfsprov::testing
