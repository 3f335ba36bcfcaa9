#include "mount/mount_spec.h"

namespace nfsprov::mount {

std::string MountSource(const NfsMountSpec& spec) {
  bool v6 = spec.server.find(':') != std::string::npos;
  return (v6 ? "[" + spec.server + "]" : spec.server) + ":" + spec.remote_path;
}

}  // namespace nfsprov::mount
