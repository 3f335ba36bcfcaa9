#include "tests/mount/scratch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "mount/mount_ops.h"
#include "mount/mountinfo.h"

namespace nfsprov::mount::testing {

Scratch::Scratch() {
  char templ[] = "/tmp/nfsprov-mount-test-XXXXXX";
  char* made = mkdtemp(templ);
  if (made == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
  path_ = made != nullptr ? made : "/nonexistent";
}

Scratch::~Scratch() {
  for (int round = 0; round < 64; ++round) {
    Result<std::vector<MountEntry>> mounts = ReadMounts();
    if (!mounts.ok()) break;
    std::vector<std::string> under;
    for (const MountEntry& m : *mounts) {
      if (m.target.starts_with(path_ + "/")) under.push_back(m.target);
    }
    if (under.empty()) break;
    std::sort(under.begin(), under.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& t : under) umount2(t.c_str(), MNT_DETACH);
  }
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string Scratch::Dir(const std::string& name) const {
  std::string dir = path_ + "/" + name;
  EXPECT_TRUE(MakeDirs(dir, 0755).ok()) << dir;
  return dir;
}

void Scratch::MountTmpfs(const std::string& dir, const std::string& source) const {
  ASSERT_EQ(::mount(source.c_str(), dir.c_str(), "tmpfs", 0, "size=1m"), 0)
      << "mount tmpfs on " << dir << ": " << std::strerror(errno);
}

int Scratch::WriteFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ssize_t n = write(fd, content.data(), content.size());
  int err = n == static_cast<ssize_t>(content.size()) ? 0 : errno;
  close(fd);
  return err;
}

std::string Scratch::Script(const std::string& name, const std::string& body) const {
  std::string path = path_ + "/" + name;
  EXPECT_EQ(WriteFile(path, "#!/bin/sh\n" + body), 0);
  chmod(path.c_str(), 0755);
  return path;
}

}  // namespace nfsprov::mount::testing
