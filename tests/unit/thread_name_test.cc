// NameThisThread: the name the kernel shows for the calling thread, cut to 15 bytes.
#include "common/thread_name.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace nfsprov {
namespace {

std::string NameOfThisThread() {
  std::ifstream comm("/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

TEST(ThreadNameTest, NamesOnlyTheCallingThreadAndCutsAt15Bytes) {
  const std::string before = NameOfThisThread();
  std::string named, long_named;
  std::thread([&] {
    NameThisThread("nfs-loop");
    named = NameOfThisThread();
    NameThisThread("a-name-longer-than-fifteen");
    long_named = NameOfThisThread();
  }).join();
  EXPECT_EQ(named, "nfs-loop");
  EXPECT_EQ(long_named, "a-name-longer-t");
  EXPECT_EQ(NameOfThisThread(), before);
}

}  // namespace
}  // namespace nfsprov
