// LockTable: the POSIX byte-range locks that local lock owners hold on one file.
//
// A FUSE mount serves many processes, but the NFS server sees the whole mount as a single lock
// owner (libnfs 4.0 uses one NFSv4 lock owner per connection), so it cannot arbitrate between
// two processes of the same mount. This table does: it keeps each local owner's locks with POSIX
// semantics (a new lock replaces the owner's own locks on the range; unlock splits them) and
// reports conflicts between owners. The server lock is the union of the table (Union), which is
// what excludes other mounts. Ranges are inclusive [start, end]; end UINT64_MAX means "to EOF".
// Types are F_RDLCK / F_WRLCK (F_UNLCK where nothing is held). Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace nfsprov::fusefs {

struct LockRange {
  uint64_t start = 0;
  uint64_t end = 0;  // inclusive
  int type = 0;      // F_RDLCK, F_WRLCK or F_UNLCK
  uint64_t owner = 0;
};

class LockTable {
 public:
  // A lock of another owner that conflicts with `type` on [start, end], if any.
  std::optional<LockRange> Conflict(uint64_t owner, int type, uint64_t start, uint64_t end) const;
  // Sets (F_RDLCK/F_WRLCK) or clears (F_UNLCK) `owner`'s lock on [start, end].
  void Apply(uint64_t owner, int type, uint64_t start, uint64_t end);
  // [start, end] cut into consecutive pieces, each with the strongest type any owner holds there.
  std::vector<LockRange> Union(uint64_t start, uint64_t end) const;
  bool empty() const { return locks_.empty(); }

 private:
  std::vector<LockRange> locks_;
};

}  // namespace nfsprov::fusefs
