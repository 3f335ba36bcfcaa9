#include "lockd/lock_file.h"

#include <nlohmann/json.hpp>

#include "common/local_file.h"

namespace nfsprov::lockd {

namespace {

using nlohmann::json;

constexpr int kVersion = 1;

// The string at `key`, or INVALID_ARGUMENT naming the key (never its value: it may be the secret).
Status ReadString(const json& object, const char* key, bool required, std::string& out) {
  const auto it = object.find(key);
  if (it == object.end()) {
    if (!required) return Status();
    return InvalidArgument(std::string("lock file has no \"") + key + "\"");
  }
  if (!it->is_string()) {
    return InvalidArgument(std::string("lock file's \"") + key + "\" is not a string");
  }
  out = it->get<std::string>();
  if (required && out.empty()) {
    return InvalidArgument(std::string("lock file's \"") + key + "\" is empty");
  }
  return Status();
}

}  // namespace

std::string ToJson(const LockFile& file) {
  json j = {{"version", kVersion},
            {"volumeId", file.volume_id},
            {"address", file.address},
            {"secret", file.secret}};
  if (!file.ca_pem.empty()) j["caPem"] = file.ca_pem;
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<LockFile> LockFileFromJson(std::string_view text) {
  // No exceptions, and no parser message: it quotes the input near the error, which may be
  // the secret.
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("lock file is not valid JSON");
  if (!j.is_object()) return InvalidArgument("lock file is not a JSON object");
  const auto version = j.find("version");
  if (version == j.end()) return InvalidArgument("lock file has no \"version\"");
  if (!version->is_number_integer()) {
    return InvalidArgument("lock file's \"version\" is not an integer");
  }
  if (version->get<int64_t>() != kVersion) {
    return InvalidArgument("lock file has version " + version->dump() +
                           "; this nfsprov reads version " + std::to_string(kVersion));
  }
  LockFile file;
  NFSPROV_RETURN_IF_ERROR(ReadString(j, "volumeId", true, file.volume_id));
  NFSPROV_RETURN_IF_ERROR(ReadString(j, "address", true, file.address));
  NFSPROV_RETURN_IF_ERROR(ReadString(j, "secret", true, file.secret));
  NFSPROV_RETURN_IF_ERROR(ReadString(j, "caPem", false, file.ca_pem));
  return file;
}

Result<LockFile> ReadLockFile(const std::string& volume_dir) {
  const std::string path = volume_dir + "/" + std::string(kLockFileName);
  Result<std::string> text = ReadLocalFile(path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) {
    return Status(StatusCode::kNotFound,
                  volume_dir + " has no " + std::string(kLockFileName) +
                      ": the volume was not provisioned by a StorageClass with locks: \"true\"",
                  text.status().sys_errno());
  }
  if (!text.ok()) return text.status();
  Result<LockFile> file = LockFileFromJson(*text);
  if (!file.ok()) return file.status().WithContext(path);
  return file;
}

}  // namespace nfsprov::lockd
