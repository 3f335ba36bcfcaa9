#include "nfs/url.h"

#include <algorithm>
#include <array>
#include <optional>

#include "nfs/path.h"

namespace nfsprov::nfs {
namespace {

constexpr std::string_view kScheme = "nfs://";
constexpr auto npos = std::string_view::npos;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsDnsChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
}
bool IsIpv6Char(char c) { return IsHexDigit(c) || c == ':' || c == '.'; }

bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

// Digits only, so a sign, blanks or hex never get through, and the value is checked as it grows
// so it cannot overflow.
Result<int> ParsePort(std::string_view what, std::string_view text) {
  Status bad = InvalidArgument(std::string(what) + " " + QuoteForMessage(text) +
                               ": must be a decimal number from 1 to 65535");
  if (text.empty()) return bad;
  int value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return bad;
    value = value * 10 + (c - '0');
    if (value > 65535) return bad;
  }
  if (value == 0) return bad;
  return value;
}

// Fills host and nfs_port from "host", "host:port", "[v6]" or "[v6]:port".
Status ParseAuthority(std::string_view authority, NfsUrl& out) {
  std::string_view host;
  std::string_view after;  // "" or ":port"
  if (authority.starts_with('[')) {
    std::size_t close = authority.find(']');
    if (close == npos) return InvalidArgument("host " + QuoteForMessage(authority) + ": no ']'");
    host = authority.substr(1, close - 1);
    after = authority.substr(close + 1);
    if (host.empty()) return InvalidArgument("host is empty");
    if (!AllOf(host, IsIpv6Char) || host.find(':') == npos) {
      return InvalidArgument("host " + QuoteForMessage(host) +
                             ": an address in brackets must be IPv6 (hex digits, ':' and '.')");
    }
  } else {
    std::size_t colon = authority.find(':');
    if (colon != npos && authority.find(':', colon + 1) != npos) {
      return InvalidArgument("host " + QuoteForMessage(authority) +
                             ": an IPv6 address must be in brackets, e.g. [::1]");
    }
    host = authority.substr(0, colon);
    after = colon == npos ? std::string_view() : authority.substr(colon);
    if (host.empty()) return InvalidArgument("host is empty");
    if (!AllOf(host, IsDnsChar)) {
      return InvalidArgument("host " + QuoteForMessage(host) +
                             ": may hold only letters, digits, '.' and '-'");
    }
  }
  if (!after.empty()) {
    if (after.front() != ':') {
      return InvalidArgument("unexpected " + QuoteForMessage(after) + " after the host");
    }
    Result<int> port = ParsePort("port", after.substr(1));
    if (!port.ok()) return port.status();
    out.nfs_port = *port;
  }
  out.host = std::string(host);
  return {};
}

Result<int> ParseVersion(std::string_view text) {
  if (text == "3") return 3;
  if (text == "4" || text == "4.0" || text == "4.1" || text == "4.2") return 4;
  return InvalidArgument("version " + QuoteForMessage(text) +
                         " is not supported (use 3, 4, 4.0, 4.1 or 4.2)");
}

