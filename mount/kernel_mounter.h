// KernelMounter: NFS through the kernel client, by running mount(8) (mount.nfs).
//
// The command is `mount -t nfs -o <options> <server:/path> <target>`; options are
// MergeKernelMountOptions(spec) (mount/mount_options.h), so the version is always an explicit
// vers=. "-t nfs" rather than "-t nfs4": mount.nfs picks the protocol from vers=, and nfs4 would
// refuse vers=3. The kernel then shows fstype "nfs" for NFSv3 and "nfs4" for every NFSv4.x.
// The program is run without a shell, with a deadline (then it is killed: DEADLINE_EXCEEDED);
// its output goes into the error message. Success means mountinfo shows a matching mount at the
// target; on every failure a matching mount that appeared anyway is unmounted again.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "mount/mount_spec.h"

namespace nfsprov::mount {

class KernelMounter : public Mounter {
 public:
  // mount_program: "mount" (searched in PATH) in production; tests pass a fake.
  explicit KernelMounter(std::string mount_program = "mount",
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

  std::string_view name() const override { return "kernel"; }
  // fstype "nfs" for version 3, "nfs4" for 4.x, and source == MountSource(spec).
  bool Matches(const NfsMountSpec& spec, std::string_view fstype,
               std::string_view source) const override;
  Status Mount(const NfsMountSpec& spec, const std::string& target) override;
  // UnmountAll (mount/mount_ops.h).
  Status Unmount(const std::string& target) override;

  // {program, "-t", "nfs", "-o", options, source, target}; INVALID_ARGUMENT for bad options.
  Result<std::vector<std::string>> KernelMountCommand(const NfsMountSpec& spec,
                                                      const std::string& target) const;

 private:
  // Unmounts a mount of spec that appeared at target despite the failure `why`.
  Status CleanUp(const NfsMountSpec& spec, const std::string& target, Status why) const;

  std::string program_;
  std::chrono::milliseconds timeout_;
};

}  // namespace nfsprov::mount
