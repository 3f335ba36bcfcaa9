// Path safety: the one place that turns untrusted relative paths into paths on the share.
//
// Every path the driver builds from user input (StorageClass templates, volume IDs, names read
// back from the server) goes through JoinUnderRoot or ValidateName. A relative path is accepted
// only if it is a non-empty list of '/'-separated names, each of which is 1..kMaxNameBytes bytes,
// is not "." or "..", and contains no NUL byte; there are no empty segments (no leading,
// trailing or doubled '/'). The joined result is at most kMaxPathBytes bytes. Anything else is
// INVALID_ARGUMENT with a message that quotes the offending segment (escaped) and says why.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace nfsprov::nfs {

inline constexpr std::size_t kMaxNameBytes = 255;
inline constexpr std::size_t kMaxPathBytes = 4096;

// Checks one directory-entry name (no '/').
Status ValidateName(std::string_view name);

// Checks a relative path as described above.
Status ValidateRelativePath(std::string_view relative);

// Checks an absolute root: "/" or "/a/b" with every segment valid (no trailing '/').
Status ValidateRoot(std::string_view root);

// Returns root + "/" + relative (or "/" + relative when root is "/"), after validating both.
// The result always lies strictly below root.
Result<std::string> JoinUnderRoot(std::string_view root, std::string_view relative);

// Renders an untrusted string for an error message, in double quotes: printable ASCII kept ('"'
// and '\\' backslash-escaped so the quoting stays unambiguous), everything else as \xNN, cut to
// at most 80 bytes (quotes included) with "..." so a 4 KiB hostile name cannot flood a log.
std::string QuoteForMessage(std::string_view untrusted);

}  // namespace nfsprov::nfs
