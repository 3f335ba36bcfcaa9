#include "nfs/path.h"

#include <optional>

namespace nfsprov::nfs {
namespace {

// The message for a directory-entry name that is not valid, or nullopt when it is. `noun` is
// what the caller calls it ("name" or "segment"). Empty names and '/' are the caller's to
// judge: they mean different things in a lone name and in a path.
std::optional<std::string> NameError(std::string_view noun, std::string_view name) {
  auto subject = [&] { return std::string(noun) + " " + QuoteForMessage(name); };
  if (name == "." || name == "..") return subject() + " is not allowed";
  if (name.size() > kMaxNameBytes) {
    return subject() + ": longer than " + std::to_string(kMaxNameBytes) + " bytes";
  }
  if (name.find('\0') != std::string_view::npos) return subject() + ": contains a NUL byte";
  return std::nullopt;
}

Status TooLong(std::string_view what, std::size_t size) {
  return InvalidArgument(std::string(what) + " is " + std::to_string(size) +
                         " bytes, longer than " + std::to_string(kMaxPathBytes));
}

// Checks the '/'-separated names of `segments`; `what` and `whole` name the input in messages.
Status ValidateSegments(std::string_view what, std::string_view whole,
                        std::string_view segments) {
  auto fail = [&](std::string_view problem) {
    return InvalidArgument(std::string(what) + " " + QuoteForMessage(whole) + ": " +
                           std::string(problem));
  };
  std::size_t start = 0;
  while (true) {
    std::size_t slash = segments.find('/', start);
    std::string_view segment = segments.substr(start, slash - start);
    if (segment.empty()) {
      return fail(slash == std::string_view::npos ? "ends with '/'" : "empty segment");
    }
    if (auto error = NameError("segment", segment)) return fail(*error);
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
  }
}

void AppendEscaped(std::string& out, unsigned char c) {
  if (c == '"' || c == '\\') {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c >= 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
}

}  // namespace

Status ValidateName(std::string_view name) {
  if (name.empty()) return InvalidArgument("name is empty");
  if (auto error = NameError("name", name)) return InvalidArgument(*error);
  if (name.find('/') != std::string_view::npos) {
    return InvalidArgument("name " + QuoteForMessage(name) + ": contains '/'");
  }
  return {};
}

Status ValidateRelativePath(std::string_view relative) {
  if (relative.empty()) return InvalidArgument("path is empty");
  if (relative.size() > kMaxPathBytes) return TooLong("path", relative.size());
  if (relative.front() == '/') {
    return InvalidArgument("path " + QuoteForMessage(relative) +
                           ": must be relative, not absolute");
  }
  return ValidateSegments("path", relative, relative);
}

Status ValidateRoot(std::string_view root) {
  if (root.empty()) return InvalidArgument("root is empty");
  if (root.size() > kMaxPathBytes) return TooLong("root", root.size());
  if (root.front() != '/') {
    return InvalidArgument("root " + QuoteForMessage(root) + ": must be absolute");
  }
  if (root == "/") return {};
  return ValidateSegments("root", root, root.substr(1));
}

Result<std::string> JoinUnderRoot(std::string_view root, std::string_view relative) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(root));
  NFSPROV_RETURN_IF_ERROR(ValidateRelativePath(relative));
  std::string joined(root == "/" ? "" : root);
  joined += '/';
  joined += relative;
  if (joined.size() > kMaxPathBytes) return TooLong("joined path", joined.size());
  return joined;
}

std::string QuoteForMessage(std::string_view untrusted) {
  constexpr std::size_t kMaxBytes = 80;  // both quotes and any "..." included
  constexpr std::string_view kEllipsis = "...";
  std::string body;
  std::size_t keep = 0;  // how much of body still leaves room for the ellipsis
  for (unsigned char c : untrusted) {
    AppendEscaped(body, c);
    if (body.size() + 2 > kMaxBytes) {
      body.resize(keep);
      body += kEllipsis;
      break;
    }
    if (body.size() + 2 + kEllipsis.size() <= kMaxBytes) keep = body.size();
  }
  return '"' + body + '"';
}

}  // namespace nfsprov::nfs
