// Plain data types shared by the NFS layer's APIs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nfsprov::nfs {

enum class FileType { kRegular, kDirectory, kSymlink, kOther };

struct Timestamp {
  int64_t seconds = 0;
  uint32_t nanoseconds = 0;
  bool operator==(const Timestamp&) const = default;
};

struct FileAttr {
  FileType type = FileType::kOther;
  uint32_t mode = 0;  // permission and set-id/sticky bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;        // apparent size in bytes
  uint64_t used_bytes = 0;  // space the server allocated
  uint64_t nlink = 0;
  uint64_t inode = 0;
  Timestamp atime, mtime, ctime;
};

struct DirEntry {
  std::string name;
  FileAttr attr;
};

struct FsStats {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;       // free for root
  uint64_t available_bytes = 0;  // free for unprivileged users
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
};

// A failure on one entry of a tree walk that did not stop the walk.
struct TreeError {
  std::string path;
  std::string message;
};

// What a tree operation did. Counts include the root.
struct TreeStats {
  uint64_t files = 0;     // regular files (and other non-directories that are not symlinks)
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t bytes = 0;       // apparent size of regular files
  uint64_t used_bytes = 0;  // space allocated on the server (scan only)
  uint64_t rpcs = 0;        // NFS round trips issued
  std::vector<TreeError> errors;  // at most kMaxReportedErrors; error_count has the total
  uint64_t error_count = 0;
  uint64_t inodes() const { return files + dirs + symlinks; }
};

inline constexpr std::size_t kMaxReportedErrors = 100;

}  // namespace nfsprov::nfs
