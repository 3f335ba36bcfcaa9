#include "provisioner/volume_params.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "nfs/path.h"

namespace nfsprov {
namespace {

constexpr std::string_view kSidecarPrefix = "csi.storage.k8s.io/";
constexpr std::string_view kPvcNameKey = "csi.storage.k8s.io/pvc/name";
constexpr std::string_view kPvcNamespaceKey = "csi.storage.k8s.io/pvc/namespace";
constexpr std::string_view kPvNameKey = "csi.storage.k8s.io/pv/name";

constexpr std::size_t kMaxMountOptionsBytes = 1024;
constexpr uint64_t kMaxMode = 07777;
// 2^32-1 is (uid_t)-1, which chown reads as "leave unchanged", so it cannot name an owner.
constexpr uint64_t kMaxOwnerId = 4294967294;

constexpr std::array<std::string_view, 5> kNfsVersions = {"3", "4", "4.0", "4.1", "4.2"};

// What the parameter loop collects; subDir is rendered after it, once the sidecar values are known.
struct Draft {
  VolumeParams params;
  std::optional<std::string> sub_dir;
  std::optional<std::string> shared_root;
  bool on_delete_given = false;
};

// std::from_chars takes digits only (no sign, blanks or "0x") and reports overflow.
std::optional<uint64_t> ParseUnsigned(std::string_view text, int base, uint64_t max) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value, base);
  if (error != std::errc() || stop != end || value > max) return std::nullopt;
  return value;
}

Status SetServer(std::string_view value, Draft& draft) {
  NFSPROV_RETURN_IF_ERROR(ValidateServer(value));
  draft.params.share.server = std::string(value);
  return {};
}

Status SetShare(std::string_view value, Draft& draft) {
  NFSPROV_RETURN_IF_ERROR(nfs::ValidateRoot(value));
  draft.params.share.share = std::string(value);
  return {};
}

Status SetPort(std::string_view value, Draft& draft) {
  Result<int> port = ParsePort(value);
  if (!port.ok()) return port.status();
  draft.params.share.port = *port;
  return {};
}

Status SetNfsVersion(std::string_view value, Draft& draft) {
  NFSPROV_RETURN_IF_ERROR(CheckNfsVersion(value));
  draft.params.share.nfs_version = std::string(value);
  return {};
}

Status SetSubDir(std::string_view value, Draft& draft) {
  draft.sub_dir = std::string(value);  // rendered and checked once the loop is done
  return {};
}

Status SetMountPermissions(std::string_view value, Draft& draft) {
  std::optional<uint64_t> mode = ParseUnsigned(value, 8, kMaxMode);
  if (!mode) {
    return InvalidArgument(nfs::QuoteForMessage(value) +
                           " must be an octal mode from 0 to 07777, e.g. \"0777\" or \"02770\"");
  }
  draft.params.mount_permissions = static_cast<uint32_t>(*mode);
  return {};
}

Result<uint32_t> ParseOwnerId(std::string_view value) {
  std::optional<uint64_t> id = ParseUnsigned(value, 10, kMaxOwnerId);
  if (!id) {
    return InvalidArgument(nfs::QuoteForMessage(value) + " must be a decimal number from 0 to " +
                           std::to_string(kMaxOwnerId));
  }
  return static_cast<uint32_t>(*id);
}

Status SetUid(std::string_view value, Draft& draft) {
  Result<uint32_t> id = ParseOwnerId(value);
  if (!id.ok()) return id.status();
  draft.params.uid = *id;
  return {};
}

Status SetGid(std::string_view value, Draft& draft) {
  Result<uint32_t> id = ParseOwnerId(value);
  if (!id.ok()) return id.status();
  draft.params.gid = *id;
  return {};
}

Status SetOnDelete(std::string_view value, Draft& draft) {
  for (OnDelete policy : {OnDelete::kDelete, OnDelete::kRetain, OnDelete::kArchive}) {
    if (value == OnDeleteName(policy)) {
      draft.params.on_delete = policy;
      draft.on_delete_given = true;
      return {};
    }
  }
  return InvalidArgument(nfs::QuoteForMessage(value) +
                         " is not supported; use delete, retain or archive (lowercase)");
}

Status SetMountOptions(std::string_view value, Draft& draft) {
  NFSPROV_RETURN_IF_ERROR(CheckMountOptionsText(value));
  draft.params.mount_options = std::string(value);
  return {};
}

Status SetSharedRoot(std::string_view value, Draft& draft) {
  draft.shared_root = std::string(value);  // rendered and checked once the loop is done
  return {};
}

