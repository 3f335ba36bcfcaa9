// Builds and inspects directory trees on the local filesystem behind a test NFS export.
//
// Tests seed trees directly in the export directory (fast, no NFS) and check what the NFS layer
// did with plain POSIX calls. Works by *at() calls relative to directory descriptors, so depth is
// not limited by PATH_MAX.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace nfsprov::testing {

struct TreeShape {
  int fanout_dirs = 4;       // subdirectories per directory (balanced part)
  int levels = 3;            // depth of the balanced part
  int files_per_dir = 10;    // regular files in every directory
  int file_bytes = 16;       // size of each file
  int chain_depth = 0;       // an extra chain of nested directories "d/d/d/..." under the root
  std::string outside_target;  // when set, every directory gets a symlink "out" pointing here
};

struct TreeCount {
  uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0;
  uint64_t entries() const { return files + dirs + symlinks; }
};

// Creates `root` (must not exist) and the tree below it; returns what it created (root included).
Result<TreeCount> MakeTree(const std::string& root, const TreeShape& shape);

// Counts what is below and including `root` without following symlinks.
Result<TreeCount> CountTree(const std::string& root);

// Describes every entry below `root` by relative path: type, mode, owner, size, mtime, content
// or link target. Two trees are equal copies when their descriptions are equal.
Result<std::map<std::string, std::string>> DescribeTree(const std::string& root);

}  // namespace nfsprov::testing
