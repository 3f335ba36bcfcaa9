// The deploy manifests, run: every container of deploy/overlays/* (and deploy/base) that runs
// nfsprov is started from the real binary with exactly the arguments the manifest gives it, then
// probed the way kubelet and the sidecars would (CSI Identity over its socket, lockd's gRPC port,
// /healthz on --metrics-address), and stopped with SIGTERM (must exit 0). A flag the binary no
// longer has fails here, naming the container and the argument. The pods' containers are also
// checked against each other: sidecars reach nfsprov's socket through their own volume mounts,
// the registrar registers the socket's host path, liveness probes hit ports something serves, the
// controller's --lockd-address reaches lockd through its Service.
//
// The manifests are rendered and schema-checked by hack/manifests/check.mjs (node, kubectl), run
// from here with --out so that ctest alone runs everything.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "csi/csi.grpc.pb.h"
#include "e2e/driver_process.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/run_command.h"
#include "tests/support/test_certs.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- small helpers --------------------------------------------------------------------------

std::string Join(const std::vector<std::string>& v, const std::string& sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

// A port nothing listens on now (the kernel picks it; it stays free until the driver binds it).
int FreePort() {
  Result<int> port = testing::PickFreePort();
  return port.ok() ? *port : -1;
}

// A lock key in the format docs/locks.md gives (head -c 48 /dev/urandom | base64 -w0).
std::string NewLockKey() {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::random_device rd;
  std::string key;
  for (int i = 0; i < 64; ++i) key += alphabet[rd() % 64];
  return key;
}

std::string Base64Decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (unsigned char c : in) {
    const char* p = std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c);
    if (c == '=' || p == nullptr || c == '\0') continue;
    val = (val << 6) + static_cast<int>(p - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

std::string Basename(const std::string& s) {
  size_t slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

// The image's repository without tag or digest: "registry/x/nfsprov:0.1" -> "registry/x/nfsprov".
std::string ImageName(const std::string& image) {
  std::string name = image.substr(0, image.find('@'));
  size_t colon = name.rfind(':');
  size_t slash = name.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) name = name.substr(0, colon);
  return name;
}

// Kubernetes' $(VAR) expansion of command, args and env values: $$ is a literal $, an undefined
// variable stays as written.
std::string Expand(const std::string& s, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      size_t close = s.find(')', i + 2);
      if (close == std::string::npos) {
        out += s.substr(i);
        break;
      }
      std::string name = s.substr(i + 2, close - i - 2);
      auto it = env.find(name);
      out += it != env.end() ? it->second : s.substr(i, close - i + 1);
      i = close;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Values for fieldRef env variables, as the downward API would give them on a test node.
std::optional<std::string> FieldRefValue(const std::string& field, const json& object) {
  if (field == "spec.nodeName") return "test-node-1";
  if (field == "metadata.name") return object["metadata"].value("name", "pod") + "-test";
  if (field == "metadata.namespace") return object["metadata"].value("namespace", "default");
  if (field == "status.podIP" || field == "status.hostIP") return "127.0.0.1";
  if (field == "spec.serviceAccountName") return object["spec"]["template"]["spec"].value("serviceAccountName", "default");
  return std::nullopt;
}

// ---- flags --------------------------------------------------------------------------------

// The value of --name in args ("--name=v" or "--name v"); nullopt when absent.
std::optional<std::string> FlagValue(const std::vector<std::string>& args, const std::string& name) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind(name + "=", 0) == 0) return args[i].substr(name.size() + 1);
    if (args[i] == name && i + 1 < args.size()) return args[i + 1];
  }
  return std::nullopt;
}

// Replaces the value of --name (either form) by f(value).
template <typename F>
void RewriteFlag(std::vector<std::string>* args, const std::string& name, F f) {
  for (size_t i = 0; i < args->size(); ++i) {
    std::string& a = (*args)[i];
    if (a.rfind(name + "=", 0) == 0) a = name + "=" + f(a.substr(name.size() + 1));
    else if (a == name && i + 1 < args->size()) (*args)[i + 1] = f((*args)[i + 1]);
  }
}

