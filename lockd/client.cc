#include "lockd/client.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "common/thread_name.h"
#include "lockd/lock_request.h"
#include "lockd/lockd.grpc.pb.h"
#include "lockd/server_tls.h"
#include "lockd/session_client.h"

namespace nfsprov::lockd {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A blocking Acquire is sent as calls of at most this wait, repeated with the same lease ID, so
// no single call outlives what proxies and keepalives tolerate.
constexpr milliseconds kWaitChunk{30000};
// The gRPC deadline of an Acquire is its wait plus this, for lockd to persist and answer.
constexpr milliseconds kAcquireSlack{10000};
// While lockd cannot be reached (restarting, moving), an Acquire asks again this often.
constexpr milliseconds kUnavailableRetry{250};
// Release (and the clean-up of a failed Acquire) is best effort: it must not hold up an exit.
constexpr milliseconds kReleaseTimeout{5000};
// Renewals retry every ttl/10: a reconnect must not back off much longer than that.
constexpr int kMaxReconnectBackoffMs = 1000;

// "15s", or "1.333s".
std::string Seconds(Clock::duration d) {
  return fmt::format("{:g}s", static_cast<double>(std::chrono::round<milliseconds>(d).count()) / 1000);
}

// Every call carries a deadline of our own, so gRPC's DEADLINE_EXCEEDED means lockd did not
// answer in time: UNAVAILABLE, not "the lock was not granted in time".
Status FromGrpc(const grpc::Status& status, const std::string& what) {
  StatusCode code = StatusCode::kInternal;
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return Status();
    case grpc::StatusCode::INVALID_ARGUMENT: code = StatusCode::kInvalidArgument; break;
    case grpc::StatusCode::NOT_FOUND: code = StatusCode::kNotFound; break;
    case grpc::StatusCode::ALREADY_EXISTS: code = StatusCode::kAlreadyExists; break;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED: code = StatusCode::kPermissionDenied; break;
    case grpc::StatusCode::FAILED_PRECONDITION: code = StatusCode::kFailedPrecondition; break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: code = StatusCode::kResourceExhausted; break;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: code = StatusCode::kUnavailable; break;
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED: code = StatusCode::kAborted; break;
    case grpc::StatusCode::UNIMPLEMENTED: code = StatusCode::kUnimplemented; break;
    case grpc::StatusCode::OUT_OF_RANGE: code = StatusCode::kOutOfRange; break;
    default: break;
  }
  std::string message = status.error_message();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) message = "no answer in time";
  return Status(code, what + ": " + message);
}

// gRPC takes deadlines by the system clock only; ours are steady, so convert just before use.
void SetDeadline(grpc::ClientContext* context, Clock::time_point deadline) {
  context->set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
}

struct Connection {
  std::string address;
  std::shared_ptr<v1::Locks::Stub> stub;
  // The fast path of a first try and of a release (lockd.proto Session); renewals stay unary so
  // a slow acquire elsewhere in the process never holds one up.
  std::shared_ptr<SessionClient> session;
};

// Releases over the session, or by the RPC when the session is unusable.
grpc::Status SendRelease(const Connection& connection, const v1::ReleaseRequest& request,
                         v1::ReleaseResponse* response, Clock::time_point deadline) {
  grpc::Status status = connection.session->Release(request, response, deadline);
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE || Clock::now() >= deadline) {
    return status;
  }
  grpc::ClientContext context;
  SetDeadline(&context, deadline);
  return connection.stub->Release(&context, request, response);
}

// Carries the lease as granted, so that a restarted lockd that lost its record takes it back.
Status Renew(const Connection& connection, const v1::LockRef& ref, const std::string& lease_id,
             const v1::Lease& granted, grpc::ClientContext* context) {
  v1::RenewRequest request;
  *request.mutable_lock() = ref;
  request.set_lease_id(lease_id);
  request.set_ttl_ms(granted.ttl_ms());
  request.set_mode(granted.mode());
  request.set_fencing_token(granted.fencing_token());
  v1::RenewResponse response;
  return FromGrpc(connection.stub->Renew(context, request, &response),
                  "lockd at " + connection.address + ": renewing lock " + ref.name());
}

class LeaseImpl final : public Lease {
 public:
  LeaseImpl(Connection connection, v1::LockRef ref, std::string lease_id, v1::Lease granted,
            milliseconds ttl, Clock::time_point sent, std::function<void(const Status&)> on_lost)
      : connection_(std::move(connection)),
        ref_(std::move(ref)),
        lease_id_(std::move(lease_id)),
        granted_(std::move(granted)),
        ttl_(ttl),
        on_lost_(std::move(on_lost)),
        deadline_(sent + ttl) {
    thread_ = std::thread([this, sent] { RenewLoop(sent); });
  }

  ~LeaseImpl() override {
    Status released = Release();
    if (!released.ok()) spdlog::warn("{}", released.message());
    if (thread_.joinable()) thread_.join();
  }

