#include "provisioner/object_id.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <vector>

#include "nfs/path.h"

namespace nfsprov {
namespace {

constexpr std::string_view kPrefix = "nfsprov1";
constexpr char kSeparator = '|';
constexpr std::size_t kFieldCount = 7;  // prefix, kind, nfs, port, server, share, key
constexpr std::string_view kBase32 = "abcdefghijklmnopqrstuvwxyz234567";  // RFC 4648, lowercase

std::string_view KindName(ObjectKind kind) {
  return kind == ObjectKind::kSnapshot ? "snapshot" : "volume";
}

std::string Escape(std::string_view share) {
  std::string out;
  for (char c : share) {
    if (c == '%') {
      out += "%25";
    } else if (c == kSeparator) {
      out += "%7C";
    } else {
      out += c;
    }
  }
  return out;
}

// Only the two escapes Escape writes are accepted, so every share has one spelling and an ID
// read back compares equal to the one that was made.
Result<std::string> Unescape(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '%') {
      out += field[i];
      continue;
    }
    std::string_view escape = field.substr(i, 3);
    if (escape == "%25") {
      out += '%';
    } else if (escape == "%7C") {
      out += kSeparator;
    } else {
      return InvalidArgument("share has the escape " + nfs::QuoteForMessage(escape) +
                             "; only %25 ('%') and %7C ('|') are used");
    }
    i += 2;
  }
  return out;
}

// CSI IDs travel as protobuf strings, which must be UTF-8: an ID that is not could not be
// returned to the CO. Overlong forms, surrogates and code points past U+10FFFF are refused.
bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 1;  // the lead byte's sequence length, its payload bits, and the
    uint32_t code = lead;    // smallest code point that length may encode
    uint32_t min = 0;
    if (lead >= 0xf8) {
      return false;
    } else if (lead >= 0xf0) {
      length = 4;
      code = lead & 0x07u;
      min = 0x10000;
    } else if (lead >= 0xe0) {
      length = 3;
      code = lead & 0x0fu;
      min = 0x800;
    } else if (lead >= 0xc0) {
      length = 2;
      code = lead & 0x1fu;
      min = 0x80;
    } else if (lead >= 0x80) {
      return false;  // a continuation byte cannot start a character
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0u) != 0x80u) return false;
      code = (code << 6) | (next & 0x3fu);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

// The checks EncodeId and DecodeId share, so that whatever can be encoded can be decoded.
Status CheckFields(const ObjectId& id) {
  NFSPROV_RETURN_IF_ERROR(ValidateServer(id.share.server));
  NFSPROV_RETURN_IF_ERROR(nfs::ValidateRoot(id.share.share).WithContext("share"));
  if (!IsValidUtf8(id.share.share)) {
    return InvalidArgument("share " + nfs::QuoteForMessage(id.share.share) +
                           " is not valid UTF-8, which CSI IDs must be");
  }
  if (id.share.port < 0 || id.share.port > 65535) {
    return InvalidArgument("port " + std::to_string(id.share.port) +
                           " is outside 0..65535 (0 means the default)");
  }
  if (!IsValidKey(id.key)) {
    return InvalidArgument("key " + nfs::QuoteForMessage(id.key) + " must be " +
                           std::to_string(kKeyChars) + " characters from a-z and 2-7");
  }
  return {};
}

std::vector<std::string_view> Split(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(kSeparator, start);
    fields.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

// Decimal without leading zeros ("0" itself is the default port), so each port has one spelling.
std::optional<int> ParsePort(std::string_view field) {
  if (field.size() > 1 && field.front() == '0') return std::nullopt;
  int port = 0;
  const char* end = field.data() + field.size();
  auto [stop, error] = std::from_chars(field.data(), end, port);
  if (error != std::errc() || stop != end || port < 0 || port > 65535) return std::nullopt;
  return port;
}

// Fills `id` from the split fields; the prefix and the field count are already checked.
Status ParseFields(const std::vector<std::string_view>& fields, ObjectId& id) {
  const std::string_view kind = fields[1], nfs = fields[2], port = fields[3], share = fields[5];
  if (kind != "v" && kind != "s") {
    return InvalidArgument("kind " + nfs::QuoteForMessage(kind) +
                           " must be \"v\" (volume) or \"s\" (snapshot)");
  }
  id.kind = kind == "v" ? ObjectKind::kVolume : ObjectKind::kSnapshot;
  if (nfs != "3" && nfs != "4") {
    return InvalidArgument("NFS version " + nfs::QuoteForMessage(nfs) + " must be 3 or 4");
  }
  id.share.nfs_version = std::string(nfs);
  std::optional<int> port_number = ParsePort(port);
  if (!port_number) {
    return InvalidArgument("port " + nfs::QuoteForMessage(port) +
                           " must be a decimal number from 0 to 65535 without leading zeros");
  }
  id.share.port = *port_number;
  id.share.server = std::string(fields[4]);
  Result<std::string> unescaped = Unescape(share);
  if (!unescaped.ok()) return unescaped.status();
  id.share.share = std::move(*unescaped);
  id.key = std::string(fields[6]);
  return CheckFields(id);
}

}  // namespace