// "host:port", ":port", "tcp://host:port" -> port (or -1).
int PortOf(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  try {
    return std::stoi(address.substr(colon + 1));
  } catch (...) {
    return -1;
  }
}

std::string WithPort(const std::string& address, int port) {
  return address.substr(0, address.rfind(':') + 1) + std::to_string(port);
}

std::string JoinPorts(const std::set<int>& ports) {
  std::vector<std::string> v;
  for (int p : ports) v.push_back(std::to_string(p));
  return v.empty() ? "none" : Join(v, ", ");
}

// ---- pods -------------------------------------------------------------------------------------

struct Mount {
  std::string path;    // mountPath, without a trailing slash
  std::string volume;  // volume name
  std::string sub;     // subPath
};

struct Pod {
  std::string what;     // "Deployment nfsprov/nfsprov-controller", for messages
  json object;          // the workload
  json spec;            // its pod spec
  fs::path dir;         // where its volumes are, one directory each
};

std::vector<Mount> MountsOf(const json& container) {
  std::vector<Mount> mounts;
  for (const json& m : container.value("volumeMounts", json::array())) {
    std::string path = m.value("mountPath", "");
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    mounts.push_back({path, m.value("name", ""), m.value("subPath", "")});
  }
  // Longest first: the most specific mount wins.
  std::sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) { return a.path.size() > b.path.size(); });
  return mounts;
}

// A path in a container -> (volume, path inside the volume), or nullopt when no volume holds it.
std::optional<std::pair<std::string, std::string>> ResolveInVolume(const std::string& path,
                                                                   const std::vector<Mount>& mounts) {
  for (const Mount& m : mounts) {
    if (path == m.path || path.rfind(m.path + "/", 0) == 0 || m.path == "/") {
      std::string rest = path.substr(m.path == "/" ? 0 : m.path.size());
      if (!rest.empty() && rest[0] == '/') rest = rest.substr(1);
      std::string inside = m.sub.empty() ? rest : (rest.empty() ? m.sub : m.sub + "/" + rest);
      return std::make_pair(m.volume, inside);
    }
  }
  return std::nullopt;
}

std::string SocketPathOf(const std::string& address) {
  if (address.rfind("unix://", 0) == 0) return address.substr(7);
  return address;
}

std::map<std::string, std::string> EnvOf(const json& container, const json& object, std::vector<std::string>* problems,
                                         const std::string& where) {
  std::map<std::string, std::string> env;
  for (const json& e : container.value("env", json::array())) {
    std::string name = e.value("name", "");
    if (e.contains("value")) {
      env[name] = Expand(e["value"].get<std::string>(), env);
    } else if (e.contains("valueFrom") && e["valueFrom"].contains("fieldRef")) {
      std::string field = e["valueFrom"]["fieldRef"].value("fieldPath", "");
      auto v = FieldRefValue(field, object);
      if (!v) problems->push_back(where + ": env " + name + ": no test value for fieldRef " + field);
      else env[name] = *v;
    } else if (e.contains("valueFrom") && e["valueFrom"].contains("resourceFieldRef")) {
      env[name] = "1";
    } else if (!e.contains("valueFrom")) {
      env[name] = "";
    }
  }
  return env;
}

bool IsNfsprovContainer(const json& c) {
  const std::vector<std::string> command = c.value("command", std::vector<std::string>{});
  if (!command.empty()) return Basename(command[0]) == "nfsprov";
  return Basename(ImageName(c.value("image", ""))) == "nfsprov";
}

// What `docker run IMAGE ARGS` puts before ARGS: the Dockerfile's ENTRYPOINT after nfsprov itself
// (nothing when there is no Dockerfile or the entrypoint is plain nfsprov).
std::vector<std::string> EntrypointArgs(std::vector<std::string>* problems) {
  fs::path dockerfile = fs::path(NFSPROV_SOURCE_DIR) / "Dockerfile";
  if (!fs::exists(dockerfile)) return {};
  std::istringstream in(testing::ReadWholeFile(dockerfile));
  std::string line, entrypoint;
  while (std::getline(in, line))
    if (line.rfind("ENTRYPOINT", 0) == 0) entrypoint = line.substr(10);
  json parsed = json::parse(entrypoint, nullptr, false);
  if (!parsed.is_array() || parsed.empty() || !parsed[0].is_string() || Basename(parsed[0].get<std::string>()) != "nfsprov") {
    problems->push_back("Dockerfile: ENTRYPOINT" + entrypoint + " is not [\".../nfsprov\", ...]: containers without a command would not run nfsprov");
    return {};
  }
  std::vector<std::string> rest;
  for (size_t i = 1; i < parsed.size(); ++i) rest.push_back(parsed[i].get<std::string>());
  return rest;
}

