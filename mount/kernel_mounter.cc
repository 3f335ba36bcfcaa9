#include "mount/kernel_mounter.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "mount/mount_ops.h"
#include "mount/mount_options.h"
#include "mount/mountinfo.h"
#include "mount/subprocess.h"

namespace nfsprov::mount {
namespace {

// mount.nfs explains failures only in text; the common ones get a code a caller can act on.
StatusCode CodeForOutput(std::string_view output) {
  auto has = [&](std::string_view s) { return output.find(s) != std::string_view::npos; };
  if (has("access denied") || has("Permission denied") || has("Operation not permitted")) {
    return StatusCode::kPermissionDenied;
  }
  if (has("No such file or directory")) return StatusCode::kNotFound;
  if (has("timed out") || has("Connection refused") || has("No route to host") ||
      has("Network is unreachable") || has("Connection reset")) {
    return StatusCode::kUnavailable;
  }
  return StatusCode::kInternal;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

KernelMounter::KernelMounter(std::string mount_program, std::chrono::milliseconds timeout)
    : program_(std::move(mount_program)), timeout_(timeout) {}

bool KernelMounter::Matches(const NfsMountSpec& spec, std::string_view fstype,
                            std::string_view source) const {
  std::string_view expected = spec.nfs_version == "3" ? "nfs" : "nfs4";
  return fstype == expected && source == MountSource(spec);
}

Result<std::vector<std::string>> KernelMounter::KernelMountCommand(
    const NfsMountSpec& spec, const std::string& target) const {
  Result<std::vector<std::string>> options = MergeKernelMountOptions(spec);
  if (!options.ok()) return options.status();
  return std::vector<std::string>{program_,          "-t",  "nfs", "-o", JoinMountOptions(*options),
                                  MountSource(spec), target};
}

Status KernelMounter::CleanUp(const NfsMountSpec& spec, const std::string& target,
                              Status why) const {
  Result<std::optional<MountEntry>> entry = FindMountAt(target);
  if (entry.ok() && entry->has_value() && Matches(spec, (*entry)->fstype, (*entry)->source)) {
    if (Status s = UnmountAll(target); !s.ok()) {
      spdlog::error("{}; unmounting what it left failed too: {}", why.message(), s.ToString());
    }
  }
  return why;
}

Status KernelMounter::Mount(const NfsMountSpec& spec, const std::string& target) {
  Result<std::vector<std::string>> command = KernelMountCommand(spec, target);
  if (!command.ok()) return command.status();
  const std::string what = "mount " + MountSource(spec) + " on " + target;
  spdlog::debug("{}: running {} with options {}", what, program_, (*command)[4]);

  Result<ProcessOutcome> outcome = RunProcess(*command, timeout_);
  if (!outcome.ok()) return outcome.status().WithContext(what);
  std::string output = Trimmed(outcome->output);
  if (outcome->timed_out) {
    return CleanUp(spec, target,
                   DeadlineExceeded(what + ": " + program_ + " did not finish within " +
                                    std::to_string(timeout_.count()) + " ms and was killed" +
                                    (output.empty() ? "" : ": " + output)));
  }
  if (!outcome->success()) {
    return CleanUp(
        spec, target,
        Status(CodeForOutput(output), what + ": " + program_ + " " + outcome->Describe() +
                                          (output.empty() ? "" : ": " + output)));
  }
  Result<std::optional<MountEntry>> entry = FindMountAt(target);
  if (!entry.ok()) return CleanUp(spec, target, entry.status().WithContext(what));
  if (!entry->has_value() || !Matches(spec, (*entry)->fstype, (*entry)->source)) {
    std::string seen =
        entry->has_value() ? (*entry)->fstype + " " + (*entry)->source : std::string("nothing");
    return Internal(what + ": " + program_ + " succeeded but mountinfo shows " + seen +
                    " at the target");
  }
  return {};
}

Status KernelMounter::Unmount(const std::string& target) { return UnmountAll(target); }

}  // namespace nfsprov::mount
