// nfsprov: one binary, one subcommand per role.
//
//   nfsprov controller --endpoint unix:///csi/csi.sock [--share nfs://server/export ...]
//   nfsprov version
//
// Every subcommand has --help. Logs go to stderr (text or JSON lines). SIGTERM and SIGINT stop a
// server gracefully: in-flight calls finish (up to --shutdown-grace), the socket file is removed.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "csi/controller_service.h"
#include "csi/endpoint.h"
#include "csi/identity_service.h"
#include "csi/server.h"
#include "nfs/url.h"
#include "provisioner/controller.h"

namespace nfsprov {
namespace {

constexpr const char* kDefaultDriverName = "nfsprov.csi.dev";

struct CommonFlags {
  std::string endpoint;
  std::string driver_name = kDefaultDriverName;
  std::string log_format = "text";
  std::string log_level = "info";
  int shutdown_grace_s = 30;
};

struct ControllerFlags {
  std::vector<std::string> shares;
  int reap_interval_s = 30;
  int nfs_timeout_s = 30;
};

void AddCommonFlags(CLI::App* cmd, CommonFlags* flags) {
  cmd->add_option("--endpoint", flags->endpoint,
                  "CSI endpoint: unix:///path/csi.sock or tcp://host:port")->required();
  cmd->add_option("--driver-name", flags->driver_name, "CSI driver name")->capture_default_str();
  cmd->add_option("--log-format", flags->log_format, "text or json")->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", flags->shutdown_grace_s,
                  "seconds in-flight calls get to finish on SIGTERM")->capture_default_str();
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

int RunController(const CommonFlags& common, const ControllerFlags& flags) {
  sigset_t stop = BlockStopSignals();
  if (Status s = ConfigureLogging(common.log_format, common.log_level); !s.ok()) {
    std::fprintf(stderr, "nfsprov: %s\n", s.ToString().c_str());
    return 2;
  }
  if (Status s = csi::ValidateDriverName(common.driver_name); !s.ok()) return Fail(s);
  Result<csi::Endpoint> endpoint = csi::ParseEndpoint(common.endpoint);
  if (!endpoint.ok()) return Fail(endpoint.status());

  ControllerOptions options;
  options.client.call_timeout = std::chrono::seconds(flags.nfs_timeout_s);
  options.reap_interval = std::chrono::seconds(flags.reap_interval_s);
  for (const std::string& text : flags.shares) {
    Result<ShareRef> share = ShareFromUrl(text);
    if (!share.ok()) return Fail(share.status());
    options.shares.push_back(*share);
  }
  Controller controller(options);
  csi::IdentityService identity(common.driver_name, NFSPROV_VERSION, /*controller_service=*/true,
                                /*online_expansion=*/true, [] { return Status(); });
  csi::ControllerService controller_service(controller);
  Result<std::unique_ptr<csi::CsiServer>> server =
      csi::CsiServer::Start(*endpoint, {&identity, &controller_service});
  if (!server.ok()) return Fail(server.status());
  spdlog::info("nfsprov {} controller serving {} as {} ({} configured shares)", NFSPROV_VERSION,
               common.endpoint, common.driver_name, options.shares.size());

  int signal = WaitForStopSignal(stop);
  spdlog::info("received signal {}; stopping (grace {} s)", signal, common.shutdown_grace_s);
  (*server)->Shutdown(std::chrono::seconds(common.shutdown_grace_s));
  spdlog::info("stopped");
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
  controller->add_option("--nfs-timeout", controller_flags.nfs_timeout_s,
                         "seconds one NFS call may take, reconnects included")->capture_default_str();

  CLI::App* version = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);
  if (version->parsed()) {
    std::printf("nfsprov %s\n", NFSPROV_VERSION);
    return 0;
  }
  return RunController(controller_common, controller_flags);
}

}  // namespace
}  // namespace nfsprov

int main(int argc, char** argv) { return nfsprov::Main(argc, argv); }
