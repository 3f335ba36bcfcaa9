#include "mount/mountinfo.h"

#include <libmount/libmount.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

#include "mount/sys_error.h"

namespace nfsprov::mount {
namespace {

struct TableDeleter {
  void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct IterDeleter {
  void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};

std::string OrEmpty(const char* s) { return s != nullptr ? s : ""; }

MountEntry ToEntry(libmnt_fs* fs) {
  MountEntry e;
  e.id = mnt_fs_get_id(fs);
  e.parent_id = mnt_fs_get_parent_id(fs);
  e.root = OrEmpty(mnt_fs_get_root(fs));
  e.target = OrEmpty(mnt_fs_get_target(fs));
  e.fstype = OrEmpty(mnt_fs_get_fstype(fs));
  e.source = OrEmpty(mnt_fs_get_source(fs));
  e.vfs_options = OrEmpty(mnt_fs_get_vfs_options(fs));
  e.fs_options = OrEmpty(mnt_fs_get_fs_options(fs));
  e.read_only = HasMountOption(e.vfs_options, "ro");
  return e;
}

bool ValidPid(std::string_view pid) {
  return pid == "self" ||
         (!pid.empty() && pid.size() <= 10 &&
          std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

}  // namespace

bool HasMountOption(std::string_view options, std::string_view name) {
  while (!options.empty()) {
    std::size_t comma = options.find(',');
    if (options.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    options.remove_prefix(comma + 1);
  }
  return false;
}

Result<std::vector<MountEntry>> ReadMounts(std::string_view pid) {
  if (!ValidPid(pid))
    return InvalidArgument("pid must be \"self\" or a number, got \"" + std::string(pid) + "\"");
  std::string path = "/proc/" + std::string(pid) + "/mountinfo";
  std::unique_ptr<libmnt_table, TableDeleter> table(mnt_new_table());
  std::unique_ptr<libmnt_iter, IterDeleter> iter(mnt_new_iter(MNT_ITER_FORWARD));
  if (!table || !iter) return SysError(ENOMEM, "read " + path);
  // libmount returns -errno, or a positive count of unparsable lines (mountinfo has none unless
  // the format changed, which must not pass silently).
  if (int rc = mnt_table_parse_file(table.get(), path.c_str()); rc != 0) {
    if (rc < 0) return SysError(-rc, "read " + path);
    return Internal("parse " + path + ": " + std::to_string(rc) + " unparsable line(s)");
  }
  std::vector<MountEntry> out;
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table.get(), iter.get(), &fs) == 0) out.push_back(ToEntry(fs));
  return out;
}

Result<std::string> CanonicalMountpoint(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgument("mountpoint \"" + path + "\" is not an absolute path");
  }
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  if (trimmed == "/") return trimmed;
  std::size_t slash = trimmed.rfind('/');
  std::string name = trimmed.substr(slash + 1);
  if (name == "." || name == "..") {
    return InvalidArgument("mountpoint \"" + path + "\" ends in \"" + name + "\"");
  }
  // Only the parent goes through realpath: the target itself may be a hung mount.
  std::string parent = slash == 0 ? "/" : trimmed.substr(0, slash);
  char resolved[PATH_MAX];
  if (realpath(parent.c_str(), resolved) == nullptr) {
    return SysError(errno, "resolve parent of mountpoint " + path);
  }
  std::string out = resolved;
  if (out != "/") out += '/';
  return out + name;
}

Result<std::optional<MountEntry>> FindMountAt(const std::string& target, std::string_view pid) {
  Result<std::string> canonical = CanonicalMountpoint(target);
  if (!canonical.ok()) {
    // Nothing can be mounted under a parent that does not exist.
    int e = canonical.status().sys_errno();
    if (e == ENOENT || e == ENOTDIR) return std::optional<MountEntry>();
    return canonical.status();
  }
  Result<std::vector<MountEntry>> mounts = ReadMounts(pid);
  if (!mounts.ok()) return mounts.status();
  std::vector<const MountEntry*> here;
  for (const MountEntry& m : *mounts) {
    if (m.target == *canonical) here.push_back(&m);
  }
  // Top-most: no other mount at this path sits on it. Mount order alone is not enough when
  // propagation adds mounts underneath existing ones.
  for (const MountEntry* m : here) {
    bool covered = std::any_of(here.begin(), here.end(),
                               [m](const MountEntry* o) { return o->parent_id == m->id; });
    if (!covered) return std::optional<MountEntry>(*m);
  }
  return std::optional<MountEntry>();
}

}  // namespace nfsprov::mount
