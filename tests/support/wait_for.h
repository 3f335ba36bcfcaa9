// WaitFor: polls a condition until it holds or a time limit passes, for tests that wait on
// background work (a scanner's listing, a process's log line).
#pragma once

#include <chrono>
#include <functional>

namespace nfsprov::testing {

// Calls `condition` every 20 ms until it is true (true) or `limit` has passed (its last answer).
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds limit = std::chrono::seconds(20));

}  // namespace nfsprov::testing
