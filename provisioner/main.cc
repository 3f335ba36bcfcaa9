// nfsprov: one binary, one subcommand per role.
//
//   nfsprov controller --endpoint unix:///csi/csi.sock [--share nfs://server/export ...]
//   nfsprov node --endpoint unix:///csi/csi.sock --node-id NAME [--mounter kernel|fuse]
//   nfsprov fuse-mount --url nfs://server/export/dir --target DIR [--read-only]
//                      [--quota-share nfs://server/export --quota-key KEY [--quota-poll 2]]
//   nfsprov lockd --endpoint tcp://0.0.0.0:7070 --lock-key-file /etc/nfsprov/lock-key
//                 [--tls-cert F --tls-key F [--tls-client-ca F]]
//   nfsprov lock --volume-dir DIR --name NAME [--shared] [--ttl 15] [--timeout S] -- CMD [ARG...]
//   nfsprov volumes --server HOST --share /export [--output table|json]
//   nfsprov version
//
// Every subcommand has --help. Logs go to stderr (text or JSON lines). SIGTERM and SIGINT stop a
// server gracefully: in-flight calls finish (up to --shutdown-grace), the socket file is removed.
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/idle_trim.h"
#include "common/logging.h"
#include "csi/controller_service.h"
#include "csi/endpoint.h"
#include "csi/identity_service.h"
#include "csi/metrics_server.h"
#include "csi/node_service.h"
#include "csi/server.h"
#include "fusefs/fuse_mount.h"
#include "lockd/lock_command.h"
#include "lockd/lock_file.h"
#include "lockd/lock_secret.h"
#include "lockd/lock_service.h"
#include "lockd/server_tls.h"
#include "mount/fuse_mounter.h"
#include "mount/kernel_mounter.h"
#include "nfs/url.h"
#include "provisioner/controller.h"
#include "provisioner/node.h"
#include "provisioner/object_id.h"
#include "provisioner/quota.h"
#include "provisioner/usage_reader.h"
#include "provisioner/volumes_report.h"

