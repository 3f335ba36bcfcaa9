#include "common/serial_worker.h"

#include <utility>

#include "common/thread_name.h"

namespace nfsprov {

SerialWorker::SerialWorker() : thread_([this] { Run(); }) {}

SerialWorker::~SerialWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void SerialWorker::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
    ++posted_;
  }
  changed_.notify_all();
}

std::size_t SerialWorker::backlog() {
  std::lock_guard<std::mutex> lock(mu_);
  return posted_ - finished_;
}

void SerialWorker::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  const std::size_t target = posted_;
  changed_.wait(lock, [&] { return finished_ >= target; });
}

void SerialWorker::Run() {
  NameThisThread("serial-worker");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and everything posted has run
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
    ++finished_;
    changed_.notify_all();
  }
}

}  // namespace nfsprov