// Applies "key=value&..." to out, whose nfs_port is already set if the host gave a port.
Status ParseQuery(std::string_view query, NfsUrl& out) {
  struct Param {
    std::string_view key;
    std::optional<std::string_view> value;
  };
  std::array<Param, 3> params{{{"version", {}}, {"nfsport", {}}, {"mountport", {}}}};
  std::size_t start = 0;
  while (true) {
    std::size_t amp = query.find('&', start);
    std::string_view item = query.substr(start, amp - start);
    if (item.empty()) return InvalidArgument("query has an empty parameter (stray '?' or '&')");
    std::size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    std::string_view value = eq == npos ? std::string_view() : item.substr(eq + 1);
    Param* param = nullptr;
    for (Param& p : params) {
      if (p.key == key) param = &p;
    }
    if (param == nullptr) {
      return InvalidArgument("unknown query parameter " + QuoteForMessage(key) +
                             " (known: version, nfsport, mountport)");
    }
    if (param->value) {
      return InvalidArgument("query parameter \"" + std::string(key) + "\" is given twice");
    }
    if (value.empty()) {
      return InvalidArgument("query parameter \"" + std::string(key) + "\" has an empty value");
    }
    param->value = value;
    if (amp == npos) break;
    start = amp + 1;
  }

  const auto& [version, nfsport, mountport] = params;
  if (version.value) {
    Result<int> v = ParseVersion(*version.value);
    if (!v.ok()) return v.status();
    out.version = *v;
  }
  if (nfsport.value) {
    if (out.nfs_port != 0) {
      return InvalidArgument("the NFS port is given twice (\":" + std::to_string(out.nfs_port) +
                             "\" after the host and nfsport=)");
    }
    Result<int> port = ParsePort("nfsport", *nfsport.value);
    if (!port.ok()) return port.status();
    out.nfs_port = *port;
  }
  if (mountport.value) {
    if (out.version != 3) {
      return InvalidArgument("mountport is only for version=3: NFSv4 has no MOUNT protocol");
    }
    Result<int> port = ParsePort("mountport", *mountport.value);
    if (!port.ok()) return port.status();
    out.mount_port = *port;
  }
  return {};
}

std::string HostForUrl(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

}  // namespace

Result<NfsUrl> ParseNfsUrl(std::string_view url) {
  const std::string context = "nfs url " + QuoteForMessage(url);
  if (!url.starts_with(kScheme)) {
    std::size_t sep = url.find("://");
    if (sep == npos) return InvalidArgument(context + ": missing the \"nfs://\" scheme");
    return InvalidArgument(context + ": scheme " + QuoteForMessage(url.substr(0, sep)) +
                           " is not supported, use \"nfs://\"");
  }
  std::string_view rest = url.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != npos) {
    // Not quoted: the part before '@' may hold a password.
    return InvalidArgument("nfs url has a user info part (\"...@\"), which is not allowed");
  }
  if (std::size_t hash = rest.find('#'); hash != npos) {
    return InvalidArgument(context + ": fragment " + QuoteForMessage(rest.substr(hash)) +
                           " is not allowed");
  }
  NfsUrl out;
  if (Status s = ParseAuthority(authority, out); !s.ok()) return s.WithContext(context);

  std::string_view export_path = rest.substr(authority.size());
  std::optional<std::string_view> query;
  if (std::size_t question = export_path.find('?'); question != npos) {
    query = export_path.substr(question + 1);
    export_path = export_path.substr(0, question);
  }
  if (export_path.empty()) {
    return InvalidArgument(context + ": missing the export path after the host");
  }
  if (export_path.size() > 1 && export_path.ends_with('/')) export_path.remove_suffix(1);
  if (Status s = ValidateRoot(export_path); !s.ok()) {
    return s.WithContext(context + ": export path");
  }
  out.export_path = std::string(export_path);
  if (query) {
    if (Status s = ParseQuery(*query, out); !s.ok()) return s.WithContext(context);
  }
  return out;
}

std::string NfsUrl::ToLibnfsUrl() const {
  std::string url = "nfs://" + HostForUrl(host) + export_path;
  if (export_path != "/") url += '/';
  url += "?version=" + std::to_string(version);
  if (nfs_port != 0) url += "&nfsport=" + std::to_string(nfs_port);
  if (mount_port != 0) url += "&mountport=" + std::to_string(mount_port);
  return url;
}

std::string NfsUrl::Display() const {
  std::string out = "nfs://" + HostForUrl(host);
  if (nfs_port != 0) out += ":" + std::to_string(nfs_port);
  out += export_path + " (NFSv" + std::to_string(version);
  if (mount_port != 0) out += ", mountport " + std::to_string(mount_port);
  return out + ")";
}

}  // namespace nfsprov::nfs