  uint64_t token() const override { return granted_.fencing_token(); }
  const std::string& lease_id() const override { return lease_id_; }
  bool lost() const override { return lost_.load(); }

  Status Release() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (released_) return Status();
      released_ = true;
      stopping_ = true;
      if (renewing_ != nullptr) renewing_->TryCancel();
    }
    cv_.notify_all();

    v1::ReleaseRequest request;
    *request.mutable_lock() = ref_;
    request.set_lease_id(lease_id_);
    v1::ReleaseResponse response;
    Status released =
        FromGrpc(SendRelease(connection_, request, &response, Clock::now() + kReleaseTimeout),
                 "lockd at " + connection_.address + ": releasing lock " + ref_.name());
    // The renewal thread starts no renewal once stopping_ is set, so it can end while the release
    // is on its way. Release may be called from on_lost, on that thread: the destructor joins it.
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    return released;
  }

 private:
  void RenewLoop(Clock::time_point acquired) {
    NameThisThread("lock-renew");
    Clock::time_point next = acquired + ttl_ / 3;
    Status last_error;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (cv_.wait_until(lock, next, [this] { return stopping_; })) return;
      // Lost with a quarter of the TTL still to go: the holder can stop before lockd would let
      // anyone else in, even with no answer from it at all.
      const Clock::time_point give_up = deadline_ - ttl_ / 4;
      const Clock::time_point sent = Clock::now();
      if (sent >= give_up) {
        lock.unlock();
        Lose(DeadlineExceeded(fmt::format(
            "lease on lock {} not renewed for {} (last error: {}); giving it up {} before it "
            "could expire",
            ref_.name(), Seconds(sent - (deadline_ - ttl_)), last_error.ToString(),
            Seconds(deadline_ - sent))));
        return;
      }
      grpc::ClientContext context;
      SetDeadline(&context, std::min(sent + ttl_ / 3, give_up));
      renewing_ = &context;
      lock.unlock();
      Status renewed = Renew(connection_, ref_, lease_id_, granted_, &context);
      lock.lock();
      renewing_ = nullptr;
      if (stopping_) return;
      if (renewed.ok()) {
        deadline_ = sent + ttl_;
        next = sent + ttl_ / 3;
        continue;
      }
      if (renewed.code() == StatusCode::kNotFound) {
        lock.unlock();
        Lose(renewed);
        return;
      }
      spdlog::warn("{}; retrying, {} left before the lease may expire", renewed.message(),
                   Seconds(deadline_ - Clock::now()));
      last_error = renewed;
      next = std::min(Clock::now() + ttl_ / 10, give_up);
    }
  }

  void Lose(const Status& why) {
    lost_ = true;
    if (on_lost_) {
      on_lost_(why);
    } else {
      spdlog::error("{}", why.message());
    }
  }

  const Connection connection_;
  const v1::LockRef ref_;
  const std::string lease_id_;
  const v1::Lease granted_;  // as Acquire answered it
  const milliseconds ttl_;
  const std::function<void(const Status&)> on_lost_;
  std::atomic<bool> lost_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point deadline_;                // local; only the renewal thread uses it
  bool stopping_ = false;                     // guarded by mu_
  bool released_ = false;                     // guarded by mu_
  grpc::ClientContext* renewing_ = nullptr;   // the renewal in flight; guarded by mu_
  std::thread thread_;
};

class LockClientImpl final : public LockClient {
 public:
  LockClientImpl(LockFile file, Connection connection)
      : file_(std::move(file)), connection_(std::move(connection)) {}

