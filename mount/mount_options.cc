#include "mount/mount_options.h"

#include <algorithm>
#include <array>

#include "nfs/path.h"

namespace nfsprov::mount {
namespace {

constexpr std::size_t kMaxOptionBytes = 255;

// mount(8) directives rather than NFS options: each would make the call do something else.
constexpr std::array<std::string_view, 12> kForbidden = {
    "bind", "rbind", "move", "remount", "loop", "helper",
    "user", "users", "owner", "group", "offset", "sizelimit",
};

constexpr std::array<std::string_view, 5> kVersions = {"3", "4", "4.0", "4.1", "4.2"};

bool IsNameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool IsValueChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("._:/@+-").find(c) != std::string_view::npos;
}

std::string_view NameOf(std::string_view option) { return option.substr(0, option.find('=')); }

// What the merge compares: ro and rw set the same thing.
std::string_view KeyOf(std::string_view option) {
  std::string_view name = NameOf(option);
  return name == "ro" ? "rw" : name;
}

// A user option in the form the merged list uses, so aliases collapse and clash like the
// originals: nfsvers=3, v3 and vers=3 are one setting; minorversion=1 means vers=4.1.
std::string Canonical(std::string_view option) {
  std::string_view name = NameOf(option);
  std::string_view value = name.size() < option.size() ? option.substr(name.size() + 1) : "";
  if (name == "nfsvers") return "vers=" + std::string(value);
  if (name == "v2" || name == "v3" || name == "v4") return "vers=" + std::string(name.substr(1));
  if (name == "minorversion") return "vers=4." + std::string(value);
  return std::string(option);
}

struct Merged {
  std::string option;  // canonical
  std::string origin;  // for messages: the user's text, or which spec field it came from
};

}  // namespace

Status ValidateMountOption(std::string_view option) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("mount option " + nfs::QuoteForMessage(option) + " " + std::string(why));
  };
  if (option.empty()) return bad("is empty");
  if (option.size() > kMaxOptionBytes) return bad("is longer than 255 bytes");
  std::string_view name = NameOf(option);
  if (name.empty() || name.front() < 'a' || name.front() > 'z' ||
      !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return bad("must be name or name=value with a name of lowercase letters, digits and '_' "
               "starting with a letter");
  }
  if (name.size() < option.size()) {
    std::string_view value = option.substr(name.size() + 1);
    if (value.empty() || !std::all_of(value.begin(), value.end(), IsValueChar)) {
      return bad("must have a non-empty value of letters, digits and ._:/@+-");
    }
  }
  if (std::find(kForbidden.begin(), kForbidden.end(), name) != kForbidden.end()) {
    return bad("is a mount(8) directive, not an NFS mount option");
  }
  return {};
}

Result<std::vector<std::string>> ParseMountOptions(std::string_view comma_separated) {
  std::vector<std::string> out;
  if (comma_separated.empty()) return out;
  while (true) {
    std::size_t comma = comma_separated.find(',');
    std::string_view item = comma_separated.substr(0, comma);
    if (item.empty()) {
      return InvalidArgument("mount options " + nfs::QuoteForMessage(comma_separated) +
                             " have an empty item");
    }
    NFSPROV_RETURN_IF_ERROR(ValidateMountOption(item));
    out.emplace_back(item);
    if (comma == std::string_view::npos) return out;
    comma_separated.remove_prefix(comma + 1);
  }
}

Result<std::vector<std::string>> MergeKernelMountOptions(const NfsMountSpec& spec) {
  if (std::find(kVersions.begin(), kVersions.end(), spec.nfs_version) == kVersions.end()) {
    return InvalidArgument("NFS version " + nfs::QuoteForMessage(spec.nfs_version) +
                           " is not one of 3, 4, 4.0, 4.1, 4.2");
  }
  if (spec.port < 0 || spec.port > 65535) {
    return InvalidArgument("NFS port " + std::to_string(spec.port) + " is not in 0..65535");
  }
  std::vector<Merged> merged = {{"vers=" + spec.nfs_version, "nfsVersion " + spec.nfs_version}};
  if (spec.port != 0) {
    merged.push_back({"port=" + std::to_string(spec.port), "port " + std::to_string(spec.port)});
  }
  if (spec.read_only) merged.push_back({"ro", "readOnly"});

  for (const std::string& option : spec.options) {
    NFSPROV_RETURN_IF_ERROR(ValidateMountOption(option));
    std::string canonical = Canonical(option);
    auto clash = std::find_if(merged.begin(), merged.end(), [&](const Merged& m) {
      return KeyOf(m.option) == KeyOf(canonical);
    });
    if (clash == merged.end()) {
      merged.push_back({canonical, nfs::QuoteForMessage(option)});
    } else if (clash->option != canonical) {
      return InvalidArgument("mount option " + nfs::QuoteForMessage(option) + " contradicts " +
                             clash->origin);
    }
  }
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (Merged& m : merged) out.push_back(std::move(m.option));
  return out;
}

std::string JoinMountOptions(const std::vector<std::string>& options) {
  std::string out;
  for (const std::string& o : options) {
    if (!out.empty()) out += ',';
    out += o;
  }
  return out;
}

}  // namespace nfsprov::mount
