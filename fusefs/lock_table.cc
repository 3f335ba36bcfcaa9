#include "fusefs/lock_table.h"

#include <fcntl.h>

#include <algorithm>

namespace nfsprov::fusefs {
namespace {

bool Overlaps(const LockRange& l, uint64_t start, uint64_t end) { return l.start <= end && start <= l.end; }

}  // namespace

std::optional<LockRange> LockTable::Conflict(uint64_t owner, int type, uint64_t start,
                                             uint64_t end) const {
  for (const LockRange& l : locks_) {
    if (l.owner == owner || !Overlaps(l, start, end)) continue;
    if (type == F_WRLCK || l.type == F_WRLCK) return l;
  }
  return std::nullopt;
}

void LockTable::Apply(uint64_t owner, int type, uint64_t start, uint64_t end) {
  std::vector<LockRange> kept;
  for (const LockRange& l : locks_) {
    if (l.owner != owner || !Overlaps(l, start, end)) {
      kept.push_back(l);
      continue;
    }
    // Keep the parts of the owner's old lock outside [start, end].
    if (l.start < start) kept.push_back({l.start, start - 1, l.type, owner});
    if (l.end > end) kept.push_back({end + 1, l.end, l.type, owner});
  }
  if (type != F_UNLCK) kept.push_back({start, end, type, owner});
  locks_ = std::move(kept);
}

std::vector<LockRange> LockTable::Union(uint64_t start, uint64_t end) const {
  // Cut points: the range start and every lock edge inside the range.
  std::vector<uint64_t> cuts = {start};
  for (const LockRange& l : locks_) {
    if (!Overlaps(l, start, end)) continue;
    if (l.start > start) cuts.push_back(l.start);
    if (l.end < end) cuts.push_back(l.end + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<LockRange> pieces;
  for (std::size_t i = 0; i < cuts.size(); ++i) {
    uint64_t piece_end = i + 1 < cuts.size() ? cuts[i + 1] - 1 : end;
    int type = F_UNLCK;
    for (const LockRange& l : locks_) {
      if (!Overlaps(l, cuts[i], piece_end)) continue;
      if (l.type == F_WRLCK) type = F_WRLCK;
      else if (type == F_UNLCK) type = F_RDLCK;
    }
    if (!pieces.empty() && pieces.back().type == type) pieces.back().end = piece_end;
    else pieces.push_back({cuts[i], piece_end, type, 0});
  }
  return pieces;
}

}  // namespace nfsprov::fusefs
