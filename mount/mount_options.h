// Mount options: parsing user-supplied lists and merging them with a spec for mount -t nfs.
//
// An option is `name` or `name=value`: name is [a-z][a-z0-9_]*, value is 1+ characters of
// [A-Za-z0-9._:/@+-]. That excludes separators, whitespace, control characters, quotes and
// backslashes, and with them every way to smuggle a second option or an argument into mount(8).
// Options that make mount(8) do something other than mount this NFS directory here (bind,
// move, remount, loop, helper=, user/owner/..., x-*, make-*) are rejected too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "mount/mount_spec.h"

namespace nfsprov::mount {

// Checks one option as described above; the error quotes it and says why.
Status ValidateMountOption(std::string_view option);

// Splits "a,b=c" into checked options. Empty items ("a,,b", a leading or trailing ',') are
// INVALID_ARGUMENT; an empty string is no options.
Result<std::vector<std::string>> ParseMountOptions(std::string_view comma_separated);

// The options for `mount -t nfs`: "vers=<spec.nfs_version>", then "port=<spec.port>" when set,
// then "ro" when spec.read_only, then the user's options in their order. A user option that
// sets the same thing (vers, nfsvers, v3/v4, minorversion, port, ro) collapses into it; one that
// contradicts the spec (vers=3 with version 4.1, port=X with port Y, rw with read_only) or another
// user option (timeo=1 and timeo=2) is INVALID_ARGUMENT naming both. Exact duplicates collapse.
// A user "ro" without spec.read_only is kept (more restrictive than asked is safe).
Result<std::vector<std::string>> MergeKernelMountOptions(const NfsMountSpec& spec);

// "a,b,c".
std::string JoinMountOptions(const std::vector<std::string>& options);

}  // namespace nfsprov::mount
