#include "lockd/session_client.h"

#include <grpcpp/grpcpp.h>

#include <utility>

namespace nfsprov::lockd {

namespace {

// Completion-queue tags: which operation of the stream finished.
enum class Op : uintptr_t { kWrite = 1, kRead, kFinish };
void* TagOf(Op op) { return reinterpret_cast<void*>(static_cast<uintptr_t>(op)); }

std::chrono::system_clock::time_point SystemDeadline(SessionClient::Clock::time_point deadline) {
  return std::chrono::system_clock::now() + (deadline - SessionClient::Clock::now());
}

grpc::Status Unavailable(const std::string& why) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "lock session: " + why);
}

}  // namespace

// One Session call on lockd; every operation on it goes through its own completion queue so a
// wait can end at a deadline.
class SessionClient::Stream {
 public:
  explicit Stream(v1::Locks::Stub& stub) {
    // Corked: the call's headers go out with the first request, and StartCall completes no tag.
    context_.set_initial_metadata_corked(true);
    rw_ = stub.PrepareAsyncSession(&context_, &cq_);
    rw_->StartCall(nullptr);
  }

  ~Stream() {
    // Ends the call whatever state it is in: cancelled operations come back at once; then Finish
    // (it may not overlap a read still waiting for the call's headers) and drain the queue, which
    // may only be destroyed empty.
    context_.TryCancel();
    void* tag = nullptr;
    bool ok = false;
    while (pending_ > 0 && cq_.Next(&tag, &ok)) --pending_;
    if (!finish_started_) StartFinish();
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool used() const { return used_; }

  // One request and its answer. Not OK: the stream is broken and must be dropped.
  grpc::Status Exchange(const v1::SessionRequest& request, v1::SessionResponse* response,
                        Clock::time_point deadline) {
    used_ = true;
    rw_->Write(request, TagOf(Op::kWrite));
    rw_->Read(response, TagOf(Op::kRead));
    pending_ += 2;
    while (pending_ > 0) {
      void* tag = nullptr;
      bool ok = false;
      if (!NextEvent(deadline, &tag, &ok)) return Unavailable("no answer in time");
      if (!ok) return WhyEnded(deadline);
    }
    if (response->call_id() != request.call_id()) {
      return Unavailable("answer to call " + std::to_string(response->call_id()) +
                         " where call " + std::to_string(request.call_id()) + " was expected");
    }
    return grpc::Status::OK;
  }

 private:
  // The next operation to finish, before `deadline` (false: none did in time).
  bool NextEvent(Clock::time_point deadline, void** tag, bool* ok) {
    if (cq_.AsyncNext(tag, ok, SystemDeadline(deadline)) !=
        grpc::CompletionQueue::NextStatus::GOT_EVENT) {
      return false;
    }
    --pending_;
    return true;
  }

  void StartFinish() {
    rw_->Finish(&finish_status_, TagOf(Op::kFinish));  // written by gRPC until the tag returns
    finish_started_ = true;
    ++pending_;
  }

  // The stream failed an operation: lockd's status for it when it comes in time.
  grpc::Status WhyEnded(Clock::time_point deadline) {
    void* tag = nullptr;
    bool ok = false;
    // The other operation first: Finish may not overlap a read still waiting for headers.
    while (pending_ > 0) {
      if (!NextEvent(deadline, &tag, &ok)) return Unavailable("the stream broke");
    }
    StartFinish();
    if (!NextEvent(deadline, &tag, &ok)) return Unavailable("the stream broke");
    const grpc::Status& status = finish_status_;
    if (status.ok()) return Unavailable("lockd ended the stream");
    return Unavailable(status.error_message() + " (gRPC code " +
                       std::to_string(status.error_code()) + ")");
  }

  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<v1::SessionRequest, v1::SessionResponse>> rw_;
  int pending_ = 0;  // operations started whose tag has not come back
  bool used_ = false;
  bool finish_started_ = false;
  grpc::Status finish_status_;
};

SessionClient::SessionClient(std::shared_ptr<v1::Locks::Stub> stub) : stub_(std::move(stub)) {}

SessionClient::~SessionClient() = default;

grpc::Status SessionClient::Acquire(const v1::AcquireRequest& request,
                                    v1::AcquireResponse* response, Clock::time_point deadline) {
  v1::SessionRequest call;
  *call.mutable_acquire() = request;
  v1::SessionResponse answer;
  grpc::Status status = Call(&call, &answer, deadline);
  if (status.ok()) *response = std::move(*answer.mutable_acquire());
  return status;
}

grpc::Status SessionClient::Release(const v1::ReleaseRequest& request,
                                    v1::ReleaseResponse* response, Clock::time_point deadline) {
  v1::SessionRequest call;
  *call.mutable_release() = request;
  v1::SessionResponse answer;
  grpc::Status status = Call(&call, &answer, deadline);
  if (status.ok()) *response = std::move(*answer.mutable_release());
  return status;
}

grpc::Status SessionClient::Call(v1::SessionRequest* request, v1::SessionResponse* response,
                                 Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  request->set_call_id(next_call_id_++);
  for (;;) {
    if (stream_ == nullptr) stream_ = std::make_unique<Stream>(*stub_);
    const bool was_used = stream_->used();
    grpc::Status delivered = stream_->Exchange(*request, response, deadline);
    if (delivered.ok()) break;
    stream_.reset();
    // A stream idle since its last call may have died with lockd meanwhile: one fresh try.
    if (!was_used || Clock::now() >= deadline) return delivered;
  }
  if (response->code() != 0) {
    return grpc::Status(static_cast<grpc::StatusCode>(response->code()), response->message());
  }
  return grpc::Status::OK;
}

}  // namespace nfsprov::lockd
