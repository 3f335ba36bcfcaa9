#include "provisioner/node_context.h"

#include <array>
#include <string_view>

#include "mount/mount_options.h"
#include "nfs/path.h"
#include "provisioner/share.h"
#include "provisioner/volume_params.h"

namespace nfsprov {
namespace {

constexpr std::array<std::string_view, 8> kKeys = {"server",     "share",        "subDir",   "port",
                                                   "nfsVersion", "mountOptions", "readOnly", "quotaEnforcement"};
constexpr std::array<std::string_view, 2> kCoPrefixes = {"csi.storage.k8s.io/",
                                                         "storage.kubernetes.io/"};

bool Known(std::string_view key) {
  for (std::string_view k : kKeys)
    if (key == k) return true;
  for (std::string_view prefix : kCoPrefixes)
    if (key.starts_with(prefix)) return true;
  return false;
}

Status Check(Status status, std::string_view key) {
  return status.ok() ? status : status.WithContext("volume context \"" + std::string(key) + "\"");
}

}  // namespace

Result<mount::NfsMountSpec> MountSpecFromContext(const std::map<std::string, std::string>& context) {
  for (const auto& [key, value] : context) {
    if (!Known(key)) {
      std::string supported;
      for (std::string_view k : kKeys) supported += (supported.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument("unknown volume context key " + nfs::QuoteForMessage(key) +
                             "; supported: " + supported);
    }
  }
  auto get = [&](const char* key) -> const std::string* {
    auto it = context.find(key);
    return it == context.end() ? nullptr : &it->second;
  };
  const std::string* server = get("server");
  const std::string* share = get("share");
  if (server == nullptr || share == nullptr)
    return InvalidArgument("volume context needs \"server\" and \"share\" (the NFS server and export)");

  mount::NfsMountSpec spec;
  NFSPROV_RETURN_IF_ERROR(Check(ValidateServer(*server), "server"));
  spec.server = *server;
  NFSPROV_RETURN_IF_ERROR(Check(nfs::ValidateRoot(*share), "share"));
  spec.remote_path = *share;
  if (const std::string* sub_dir = get("subDir"); sub_dir != nullptr && !sub_dir->empty()) {
    NFSPROV_RETURN_IF_ERROR(Check(ValidateVolumePath(*sub_dir), "subDir"));
    Result<std::string> joined = nfs::JoinUnderRoot(*share, *sub_dir);
    if (!joined.ok()) return joined.status().WithContext("volume context \"subDir\"");
    spec.remote_path = *joined;
  }
  if (const std::string* port = get("port")) {
    Result<int> parsed = ParsePort(*port);
    if (!parsed.ok()) return Check(parsed.status(), "port");
    spec.port = *parsed;
  }
  if (const std::string* version = get("nfsVersion")) {
    NFSPROV_RETURN_IF_ERROR(Check(CheckNfsVersion(*version), "nfsVersion"));
    spec.nfs_version = *version;
  }
  if (const std::string* options = get("mountOptions")) {
    NFSPROV_RETURN_IF_ERROR(Check(CheckMountOptionsText(*options), "mountOptions"));
    Result<std::vector<std::string>> parsed = mount::ParseMountOptions(*options);
    if (!parsed.ok()) return Check(parsed.status(), "mountOptions");
    // "ro"/"rw" among the options decide read_only, so a mount's state and its spec agree.
    for (const std::string& option : *parsed) {
      if (option == "ro") spec.read_only = true;
      if (option != "ro" && option != "rw") spec.options.push_back(option);
    }
  }
  if (const std::string* enforcement = get("quotaEnforcement")) {
    NFSPROV_RETURN_IF_ERROR(Check(ParseQuotaEnforcement(*enforcement).status(), "quotaEnforcement"));
  }
  if (const std::string* read_only = get("readOnly")) {
    if (*read_only != "true" && *read_only != "false")
      return InvalidArgument("volume context \"readOnly\": " + nfs::QuoteForMessage(*read_only) +
                             " must be \"true\" or \"false\"");
    spec.read_only = spec.read_only || *read_only == "true";
  }
  return spec;
}

}  // namespace nfsprov