Result<bool> ParseBool(std::string_view value) {
  if (value != "true" && value != "false")
    return InvalidArgument(nfs::QuoteForMessage(value) + " must be \"true\" or \"false\"");
  return value == "true";
}

Status SetReadOnly(std::string_view value, Draft& draft) {
  Result<bool> flag = ParseBool(value);
  if (!flag.ok()) return flag.status();
  draft.params.read_only = *flag;
  return {};
}

Status SetLocks(std::string_view value, Draft& draft) {
  Result<bool> flag = ParseBool(value);
  if (!flag.ok()) return flag.status();
  draft.params.locks = *flag;
  return {};
}

Status SetDefaultCapacity(std::string_view value, Draft& draft) {
  Result<int64_t> bytes = ParseQuantity(value);
  if (!bytes.ok()) return bytes.status();
  draft.params.default_capacity = *bytes;
  return {};
}

Status SetCapacity(std::string_view value, Draft& draft) {
  Result<int64_t> bytes = ParseQuantity(value);
  if (!bytes.ok()) return bytes.status();
  draft.params.share_capacity = *bytes;
  return {};
}

Status SetOvercommit(std::string_view value, Draft& draft) {
  double ratio = 0;
  const char* end = value.data() + value.size();
  auto [stop, error] = std::from_chars(value.data(), end, ratio, std::chars_format::fixed);
  if (error != std::errc() || stop != end || !(ratio >= 1.0) || ratio > 1000.0)
    return InvalidArgument(nfs::QuoteForMessage(value) + " must be a decimal number from 1 to 1000, e.g. \"1.5\"");
  draft.params.overcommit = ratio;
  return {};
}

Status SetQuotaEnforcement(std::string_view value, Draft& draft) {
  Result<QuotaEnforcement> enforcement = ParseQuotaEnforcement(value);
  if (!enforcement.ok()) return enforcement.status();
  draft.params.quota_enforcement = *enforcement;
  return {};
}

struct Handler {
  std::string_view key;
  Status (*apply)(std::string_view value, Draft& draft);
};

constexpr std::array<Handler, 17> kHandlers = {{
    {"server", SetServer},
    {"share", SetShare},
    {"port", SetPort},
    {"nfsVersion", SetNfsVersion},
    {"subDir", SetSubDir},
    {"mountPermissions", SetMountPermissions},
    {"uid", SetUid},
    {"gid", SetGid},
    {"onDelete", SetOnDelete},
    {"mountOptions", SetMountOptions},
    {"sharedRoot", SetSharedRoot},
    {"readOnly", SetReadOnly},
    {"locks", SetLocks},
    {"defaultCapacity", SetDefaultCapacity},
    {"capacity", SetCapacity},
    {"overcommit", SetOvercommit},
    {"quotaEnforcement", SetQuotaEnforcement},
}};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [&](char x, char y) { return lower(x) == lower(y); });
}

// csi-driver-nfs matches keys case-insensitively; this driver does not, so a "Server" gets a hint.
Status UnknownKey(std::string_view key) {
  std::string message = "unknown StorageClass parameter " + nfs::QuoteForMessage(key);
  std::string supported;
  for (const Handler& handler : kHandlers) {
    if (EqualsIgnoringCase(key, handler.key)) {
      message += " (keys are case-sensitive: did you mean \"" + std::string(handler.key) + "\"?)";
    }
    supported += (supported.empty() ? "" : ", ") + std::string(handler.key);
  }
  return InvalidArgument(message + "; supported: " + supported);
}

std::optional<std::string> Lookup(const std::map<std::string, std::string>& parameters,
                                  std::string_view key) {
  auto it = parameters.find(std::string(key));
  if (it == parameters.end()) return std::nullopt;
  return it->second;
}

// Renders the template of parameter `key` and checks the result as a volume path.
Result<std::string> RenderPathParameter(const std::map<std::string, std::string>& parameters,
                                        std::string_view key, const std::string& tmpl) {
  const std::string context = "parameter " + std::string(key) + ": template " + nfs::QuoteForMessage(tmpl);
  TemplateValues values{Lookup(parameters, kPvcNameKey), Lookup(parameters, kPvcNamespaceKey),
                        Lookup(parameters, kPvNameKey)};
  Result<std::string> rendered = RenderTemplate(tmpl, values);
  if (!rendered.ok()) return rendered.status().WithContext(context);
  if (Status s = ValidateVolumePath(*rendered); !s.ok()) return s.WithContext(context);
  return rendered;
}

