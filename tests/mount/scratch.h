// Scratch: a temporary directory for mount tests that leaves nothing mounted behind.
//
// The destructor detaches every mount under the directory (deepest first, MNT_DETACH, so a
// failed test with a busy or dead mount still cleans up) and removes the tree.
#pragma once

#include <string>

namespace nfsprov::mount::testing {

class Scratch {
 public:
  Scratch();
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::string& path() const { return path_; }
  // Creates path()/name (and parents) and returns it.
  std::string Dir(const std::string& name) const;
  // Mounts a fresh tmpfs with the given source name at dir; fails the test on error.
  void MountTmpfs(const std::string& dir, const std::string& source = "scratch") const;
  // Writes a file with `content`; returns errno (0 on success).
  static int WriteFile(const std::string& path, const std::string& content);
  // Writes an executable shell script.
  std::string Script(const std::string& name, const std::string& body) const;

 private:
  std::string path_;
};

}  // namespace nfsprov::mount::testing
