#include "csi/endpoint.h"

#include <sys/un.h>

#include <cctype>
#include <string>

namespace nfsprov::csi {

namespace {

// sun_path holds the path and its terminating NUL.
constexpr std::size_t kMaxUnixPath = sizeof(sockaddr_un{}.sun_path) - 1;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Status InvalidEndpoint(std::string_view endpoint, std::string_view problem) {
  return InvalidArgument("invalid endpoint " + Quoted(endpoint) + ": " + std::string(problem));
}

Result<Endpoint> ParseUnix(std::string_view endpoint, std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return InvalidEndpoint(endpoint,
                           "a unix socket needs an absolute path, as in unix:///run/csi/csi.sock");
  }
  if (path.back() == '/') return InvalidEndpoint(endpoint, "the socket path names a directory");
  if (path.find('\0') != std::string_view::npos) {
    return InvalidEndpoint(endpoint, "the socket path contains a NUL byte");
  }
  if (path.size() > kMaxUnixPath) {
    return InvalidEndpoint(endpoint, "the socket path is longer than " +
                                         std::to_string(kMaxUnixPath) + " bytes");
  }
  Endpoint result;
  result.kind = Endpoint::kUnix;
  result.path = std::string(path);
  return result;
}

bool IsHostNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
}

Result<Endpoint> ParseTcp(std::string_view endpoint, std::string_view authority) {
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidEndpoint(endpoint, "missing ']' after the IPv6 address");
    }
    host = authority.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      return InvalidEndpoint(endpoint, "the bracketed host is not an IPv6 address");
    }
    if (close + 1 >= authority.size() || authority[close + 1] != ':') {
      return InvalidEndpoint(endpoint, "missing :port, as in tcp://[::1]:10000");
    }
    port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidEndpoint(endpoint, "missing :port, as in tcp://127.0.0.1:10000");
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return InvalidEndpoint(endpoint, "an IPv6 address needs brackets, as in tcp://[::1]:10000");
    }
    if (host.empty()) return InvalidEndpoint(endpoint, "missing host");
    for (const char c : host) {
      if (!IsHostNameChar(c)) {
        return InvalidEndpoint(endpoint, "the host may contain only letters, digits, '.' and '-'");
      }
    }
  }
  // At most 5 digits, so stoi cannot overflow.
  const bool digits = !port.empty() && port.size() <= 5 &&
                      port.find_first_not_of("0123456789") == std::string_view::npos;
  const int port_number = digits ? std::stoi(std::string(port)) : -1;
  if (port_number < 0 || port_number > 65535) {
    return InvalidEndpoint(endpoint, "the port must be a number from 0 to 65535");
  }

  Endpoint result;
  result.kind = Endpoint::kTcp;
  result.host = std::string(host);
  result.port = port_number;
  return result;
}

}  // namespace

std::string Endpoint::GrpcAddress() const {
  if (kind == kUnix) return "unix://" + path;
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Endpoint> ParseEndpoint(std::string_view endpoint) {
  if (endpoint.empty()) {
    return InvalidArgument(
        "the endpoint is empty; use unix:///path/to/csi.sock or tcp://host:port");
  }
  // "unix://" first: in "unix:///a" the path starts after the authority, which must be empty.
  if (endpoint.starts_with("unix://")) return ParseUnix(endpoint, endpoint.substr(7));
  if (endpoint.starts_with("unix:")) return ParseUnix(endpoint, endpoint.substr(5));
  if (endpoint.starts_with("tcp://")) {
    const std::string_view authority = endpoint.substr(6);
    if (authority.find_first_of("/?#@") != std::string_view::npos) {
      return InvalidEndpoint(endpoint, "a tcp endpoint is host:port only, with no path or query");
    }
    return ParseTcp(endpoint, authority);
  }
  return InvalidEndpoint(endpoint,
                         "the scheme must be unix:// or tcp://, as in unix:///csi/csi.sock");
}

}  // namespace nfsprov::csi
