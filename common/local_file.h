// Reading small local files (keys, certificates, lock files): whole, bounded, errors as values.
#pragma once

#include <cstddef>
#include <string>

#include "common/status.h"

namespace nfsprov {

// The whole file. Errors carry the errno and name the path, never the content: a missing file
// is NOT_FOUND (errno ENOENT), one larger than max_bytes INVALID_ARGUMENT.
Result<std::string> ReadLocalFile(const std::string& path, std::size_t max_bytes = 1 << 20);

}  // namespace nfsprov
