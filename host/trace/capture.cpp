// Capture files. Writing is done here byte by byte (pcap: "Libpcap File Format"; pcapng:
// draft-ietf-opsawg-pcapng), always little-endian so the same run gives the same bytes on every
// host; reading goes through libpcap, which copes with both formats and either byte order.
#include "host/trace/capture.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nicsim::host::trace {

namespace {

constexpr uint32_t kSnaplen = 262144;  // tcpdump's default (MAXIMUM_SNAPLEN)
constexpr size_t kWriteBufferBytes = size_t(1) << 20;

// pcap with nanosecond timestamps.
constexpr uint32_t kPcapMagicNs = 0xa1b23c4d;
constexpr uint16_t kPcapVersionMajor = 2;
constexpr uint16_t kPcapVersionMinor = 4;

// pcapng block types and option codes.
constexpr uint32_t kPcapngShb = 0x0a0d0d0a;
constexpr uint32_t kPcapngIdb = 0x00000001;
constexpr uint32_t kPcapngEpb = 0x00000006;
constexpr uint32_t kPcapngByteOrderMagic = 0x1a2b3c4d;
constexpr uint16_t kOptEndOfOpt = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kOptIfTsresol = 9;
constexpr uint8_t kTsresolNanoseconds = 9;  // 10^-9 s per tick

void le16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(uint8_t(v));
  b.push_back(uint8_t(v >> 8));
}
void le32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void le64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void pad4(std::vector<uint8_t>& b) {
  while (b.size() % 4) b.push_back(0);
}
// Patches the block total length (at offset 4) and appends it again, closing a pcapng block.
void close_block(std::vector<uint8_t>& b) {
  uint32_t len = uint32_t(b.size() + 4);
  for (int i = 0; i < 4; ++i) b[size_t(4 + i)] = uint8_t(len >> (8 * i));
  le32(b, len);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CaptureWriter

CaptureWriter::~CaptureWriter() { discard(); }

void CaptureWriter::discard() {
  if (f_ == nullptr) return;
  std::fclose(f_);
  f_ = nullptr;
  if (out_) out_->discard();
}

void CaptureWriter::put(const void* p, size_t n) {
  if (n != 0 && std::fwrite(p, 1, n, f_) != n && error_.empty())
    error_ = out_->write_path + ": write failed: " + std::strerror(errno);
}

bool CaptureWriter::open(const std::string& path, LinkType lt) {
  if (f_ != nullptr) {
    error_ = path + ": capture writer already open on " + out_->path;
    return false;
  }
  out_.emplace(path);
  error_.clear();
  frames_ = 0;
  ng_ = ends_with(path, ".pcapng");
  f_ = std::fopen(out_->write_path.c_str(), "wb");
  if (f_ == nullptr) {
    error_ = out_->write_path + ": cannot create: " + std::strerror(errno);
    return false;
  }
  if (!buf_) buf_.reset(new char[kWriteBufferBytes]);
  std::setvbuf(f_, buf_.get(), _IOFBF, kWriteBufferBytes);

  std::vector<uint8_t> b;
  if (!ng_) {
    le32(b, kPcapMagicNs);
    le16(b, kPcapVersionMajor);
    le16(b, kPcapVersionMinor);
    le32(b, 0);  // thiszone: timestamps are UTC
    le32(b, 0);  // sigfigs
    le32(b, kSnaplen);
    le32(b, uint32_t(lt));
  } else {
    // Section Header Block: no options, section length unknown (-1).
    le32(b, kPcapngShb);
    le32(b, 0);
    le32(b, kPcapngByteOrderMagic);
    le16(b, 1);  // major
    le16(b, 0);  // minor
    le64(b, ~uint64_t(0));
    close_block(b);
    // Interface Description Block with if_tsresol = 9: EPB timestamps count nanoseconds
    // (without the option readers assume microseconds).
    std::vector<uint8_t> idb;
    le32(idb, kPcapngIdb);
    le32(idb, 0);
    le16(idb, uint16_t(lt));
    le16(idb, 0);  // reserved
    le32(idb, kSnaplen);
    le16(idb, kOptIfTsresol);
    le16(idb, 1);
    idb.push_back(kTsresolNanoseconds);
    pad4(idb);
    le16(idb, kOptEndOfOpt);
    le16(idb, 0);
    close_block(idb);
    b.insert(b.end(), idb.begin(), idb.end());
  }
  put(b.data(), b.size());
  if (!error_.empty()) {
    discard();
    return false;
  }
  return true;
}

void CaptureWriter::write(uint64_t t_ns, const uint8_t* frame, size_t n, uint32_t orig_len) {
  write(t_ns, frame, n, orig_len, std::string());
}

void CaptureWriter::write(uint64_t t_ns, const uint8_t* frame, size_t n, uint32_t orig_len,
                          const std::string& comment) {
  if (f_ == nullptr) return;
  // Runs once per simulated frame: fixed-size headers on the stack, no allocation unless a
  // comment is attached.
  const uint32_t cap = uint32_t(std::min<size_t>(n, kSnaplen));
  const uint64_t orig64 = std::max<uint64_t>(orig_len, n);
  const uint32_t orig = orig64 > 0xffffffffu ? 0xffffffffu : uint32_t(orig64);
  uint8_t h[28];
  auto set32 = [&h](size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) h[off + size_t(i)] = uint8_t(v >> (8 * i));
  };
  if (!ng_) {
    // 32-bit seconds: good until 2106.
    set32(0, uint32_t(t_ns / 1000000000u));
    set32(4, uint32_t(t_ns % 1000000000u));
    set32(8, cap);
    set32(12, orig);
    put(h, 16);
    put(frame, cap);
  } else {
    static const uint8_t kZeros[4] = {};
    const size_t data_pad = (4 - cap % 4) % 4;
    std::vector<uint8_t> opts;
    if (!comment.empty() && comment.size() <= 0xffff) {
      le16(opts, kOptComment);
      le16(opts, uint16_t(comment.size()));
      opts.insert(opts.end(), comment.begin(), comment.end());
      pad4(opts);
      le16(opts, kOptEndOfOpt);
      le16(opts, 0);
    }
    const uint32_t total = uint32_t(28 + cap + data_pad + opts.size() + 4);
    set32(0, kPcapngEpb);
    set32(4, total);
    set32(8, 0);  // interface 0
    set32(12, uint32_t(t_ns >> 32));
    set32(16, uint32_t(t_ns));
    set32(20, cap);
    set32(24, orig);
    put(h, 28);
    put(frame, cap);
    put(kZeros, data_pad);
    put(opts.data(), opts.size());
    uint8_t t[4];
    for (int i = 0; i < 4; ++i) t[i] = uint8_t(total >> (8 * i));
    put(t, 4);
  }
  ++frames_;
}

