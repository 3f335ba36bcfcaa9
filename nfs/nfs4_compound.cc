#include "nfs/nfs4_compound.h"

#include "nfs/event_loop.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace nfsprov::nfs::nfs4 {
namespace {

// The attributes of EntryAttrs, in attribute-number order.
const std::vector<uint32_t> kEntryAttrs = {
    FATTR4_TYPE,  FATTR4_SIZE,     FATTR4_RDATTR_ERROR, FATTR4_FILEHANDLE,  FATTR4_FILEID,
    FATTR4_MODE,  FATTR4_NUMLINKS, FATTR4_OWNER,        FATTR4_OWNER_GROUP, FATTR4_SPACE_USED,
    FATTR4_TIME_ACCESS, FATTR4_TIME_METADATA, FATTR4_TIME_MODIFY};

// libnfs's XDR decoder lays out arrays and lists with 4-byte alignment, so structures with
// 64-bit members may sit misaligned: copy them out before reading.
template <typename T>
T LoadUnaligned(const void* p) {
  T value;
  std::memcpy(static_cast<void*>(&value), p, sizeof(T));
  return value;
}

// Big-endian XDR reader over an attribute value buffer.
class XdrReader {
 public:
  XdrReader(const char* data, std::size_t size) : p_(data), end_(data + size) {}
  bool U32(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    const auto* b = reinterpret_cast<const unsigned char*>(p_);
    *v = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    p_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    uint32_t hi, lo;
    if (!U32(&hi) || !U32(&lo)) return false;
    *v = (uint64_t{hi} << 32) | lo;
    return true;
  }
  bool Opaque(std::string* v) {
    uint32_t len;
    if (!U32(&len)) return false;
    std::size_t padded = (std::size_t{len} + 3) & ~std::size_t{3};
    if (static_cast<std::size_t>(end_ - p_) < padded) return false;
    v->assign(p_, len);
    p_ += padded;
    return true;
  }
  bool Time(Timestamp* t) {
    uint64_t seconds;
    if (!U64(&seconds) || !U32(&t->nanoseconds)) return false;
    t->seconds = static_cast<int64_t>(seconds);
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

class XdrWriter {
 public:
  void U32(uint32_t v) {
    char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
    out_.append(b, 4);
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Opaque(std::string_view v) {
    U32(static_cast<uint32_t>(v.size()));
    out_.append(v);
    out_.append((4 - v.size() % 4) % 4, '\0');
  }
  void SetTime(const Timestamp& t) {
    U32(SET_TO_CLIENT_TIME4);
    U64(static_cast<uint64_t>(t.seconds));
    U32(t.nanoseconds);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// NFSv4 owners are "uid" strings on AUTH_SYS exports with numeric ids (the Linux and ganesha
// default); anything else maps to nobody.
uint32_t IdFromOwner(const std::string& owner) {
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(owner.data(), owner.data() + owner.size(), id);
  if (ec != std::errc() || end != owner.data() + owner.size()) return 65534;
  return id;
}

FileType TypeFromNfs4(uint32_t type) {
  switch (type) {
    case NF4REG: return FileType::kRegular;
    case NF4DIR: return FileType::kDirectory;
    case NF4LNK: return FileType::kSymlink;
    default: return FileType::kOther;
  }
}

const char* OpName(nfs_opnum4 op) {
  switch (op) {
    case OP_PUTROOTFH: return "PUTROOTFH";
    case OP_PUTFH: return "PUTFH";
    case OP_SAVEFH: return "SAVEFH";
    case OP_RESTOREFH: return "RESTOREFH";
    case OP_LOOKUP: return "LOOKUP";
    case OP_GETFH: return "GETFH";
    case OP_GETATTR: return "GETATTR";
    case OP_READDIR: return "READDIR";
    case OP_REMOVE: return "REMOVE";
    case OP_RENAME: return "RENAME";
    case OP_CREATE: return "CREATE";
    case OP_SETATTR: return "SETATTR";
    case OP_READ: return "READ";
    case OP_READLINK: return "READLINK";
    case OP_WRITE: return "WRITE";
    default: return "OP";
  }
}

// libnfs's last RPC error text; it may have none (NULL).
std::string RpcError(rpc_context* rpc) {
  const char* text = rpc != nullptr ? rpc_get_error(rpc) : nullptr;
  return text != nullptr && *text != '\0' ? text : "connection failed";
}

struct Pending {
  Compound::Reply reply;
  std::string what;
  nfs_context* ctx;
};

void CompoundTrampoline(rpc_context* rpc, int status, void* data, void* private_data) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(private_data));
  if (status != RPC_STATUS_SUCCESS) EventLoop::MarkBroken(pending->ctx);
  switch (status) {
    case RPC_STATUS_SUCCESS: break;
    case RPC_STATUS_CANCEL:
      return pending->reply(-EINTR, pending->what + ": request cancelled", nullptr);
    case RPC_STATUS_TIMEOUT:
      return pending->reply(-ETIMEDOUT, pending->what + ": RPC timed out", nullptr);
    default:
      return pending->reply(-EFAULT, pending->what + ": RPC error: " + RpcError(rpc), nullptr);
  }
  const auto* res = static_cast<const COMPOUND4res*>(data);
  if (res->status == NFS4_OK) return pending->reply(0, "", res);
  std::string op = "COMPOUND";
  if (res->resarray.resarray_len > 0)
    op = OpName(ResultAt(*res, res->resarray.resarray_len - 1).resop);
  int err = -ErrnoFromNfs4(res->status);
  pending->reply(err, pending->what + ": " + std::strerror(-err) + " (" + op + " " +
                          std::string(Nfs4StatusName(res->status)) + ")",
                 res);
}

}  // namespace

nfs_argop4& Compound::Add(nfs_opnum4 op) {
  nfs_argop4& a = ops_.emplace_back();
  bytes_ += 4;  // the operation number; each builder adds its fixed-size arguments
  std::memset(&a, 0, sizeof(a));
  a.argop = op;
  return a;
}

utf8string Compound::Text(std::string_view s) {
  const std::string& kept = strings_.emplace_back(s);
  bytes_ += 4 + (s.size() + 3) / 4 * 4;  // every string and opaque goes out as one XDR opaque
  return utf8string{static_cast<u_int>(kept.size()), const_cast<char*>(kept.data())};
}

bitmap4 Compound::Bitmap(const std::vector<uint32_t>& attrs) {
  std::vector<uint32_t>& words = words_.emplace_back(2, 0u);
  for (uint32_t a : attrs) words[a / 32] |= 1u << (a % 32);
  bytes_ += 4 + 4 * words.size();
  return bitmap4{static_cast<u_int>(words.size()), words.data()};
}

fattr4 Compound::Encode(const SetAttrs& attrs) {
  std::vector<uint32_t>& words = words_.emplace_back();
  std::string values = EncodeSetAttrValues(attrs, &words);
  bytes_ += 4 + 4 * words.size();
  utf8string kept = Text(values);
  fattr4 f;
  f.attrmask = bitmap4{static_cast<u_int>(words.size()), words.data()};
  f.attr_vals = attrlist4{kept.utf8string_len, kept.utf8string_val};
  return f;
}

Compound& Compound::PutRootFh() { Add(OP_PUTROOTFH); return *this; }

Compound& Compound::PutPath(std::string_view export_path, std::string_view path) {
  PutRootFh();
  for (std::string_view p : {export_path, path}) {
    std::size_t start = 1;
    while (start < p.size()) {
      std::size_t end = std::min(p.find('/', start), p.size());
      Lookup(p.substr(start, end - start));
      start = end + 1;
    }
  }
  return *this;
}
Compound& Compound::SaveFh() { Add(OP_SAVEFH); return *this; }
Compound& Compound::RestoreFh() { Add(OP_RESTOREFH); return *this; }
Compound& Compound::GetFh() { Add(OP_GETFH); return *this; }
Compound& Compound::ReadLink() { Add(OP_READLINK); return *this; }

Compound& Compound::PutFh(const FileHandle& fh) {
  utf8string kept = Text(fh);
  Add(OP_PUTFH).nfs_argop4_u.opputfh.object = nfs_fh4{kept.utf8string_len, kept.utf8string_val};
  return *this;
}

Compound& Compound::Lookup(std::string_view name) {
  utf8string n = Text(name);
  Add(OP_LOOKUP).nfs_argop4_u.oplookup.objname = n;
  return *this;
}

Compound& Compound::GetEntryAttrs() {
  bitmap4 b = Bitmap(kEntryAttrs);
  Add(OP_GETATTR).nfs_argop4_u.opgetattr.attr_request = b;
  return *this;
}

Compound& Compound::ReadDir(uint64_t cookie, const Verifier& verifier, uint32_t max_reply_bytes) {
  bitmap4 b = Bitmap(kEntryAttrs);
  READDIR4args& r = Add(OP_READDIR).nfs_argop4_u.opreaddir;
  bytes_ += 24;  // cookie, verifier, dircount, maxcount
  r.cookie = cookie;
  std::memcpy(r.cookieverf, verifier.data(), verifier.size());
  r.dircount = max_reply_bytes;
  r.maxcount = max_reply_bytes;
  r.attr_request = b;
  return *this;
}

Compound& Compound::Remove(std::string_view name) {
  utf8string n = Text(name);
  Add(OP_REMOVE).nfs_argop4_u.opremove.target = n;
  return *this;
}

Compound& Compound::Rename(std::string_view old_name, std::string_view new_name) {
  utf8string o = Text(old_name), n = Text(new_name);
  RENAME4args& r = Add(OP_RENAME).nfs_argop4_u.oprename;
  r.oldname = o;
  r.newname = n;
  return *this;
}

Compound& Compound::CreateDir(std::string_view name, const SetAttrs& attrs) {
  utf8string n = Text(name);
  fattr4 f = Encode(attrs);
  CREATE4args& c = Add(OP_CREATE).nfs_argop4_u.opcreate;
  bytes_ += 4;  // the object type
  c.objtype.type = NF4DIR;
  c.objname = n;
  c.createattrs = f;
  return *this;
}

Compound& Compound::CreateSymlink(std::string_view name, std::string_view target,
                                  const SetAttrs& attrs) {
  utf8string n = Text(name), t = Text(target);
  fattr4 f = Encode(attrs);
  CREATE4args& c = Add(OP_CREATE).nfs_argop4_u.opcreate;
  bytes_ += 4;  // the object type
  c.objtype.type = NF4LNK;
  c.objtype.createtype4_u.linkdata = t;
  c.objname = n;
  c.createattrs = f;
  return *this;
}

Compound& Compound::SetAttr(const SetAttrs& attrs) {
  fattr4 f = Encode(attrs);
  SETATTR4args& s = Add(OP_SETATTR).nfs_argop4_u.opsetattr;
  bytes_ += 16;  // the stateid
  s.obj_attributes = f;  // stateid stays all-zero: the anonymous stateid
  return *this;
}

Compound& Compound::Read(uint64_t offset, uint32_t count) {
  READ4args& r = Add(OP_READ).nfs_argop4_u.opread;
  bytes_ += 28;  // stateid, offset, count
  r.offset = offset;
  r.count = count;
  return *this;
}

Compound& Compound::Write(uint64_t offset, std::string_view data, stable_how4 stable) {
  utf8string kept = Text(data);
  WRITE4args& w = Add(OP_WRITE).nfs_argop4_u.opwrite;
  bytes_ += 28;  // stateid, offset, stable
  w.offset = offset;
  w.stable = stable;
  w.data.data_len = kept.utf8string_len;
  w.data.data_val = kept.utf8string_val;
  return *this;
}

Compound& Compound::Commit() {
  COMMIT4args& c = Add(OP_COMMIT).nfs_argop4_u.opcommit;
  bytes_ += 12;  // offset, count
  c.offset = 0;
  c.count = 0;  // 0: everything
  return *this;
}

void Compound::Send(nfs_context* ctx, Reply reply) const {
  if (!EventLoop::Accepts(ctx)) return reply(-EINTR, what_ + ": connection closing", nullptr);
  if (bytes_ > kMaxCompoundBytes)
    return reply(-EMSGSIZE, what_ + ": request of " + std::to_string(bytes_) +
                                " bytes does not fit in one COMPOUND (at most " +
                                std::to_string(kMaxCompoundBytes) + ")",
                 nullptr);
  COMPOUND4args args;
  std::memset(&args, 0, sizeof(args));
  args.minorversion = 0;
  args.argarray.argarray_len = static_cast<u_int>(ops_.size());
  args.argarray.argarray_val = const_cast<nfs_argop4*>(ops_.data());
  auto* pending = new Pending{std::move(reply), what_, ctx};
  rpc_context* rpc = nfs_get_rpc_context(ctx);
  if (rpc_nfs4_compound_async(rpc, CompoundTrampoline, &args, pending) != 0) {
    std::unique_ptr<Pending> owned(pending);
    owned->reply(-EFAULT, what_ + ": cannot queue request: " + RpcError(rpc), nullptr);
  }
}

nfs_resop4 ResultAt(const COMPOUND4res& res, std::size_t index) {
  return LoadUnaligned<nfs_resop4>(res.resarray.resarray_val + index);
}

FileHandle FileHandleAt(const COMPOUND4res& res, std::size_t index) {
  const nfs_fh4 fh = ResultAt(res, index).nfs_resop4_u.opgetfh.GETFH4res_u.resok4.object;
  return FileHandle(fh.nfs_fh4_val, fh.nfs_fh4_len);
}

int DecodeEntryAttrsAt(const COMPOUND4res& res, std::size_t index, EntryAttrs* out) {
  return DecodeEntryAttrs(
      ResultAt(res, index).nfs_resop4_u.opgetattr.GETATTR4res_u.resok4.obj_attributes, out);
}

int DecodeReadDirAt(const COMPOUND4res& res, std::size_t index, ReadDirPage* out) {
  const READDIR4resok ok = ResultAt(res, index).nfs_resop4_u.opreaddir.READDIR4res_u.resok4;
  std::memcpy(out->verifier.data(), ok.cookieverf, out->verifier.size());
  out->eof = ok.reply.eof != 0;
  for (const entry4* next = ok.reply.entries; next != nullptr;) {
    const entry4 e = LoadUnaligned<entry4>(next);
    ReadDirPage::Entry& entry = out->entries.emplace_back();
    entry.name.assign(e.name.utf8string_val, e.name.utf8string_len);
    if (int err = DecodeEntryAttrs(e.attrs, &entry.attrs); err != 0) return err;
    out->cookie = e.cookie;
    next = e.nextentry;
  }
  return 0;
}

std::string_view ReadDataAt(const COMPOUND4res& res, std::size_t index, bool* eof) {
  const READ4resok ok = ResultAt(res, index).nfs_resop4_u.opread.READ4res_u.resok4;
  *eof = ok.eof != 0;
  return std::string_view(ok.data.data_val, ok.data.data_len);
}

uint32_t WrittenAt(const COMPOUND4res& res, std::size_t index) {
  return ResultAt(res, index).nfs_resop4_u.opwrite.WRITE4res_u.resok4.count;
}

stable_how4 CommittedAt(const COMPOUND4res& res, std::size_t index) {
  return ResultAt(res, index).nfs_resop4_u.opwrite.WRITE4res_u.resok4.committed;
}

std::string LinkTextAt(const COMPOUND4res& res, std::size_t index) {
  const linktext4 l = ResultAt(res, index).nfs_resop4_u.opreadlink.READLINK4res_u.resok4.link;
  return std::string(l.utf8string_val, l.utf8string_len);
}

int DecodeEntryAttrs(const fattr4& attrs, EntryAttrs* out) {
  XdrReader r(attrs.attr_vals.attrlist4_val, attrs.attr_vals.attrlist4_len);
  FileAttr& a = out->attr;
  for (uint32_t word = 0; word < attrs.attrmask.bitmap4_len; ++word) {
    for (uint32_t bit = 0; bit < 32; ++bit) {
      if ((attrs.attrmask.bitmap4_val[word] & (1u << bit)) == 0) continue;
      uint32_t u32 = 0;
      std::string text;
      bool ok = true;
      switch (word * 32 + bit) {
        case FATTR4_TYPE: ok = r.U32(&u32); a.type = TypeFromNfs4(u32); break;
        case FATTR4_SIZE: ok = r.U64(&a.size); break;
        case FATTR4_RDATTR_ERROR: ok = r.U32(&out->rdattr_error); break;
        case FATTR4_FILEHANDLE: ok = r.Opaque(&out->fh); break;
        case FATTR4_FILEID: ok = r.U64(&a.inode); break;
        case FATTR4_MODE: ok = r.U32(&u32); a.mode = u32 & 07777; break;
        case FATTR4_NUMLINKS: ok = r.U32(&u32); a.nlink = u32; break;
        case FATTR4_OWNER: ok = r.Opaque(&text); a.uid = IdFromOwner(text); break;
        case FATTR4_OWNER_GROUP: ok = r.Opaque(&text); a.gid = IdFromOwner(text); break;
        case FATTR4_SPACE_USED: ok = r.U64(&a.used_bytes); break;
        case FATTR4_TIME_ACCESS: ok = r.Time(&a.atime); break;
        case FATTR4_TIME_METADATA: ok = r.Time(&a.ctime); break;
        case FATTR4_TIME_MODIFY: ok = r.Time(&a.mtime); break;
        default: return -EBADMSG;  // an attribute we did not ask for: cannot skip it safely
      }
      if (!ok) return -EBADMSG;
    }
  }
  return 0;
}

std::string EncodeSetAttrValues(const SetAttrs& attrs, std::vector<uint32_t>* words) {
  words->assign(2, 0u);
  auto mark = [&](uint32_t a) { (*words)[a / 32] |= 1u << (a % 32); };
  XdrWriter w;
  // Attribute-number order: size (4), mode (33), owner (36), owner_group (37), atime (48), mtime (54).
  if (attrs.size) { mark(FATTR4_SIZE); w.U64(*attrs.size); }
  if (attrs.mode) { mark(FATTR4_MODE); w.U32(*attrs.mode & 07777); }
  if (attrs.uid) { mark(FATTR4_OWNER); w.Opaque(std::to_string(*attrs.uid)); }
  if (attrs.gid) { mark(FATTR4_OWNER_GROUP); w.Opaque(std::to_string(*attrs.gid)); }
  if (attrs.atime) { mark(FATTR4_TIME_ACCESS_SET); w.SetTime(*attrs.atime); }
  if (attrs.mtime) { mark(FATTR4_TIME_MODIFY_SET); w.SetTime(*attrs.mtime); }
  return w.Take();
}

int ErrnoFromNfs4(nfsstat4 status) {
  switch (status) {
    case NFS4_OK: return 0;
    case NFS4ERR_PERM: return EPERM;
    case NFS4ERR_NOENT: return ENOENT;
    case NFS4ERR_IO: return EIO;
    case NFS4ERR_NXIO: return ENXIO;
    case NFS4ERR_ACCESS: return EACCES;
    case NFS4ERR_EXIST: return EEXIST;
    case NFS4ERR_XDEV: return EXDEV;
    case NFS4ERR_NOTDIR: return ENOTDIR;
    case NFS4ERR_ISDIR: return EISDIR;
    case NFS4ERR_INVAL: return EINVAL;
    case NFS4ERR_FBIG: return EFBIG;
    case NFS4ERR_NOSPC: return ENOSPC;
    case NFS4ERR_ROFS: return EROFS;
    case NFS4ERR_MLINK: return EMLINK;
    case NFS4ERR_NAMETOOLONG: return ENAMETOOLONG;
    case NFS4ERR_NOTEMPTY: return ENOTEMPTY;
    case NFS4ERR_DQUOT: return EDQUOT;
    case NFS4ERR_STALE: case NFS4ERR_BADHANDLE: case NFS4ERR_FHEXPIRED: return ESTALE;
    case NFS4ERR_DELAY: case NFS4ERR_GRACE: return EAGAIN;
    case NFS4ERR_SYMLINK: return ELOOP;
    case NFS4ERR_BADNAME: case NFS4ERR_BADCHAR: return EINVAL;
    default: return EIO;
  }
}

std::string_view Nfs4StatusName(nfsstat4 status) {
  switch (status) {
    case NFS4_OK: return "NFS4_OK";
    case NFS4ERR_PERM: return "NFS4ERR_PERM";
    case NFS4ERR_NOENT: return "NFS4ERR_NOENT";
    case NFS4ERR_ACCESS: return "NFS4ERR_ACCESS";
    case NFS4ERR_EXIST: return "NFS4ERR_EXIST";
    case NFS4ERR_NOTDIR: return "NFS4ERR_NOTDIR";
    case NFS4ERR_ISDIR: return "NFS4ERR_ISDIR";
    case NFS4ERR_NOSPC: return "NFS4ERR_NOSPC";
    case NFS4ERR_ROFS: return "NFS4ERR_ROFS";
    case NFS4ERR_NOTEMPTY: return "NFS4ERR_NOTEMPTY";
    case NFS4ERR_DQUOT: return "NFS4ERR_DQUOT";
    case NFS4ERR_STALE: return "NFS4ERR_STALE";
    case NFS4ERR_RESOURCE: return "NFS4ERR_RESOURCE";
    case NFS4ERR_DELAY: return "NFS4ERR_DELAY";
    case NFS4ERR_GRACE: return "NFS4ERR_GRACE";
    default: return "NFS4ERR";
  }
}

}  // namespace nfsprov::nfs::nfs4