// One started nfsprov container and what to probe on it.
struct Started {
  std::string where;  // "Deployment nfsprov/x container nfsprov"
  std::string role;   // controller, node, lockd
  std::unique_ptr<DriverProcess> process;
  std::string grpc_target;
  std::optional<int> metrics_port;  // the mapped --metrics-address port
};

class Deployment {
 public:
  Deployment(json objects, fs::path dir) : objects_(std::move(objects)), dir_(std::move(dir)) {}

  // Starts every nfsprov container, probes it, checks each pod's containers against each other.
  void Run() {
    entrypoint_args_ = EntrypointArgs(&problems_);
    for (const json& o : objects_) {
      if (o.value("kind", "") == "CSIDriver") driver_names_.insert(o["metadata"].value("name", ""));
    }
    int index = 0;
    for (const json& o : objects_) {
      const std::string kind = o.value("kind", "");
      json spec;
      if (kind == "Pod") spec = o["spec"];
      else if (o.contains("spec") && o["spec"].contains("template")) spec = o["spec"]["template"]["spec"];
      else continue;
      Pod pod{kind + " " + o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", ""), o, spec,
              dir_ / ("p" + std::to_string(index++))};
      RunPod(pod);
    }
    CheckLockdAddresses();
    for (const json& o : objects_) {
      const std::string kind = o.value("kind", "");
      std::string driver;
      if (kind == "StorageClass") driver = o.value("provisioner", "");
      if (kind == "VolumeSnapshotClass") driver = o.value("driver", "");
      if (!driver.empty() && !driver_names_.count(driver))
        problems_.push_back(kind + " " + o["metadata"].value("name", "") + ": driver " + driver +
                            " is not the CSIDriver's name");
    }
  }

  // SIGTERM to each; each must exit 0.
  void StopAll() {
    for (Started& s : started_) {
      Status stopped = s.process->Stop();
      if (!stopped.ok())
        problems_.push_back(s.where + ": SIGTERM: " + stopped.ToString() + "; log:\n" + s.process->Log());
    }
    started_.clear();
  }

  const std::vector<std::string>& problems() const { return problems_; }
  size_t started_count() const { return started_total_; }