bool CaptureWriter::commit() {
  if (f_ == nullptr) {
    if (error_.empty()) error_ = "capture writer: commit without an open file";
    return false;
  }
  if (std::fflush(f_) != 0 && error_.empty())
    error_ = out_->write_path + ": write failed: " + std::strerror(errno);
  if (std::ferror(f_) && error_.empty()) error_ = out_->write_path + ": write failed";
  if (!error_.empty()) {
    discard();
    return false;
  }
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fclose(f) != 0) {
    error_ = out_->write_path + ": close failed: " + std::strerror(errno);
    out_->discard();
    return false;
  }
  return out_->commit(&error_);
}

// ---------------------------------------------------------------------------------------------
// CaptureReader

CaptureReader::~CaptureReader() {
  if (pcap_ != nullptr) pcap_close(static_cast<pcap_t*>(pcap_));
}

bool CaptureReader::open(const std::string& path) {
  if (pcap_ != nullptr) {
    pcap_close(static_cast<pcap_t*>(pcap_));
    pcap_ = nullptr;
  }
  path_ = path;
  error_.clear();
  index_ = 0;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pc = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                       errbuf);
  if (pc == nullptr) {
    // libpcap's message often starts with the path already ("x: No such file or directory").
    std::string why = errbuf;
    error_ = why.compare(0, path.size(), path) == 0 ? why : path + ": " + why;
    return false;
  }
  raw_lt_ = pcap_datalink(pc);
  // libpcap maps the file's LINKTYPE_ to the platform's DLT_ (LINKTYPE_RAW 101 → DLT_RAW, 12 or
  // 14; LINKTYPE_LOOP 108 → DLT_LOOP, 108 or 12 on OpenBSD).
  switch (raw_lt_) {
    case DLT_EN10MB: lt_ = LinkType::ethernet; break;
    case DLT_LINUX_SLL: lt_ = LinkType::linux_sll; break;
    case 276: lt_ = LinkType::linux_sll2; break;  // DLT_LINUX_SLL2 (absent from old headers)
    case DLT_RAW:
    case 101:  // LINKTYPE_RAW, in case a libpcap hands it through unmapped
    case 228:  // DLT_IPV4
    case 229:  // DLT_IPV6
      lt_ = LinkType::raw_ip;
      break;
    case DLT_NULL: lt_ = LinkType::null_loopback; break;
    case DLT_LOOP: lt_ = LinkType::loop; break;
    default: {
      const char* name = pcap_datalink_val_to_name(raw_lt_);
      error_ = path + ": unsupported link type " + std::to_string(raw_lt_) + " (" +
               (name != nullptr ? name : "unknown") + ")";
      pcap_close(pc);
      return false;
    }
  }
  pcap_ = pc;
  return true;
}

bool CaptureReader::next(CaptureFrame* f) {
  if (pcap_ == nullptr) {
    if (error_.empty()) error_ = "capture reader: next() without an open file";
    return false;
  }
  pcap_t* pc = static_cast<pcap_t*>(pcap_);
  struct pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(pc, &hdr, &data);
  if (rc == 1) {
    ++index_;
    f->index = index_;
    // With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds.
    f->t_ns = uint64_t(hdr->ts.tv_sec) * 1000000000u + uint64_t(hdr->ts.tv_usec);
    f->orig_len = hdr->len;
    f->bytes.assign(data, data + hdr->caplen);
    return true;
  }
  if (rc == PCAP_ERROR_BREAK || rc == 0) return false;  // -2: end of file
  error_ = path_ + ": frame " + std::to_string(index_ + 1) + ": " + pcap_geterr(pc);
  return false;
}

}  // namespace nicsim::host::trace