// Without sharedRoot: subDir, or else the volume name taken literally (never expanded as a
// template). With sharedRoot: the root, plus subDir inside it when given.
Status ResolvePaths(const std::map<std::string, std::string>& parameters, Draft& draft,
                    std::string_view volume_name) {
  VolumeParams& params = draft.params;
  if (draft.shared_root) {
    if (params.locks)
      return InvalidArgument("parameter locks: \"true\" is for per-volume directories; a shared root "
                             "has no single volume whose lock file it could hold (docs/locks.md)");
    Result<std::string> root = RenderPathParameter(parameters, "sharedRoot", *draft.shared_root);
    if (!root.ok()) return root.status();
    params.shared_root = *root;
    params.path = *root;
    if (draft.sub_dir) {
      Result<std::string> sub = RenderPathParameter(parameters, "subDir", *draft.sub_dir);
      if (!sub.ok()) return sub.status();
      params.path += "/" + *sub;
      if (Status s = ValidateVolumePath(params.path); !s.ok())
        return s.WithContext("parameters sharedRoot and subDir together");
    }
    if (!draft.on_delete_given) params.on_delete = OnDelete::kRetain;  // shared data: keep it
    return {};
  }
  if (!draft.sub_dir) {
    if (Status s = ValidateVolumePath(volume_name); !s.ok()) {
      return s.WithContext("parameter subDir (not set, so the volume name is the path)");
    }
    params.path = std::string(volume_name);
    return {};
  }
  Result<std::string> path = RenderPathParameter(parameters, "subDir", *draft.sub_dir);
  if (!path.ok()) return path.status();
  params.path = *path;
  return {};
}

// Template variables and what names their values in a message about a missing one.
struct Variable {
  std::string_view name;
  std::optional<std::string> TemplateValues::*value;
  std::string_view source;
};

constexpr std::array<Variable, 3> kVariables = {{
    {"pvc.metadata.name", &TemplateValues::pvc_name, kPvcNameKey},
    {"pvc.metadata.namespace", &TemplateValues::pvc_namespace, kPvcNamespaceKey},
    {"pv.metadata.name", &TemplateValues::pv_name, kPvNameKey},
}};

Result<std::string> ValueOf(std::string_view name, const TemplateValues& values) {
  for (const Variable& variable : kVariables) {
    if (variable.name != name) continue;
    const std::optional<std::string>& value = values.*variable.value;
    if (!value) {
      return InvalidArgument("${" + std::string(name) + "} has no value: parameter \"" +
                             std::string(variable.source) +
                             "\" is missing (the external-provisioner passes it with "
                             "--extra-create-metadata)");
    }
    return *value;
  }
  return InvalidArgument("unknown variable " + nfs::QuoteForMessage("${" + std::string(name) + "}") +
                         "; known: ${pvc.metadata.name}, ${pvc.metadata.namespace}, "
                         "${pv.metadata.name}");
}

}  // namespace

Result<int> ParsePort(std::string_view value) {
  std::optional<uint64_t> port = ParseUnsigned(value, 10, 65535);
  if (!port || *port == 0) {
    return InvalidArgument(nfs::QuoteForMessage(value) + " must be a decimal number from 1 to 65535");
  }
  return static_cast<int>(*port);
}

Status CheckNfsVersion(std::string_view value) {
  if (std::find(kNfsVersions.begin(), kNfsVersions.end(), value) == kNfsVersions.end()) {
    return InvalidArgument(nfs::QuoteForMessage(value) +
                           " is not supported; use 3, 4, 4.0, 4.1 or 4.2");
  }
  return {};
}

// The node passes these to mount(8) as one argument; a line break or NUL could smuggle in
// something else, so they are refused (carriage return too).
Status CheckMountOptionsText(std::string_view value) {
  if (value.size() > kMaxMountOptionsBytes) {
    return InvalidArgument("the value is " + std::to_string(value.size()) + " bytes, longer than " +
                           std::to_string(kMaxMountOptionsBytes));
  }
  if (value.find_first_of(std::string_view("\0\n\r", 3)) != std::string_view::npos) {
    return InvalidArgument(nfs::QuoteForMessage(value) +
                           " contains a NUL byte or a line break, which are not allowed");
  }
  return {};
}

std::string_view QuotaEnforcementName(QuotaEnforcement enforcement) {
  switch (enforcement) {
    case QuotaEnforcement::kNone: return "none";
    case QuotaEnforcement::kReport: return "report";
    case QuotaEnforcement::kReadOnly: return "readonly";
  }
  return "report";
}

Result<QuotaEnforcement> ParseQuotaEnforcement(std::string_view value) {
  for (QuotaEnforcement e : {QuotaEnforcement::kNone, QuotaEnforcement::kReport, QuotaEnforcement::kReadOnly})
    if (value == QuotaEnforcementName(e)) return e;
  return InvalidArgument(nfs::QuoteForMessage(value) + " is not supported; use none, report or readonly (lowercase)");
}

