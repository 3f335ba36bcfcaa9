// A stand-in for `nfsprov fuse-mount` in the mount tests: the same command line, but an empty
// libfuse3 filesystem instead of NFS, so FuseMounter's success path and the health of a FUSE
// mount whose daemon dies or hangs can be tested without a server.
//
//   fake_fuse_mount fuse-mount --url URL --target DIR --fsname SRC [--read-only]
//
// The URL's host picks the behaviour: "fail" prints an error and exits 1 before mounting,
// "hang" mounts but never answers getattr, anything else serves an empty read-only directory.
#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

bool g_hang = false;

int Getattr(const char* path, struct stat* st, fuse_file_info*) {
  while (g_hang) pause();
  std::memset(st, 0, sizeof *st);
  if (std::strcmp(path, "/") != 0) return -ENOENT;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  return 0;
}

int Readdir(const char*, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  fill(buf, ".", nullptr, 0, FUSE_FILL_DIR_PLUS);
  fill(buf, "..", nullptr, 0, FUSE_FILL_DIR_PLUS);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, target, fsname;
  bool read_only = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--read-only") read_only = true;
    else if (i + 1 < argc && arg == "--url") url = argv[++i];
    else if (i + 1 < argc && arg == "--target") target = argv[++i];
    else if (i + 1 < argc && arg == "--fsname") fsname = argv[++i];
  }
  std::fprintf(stderr, "fake fuse-mount: url=%s target=%s\n", url.c_str(), target.c_str());
  if (argc < 2 || std::string(argv[1]) != "fuse-mount" || target.empty() || fsname.empty()) {
    std::fprintf(stderr, "fake fuse-mount: bad command line\n");
    return 2;
  }
  if (url.starts_with("nfs://fail/")) {
    std::fprintf(stderr, "fake fuse-mount: cannot reach server fail\n");
    return 1;
  }
  g_hang = url.starts_with("nfs://hang/");
  fuse_operations ops{};
  ops.getattr = Getattr;
  ops.readdir = Readdir;
  std::string options = "fsname=" + fsname + ",subtype=nfsprov" + (read_only ? ",ro" : "");
  std::vector<std::string> args = {argv[0], "-f", "-s", "-o", options, target};
  std::vector<char*> c_args;
  for (std::string& a : args) c_args.push_back(a.data());
  return fuse_main(static_cast<int>(c_args.size()), c_args.data(), &ops, nullptr);
}