 private:
  void RunPod(const Pod& pod) {
    std::map<std::string, json> volumes;
    for (const json& v : pod.spec.value("volumes", json::array())) volumes[v.value("name", "")] = v;
    for (const auto& [name, v] : volumes) PrepareVolume(pod, name, v);

    // nfsprov's socket (volume, path in it), and the ports served in the pod.
    std::optional<std::pair<std::string, std::string>> socket;
    std::string socket_where;
    std::set<int> served_ports;
    std::vector<std::string> sidecar_health_ports;

    std::vector<json> containers = pod.spec.value("containers", json::array());
    for (const json& c : containers) {
      const std::string where = pod.what + " container " + c.value("name", "");
      std::map<std::string, std::string> env = EnvOf(c, pod.object, &problems_, where);
      std::vector<std::string> argv;
      for (const std::string& a : c.value("command", std::vector<std::string>{})) argv.push_back(Expand(a, env));
      for (const std::string& a : c.value("args", std::vector<std::string>{})) argv.push_back(Expand(a, env));
      const std::vector<Mount> mounts = MountsOf(c);

      if (IsNfsprovContainer(c)) {
        std::vector<std::string> args;
        if (c.contains("command") && !c["command"].empty()) args.assign(argv.begin() + 1, argv.end());
        else {
          args = entrypoint_args_;
          args.insert(args.end(), argv.begin(), argv.end());
        }
        // Only the servers are started; the other subcommands (an application's `nfsprov lock --
        // CMD`, `nfsprov volumes`) need a volume or a share and are not checked here.
        const std::string subcommand = args.empty() ? "" : args[0];
        if (subcommand != "controller" && subcommand != "node" && subcommand != "lockd") {
          if (subcommand != "lock" && subcommand != "volumes" && subcommand != "version")
            problems_.push_back(where + ": runs `nfsprov " + Join(args) + "`: not a subcommand this test knows");
          continue;
        }
        if (auto endpoint = FlagValue(args, "--endpoint"); endpoint && endpoint->rfind("unix://", 0) == 0) {
          socket = ResolveInVolume(SocketPathOf(*endpoint), mounts);
          socket_where = where;
          if (!socket) problems_.push_back(where + ": --endpoint " + *endpoint + " is on no volume: the sidecars cannot reach it");
        }
        if (auto m = FlagValue(args, "--metrics-address")) served_ports.insert(PortOf(*m));
        StartNfsprov(pod, c, where, args, mounts, volumes);
      } else {
        // Sidecars serving their own health endpoint (livenessprobe; node-driver-registrar too).
        auto endpoint = FlagValue(argv, "--http-endpoint");
        if (endpoint) served_ports.insert(PortOf(*endpoint));
        if (Basename(ImageName(c.value("image", ""))) == "livenessprobe") {
          auto port = FlagValue(argv, "--health-port");
          int p = endpoint ? PortOf(*endpoint) : port ? std::atoi(port->c_str()) : 9808;
          served_ports.insert(p);
          sidecar_health_ports.push_back(std::to_string(p));
        }
      }
    }
    // The sidecars, once nfsprov's socket is known (whatever the order of the containers).
    for (const json& c : containers) {
      if (IsNfsprovContainer(c)) continue;
      const std::string where = pod.what + " container " + c.value("name", "");
      std::map<std::string, std::string> env;
      for (const json& e : c.value("env", json::array()))
        if (e.contains("value")) env[e.value("name", "")] = Expand(e["value"].get<std::string>(), env);
      std::vector<std::string> argv;
      for (const std::string& a : c.value("args", std::vector<std::string>{})) argv.push_back(Expand(a, env));
      if (auto address = FlagValue(argv, "--csi-address")) CheckSidecarSocket(where, *address, MountsOf(c), socket, socket_where);
      if (auto path = FlagValue(argv, "--kubelet-registration-path")) CheckRegistrationPath(where, *path, socket, volumes);
    }
    CheckLivenessProbes(pod, containers, served_ports, sidecar_health_ports);
  }

  void PrepareVolume(const Pod& pod, const std::string& name, const json& v) {
    fs::path dir = pod.dir / name;
    fs::create_directories(dir);
    if (v.contains("secret")) {
      const std::string secret = v["secret"].value("secretName", "");
      json data = SecretData(secret);
      for (const json& item : v["secret"].value("items", json::array())) {
        const std::string key = item.value("key", "");
        WriteFile(dir / item.value("path", key), data.contains(key) ? data[key].get<std::string>() : NewLockKey());
      }
      if (!v["secret"].contains("items"))
        for (auto& [key, value] : data.items()) WriteFile(dir / key, value.get<std::string>());
    } else if (v.contains("configMap")) {
      for (const json& o : objects_)
        if (o.value("kind", "") == "ConfigMap" && o["metadata"].value("name", "") == v["configMap"].value("name", "")) {
          const json data = o.value("data", json::object());
          for (auto& [key, value] : data.items()) WriteFile(dir / key, value.get<std::string>());
        }
    }
  }

  // The Secret's data when the manifests hold it; otherwise the user creates it (docs/install.md).
  json SecretData(const std::string& name) {
    json data = json::object();
    for (const json& o : objects_) {
      if (o.value("kind", "") != "Secret" || o["metadata"].value("name", "") != name) continue;
      const json encoded = o.value("data", json::object());
      for (auto& [k, v] : encoded.items()) data[k] = Base64Decode(v.get<std::string>());
      const json plain = o.value("stringData", json::object());
      for (auto& [k, v] : plain.items()) data[k] = v;
    }
    return data;
  }