namespace nfsprov {
namespace {

constexpr const char* kDefaultDriverName = "nfsprov.csi.dev";

struct CommonFlags {
  std::string endpoint;
  std::string driver_name = kDefaultDriverName;
  std::string log_format = "text";
  std::string log_level = "info";
  int shutdown_grace_s = 30;
  std::string metrics_address;  // empty: no metrics or health endpoint
};

struct ControllerFlags {
  std::vector<std::string> shares;
  int reap_interval_s = 30;
  double usage_interval_s = 60;
  int usage_concurrency = 2;
  int nfs_timeout_s = 30;
  std::string lock_key_file;  // locks: "true" classes (docs/locks.md)
  std::string lockd_address;
  std::string lockd_ca_file;
};

struct NodeFlags {
  std::string node_id;
  std::string mounter = "kernel";
  std::string state_dir = "/var/lib/nfsprov";
  std::vector<std::string> topology;
  int probe_timeout_s = 3;
  int nfs_timeout_s = 10;
  int idle_trim_after_s = 60;  // 0: never
};

struct LockdFlags {
  std::string key_file;
  lockd::ServerTlsFiles tls;
  int nfs_timeout_s = 10;
};

// Read-only quota enforcement for `fuse-mount`: where the volume's usage record is.
struct FuseQuotaFlags {
  std::string share_url;  // the share root, e.g. nfs://server/export?version=4
  std::string key;        // the volume's key
  double poll_s = 2;
};

// The flags of every gRPC server; the CSI ones (controller, node) also take --driver-name.
void AddServerFlags(CLI::App* cmd, CommonFlags* flags) {
  cmd->add_option("--endpoint", flags->endpoint,
                  "gRPC endpoint: unix:///path/csi.sock or tcp://host:port")->required();
  cmd->add_option("--log-format", flags->log_format, "text or json")->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", flags->shutdown_grace_s,
                  "seconds in-flight calls get to finish on SIGTERM")->capture_default_str();
  cmd->add_option("--metrics-address", flags->metrics_address,
                  "serve /metrics (Prometheus) and /healthz over HTTP on HOST:PORT or :PORT "
                  "(docs/metrics.md); off when empty");
}

void AddCommonFlags(CLI::App* cmd, CommonFlags* flags) {
  AddServerFlags(cmd, flags);
  cmd->add_option("--driver-name", flags->driver_name, "CSI driver name")->capture_default_str();
}

Result<ShareRef> ShareFromUrl(const std::string& text) {
  Result<nfs::NfsUrl> url = nfs::ParseNfsUrl(text);
  if (!url.ok()) return url.status().WithContext("--share");
  ShareRef share;
  share.server = url->host;
  share.share = url->export_path;
  share.port = url->nfs_port;
  share.nfs_version = std::to_string(url->version);
  return share;
}

// Blocks SIGTERM and SIGINT in every thread (call before starting any) and waits for one.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int WaitForStopSignal(const sigset_t& set) {
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

int Fail(const Status& status) {
  spdlog::error("{}", status.ToString());
  return 1;
}

// What every server checks first: the logging flags, the driver name and the endpoint.
Result<csi::Endpoint> PrepareServer(const CommonFlags& common) {
  NFSPROV_RETURN_IF_ERROR(ConfigureLogging(common.log_format, common.log_level));
  NFSPROV_RETURN_IF_ERROR(csi::ValidateDriverName(common.driver_name));
  return csi::ParseEndpoint(common.endpoint);
}

// Serves until SIGTERM or SIGINT (blocked in `stop` before any thread started), then lets
// in-flight calls finish within the grace period and removes the socket. With --metrics-address,
// /healthz says OK from the moment gRPC serves until the stop begins.
int ServeUntilStopped(const CommonFlags& common, const sigset_t& stop, const csi::Endpoint& endpoint,
                      std::vector<grpc::Service*> services, const std::string& role,
                      std::shared_ptr<grpc::ServerCredentials> credentials = nullptr) {
  std::unique_ptr<csi::MetricsServer> metrics_server;
  if (!common.metrics_address.empty()) {
    Result<std::unique_ptr<csi::MetricsServer>> started =
        csi::MetricsServer::Start(common.metrics_address, metrics::Default());
    if (!started.ok()) return Fail(started.status().WithContext("--metrics-address"));
    metrics_server = std::move(started).value();
  }
  Result<std::unique_ptr<csi::CsiServer>> server =
      csi::CsiServer::Start(endpoint, std::move(services), std::move(credentials));
  if (!server.ok()) return Fail(server.status());
  if (metrics_server) metrics_server->SetHealth(Status());
  spdlog::info("nfsprov {} {} serving {} as {}", NFSPROV_VERSION, role, common.endpoint,
               common.driver_name);
  int signal = WaitForStopSignal(stop);
  spdlog::info("received signal {}; stopping (grace {} s)", signal, common.shutdown_grace_s);
  if (metrics_server) metrics_server->SetHealth(Unavailable("shutting down"));
  (*server)->Shutdown(std::chrono::seconds(common.shutdown_grace_s));
  if (metrics_server) metrics_server->Stop();
  spdlog::info("stopped");
  return 0;
}

int RunController(const CommonFlags& common, const ControllerFlags& flags) {
  sigset_t stop = BlockStopSignals();
  Result<csi::Endpoint> endpoint = PrepareServer(common);
  if (!endpoint.ok()) return Fail(endpoint.status());

  ControllerOptions options;
  options.client.call_timeout = std::chrono::seconds(flags.nfs_timeout_s);
  options.reap_interval = std::chrono::seconds(flags.reap_interval_s);
  options.usage.interval = std::chrono::milliseconds(static_cast<int64_t>(flags.usage_interval_s * 1000));
  options.usage.concurrency = flags.usage_concurrency;
  for (const std::string& text : flags.shares) {
    Result<ShareRef> share = ShareFromUrl(text);
    if (!share.ok()) return Fail(share.status());
    options.shares.push_back(*share);
  }
  if (flags.lock_key_file.empty() != flags.lockd_address.empty())
    return Fail(InvalidArgument("--lock-key-file and --lockd-address go together"));
  if (!flags.lockd_ca_file.empty() && flags.lock_key_file.empty())
    return Fail(InvalidArgument("--lockd-ca-file needs --lock-key-file and --lockd-address"));
  if (!flags.lock_key_file.empty()) {
    Result<lockd::LockKey> key = lockd::LockKey::FromFile(flags.lock_key_file);
    if (!key.ok()) return Fail(key.status().WithContext("--lock-key-file"));
    std::string ca_pem;
    if (!flags.lockd_ca_file.empty()) {
      Result<std::string> ca = lockd::ReadPemFile(flags.lockd_ca_file);
      if (!ca.ok()) return Fail(ca.status().WithContext("--lockd-ca-file"));
      ca_pem = *ca;
    }
    options.lock_file = [key = std::move(key).value(), address = flags.lockd_address,
                         ca_pem](const std::string& volume_id) {
      return lockd::ToJson(lockd::LockFile{volume_id, address, key.SecretFor(volume_id), ca_pem});
    };
  }
  Controller controller(options);
  csi::IdentityService identity(common.driver_name, NFSPROV_VERSION, /*controller_service=*/true,
                                /*online_expansion=*/true, [] { return Status(); });
  csi::ControllerService controller_service(controller);
  return ServeUntilStopped(common, stop, *endpoint, {&identity, &controller_service},
                           "controller (" + std::to_string(options.shares.size()) +
                               " configured shares)");
}

int RunLockd(const CommonFlags& common, const LockdFlags& flags) {
  sigset_t stop = BlockStopSignals();
  Result<csi::Endpoint> endpoint = PrepareServer(common);
  if (!endpoint.ok()) return Fail(endpoint.status());
  Result<lockd::LockKey> key = lockd::LockKey::FromFile(flags.key_file);
  if (!key.ok()) return Fail(key.status().WithContext("--lock-key-file"));
  Result<std::shared_ptr<grpc::ServerCredentials>> credentials =
      lockd::ServerCredentialsFor(flags.tls);
  if (!credentials.ok()) return Fail(credentials.status());

  lockd::LockServiceOptions options;
  options.client_options.call_timeout = std::chrono::seconds(flags.nfs_timeout_s);
  lockd::LockService service(std::move(key).value(), options);
  const std::string role = *credentials == nullptr ? "lockd (plaintext)" : "lockd (TLS)";
  return ServeUntilStopped(common, stop, *endpoint, {&service}, role, *credentials);
}

// The mounter the node uses. FUSE daemons are this same binary, started detached; their logs and
// pid files live under the state directory, which must survive a restart of the plugin.
Result<std::unique_ptr<mount::Mounter>> MakeMounter(const NodeFlags& flags) {
  if (flags.mounter == "kernel")
    return std::unique_ptr<mount::Mounter>(std::make_unique<mount::KernelMounter>());
  if (flags.mounter != "fuse")
    return InvalidArgument("--mounter \"" + flags.mounter + "\": use kernel or fuse");
  if (::access("/dev/fuse", R_OK | W_OK) != 0)
    return FailedPrecondition("--mounter fuse needs /dev/fuse (run privileged, or mount it in)");
  std::error_code error;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", error).string();
  if (error) return Internal("cannot find this binary's path: " + error.message());
  return std::unique_ptr<mount::Mounter>(
      std::make_unique<mount::FuseMounter>(self, flags.state_dir + "/fuse"));
}

Result<std::map<std::string, std::string>> ParseTopology(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> topology;
  for (const std::string& pair : pairs) {
    std::size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size())
      return InvalidArgument("--topology \"" + pair + "\": use key=value");
    topology[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return topology;
}

int RunNode(const CommonFlags& common, const NodeFlags& flags) {
  sigset_t stop = BlockStopSignals();
  Result<csi::Endpoint> endpoint = PrepareServer(common);
  if (!endpoint.ok()) return Fail(endpoint.status());
  Result<std::map<std::string, std::string>> topology = ParseTopology(flags.topology);
  if (!topology.ok()) return Fail(topology.status());
  Result<std::unique_ptr<mount::Mounter>> mounter = MakeMounter(flags);
  if (!mounter.ok()) return Fail(mounter.status());

  NodeOptions options;
  options.probe_timeout = std::chrono::seconds(flags.probe_timeout_s);
  options.nfs_timeout = std::chrono::seconds(flags.nfs_timeout_s);
  Node node(options, std::move(mounter).value());
  csi::IdentityService identity(common.driver_name, NFSPROV_VERSION, /*controller_service=*/false,
                                /*online_expansion=*/false, [] { return Status(); });
  csi::NodeService node_service(node, {flags.node_id, *topology});
  std::optional<IdleTrimmer> trimmer;
  if (flags.idle_trim_after_s > 0) trimmer.emplace(std::chrono::seconds(flags.idle_trim_after_s));
  // Mounts stay when the plugin stops: pods keep using them, and the next plugin finds them.
  return ServeUntilStopped(common, stop, *endpoint, {&identity, &node_service},
                           "node " + flags.node_id + " (" + flags.mounter + " mounter)");
}

// Runs in the foreground until the mount is unmounted; the node plugin starts it detached so the
// mount outlives a restart of the plugin, as a kernel mount does.
int RunFuseMountCommand(fusefs::FuseMountOptions options, const FuseQuotaFlags& quota,
                        const std::string& log_level) {
  if (Status s = ConfigureLogging("text", log_level); !s.ok()) return Fail(s);
  if (!quota.key.empty()) {
    Result<nfs::NfsUrl> share = nfs::ParseNfsUrl(quota.share_url);
    if (!share.ok()) return Fail(share.status().WithContext("--quota-share"));
    if (!IsValidKey(quota.key))
      return Fail(InvalidArgument("--quota-key \"" + quota.key + "\" is not a volume key"));
    // The usage record is read over a connection of its own, made at the first poll, so an
    // unreachable share delays no mount; the fusefs side keeps the last answer meanwhile. A poll
    // that hangs only delays the next one (and the daemon's exit, by at most this timeout).
    nfs::ClientOptions client;
    client.call_timeout = client.connect_timeout = std::chrono::seconds(10);
    auto reader = std::make_shared<UsageReader>(client);
    options.over_quota = [reader, url = *share, key = quota.key]() -> Result<bool> {
      Result<std::optional<UsageRecord>> usage = reader->ReadUsage(url, key);
      if (!usage.ok()) return usage.status();
      return usage->has_value() && OverQuota(**usage).has_value();
    };
    options.quota_poll = std::chrono::milliseconds(static_cast<int64_t>(quota.poll_s * 1000));
    options.quota_name = quota.key;
  }
  Status served = fusefs::RunFuseMount(options);
  if (!served.ok()) return Fail(served);
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"nfsprov: a CSI driver for NFS (controller, node plugin, lock service)"};
  app.require_subcommand(1);

  CommonFlags controller_common;
  ControllerFlags controller_flags;
  CLI::App* controller = app.add_subcommand("controller", "serve CSI Identity + Controller");
  AddCommonFlags(controller, &controller_common);
  controller->add_option("--share", controller_flags.shares,
                         "NFS export the controller lists and cleans even before a request names "
                         "it (repeatable), e.g. nfs://nfs.example.com/export?version=4");
  controller->add_option("--reap-interval", controller_flags.reap_interval_s,
                         "seconds between trash sweeps")->capture_default_str();
  controller->add_option("--usage-interval", controller_flags.usage_interval_s,
                         "seconds between two usage scans of a volume (docs/quota.md)")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  controller->add_option("--usage-concurrency", controller_flags.usage_concurrency,
                         "volumes scanned at the same time, per share")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  controller->add_option("--nfs-timeout", controller_flags.nfs_timeout_s,
                         "seconds one NFS call may take, reconnects included")->capture_default_str();
  controller->add_option("--lock-key-file", controller_flags.lock_key_file,
                         "file with the driver's lock key (the one lockd has), for StorageClasses "
                         "with locks: \"true\"");
  controller->add_option("--lockd-address", controller_flags.lockd_address,
                         "host:port where pods reach lockd, written into each lock file");
  controller->add_option("--lockd-ca-file", controller_flags.lockd_ca_file,
                         "CA certificate (PEM) of lockd's TLS certificate, written into each lock "
                         "file so clients verify lockd");

  CommonFlags node_common;
  NodeFlags node_flags;
  CLI::App* node = app.add_subcommand("node", "serve CSI Identity + Node (the per-node plugin)");
  AddCommonFlags(node, &node_common);
  node->add_option("--node-id", node_flags.node_id, "this node's name (the Kubernetes node name)")
      ->required();
  node->add_option("--mounter", node_flags.mounter,
                   "kernel (mount -t nfs) or fuse (built-in user-space NFS client)")
      ->capture_default_str();
  node->add_option("--state-dir", node_flags.state_dir,
                   "host directory for FUSE daemon logs and pid files (keep it across restarts)")
      ->capture_default_str();
  node->add_option("--topology", node_flags.topology,
                   "key=value reported as this node's accessible topology (repeatable)");
  node->add_option("--probe-timeout", node_flags.probe_timeout_s,
                   "seconds a mount health check may take before the mount counts as unresponsive")
      ->capture_default_str();
  node->add_option("--nfs-timeout", node_flags.nfs_timeout_s,
                   "seconds one NFS call reading a volume's usage records may take, connecting "
                   "included (NodeGetVolumeStats)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  node->add_option("--idle-trim-after", node_flags.idle_trim_after_s,
                   "seconds without CSI calls after which the plugin gives the pages it is not "
                   "using back to the kernel (0: never; docs/node.md)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();

  CommonFlags lockd_common;
  LockdFlags lockd_flags;
  CLI::App* lockd_cmd = app.add_subcommand(
      "lockd", "serve the lock service: leases with fencing tokens, kept on the NFS share (docs/locks.md)");
  AddServerFlags(lockd_cmd, &lockd_common);
  lockd_cmd->add_option("--lock-key-file", lockd_flags.key_file,
                        "file with the driver's lock key (at least 32 bytes; the controller's "
                        "--lock-key-file)")->required();
  lockd_cmd->add_option("--tls-cert", lockd_flags.tls.cert_file, "serve TLS with this certificate (PEM)");
  lockd_cmd->add_option("--tls-key", lockd_flags.tls.key_file, "private key of --tls-cert (PEM)");
  lockd_cmd->add_option("--tls-client-ca", lockd_flags.tls.client_ca_file,
                        "require client certificates signed by this CA (PEM)");
  lockd_cmd->add_option("--nfs-timeout", lockd_flags.nfs_timeout_s,
                        "seconds one NFS call may take, reconnects included")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  fusefs::FuseMountOptions fuse_options;
  std::string fuse_log_level = "info";
  CLI::App* fuse_mount =
      app.add_subcommand("fuse-mount", "mount an NFS directory with the built-in user-space client");
  fuse_mount->add_option("--url", fuse_options.url, "nfs://server[:port]/path?version=3|4")->required();
  fuse_mount->add_option("--target", fuse_options.target, "directory to mount on")->required();
  fuse_mount->add_option("--fsname", fuse_options.fsname, "source shown in mountinfo (server:/path)");
  fuse_mount->add_flag("--read-only", fuse_options.read_only, "mount read-only");
  FuseQuotaFlags fuse_quota;
  CLI::Option* quota_share = fuse_mount->add_option(
      "--quota-share", fuse_quota.share_url,
      "refuse new data while the volume is over quota: nfs:// URL of the share root holding its "
      "usage record (with --quota-key)");
  CLI::Option* quota_key =
      fuse_mount->add_option("--quota-key", fuse_quota.key, "the volume's key (with --quota-share)");
  quota_share->needs(quota_key);
  quota_key->needs(quota_share);
  fuse_mount->add_option("--quota-poll", fuse_quota.poll_s, "seconds between two usage reads")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  fuse_mount->add_option("--log-level", fuse_log_level, "trace, debug, info, warn or error")
      ->capture_default_str();

  lockd::LockCommandOptions lock_options;
  bool lock_shared = false;
  double lock_ttl_s = 15;
  double lock_timeout_s = -1;
  CLI::App* lock_cmd = app.add_subcommand(
      "lock", "run CMD while holding a lock of a volume provisioned with locks: \"true\", like "
              "flock(1) across nodes. CMD gets NFSPROV_LOCK_TOKEN (fencing token), "
              "NFSPROV_LOCK_NAME and NFSPROV_LOCK_LEASE. Exit status: CMD's, or 75 not acquired "
              "in time, 76 lease lost (CMD was stopped), 77 other lock errors (docs/locks.md)");
  lock_cmd->add_option("--volume-dir", lock_options.volume_dir,
                       "where the volume is mounted (holds .nfsprov-lock.json)")->required();
  lock_cmd->add_option("--name", lock_options.name,
                       "lock name: 1-200 of [A-Za-z0-9._:-], not starting with '.'")->required();
  lock_cmd->add_flag("--shared", lock_shared, "share the lock with other --shared holders");
  lock_cmd->add_option("--ttl", lock_ttl_s,
                       "seconds the lease lasts unrenewed (1-3600; renewed every third of it; "
                       "CMD is stopped when renewals fail for three quarters of it)")
      ->capture_default_str();
  CLI::Option* lock_timeout =
      lock_cmd->add_option("--timeout", lock_timeout_s,
                           "seconds to wait for the lock (0: try once; absent: wait indefinitely)")
          ->check(CLI::NonNegativeNumber);
  CLI::Option* lock_cert = lock_cmd->add_option(
      "--tls-cert", lock_options.tls.cert_file,
      "client certificate (PEM) for a lockd that requires one (with --tls-key)");
  CLI::Option* lock_key =
      lock_cmd->add_option("--tls-key", lock_options.tls.key_file, "private key of --tls-cert (PEM)");
  lock_cert->needs(lock_key);
  lock_key->needs(lock_cert);
  lock_cmd->add_option("command", lock_options.command, "the command to run, after --")->required();

  VolumesCommand volumes_command;
  CLI::App* volumes = app.add_subcommand(
      "volumes", "list a share's volumes, shared roots, orphans and trash (read-only; exit 2: share unreadable)");
  volumes->add_option("--server", volumes_command.share.server, "NFS server")->required();
  volumes->add_option("--share", volumes_command.share.share, "export path, e.g. /export/k8s")->required();
  volumes->add_option("--port", volumes_command.share.port, "NFS port (0: the default)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  volumes->add_option("--nfs-version", volumes_command.share.nfs_version, "3 or 4")
      ->check(CLI::IsMember({"3", "4"}))
      ->capture_default_str();
  volumes->add_option("--output", volumes_command.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  volumes->add_option("--nfs-timeout", volumes_command.nfs_timeout_s,
                      "seconds one NFS call may take, connecting included")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  CLI::App* version = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);
  if (version->parsed()) {
    std::printf("nfsprov %s\n", NFSPROV_VERSION);
    return 0;
  }
  if (fuse_mount->parsed()) return RunFuseMountCommand(fuse_options, fuse_quota, fuse_log_level);
  if (volumes->parsed()) {
    // stdout carries the report (JSON for scripts): anything the NFS layer logs goes to stderr.
    if (Status s = ConfigureLogging("text", "warn"); !s.ok()) return Fail(s);
    return RunVolumes(volumes_command, std::cout, std::cerr);
  }
  if (node->parsed()) return RunNode(node_common, node_flags);
  if (lockd_cmd->parsed()) return RunLockd(lockd_common, lockd_flags);
  if (lock_cmd->parsed()) {
    if (Status s = ConfigureLogging("text", "warn"); !s.ok()) return Fail(s);
    lock_options.mode = lock_shared ? lockd::LockMode::kShared : lockd::LockMode::kExclusive;
    lock_options.ttl = std::chrono::milliseconds(std::llround(lock_ttl_s * 1000));
    if (lock_timeout->count() > 0)
      lock_options.timeout = std::chrono::milliseconds(std::llround(lock_timeout_s * 1000));
    return lockd::RunLockCommand(lock_options);
  }
  return RunController(controller_common, controller_flags);
}

}  // namespace
}  // namespace nfsprov

int main(int argc, char** argv) { return nfsprov::Main(argc, argv); }
