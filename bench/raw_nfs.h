// Raw NFSv4 requests for benchmarks: what the server does with no driver logic in the way.
//
// Handle-based COMPOUNDs sent straight on one libnfs connection (one EventLoop), so a
// measurement shows the server's and the wire's cost and nothing of ours. Used as the physical
// limit that driver-level numbers are compared with.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "nfs/client.h"
#include "nfs/nfs4_compound.h"

namespace nfsprov::bench {

// The file handle of `path` (absolute within the export): one PUTROOTFH/LOOKUP.../GETFH COMPOUND.
Result<nfs::nfs4::FileHandle> HandleOf(nfs::Client& client, const std::string& path);

using MakeCompound = std::function<std::shared_ptr<nfs::nfs4::Compound>(int i)>;

// PUTFH(parent) + CREATE(NF4DIR "d<i>"): the cheapest way to ask the server for a directory.
MakeCompound MkdirUnder(const nfs::nfs4::FileHandle& parent);

struct PipelineRun {
  double seconds = 0;               // first request issued to last reply received
  std::vector<double> latencies_s;  // per request: issued to replied
  double PerSecond() const { return static_cast<double>(latencies_s.size()) / seconds; }
};

// Sends make(i) for i in [0, n) on `loop` with `window` requests in flight (the next is issued
// from the reply callback, so the window never drains). Fails if any request failed.
Result<PipelineRun> RunPipelined(nfs::EventLoop& loop, int n, int window, const MakeCompound& make);

}  // namespace nfsprov::bench
