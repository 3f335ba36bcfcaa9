// Raw NFSv4.0 COMPOUNDs, built by hand and sent on a libnfs connection (internal to nfs/).
//
// The tree engine works from file handles so it has no path-depth limit (a path-based call
// resolves every component inside one COMPOUND, which servers cap at ~50-100 operations) and
// needs no LOOKUPs. libnfs's high-level API is path-only, so these requests are encoded here.
// Loop thread only. A Compound owns all its argument storage; Send encodes it at once, so the
// same Compound can be sent again after a reconnect.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs4.h>

#include "common/status.h"
#include "nfs/types.h"

namespace nfsprov::nfs::nfs4 {

using FileHandle = std::string;  // opaque bytes from the server
using Verifier = std::array<char, NFS4_VERIFIER_SIZE>;

// Attributes the engine reads for every entry (READDIR, GETATTR).
struct EntryAttrs {
  FileAttr attr;
  FileHandle fh;
  uint32_t rdattr_error = 0;  // nfsstat4 when the server could not read this entry's attributes
};

// Attributes to set by CREATE or SETATTR; unset fields are left as the server chooses.
struct SetAttrs {
  std::optional<uint64_t> size;  // truncate or extend
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<Timestamp> atime;
  std::optional<Timestamp> mtime;
};

struct ReadDirPage {
  struct Entry {
    std::string name;
    EntryAttrs attrs;
  };
  std::vector<Entry> entries;
  uint64_t cookie = 0;  // of the last entry: where the next page starts
  Verifier verifier{};
  bool eof = false;
};

class Compound {
 public:
  explicit Compound(std::string_view what) : what_(what) {}

  Compound& PutRootFh();
  // PUTROOTFH + LOOKUP of every component of export_path and then of path (both absolute).
  // LOOKUP never follows symlinks, so this resolves to the named object itself.
  Compound& PutPath(std::string_view export_path, std::string_view path);
  Compound& PutFh(const FileHandle& fh);
  Compound& SaveFh();
  Compound& RestoreFh();
  Compound& Lookup(std::string_view name);
  Compound& GetFh();
  Compound& GetEntryAttrs();  // GETATTR of the attributes in EntryAttrs
  Compound& ReadDir(uint64_t cookie, const Verifier& verifier, uint32_t max_reply_bytes);
  Compound& Remove(std::string_view name);
  Compound& Rename(std::string_view old_name, std::string_view new_name);  // SAVEFH dir → current dir
  Compound& CreateDir(std::string_view name, const SetAttrs& attrs);
  Compound& CreateSymlink(std::string_view name, std::string_view target, const SetAttrs& attrs);
  Compound& SetAttr(const SetAttrs& attrs);
  Compound& Read(uint64_t offset, uint32_t count);  // anonymous stateid: no OPEN needed
  // Anonymous stateid. FILE_SYNC by default; UNSTABLE4 data is durable only after a COMMIT.
  Compound& Write(uint64_t offset, std::string_view data, stable_how4 stable = FILE_SYNC4);
  Compound& Commit();  // the whole file
  Compound& ReadLink();

  const std::string& what() const { return what_; }
  std::size_t size() const { return ops_.size(); }
  // XDR bytes of the arguments (RPC header not included); see kMaxCompoundBytes.
  std::size_t encoded_bytes() const { return bytes_; }

  // err is 0 (res valid only during the call) or a negative errno with a message that names
  // `what` and the failing operation. When the server fails an operation, res holds the results
  // up to and including it (the operations after it were not run).
  using Reply = std::function<void(int err, std::string message, const COMPOUND4res* res)>;
  void Send(nfs_context* ctx, Reply reply) const;

 private:
  nfs_argop4& Add(nfs_opnum4 op);
  utf8string Text(std::string_view s);
  bitmap4 Bitmap(const std::vector<uint32_t>& attrs);
  fattr4 Encode(const SetAttrs& attrs);

  std::string what_;
  std::vector<nfs_argop4> ops_;
  std::size_t bytes_ = 12;  // tag, minor version and operation count
  // Stable storage for the pointers inside ops_ (deque: growth does not move elements).
  std::deque<std::string> strings_;
  std::deque<std::vector<uint32_t>> words_;
};

// libnfs 4.0 encodes a COMPOUND into a fixed 4 KiB buffer, which caps WRITE data at ~3.9 KiB
// (measured: 3944 bytes). Writes over NFSv4 go in chunks of this size, pipelined.
inline constexpr uint32_t kMaxWriteBytes = 3072;
// The largest arguments Send passes to libnfs; the rest of the 4 KiB is left for the RPC header
// (an AUTH_SYS credential with a long machine name takes ~300 bytes). libnfs would fail a larger
// request like a broken connection (retried until the deadline), so Send refuses it at once
// (EMSGSIZE).
inline constexpr std::size_t kMaxCompoundBytes = 3600;

// Reply accessors: the result of the i-th operation (they exist when the COMPOUND succeeded).
nfs_resop4 ResultAt(const COMPOUND4res& res, std::size_t index);  // a copy: see .cc
FileHandle FileHandleAt(const COMPOUND4res& res, std::size_t index);       // GETFH
int DecodeEntryAttrsAt(const COMPOUND4res& res, std::size_t index, EntryAttrs* out);  // GETATTR
int DecodeReadDirAt(const COMPOUND4res& res, std::size_t index, ReadDirPage* out);
std::string_view ReadDataAt(const COMPOUND4res& res, std::size_t index, bool* eof);
uint32_t WrittenAt(const COMPOUND4res& res, std::size_t index);
stable_how4 CommittedAt(const COMPOUND4res& res, std::size_t index);  // WRITE: how stable it is
std::string LinkTextAt(const COMPOUND4res& res, std::size_t index);

// Decodes a fattr4 holding (a subset of) the EntryAttrs attributes. 0 or -EBADMSG.
int DecodeEntryAttrs(const fattr4& attrs, EntryAttrs* out);
// Encodes SetAttrs as XDR attribute values in attribute-number order (exposed for unit tests).
std::string EncodeSetAttrValues(const SetAttrs& attrs, std::vector<uint32_t>* bitmap_words);

int ErrnoFromNfs4(nfsstat4 status);
std::string_view Nfs4StatusName(nfsstat4 status);

}  // namespace nfsprov::nfs::nfs4