  // Maps the container's paths to the volumes' directories and its listen ports to free ones, then
  // starts it with those arguments.
  void StartNfsprov(const Pod& pod, const json& c, const std::string& where, std::vector<std::string> args,
                    const std::vector<Mount>& mounts, const std::map<std::string, json>& volumes) {
    const std::vector<std::string> original = args;
    if (!original.empty() && original[0] == "lockd") lockds_.push_back({where, pod.object, c, FlagValue(original, "--endpoint").value_or("")});
    if (auto address = FlagValue(original, "--lockd-address")) lockd_addresses_.push_back({where, *address});
    for (std::string& a : args) {
      // A path in the argument: "/x", "unix:///x", "--flag=/x" or "--flag=unix:///x".
      size_t value = a.rfind("--", 0) == 0 && a.find('=') != std::string::npos ? a.find('=') + 1 : 0;
      size_t start = a.compare(value, 8, "unix:///") == 0 ? value + 7
                     : a.compare(value, 1, "/") == 0 ? value : std::string::npos;
      if (start == std::string::npos) continue;
      std::string path = a.substr(start);
      auto in_volume = ResolveInVolume(path, mounts);
      if (!in_volume) {
        problems_.push_back(where + ": argument " + a + ": " + path + " is on no volume (it would be in the image's filesystem)");
        continue;
      }
      fs::path mapped = pod.dir / in_volume->first / in_volume->second;
      auto v = volumes.find(in_volume->first);
      if (v == volumes.end()) {
        problems_.push_back(where + ": volumeMount " + in_volume->first + " has no volume");
        continue;
      }
      // A file in a Secret the user creates (the lock key, docs/locks.md): make one of the right format.
      if (v->second.contains("secret") && !fs::exists(mapped) && !in_volume->second.empty())
        WriteFile(mapped, NewLockKey() + "\n");
      a = a.substr(0, start) + mapped.string();
    }
    // Listen ports: remapped to free loopback ports. In the cluster each pod has its own network
    // namespace, so ports that are equal in two pods (or privileged, or busy on this machine) would
    // collide here; addresses are kept, only ports change. Socket paths are not changed beyond the
    // volume mapping above.
    std::string target;
    RewriteFlag(&args, "--endpoint", [&](const std::string& e) {
      if (e.rfind("tcp://", 0) != 0) return e;
      int port = FreePort();
      target = "127.0.0.1:" + std::to_string(port);
      return WithPort(e, port);
    });
    if (auto e = FlagValue(args, "--endpoint"); e && e->rfind("unix://", 0) == 0) {
      target = *e;
      // Never serve on this machine's own paths.
      if (target.rfind("unix://" + dir_.string() + "/", 0) != 0) {
        problems_.push_back(where + ": --endpoint " + target + " was not mapped to a test directory");
        return;
      }
    }
    std::optional<int> metrics_port;
    RewriteFlag(&args, "--metrics-address", [&](const std::string& m) {
      metrics_port = FreePort();
      return WithPort(m, *metrics_port);
    });
    if (target.empty()) {
      problems_.push_back(where + ": no --endpoint unix://... or tcp://... in " + Join(original));
      return;
    }
    const std::string log = (pod.dir / (c.value("name", "c") + ".log")).string();
    Result<std::unique_ptr<DriverProcess>> p = DriverProcess::StartExact(args, target, log);
    if (!p.ok()) {
      const std::string text = testing::ReadWholeFile(log);
      std::string culprit;
      for (const std::string& a : original) {
        std::string flag = a.substr(0, a.find('='));
        if (flag.rfind("--", 0) == 0 && text.find(flag) != std::string::npos) culprit = a;
      }
      problems_.push_back(where + ": nfsprov did not start with the manifest's arguments" +
                          (culprit.empty() ? "" : " (argument " + culprit + " rejected)") + ": " + Join(original) +
                          "\n  " + p.status().ToString());
      return;
    }
    ++started_total_;
    Started s{where, original.empty() ? "" : original[0], std::move(p).value(), target, metrics_port};
    Probe(s);
    started_.push_back(std::move(s));
  }