  Result<std::unique_ptr<Lease>> Acquire(const std::string& name, AcquireOptions options) override {
    NFSPROV_RETURN_IF_ERROR(ValidateLockName(name));
    NFSPROV_RETURN_IF_ERROR(ValidateTtl(options.ttl));
    v1::AcquireRequest request;
    request.mutable_lock()->set_volume_id(file_.volume_id);
    request.mutable_lock()->set_secret(file_.secret);
    request.mutable_lock()->set_name(name);
    request.set_mode(options.mode == LockMode::kShared ? v1::SHARED : v1::EXCLUSIVE);
    request.set_lease_id(NewLeaseId());
    request.set_ttl_ms(static_cast<uint32_t>(options.ttl.count()));

    const bool forever = options.timeout < milliseconds(0);
    const Clock::time_point end = Clock::now() + std::max(options.timeout, milliseconds(0));
    const std::string what = "lockd at " + connection_.address + ": acquiring lock " + name;
    bool first_try = true;
    for (;;) {
      const Clock::time_point sent = Clock::now();
      v1::AcquireResponse response;
      grpc::Status status;
      if (std::exchange(first_try, false)) {
        // An uncontended lock is granted at once: try over the session first, queue by the RPC.
        request.set_wait_ms(0);
        const Clock::time_point deadline = sent + kAcquireSlack;
        status = connection_.session->Acquire(request, &response, deadline);
        // The session is unusable: by the RPC, now. Not after lockd took the whole deadline
        // without answering: that is UNAVAILABLE for the call, as it would be for the RPC.
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE && Clock::now() < deadline) continue;
      } else {
        milliseconds wait = kWaitChunk;
        if (!forever) {
          wait = std::min(wait, std::chrono::ceil<milliseconds>(std::max(end - sent, Clock::duration(0))));
        }
        request.set_wait_ms(static_cast<uint32_t>(wait.count()));
        grpc::ClientContext context;
        SetDeadline(&context, sent + wait + kAcquireSlack);
        status = connection_.stub->Acquire(&context, request, &response);
      }
      if (!status.ok()) {
        Status failed = FromGrpc(status, what);
        if (failed.code() == StatusCode::kUnavailable && (forever || Clock::now() + kUnavailableRetry < end)) {
          // lockd is restarting or out of reach: ask again with the same lease ID, so a grant it
          // recorded before going away comes back instead of a second one.
          spdlog::warn("{}; retrying", failed.message());
          std::this_thread::sleep_for(kUnavailableRetry);
          continue;
        }
        // Unless lockd refused outright, it may have granted the lock before the answer got
        // lost: do not leave it held for a TTL.
        if (failed.code() != StatusCode::kInvalidArgument &&
            failed.code() != StatusCode::kPermissionDenied &&
            failed.code() != StatusCode::kNotFound &&
            failed.code() != StatusCode::kFailedPrecondition) {
          ReleaseQuietly(request);
        }
        return failed;
      }
      if (response.granted()) {
        Clock::time_point base = sent;
        // Granted after queueing for a while: the local deadline counts from when this call was
        // sent, so it may be near or past already. Renew now for a fresh one.
        if (Clock::now() >= sent + options.ttl / 3) {
          base = Clock::now();
          grpc::ClientContext renew_context;
          SetDeadline(&renew_context, base + options.ttl / 3);
          Status renewed = Renew(connection_, request.lock(), request.lease_id(), response.lease(),
                                 &renew_context);
          if (!renewed.ok()) {
            ReleaseQuietly(request);
            return renewed;
          }
        }
        return std::unique_ptr<Lease>(std::make_unique<LeaseImpl>(
            connection_, request.lock(), request.lease_id(), response.lease(), options.ttl, base,
            std::move(options.on_lost)));
      }
      if (!forever && Clock::now() >= end) {
        // lockd keeps a place in the queue for a repeat of a wait: give it up, nobody will ask.
        if (request.wait_ms() > 0) ReleaseQuietly(request);
        const std::string who = fmt::format("{} holder(s), {} waiting", response.holders(),
                                            response.waiters());
        if (options.timeout.count() == 0) return DeadlineExceeded("lock " + name + " is held: " + who);
        return DeadlineExceeded(fmt::format("lock {} not acquired within {}: {}", name,
                                            Seconds(options.timeout), who));
      }
    }
  }

 private:
  void ReleaseQuietly(const v1::AcquireRequest& acquire) {
    v1::ReleaseRequest request;
    *request.mutable_lock() = acquire.lock();
    request.set_lease_id(acquire.lease_id());
    v1::ReleaseResponse response;
    static_cast<void>(SendRelease(connection_, request, &response, Clock::now() + kReleaseTimeout));
  }

  const LockFile file_;
  const Connection connection_;
};

}  // namespace

Result<std::unique_ptr<LockClient>> LockClient::Open(LockFile file, TlsClientFiles tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return InvalidArgument("a client certificate needs both its certificate and its key file");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (file.ca_pem.empty()) {
    if (!tls.cert_file.empty()) {
      return InvalidArgument("the lock file of volume " + file.volume_id +
                             " has no CA: lockd serves plaintext, a client certificate cannot be "
                             "presented");
    }
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = file.ca_pem;
    if (!tls.cert_file.empty()) {
      Result<std::string> cert = ReadPemFile(tls.cert_file);
      if (!cert.ok()) return cert.status();
      Result<std::string> key = ReadPemFile(tls.key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = std::move(cert).value();
      ssl.pem_private_key = std::move(key).value();
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  Connection connection;
  connection.address = file.address;
  connection.stub = v1::Locks::NewStub(grpc::CreateCustomChannel(file.address, credentials, args));
  connection.session = std::make_shared<SessionClient>(connection.stub);
  return std::unique_ptr<LockClient>(
      std::make_unique<LockClientImpl>(std::move(file), std::move(connection)));
}

Result<std::unique_ptr<LockClient>> LockClient::ForVolumeDir(const std::string& volume_dir,
                                                             TlsClientFiles tls) {
  Result<LockFile> file = ReadLockFile(volume_dir);
  if (!file.ok()) return file.status();
  return Open(std::move(file).value(), std::move(tls));
}

}  // namespace nfsprov::lockd
