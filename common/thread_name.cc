#include "common/thread_name.h"

#include <pthread.h>

#include <string>

namespace nfsprov {

void NameThisThread(std::string_view name) {
  constexpr std::size_t kMaxBytes = 15;  // TASK_COMM_LEN - 1
  const std::string cut(name.substr(0, kMaxBytes));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace nfsprov