  void Probe(const Started& s) {
    auto channel = s.process->Channel();
    auto identity = ::csi::v1::Identity::NewStub(channel);
    if (s.role == "controller" || s.role == "node") {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      ::csi::v1::GetPluginInfoResponse info;
      grpc::Status st = identity->GetPluginInfo(&ctx, ::csi::v1::GetPluginInfoRequest(), &info);
      if (!st.ok()) problems_.push_back(s.where + ": GetPluginInfo: " + st.error_message());
      else if (!driver_names_.count(info.name()))
        problems_.push_back(s.where + ": serves driver " + info.name() + ", but the CSIDriver object is " +
                            Join({driver_names_.begin(), driver_names_.end()}, ", "));
      grpc::ClientContext ctx2;
      ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      ::csi::v1::ProbeResponse probe;
      st = identity->Probe(&ctx2, ::csi::v1::ProbeRequest(), &probe);
      if (!st.ok() || (probe.has_ready() && !probe.ready().value()))
        problems_.push_back(s.where + ": Probe: not ready (" + st.error_message() + ")");
    } else {
      // lockd serves no CSI service: any gRPC answer (UNIMPLEMENTED) shows the port serves gRPC.
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      ::csi::v1::ProbeResponse probe;
      grpc::Status st = identity->Probe(&ctx, ::csi::v1::ProbeRequest(), &probe);
      if (st.error_code() != grpc::StatusCode::UNIMPLEMENTED && !st.ok())
        problems_.push_back(s.where + ": gRPC on " + s.grpc_target + " does not answer: " + st.error_message());
    }
    if (s.metrics_port) {
      httplib::Client http("127.0.0.1", *s.metrics_port);
      http.set_connection_timeout(5);
      http.set_read_timeout(5);
      for (const char* path : {"/healthz", "/metrics"}) {
        auto r = http.Get(path);
        if (!r || r->status != 200)
          problems_.push_back(s.where + ": GET " + path + " on --metrics-address: " +
                              (r ? "HTTP " + std::to_string(r->status) : httplib::to_string(r.error())));
      }
    }
  }

  void CheckSidecarSocket(const std::string& where, const std::string& address, const std::vector<Mount>& mounts,
                          const std::optional<std::pair<std::string, std::string>>& socket,
                          const std::string& socket_where) {
    if (!socket) {
      problems_.push_back(where + ": --csi-address " + address + ", but no nfsprov container in the pod serves a socket");
      return;
    }
    auto resolved = ResolveInVolume(SocketPathOf(address), mounts);
    if (!resolved) {
      problems_.push_back(where + ": --csi-address " + address + " is on none of its volumes");
    } else if (*resolved != *socket) {
      problems_.push_back(where + ": --csi-address " + address + " is " + resolved->first + ":/" + resolved->second +
                          ", but " + socket_where + " serves on " + socket->first + ":/" + socket->second);
    }
  }

  void CheckRegistrationPath(const std::string& where, const std::string& path,
                             const std::optional<std::pair<std::string, std::string>>& socket,
                             const std::map<std::string, json>& volumes) {
    if (!socket) {
      problems_.push_back(where + ": --kubelet-registration-path but no nfsprov socket in the pod");
      return;
    }
    auto v = volumes.find(socket->first);
    if (v == volumes.end() || !v->second.contains("hostPath")) {
      problems_.push_back(where + ": nfsprov's socket volume " + socket->first + " is not a hostPath: kubelet cannot reach it");
      return;
    }
    std::string host = v->second["hostPath"].value("path", "");
    while (host.size() > 1 && host.back() == '/') host.pop_back();
    const std::string expected = host + "/" + socket->second;
    if (path != expected)
      problems_.push_back(where + ": --kubelet-registration-path=" + path + ", but the socket is at " + expected + " on the host");
  }

