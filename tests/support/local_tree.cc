#include "tests/support/local_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

namespace nfsprov::testing {
namespace {

Status Errno(const std::string& what) { return Status::FromErrno(errno, what + ": " + std::strerror(errno)); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
 private:
  int fd_;
};

Status WriteFile(int dir, const std::string& name, int bytes, TreeCount* count) {
  Fd fd(openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (fd.get() < 0) return Errno("create " + name);
  std::string data(static_cast<size_t>(bytes), 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + (i * 7 + name.size()) % 26);
  if (write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) return Errno("write " + name);
  ++count->files;
  count->bytes += data.size();
  return Status();
}

Status Populate(int dir, const TreeShape& shape, int level, TreeCount* count) {
  for (int i = 0; i < shape.files_per_dir; ++i)
    NFSPROV_RETURN_IF_ERROR(WriteFile(dir, "f" + std::to_string(i), shape.file_bytes, count));
  if (!shape.outside_target.empty()) {
    if (symlinkat(shape.outside_target.c_str(), dir, "out") != 0) return Errno("symlink out");
    ++count->symlinks;
  }
  if (level >= shape.levels) return Status();
  for (int i = 0; i < shape.fanout_dirs; ++i) {
    std::string name = "s" + std::to_string(i);
    if (mkdirat(dir, name.c_str(), 0750) != 0) return Errno("mkdir " + name);
    ++count->dirs;
    Fd sub(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (sub.get() < 0) return Errno("open " + name);
    NFSPROV_RETURN_IF_ERROR(Populate(sub.get(), shape, level + 1, count));
  }
  return Status();
}

// Calls visit(dirfd, name, relative path, stat) for every entry below dir, depth first.
Status Walk(int dir, const std::string& rel,
            const std::function<Status(int, const std::string&, const std::string&, const struct stat&)>& visit) {
  int dup_fd = dup(dir);
  if (dup_fd < 0) return Errno("dup");
  DIR* d = fdopendir(dup_fd);
  if (d == nullptr) { close(dup_fd); return Errno("opendir " + rel); }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  closedir(d);
  for (const auto& name : names) {
    struct stat st;
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat " + rel + name);
    std::string path = rel + name;
    NFSPROV_RETURN_IF_ERROR(visit(dir, name, path, st));
    if (S_ISDIR(st.st_mode)) {
      Fd sub(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.get() < 0) return Errno("open " + path);
      NFSPROV_RETURN_IF_ERROR(Walk(sub.get(), path + "/", visit));
    }
  }
  return Status();
}

}  // namespace

Result<TreeCount> MakeTree(const std::string& root, const TreeShape& shape) {
  TreeCount count;
  if (mkdir(root.c_str(), 0755) != 0) return Errno("mkdir " + root);
  ++count.dirs;
  Fd top(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (top.get() < 0) return Errno("open " + root);
  NFSPROV_RETURN_IF_ERROR(Populate(top.get(), shape, 0, &count));
  int dir = dup(top.get());
  for (int i = 0; i < shape.chain_depth; ++i) {
    if (mkdirat(dir, "d", 0755) != 0) { close(dir); return Errno("mkdir chain"); }
    ++count.dirs;
    int next = openat(dir, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(dir);
    if (next < 0) return Errno("open chain");
    dir = next;
  }
  if (shape.chain_depth > 0) {
    Status s = WriteFile(dir, "bottom", shape.file_bytes, &count);
    close(dir);
    if (!s.ok()) return s;
  } else {
    close(dir);
  }
  return count;
}

Result<TreeCount> CountTree(const std::string& root) {
  TreeCount count;
  struct stat st;
  if (lstat(root.c_str(), &st) != 0) return Errno("stat " + root);
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(root + " is not a directory");
  ++count.dirs;
  Fd top(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (top.get() < 0) return Errno("open " + root);
  NFSPROV_RETURN_IF_ERROR(Walk(top.get(), "", [&](int, const std::string&, const std::string&, const struct stat& s) {
    if (S_ISDIR(s.st_mode)) ++count.dirs;
    else if (S_ISLNK(s.st_mode)) ++count.symlinks;
    else { ++count.files; count.bytes += static_cast<uint64_t>(s.st_size); }
    return Status();
  }));
  return count;
}

Result<std::map<std::string, std::string>> DescribeTree(const std::string& root) {
  std::map<std::string, std::string> out;
  Fd top(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (top.get() < 0) return Errno("open " + root);
  NFSPROV_RETURN_IF_ERROR(Walk(top.get(), "", [&](int dir, const std::string& name, const std::string& path,
                                                   const struct stat& s) {
    std::string d = "mode=" + std::to_string(s.st_mode) + " uid=" + std::to_string(s.st_uid) +
                    " gid=" + std::to_string(s.st_gid);
    if (!S_ISLNK(s.st_mode))
      d += " mtime=" + std::to_string(s.st_mtim.tv_sec) + "." + std::to_string(s.st_mtim.tv_nsec);
    if (S_ISLNK(s.st_mode)) {
      char target[4096];
      ssize_t n = readlinkat(dir, name.c_str(), target, sizeof(target));
      if (n < 0) return Errno("readlink " + path);
      d += " link=" + std::string(target, static_cast<size_t>(n));
    } else if (S_ISREG(s.st_mode)) {
      Fd fd(openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) return Errno("open " + path);
      std::string content(static_cast<size_t>(s.st_size), '\0');
      if (read(fd.get(), content.data(), content.size()) != s.st_size) return Errno("read " + path);
      d += " content=" + std::to_string(std::hash<std::string>{}(content)) + "/" + std::to_string(s.st_size);
    }
    out[path] = d;
    return Status();
  }));
  return out;
}

}  // namespace nfsprov::testing