std::string KeyForName(std::string_view name) {
  // Fetched once: OpenSSL 3's one-shot SHA256() looks the algorithm up, under a lock, every call
  // (a few % of a CreateVolume's CPU with 64 callers).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  if (sha256 == nullptr ||
      EVP_Digest(name.data(), name.size(), digest.data(), nullptr, sha256, nullptr) != 1) {
    std::abort();  // the default provider always has SHA-256: a broken OpenSSL install
  }
  std::string key;
  uint32_t bits = 0;       // unread bits, in the low `bit_count` positions
  unsigned bit_count = 0;
  for (unsigned char byte : digest) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 5) {
      bit_count -= 5;
      key += kBase32[(bits >> bit_count) & 0x1fu];
      if (key.size() == kKeyChars) return key;
    }
  }
  return key;  // not reached: 32 digest bytes give 51 characters
}

bool IsValidKey(std::string_view key) {
  return key.size() == kKeyChars && std::all_of(key.begin(), key.end(), [](char c) {
           return kBase32.find(c) != std::string_view::npos;
         });
}

Status ValidateKey(std::string_view key) {
  if (IsValidKey(key)) return {};
  return InvalidArgument("invalid key " + nfs::QuoteForMessage(key) + ": expected " +
                         std::to_string(kKeyChars) + " characters of base32 (a-z, 2-7)");
}

Result<std::string> EncodeId(const ObjectId& id) {
  const std::string what(KindName(id.kind));
  if (Status s = CheckFields(id); !s.ok()) return s.WithContext("cannot make a " + what + " ID");
  const std::string share = Escape(id.share.share);
  const std::string sep(1, kSeparator);
  const std::string out = std::string(kPrefix) + sep + (id.kind == ObjectKind::kVolume ? "v" : "s") +
                          sep + std::to_string(id.share.ProtocolVersion()) + sep +
                          std::to_string(id.share.port) + sep + id.share.server + sep + share +
                          sep + id.key;
  if (out.size() > kMaxIdBytes) {
    const std::size_t room = kMaxIdBytes - (out.size() - id.share.server.size() - share.size());
    return InvalidArgument(
        "the " + what + " ID would be " + std::to_string(out.size()) + " bytes, over the " +
        std::to_string(kMaxIdBytes) + "-byte CSI limit: server " +
        nfs::QuoteForMessage(id.share.server) + " (" + std::to_string(id.share.server.size()) +
        " bytes) and share " + nfs::QuoteForMessage(id.share.share) + " (" +
        std::to_string(share.size()) + " bytes escaped) are too long; together they may take at "
        "most " + std::to_string(room) + " bytes");
  }
  return out;
}

Result<ObjectId> DecodeId(std::string_view text) {
  if (text.empty()) return InvalidArgument("ID is empty");
  const std::string context = "ID " + nfs::QuoteForMessage(text);
  if (text.size() > kMaxIdBytes) {
    return InvalidArgument(context + ": is " + std::to_string(text.size()) +
                           " bytes, longer than the " + std::to_string(kMaxIdBytes) +
                           "-byte CSI limit");
  }
  std::vector<std::string_view> fields = Split(text);
  if (fields.front() != kPrefix) {
    if (fields.front().starts_with("nfsprov")) {
      return InvalidArgument(context + ": format " + nfs::QuoteForMessage(fields.front()) +
                             " is not supported (this driver reads \"nfsprov1\")");
    }
    return InvalidArgument(context + ": not an ID made by this driver (no \"nfsprov1|\" prefix)");
  }
  if (fields.size() != kFieldCount) {
    return InvalidArgument(context + ": has " + std::to_string(fields.size()) +
                           " '|'-separated fields, expected " + std::to_string(kFieldCount) +
                           " (nfsprov1|kind|nfs|port|server|share|key)");
  }
  ObjectId id;
  if (Status s = ParseFields(fields, id); !s.ok()) return s.WithContext(context);
  return id;
}

}  // namespace nfsprov