  void CheckLivenessProbes(const Pod& pod, const std::vector<json>& containers, const std::set<int>& served,
                           const std::vector<std::string>& sidecar_ports) {
    std::set<int> probed;
    for (const json& c : containers) {
      if (!c.contains("livenessProbe") || !c["livenessProbe"].contains("httpGet")) continue;
      const std::string where = pod.what + " container " + c.value("name", "");
      const json& port = c["livenessProbe"]["httpGet"]["port"];
      int p = -1;
      if (port.is_number_integer()) p = port.get<int>();
      else
        for (const json& cp : c.value("ports", json::array()))
          if (cp.value("name", "") == port.get<std::string>()) p = cp.value("containerPort", -1);
      if (p < 0) problems_.push_back(where + ": livenessProbe port " + port.dump() + " names no port of the container");
      else if (!served.count(p))
        problems_.push_back(where + ": livenessProbe port " + std::to_string(p) +
                            " is served by no container of the pod (served: " + JoinPorts(served) + ")");
      probed.insert(p);
    }
    for (const std::string& p : sidecar_ports)
      if (!probed.count(std::stoi(p)))
        problems_.push_back(pod.what + ": the livenessprobe sidecar serves :" + p + ", but no livenessProbe uses it");
  }

  // The controller's --lockd-address (written into every lock file) must reach lockd: a Service
  // of the manifests, by its cluster DNS name, whose port leads to lockd's --endpoint port.
  void CheckLockdAddresses() {
    for (const auto& [where, address] : lockd_addresses_) {
      const std::string host = address.substr(0, address.rfind(':'));
      const int port = PortOf(address);
      std::string name = host.substr(0, host.find('.'));
      std::string ns = host.find('.') == std::string::npos ? "" : host.substr(host.find('.') + 1);
      ns = ns.substr(0, ns.find('.'));
      const json* service = nullptr;
      for (const json& o : objects_)
        if (o.value("kind", "") == "Service" && o["metadata"].value("name", "") == name &&
            (ns.empty() || o["metadata"].value("namespace", "") == ns))
          service = &o;
      if (service == nullptr) {
        problems_.push_back(where + ": --lockd-address " + address + ": no Service " + name + (ns.empty() ? "" : " in namespace " + ns));
        continue;
      }
      std::optional<json> service_port;
      for (const json& sp : (*service)["spec"].value("ports", json::array()))
        if (sp.value("port", -1) == port) service_port = sp;
      if (!service_port) {
        problems_.push_back(where + ": --lockd-address " + address + ": Service " + name + " has no port " + std::to_string(port));
        continue;
      }
      const json target = service_port->value("targetPort", json(port));
      bool reached = false;
      for (const Lockd& l : lockds_) {
        json labels = l.object["spec"]["template"]["metadata"].value("labels", json::object());
        const json selector = (*service)["spec"].value("selector", json::object());
        bool selected = !selector.empty();
        for (auto& [k, v] : selector.items())
          if (!labels.contains(k) || labels[k] != v) selected = false;
        int container_port = target.is_number_integer() ? target.get<int>() : -1;
        if (target.is_string())
          for (const json& cp : l.container.value("ports", json::array()))
            if (cp.value("name", "") == target.get<std::string>()) container_port = cp.value("containerPort", -1);
        if (selected && container_port == PortOf(l.endpoint)) reached = true;
      }
      if (!reached)
        problems_.push_back(where + ": --lockd-address " + address + ": Service " + name + " port " + std::to_string(port) +
                            " (targetPort " + target.dump() + ") selects no lockd serving that port");
    }
  }

  struct Lockd {
    std::string where;
    json object;
    json container;
    std::string endpoint;
  };
  std::vector<Lockd> lockds_;
  std::vector<std::pair<std::string, std::string>> lockd_addresses_;
  json objects_;
  fs::path dir_;
  std::vector<std::string> entrypoint_args_;
  std::set<std::string> driver_names_;
  std::vector<Started> started_;
  size_t started_total_ = 0;
  std::vector<std::string> problems_;
};

// ---- the tests --------------------------------------------------------------------------------

class ManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nfm.XXXXXX";  // short: unix socket paths have 107 bytes at most
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "kept for inspection (volumes, logs): " << dir_ << "\n";
      return;
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Runs check.mjs over `dirs` (none: deploy/) and returns the rendered overlays by name.
  std::map<std::string, json> Render(const std::vector<std::string>& extra_args, int expected_status = 0) {
    const fs::path out = dir_ / "rendered";
    std::vector<std::string> command = {"node", std::string(NFSPROV_SOURCE_DIR) + "/hack/manifests/check.mjs",
                                        "--out", out.string()};
    command.insert(command.end(), extra_args.begin(), extra_args.end());
    testing::CommandResult r = testing::RunCommand(command);
    EXPECT_EQ(r.exit_code, expected_status) << Join(command) << "\n" << r.out << r.err;
    std::map<std::string, json> overlays;
    if (fs::exists(out))
      for (const auto& entry : fs::directory_iterator(out))
        if (entry.path().extension() == ".json")
          overlays[entry.path().stem().string()] = json::parse(testing::ReadWholeFile(entry.path()));
    return overlays;
  }

  std::vector<std::string> RunOverlay(const std::string& name, const json& objects, size_t* started = nullptr) {
    Deployment d(objects, dir_ / name);
    d.Run();
    d.StopAll();
    if (started) *started = d.started_count();
    return d.problems();
  }

  fs::path dir_;
};

TEST_F(ManifestsTest, EveryOverlayStartsAndAnswers) {
  std::map<std::string, json> overlays = Render({"--binary", DriverBinary()});
  ASSERT_FALSE(overlays.empty()) << "check.mjs rendered nothing from deploy/";
  for (const auto& [name, objects] : overlays) {
    size_t started = 0;
    std::vector<std::string> problems = RunOverlay(name, objects, &started);
    EXPECT_TRUE(problems.empty()) << "overlay " << name << ":\n" << Join(problems, "\n");
    // Each overlay that deploys the driver runs at least the controller, the node plugin and lockd.
    if (name != "base") {
      EXPECT_GE(started, 3u) << "overlay " << name;
    }
  }
}

// The harness on a deployment of known shape (hack/manifests/testdata/good).
TEST_F(ManifestsTest, FixtureStartsAndAnswers) {
  std::map<std::string, json> overlays = Render(
      {"--image", "example.test/nfsprov", std::string(NFSPROV_SOURCE_DIR) + "/hack/manifests/testdata/good"});
  ASSERT_EQ(overlays.count("good"), 1u);
  size_t started = 0;
  std::vector<std::string> problems = RunOverlay("good", overlays["good"], &started);
  EXPECT_TRUE(problems.empty()) << Join(problems, "\n");
  EXPECT_EQ(started, 3u);
}

// A flag the binary does not have (hack/manifests/testdata/unknown-flag) must fail, naming the
// container and the argument; so must a sidecar that looks for the socket elsewhere, a registrar
// that registers the wrong host path, a liveness probe on a port nothing serves, and a lockd
// Service that leads elsewhere.
TEST_F(ManifestsTest, MistakesAreReported) {
  std::map<std::string, json> overlays = Render(
      {"--image", "example.test/nfsprov", std::string(NFSPROV_SOURCE_DIR) + "/hack/manifests/testdata/unknown-flag"});
  ASSERT_EQ(overlays.count("unknown-flag"), 1u);
  std::vector<std::string> problems = RunOverlay("unknown-flag", overlays["unknown-flag"]);
  const std::string all = Join(problems, "\n");
  auto has = [&](const std::string& a, const std::string& b) {
    return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
      return p.find(a) != std::string::npos && p.find(b) != std::string::npos;
    });
  };
  EXPECT_TRUE(has("container nfsprov: nfsprov did not start", "argument --no-such-flag=1 rejected")) << all;
  EXPECT_TRUE(has("container csi-provisioner: --csi-address /elsewhere/csi.sock", "on none of its volumes")) << all;
  EXPECT_TRUE(has("container node-driver-registrar: --kubelet-registration-path=/var/lib/kubelet/plugins/wrong/csi.sock",
                  "/var/lib/kubelet/plugins/nfsprov.csi.dev/csi.sock")) << all;
  EXPECT_TRUE(has("container nfsprov: livenessProbe port 9999", "served by no container")) << all;
  EXPECT_TRUE(has("container nfsprov: --lockd-address nfsprov-lockd.nfsprov.svc:7070", "selects no lockd serving that port")) << all;
  EXPECT_EQ(problems.size(), 5u) << all;
}

}  // namespace
}  // namespace nfsprov::e2e