Result<int64_t> ParseQuantity(std::string_view value) {
  const std::string_view digits = "0123456789";
  std::size_t number_end = value.find_first_not_of(digits);
  std::string_view whole = value.substr(0, number_end), fraction;
  if (number_end != std::string_view::npos && value[number_end] == '.') {
    std::size_t fraction_end = value.find_first_not_of(digits, number_end + 1);
    fraction = value.substr(number_end + 1, fraction_end == std::string_view::npos ? std::string_view::npos
                                                                                  : fraction_end - number_end - 1);
    number_end = fraction_end;
  }
  std::string_view suffix = number_end == std::string_view::npos ? "" : value.substr(number_end);
  struct Unit {
    std::string_view suffix;
    long double factor;
  };
  constexpr std::array<Unit, 13> kUnits = {{{"", 1.0L}, {"k", 1e3L}, {"M", 1e6L}, {"G", 1e9L}, {"T", 1e12L},
                                            {"P", 1e15L}, {"E", 1e18L}, {"Ki", 0x1p10L}, {"Mi", 0x1p20L},
                                            {"Gi", 0x1p30L}, {"Ti", 0x1p40L}, {"Pi", 0x1p50L}, {"Ei", 0x1p60L}}};
  auto unit = std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& u) { return u.suffix == suffix; });
  const std::string problem = nfs::QuoteForMessage(value) +
                              " is not a quantity of bytes; use e.g. \"10Gi\", \"500Mi\", \"1.5T\" or \"1000000\"";
  if ((whole.empty() && fraction.empty()) || unit == kUnits.end() || whole.size() > 19 || fraction.size() > 18)
    return InvalidArgument(problem);
  long double number = 0;
  for (char c : whole) number = number * 10 + (c - '0');
  long double scale = 0.1L;
  for (char c : fraction) {
    number += (c - '0') * scale;
    scale /= 10;
  }
  long double bytes = std::ceil(number * unit->factor);
  if (bytes > static_cast<long double>(std::numeric_limits<int64_t>::max()))
    return InvalidArgument(nfs::QuoteForMessage(value) + " is more than 2^63-1 bytes");
  return static_cast<int64_t>(bytes);
}

std::string_view OnDeleteName(OnDelete on_delete) {
  switch (on_delete) {
    case OnDelete::kDelete: return "delete";
    case OnDelete::kRetain: return "retain";
    case OnDelete::kArchive: return "archive";
  }
  return "delete";
}

// One pass, left to right: values are inserted as they are, never expanded again.
Result<std::string> RenderTemplate(std::string_view tmpl, const TemplateValues& values) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t open = tmpl.find("${", pos);
    out += tmpl.substr(pos, open - pos);
    if (open == std::string_view::npos) return out;
    std::size_t close = tmpl.find('}', open + 2);
    if (close == std::string_view::npos) {
      return InvalidArgument("\"${\" at byte " + std::to_string(open) + " has no closing '}'");
    }
    Result<std::string> value = ValueOf(tmpl.substr(open + 2, close - open - 2), values);
    if (!value.ok()) return value.status();
    out += *value;
    pos = close + 1;
  }
}

Result<VolumeParams> ParseVolumeParams(const std::map<std::string, std::string>& parameters,
                                       std::string_view volume_name) {
  Draft draft;
  for (const auto& [key, value] : parameters) {
    if (key.starts_with(kSidecarPrefix)) continue;
    auto handler = std::find_if(kHandlers.begin(), kHandlers.end(),
                                [&](const Handler& h) { return h.key == key; });
    if (handler == kHandlers.end()) return UnknownKey(key);
    const std::string context = "parameter " + key;
    if (value.empty()) return InvalidArgument(context + ": the value is empty");
    if (Status s = handler->apply(value, draft); !s.ok()) return s.WithContext(context);
    draft.params.given.emplace(key, value);
  }
  for (std::string_view required : {"server", "share"}) {
    if (!draft.params.given.contains(std::string(required))) {
      return InvalidArgument("parameter " + std::string(required) + " is required");
    }
  }
  NFSPROV_RETURN_IF_ERROR(ResolvePaths(parameters, draft, volume_name));
  return std::move(draft.params);
}

Status ValidateVolumePath(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(nfs::ValidateRelativePath(path));
  // Any segment: a share nested in this one (share/scratch) keeps its own area at scratch/.nfsprov.
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == kMetadataDir) {
      return InvalidArgument("path " + nfs::QuoteForMessage(path) + ": \"" + std::string(kMetadataDir) +
                             "\" is reserved for the driver's records");
    }
    start = end + 1;
  }
  return {};
}

}  // namespace nfsprov
