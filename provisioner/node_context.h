// MountSpecFromContext: what the node plugin mounts for a volume, read from its CSI volume context.
//
// The same keys serve volumes the controller made (it fills them in from the StorageClass) and
// static PVs users write by hand (docs/storageclass.md, "Static volumes"):
//   server, share         required: the NFS server and export
//   subDir                the directory under the export (default: the export itself); a safe
//                         relative path with no ".nfsprov" segment (ValidateVolumePath)
//   port, nfsVersion      as in StorageClass parameters
//   mountOptions          comma-separated mount options, parsed by mount::ParseMountOptions
//   readOnly              "true" or "false": mount read-only whatever the pod asks
//   quotaEnforcement      none, report or readonly (docs/quota.md); checked here, acted on by Node
// Keys under "csi.storage.k8s.io/" and "storage.kubernetes.io/" (pod info, provisioner identity)
// are the CO's and are ignored. Any other key is INVALID_ARGUMENT naming it: a typo such as
// "subdir" must not silently mount the whole export.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "mount/mount_spec.h"

namespace nfsprov {

Result<mount::NfsMountSpec> MountSpecFromContext(const std::map<std::string, std::string>& context);

}  // namespace nfsprov
