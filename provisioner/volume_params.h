// StorageClass parameters: parsed, validated and rendered once, at CreateVolume.
//
// Keys (docs/storageclass.md): server, share, port, nfsVersion, subDir, mountPermissions, uid,
// gid, onDelete, mountOptions, sharedRoot, readOnly, locks (docs/locks.md), and for quotas (docs/quota.md)
// defaultCapacity, capacity, overcommit, quotaEnforcement. Keys under "csi.storage.k8s.io/" are the sidecars' (PVC/PV names
// from --extra-create-metadata, secret references) and are read or ignored, never rejected.
// Any other key, a bad value, or a subDir that renders to an unsafe or empty path is
// INVALID_ARGUMENT with a message naming the parameter. subDir templates may use
// ${pvc.metadata.name}, ${pvc.metadata.namespace} and ${pv.metadata.name}; the default subDir is
// the PV name (the CSI volume name). With sharedRoot (a template too) every volume of the class
// binds to that one directory, or to subDir inside it (docs/layouts.md), and onDelete defaults to
// retain. Rendered paths are validated with ValidateVolumePath (no ".nfsprov" segment).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "provisioner/share.h"

namespace nfsprov {

enum class OnDelete { kDelete, kRetain, kArchive };
std::string_view OnDeleteName(OnDelete on_delete);

// What happens when a volume's measured usage exceeds its capacity (docs/quota.md).
enum class QuotaEnforcement { kNone, kReport, kReadOnly };
std::string_view QuotaEnforcementName(QuotaEnforcement enforcement);
Result<QuotaEnforcement> ParseQuotaEnforcement(std::string_view value);  // none, report, readonly

inline constexpr std::string_view kMetadataDir = ".nfsprov";
// In the root of a volume of a class with locks: "true": lockd's address and the volume's lock
// secret (lockd/lock_file.h). The only file the driver ever puts in a volume.
inline constexpr std::string_view kLockFileName = ".nfsprov-lock.json";

struct VolumeParams {
  ShareRef share;
  std::string path;                          // the volume's directory, relative to the share root
  std::string shared_root;                   // "" or the rendered sharedRoot; path lies in it
  bool read_only = false;                    // readOnly: reader-only access, mounted read-only
  bool locks = false;                        // locks: a lock file in the volume root (lockd)
  std::optional<int64_t> default_capacity;   // defaultCapacity: for a request without a size
  std::optional<int64_t> share_capacity;     // capacity: what the share may provision in all
  double overcommit = 1.0;                   // overcommit: share_capacity is multiplied by it
  QuotaEnforcement quota_enforcement = QuotaEnforcement::kReport;
  std::optional<uint32_t> mount_permissions;  // octal mode for the new directory
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  OnDelete on_delete = OnDelete::kDelete;
  std::string mount_options;                 // comma-separated, passed to the node as is
  // The parameters as given, minus "csi.storage.k8s.io/" keys: what makes two CreateVolume
  // calls with one name compatible, and what the volume record keeps.
  std::map<std::string, std::string> given;
};

// The one rule for a volume directory: a safe relative path (nfs::ValidateRelativePath) with no
// segment named .nfsprov, so no record can point DeleteVolume at the driver's own area, nor at
// that of a share nested inside this one.
Status ValidateVolumePath(std::string_view path);

// Value checks shared with the node plugin, which reads the same keys from a volume context.
// Each is INVALID_ARGUMENT quoting the value and saying what is allowed.
Result<int> ParsePort(std::string_view value);              // 1..65535, decimal
Status CheckNfsVersion(std::string_view value);             // 3, 4, 4.0, 4.1 or 4.2
Status CheckMountOptionsText(std::string_view value);       // ≤ 1 KiB, no NUL or line break
// A Kubernetes quantity of bytes: an integer or decimal number with an optional suffix
// Ki Mi Gi Ti Pi Ei (powers of 1024) or k M G T P E (powers of 1000); "10Gi", "1.5T", "500000".
// At most 2^63-1 bytes; fractions of a byte round up.
Result<int64_t> ParseQuantity(std::string_view value);

// `volume_name` is the CSI name (the PV name under Kubernetes).
Result<VolumeParams> ParseVolumeParams(const std::map<std::string, std::string>& parameters,
                                       std::string_view volume_name);

// Replaces ${pvc.metadata.name}, ${pvc.metadata.namespace} and ${pv.metadata.name}. An unknown
// variable, an unterminated "${", or a variable whose value is missing is INVALID_ARGUMENT.
struct TemplateValues {
  std::optional<std::string> pvc_name, pvc_namespace, pv_name;
};
Result<std::string> RenderTemplate(std::string_view tmpl, const TemplateValues& values);

}  // namespace nfsprov
