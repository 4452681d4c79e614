// `nicsim replay`: a capture and its key log drive the NIC model (issue "Pcap-driven
// simulation").
//
// Design (one streaming pass over the capture, after a cheap streaming pre-pass):
//
//  * Pre-pass. Streams the file once, reading only headers: picks the offloading host when
//    --host is not given (the IP address whose connections carry the most TLS application-data
//    record bytes, found by walking record headers in sequence order per direction; when that
//    address also talks to itself, as on loopback, the host is address + port, the port that
//    sent the most) and counts
//    the host's connections (SYNs), which sizes the NIC's TLS-context backing store (ICM): the
//    model indexes it by TIS number, and TIS numbers are never reused.
//
//  * Ingest (look-ahead). Frames are read one at a time and queued as jobs. Each host→peer TCP
//    payload is appended to a per-connection reassembly (by sequence number: retransmissions,
//    overlaps, out-of-order pieces and frames larger than the MSS are all fine); complete
//    records are parsed at once. The ClientHello / ServerHello (either direction) give the
//    randoms, the suite and the version; the key log gives the secrets. Records before the
//    first one protected with the application traffic keys are pre-offload (TLS 1.2: the
//    encrypted Finished, record 0, is still written by the TLS library before setsockopt, so
//    offload starts at record 1; TLS 1.3: the first record that opens with the application
//    keys at record number 0). From there each record is decrypted (tls_open_record with the
//    running record number) and given to the kernel-offload emulator with one sendmsg (no
//    MSG_MORE, record_type = the real content type, tx_max_payload_len = 16384), so the
//    emulator builds the same record with the same number; for TLS 1.2 CryptoInfo.iv is the
//    first offloaded record's explicit nonce and rec_seq its number, and every later record's
//    explicit nonce must be iv + index as the kernel computes it. The emulator's TCP is a
//    capture-driven socket (ReplayTcpOps) that just keeps the pushed record images by sequence
//    number. Records are pushed before any frame carrying them is sent, as in the kernel where
//    the application's write precedes TCP's transmissions.
//
//  * Simulation. A frame is processed only when the fate of every byte it carries is known
//    (its records are complete, or the connection passes through); until then later frames
//    wait behind it (the look-ahead, bounded by ReplayOptions::lookahead_limit_bytes). At its
//    capture time (simulated time = capture time − the first frame's time) each host frame of
//    a reproduced connection becomes one skb: tcp::Segment [seq, seq+len) whose frags point
//    into the record images (decrypted = true) or, for pre-offload bytes, into a host-memory
//    copy of the captured bytes (decrypted = false, no kTLS context, as the kernel's
//    non-decrypted skbs bypass mlx5e_ktls_handle_tx_skb). A frame straddling the start marker
//    becomes two skbs (the kernel never mixes decrypted and plain bytes in one skb). The skb's
//    headers are the captured frame's own bytes (SkbMeta::hdr), so addresses, ports, ack,
//    window, options, IP ID, TTL, DF, TOS and VLAN tag are the input's; the NIC rewrites
//    lengths and checksums and, when the frame is larger than the MSS, splits it (TSO at the
//    peer's MSS option less the TCP options, capped by the NIC's MTU). A retransmission in the
//    capture is thus an out-of-order skb at the driver, with the resync (static/progress
//    params, DUMPs) it costs. The peer's ACKs call clean_acked at their capture times.
//
//  * Output. Every input frame has a slot, in input order; unchanged frames fill theirs at
//    once, a host frame's slot fills as the NIC's frames for it leave mac_tx (matched per
//    connection in send order). Slots are written in input order, so the file keeps the input's
//    order; replaced frames carry the NIC's departure times (which may be later than the next
//    input frame's time: the file is then not strictly time-sorted, by design). Non-Ethernet
//    inputs (Linux cooked, loopback, raw IP) are written in their own link type: the NIC gets
//    an Ethernet header made up for it and its frames get the input's L2 header back.
//
//  * Pass-through. Connections that are not TLS, whose start (SYN) was not captured, whose
//    keys are missing, whose suite is not AES-GCM, or that the emulator could not have
//    produced, pass through unchanged, counted with the reason (payload-less frames the host
//    sent before that was known, e.g. the SYN-ACK, went through the NIC as plain sends: frames
//    never wait for a decision that may be many round trips away, which keeps the look-ahead
//    to about one record per connection). A connection that goes wrong
//    midway ("cut": a record that fails to decrypt, an explicit nonce that is not iv + index,
//    a padded TLS 1.3 record, a KeyUpdate — mainline kTLS cannot rekey a device-offloaded
//    socket —, a capture that ends inside a record, the look-ahead limit) is reproduced up to
//    the cut and passes through after it.
//
// Not modelled / unfinished (also in the final report): TLS 1.3 KeyUpdate is a cut, not a
// re-key; IPv6 extension headers pass through (the NIC model's header parser does not take
// them); a frame that retransmits bytes already acknowledged in the capture (possible when the
// capture was not taken at the sender) passes through unchanged because the kernel would have
// freed those bytes; per-connection state is kept until the end of the run for the stats.
#include "app/replay.h"

#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <systemc>

#include "app/engine.h"
#include "app/host_bridge.h"
#include "app/stats.h"
#include "host/driver/mlx5e_tx.h"
#include "host/ktls/tls_device.h"
#include "host/mem/host_memory.h"
#include "host/tcp/segment.h"
#include "host/trace/capture.h"
#include "host/trace/packet.h"
#include "host/trace/tls_keys.h"
#include "model/abi/wqe.h"
#include "model/crypto/tls_record.h"
#include "model/sc/nic_top.h"
#include "model/tx/gcm_engine.h"

namespace nicsim::app {

using sim::TimePs;
namespace tcp = host::tcp;
namespace trace = host::trace;
namespace ktls = host::ktls;
namespace drv = host::driver;

namespace {

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be24(const uint8_t* p) { return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]; }
uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}
void put_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
std::string hex16(uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04x", v);
  return b;
}
std::string endpoint(const trace::IpAddr& ip, uint16_t port) {
  return ip.v6 ? "[" + ip.str() + "]:" + std::to_string(port) : ip.str() + ":" + std::to_string(port);
}
// "IP", "IPv4:PORT" or "[IPv6]:PORT" (port 0: any).
bool parse_ip(const std::string& s, trace::IpAddr* out);
bool parse_host(const std::string& s, trace::IpAddr* ip, uint16_t* port) {
  std::string a = s, p;
  *port = 0;
  if (!s.empty() && s[0] == '[') {
    size_t k = s.find("]:");
    if (k == std::string::npos) return false;
    a = s.substr(1, k - 1);
    p = s.substr(k + 2);
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    a = s.substr(0, s.find(':'));
    p = s.substr(s.find(':') + 1);
  }
  if (!p.empty()) {
    if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5 || std::stoul(p) == 0 ||
        std::stoul(p) > 65535)
      return false;
    *port = uint16_t(std::stoul(p));
  }
  return parse_ip(a, ip);
}
bool parse_ip(const std::string& s, trace::IpAddr* out) {
  trace::IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.ip.data()) == 1) {
    *out = a;
    return true;
  }
  a.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), a.ip.data()) == 1) {
    *out = a;
    return true;
  }
  return false;
}
uint64_t max_rss_bytes() {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return uint64_t(ru.ru_maxrss) * 1024;  // Linux: kilobytes
}

constexpr uint8_t kCtCcs = 20, kCtAlert = 21, kCtHandshake = 22, kCtAppData = 23, kCtHeartbeat = 24;
constexpr size_t kMaxRecordBody = 16384 + 2048;  // RFC 5246 §6.2.3 ciphertext limit (1.3: less)

// --------------------------------------------------------------------------------------------
// Key log: secrets by client random. A line that does not parse is reported (file and line)
// and skipped.

struct Secrets {
  std::vector<uint8_t> master;                                 // CLIENT_RANDOM (TLS 1.2)
  std::map<uint32_t, std::vector<uint8_t>> server_app, client_app;  // *_TRAFFIC_SECRET_N
  std::vector<uint8_t> server_hs, client_hs;                  // *_HANDSHAKE_TRAFFIC_SECRET
};

class KeyLog {
 public:
  // False (err set) when the file cannot be read or holds no usable line.
  bool load(const std::string& path, const std::function<void(const std::string&)>& warn, std::string* err) {
    std::ifstream f(path);
    if (!f) {
      *err = path + ": cannot open key log";
      return false;
    }
    std::string line, e;
    size_t n = 0, used = 0;
    while (std::getline(f, line)) {
      n++;
      trace::KeyLogLine k;
      e.clear();
      if (!trace::parse_keylog_line(line, &k, &e)) {
        if (!e.empty()) warn(path + ": line " + std::to_string(n) + ": " + e + " (line skipped)");
        continue;
      }
      std::string cr(k.client_random.begin(), k.client_random.end());
      const std::string& l = k.label;
      if (l == "CLIENT_RANDOM") {
        by_random_[cr].master = k.secret;
      } else if (l == "SERVER_HANDSHAKE_TRAFFIC_SECRET") {
        by_random_[cr].server_hs = k.secret;
      } else if (l == "CLIENT_HANDSHAKE_TRAFFIC_SECRET") {
        by_random_[cr].client_hs = k.secret;
      } else if (l.rfind("SERVER_TRAFFIC_SECRET_", 0) == 0 || l.rfind("CLIENT_TRAFFIC_SECRET_", 0) == 0) {
        uint32_t gen = uint32_t(std::strtoul(l.c_str() + 22, nullptr, 10));
        auto& m = l[0] == 'S' ? by_random_[cr].server_app : by_random_[cr].client_app;
        m[gen] = k.secret;
      } else {
        continue;  // other labels (exporter, early data, RSA) are of no use here
      }
      used++;
    }
    if (used == 0) {
      *err = path + ": no usable key log line (" + std::to_string(n) + " lines read)";
      return false;
    }
    return true;
  }
  const Secrets* find(const uint8_t cr[32]) const {
    auto it = by_random_.find(std::string(cr, cr + 32));
    return it == by_random_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, Secrets> by_random_;
};

// --------------------------------------------------------------------------------------------
// One direction of a TCP connection, reassembled by stream offset (0 = the byte after the SYN).
// [consumed, end) is contiguous in buf_; later pieces wait in ooo_ until the gap fills. Memory:
// the unparsed tail (at most one record) plus the out-of-order pieces (the capture's holes).
class ByteStream {
 public:
  void init(uint32_t first_seq) {
    base_ = first_seq;
    on_ = true;
  }
  bool on() const { return on_; }
  // Stream offset of seq, unwrapped near the current end (negative: before the first byte).
  int64_t offset_of(uint32_t seq) const { return int64_t(end()) + int32_t(seq - uint32_t(base_ + end())); }
  uint32_t seq_of(uint64_t off) const { return uint32_t(base_ + off); }
  void add(int64_t off, const uint8_t* p, size_t n) {
    if (!on_ || n == 0) return;
    int64_t e = off + int64_t(n), end_now = int64_t(end());
    if (e <= end_now) return;
    if (off < end_now) {
      p += end_now - off;
      n = size_t(e - end_now);
      off = end_now;
    }
    if (off > end_now) {
      auto& v = ooo_[uint64_t(off)];
      if (v.size() < n) {
        ooo_bytes_ += n - v.size();
        v.assign(p, p + n);
      }
      return;
    }
    buf_.insert(buf_.end(), p, p + n);
    while (!ooo_.empty()) {
      auto it = ooo_.begin();
      uint64_t o = it->first, cur = end();
      if (o > cur) break;
      const auto& v = it->second;
      if (o + v.size() > cur) buf_.insert(buf_.end(), v.begin() + int64_t(cur - o), v.end());
      ooo_bytes_ -= v.size();
      ooo_.erase(it);
    }
  }
  size_t avail() const { return buf_.size() - head_; }
  const uint8_t* data() const { return buf_.data() + head_; }
  uint64_t consumed() const { return consumed_; }
  uint64_t end() const { return consumed_ + avail(); }
  void consume(size_t n) {
    head_ += n;
    consumed_ += n;
    if (head_ == buf_.size()) {
      buf_.clear();
      head_ = 0;
    } else if (head_ > 65536 && head_ * 2 > buf_.size()) {
      buf_.erase(buf_.begin(), buf_.begin() + int64_t(head_));
      head_ = 0;
    }
  }
  uint64_t held_bytes() const { return avail() + ooo_bytes_; }
  void drop() {  // no longer needed: free everything
    on_ = false;
    std::vector<uint8_t>().swap(buf_);
    head_ = 0;
    ooo_.clear();
    ooo_bytes_ = 0;
  }

 private:
  bool on_ = false;
  uint32_t base_ = 0;
  uint64_t consumed_ = 0;
  std::vector<uint8_t> buf_;
  size_t head_ = 0;
  std::map<uint64_t, std::vector<uint8_t>> ooo_;
  uint64_t ooo_bytes_ = 0;
};

// --------------------------------------------------------------------------------------------
// ClientHello / ServerHello (RFC 5246 §7.4.1, RFC 8446 §4.1) from the plaintext handshake
// records of one direction.
struct Hellos {
  bool have_ch = false, have_sh = false;
  uint8_t client_random[32] = {}, server_random[32] = {};
  uint16_t suite = 0, version = 0;  // version: supported_versions if present, else legacy
  bool host_sent_ch = false;
};

const uint8_t kHrrRandom[32] = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
                                0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
                                0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

// Consumes whole handshake messages from acc; false with *err on a malformed hello.
bool scan_hellos(std::vector<uint8_t>* acc, bool from_host, Hellos* h, std::string* err) {
  size_t off = 0;
  while (acc->size() - off >= 4) {
    const uint8_t* m = acc->data() + off;
    uint32_t len = be24(m + 1);
    if (acc->size() - off - 4 < len) break;
    const uint8_t* b = m + 4;
    if (m[0] == 1 && !h->have_ch) {  // ClientHello
      if (len < 34) return *err = "ClientHello shorter than 34 bytes", false;
      std::memcpy(h->client_random, b + 2, 32);
      h->have_ch = true;
      h->host_sent_ch = from_host;
    } else if (m[0] == 2 && !h->have_sh) {  // ServerHello (or HelloRetryRequest)
      if (len < 38) return *err = "ServerHello shorter than 38 bytes", false;
      if (std::memcmp(b + 2, kHrrRandom, 32) != 0) {
        std::memcpy(h->server_random, b + 2, 32);
        h->version = be16(b);
        size_t p = 34;
        uint8_t sid = b[p];
        p += 1 + sid;
        if (p + 3 > len) return *err = "ServerHello truncated", false;
        h->suite = be16(b + p);
        p += 3;
        if (p + 2 <= len) {
          size_t ext_end = std::min<size_t>(len, p + 2 + be16(b + p));
          p += 2;
          while (p + 4 <= ext_end) {
            uint16_t et = be16(b + p), el = be16(b + p + 2);
            if (p + 4 + el > ext_end) return *err = "ServerHello extension overruns", false;
            if (et == 43 && el == 2) h->version = be16(b + p + 4);  // supported_versions
            p += 4 + el;
          }
        }
        h->have_sh = true;
      }
    }
    off += 4 + len;
  }
  acc->erase(acc->begin(), acc->begin() + int64_t(off));
  if (acc->size() > (256u << 10)) return *err = "handshake message larger than 256 KiB before the hellos", false;
  return true;
}

// TLS 1.2 AES-GCM suites (RFC 5288, 5289): AES-128 ones use SHA-256 for the PRF, AES-256 ones
// SHA-384. TLS 1.3: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384.
bool suite_cipher(bool tls13, uint16_t s, crypto::Cipher* c) {
  if (tls13) {
    if (s == 0x1301) return *c = crypto::Cipher::aes128gcm, true;
    if (s == 0x1302) return *c = crypto::Cipher::aes256gcm, true;
    return false;
  }
  switch (s) {
    case 0x009C: case 0x009E: case 0x00A0: case 0x00A2: case 0x00A4: case 0x00A6:
    case 0xC02B: case 0xC02D: case 0xC02F: case 0xC031:
      *c = crypto::Cipher::aes128gcm;
      return true;
    case 0x009D: case 0x009F: case 0x00A1: case 0x00A3: case 0x00A5: case 0x00A7:
    case 0xC02C: case 0xC02E: case 0xC030: case 0xC032:
      *c = crypto::Cipher::aes256gcm;
      return true;
    default:
      return false;
  }
}

// --------------------------------------------------------------------------------------------
// The capture-driven socket under the emulator: records pushed to "TCP" are kept by sequence
// number (one HostMemory reference each) until the peer's ACK covers them; frames then point
// into them. Sending is the capture's business, so there is always send space.
class ReplayTcpOps final : public ktls::TcpSocketOps {
 public:
  ReplayTcpOps(host::HostMemory& m, uint32_t write_seq) : mem_(m), write_seq_(write_seq), first_seq_(write_seq) {}
  ~ReplayTcpOps() override {
    for (const Chunk& c : chunks_) mem_.release(c.addr);
  }
  uint32_t write_seq() const override { return write_seq_; }
  size_t send_space() const override { return size_t(1) << 40; }
  void push_pages(uint64_t addr, uint32_t len, bool) override {
    mem_.retain(addr);
    chunks_.push_back(Chunk{pushed_, addr, len});
    pushed_ += len;
    write_seq_ += len;
  }
  void mark_eor() override {}
  // Frags for [seq, seq+len): false when a byte is not held (acknowledged and freed, or not
  // pushed yet).
  bool frags(uint32_t seq, uint32_t len, std::vector<tcp::Frag>* out) const {
    out->clear();
    if (chunks_.empty()) return false;
    int64_t off = int64_t(chunks_.front().pos) + int32_t(seq - seq_of(chunks_.front().pos));
    if (off < int64_t(chunks_.front().pos) || uint64_t(off) + len > pushed_) return false;
    auto it = std::upper_bound(chunks_.begin(), chunks_.end(), uint64_t(off),
                               [](uint64_t o, const Chunk& c) { return o < c.pos; });
    --it;
    uint64_t o = uint64_t(off);
    uint32_t left = len;
    while (left > 0) {
      uint32_t in = uint32_t(o - it->pos), n = std::min(left, it->len - in);
      out->push_back(tcp::Frag{it->addr + in, n});
      left -= n;
      o += n;
      ++it;
    }
    return true;
  }
  // The peer acknowledged up to ack: drop the records wholly before it.
  void release_acked(uint32_t ack) {
    while (!chunks_.empty()) {
      const Chunk& c = chunks_.front();
      uint32_t end = seq_of(c.pos + c.len);
      if (tcp::seq_after(end, ack)) break;
      mem_.release(c.addr);
      chunks_.pop_front();
    }
  }

 private:
  struct Chunk {
    uint64_t pos;  // stream position from the first pushed byte
    uint64_t addr;
    uint32_t len;
  };
  uint32_t seq_of(uint64_t pos) const { return uint32_t(first_seq_ + pos); }
  host::HostMemory& mem_;
  uint32_t write_seq_, first_seq_;
  uint64_t pushed_ = 0;
  std::deque<Chunk> chunks_;
};

// --------------------------------------------------------------------------------------------

enum class ConnState { undecided, reproduce, passthrough };

struct Conn {
  uint32_t id = 0;
  trace::FlowAddr addr;  // host → peer (only the IP version matters to the driver here)
  trace::IpAddr peer_ip;
  uint16_t host_port = 0, peer_port = 0;
  uint64_t first_frame = 0;
  ConnState state = ConnState::undecided;
  std::string reason;         // why it passes through (or was cut)
  bool host_syn = false, peer_syn = false;
  uint32_t host_isn = 0, peer_isn = 0;
  uint16_t peer_mss = 0;      // the peer's MSS option (0 = not seen)
  bool closed = false;        // FIN or RST seen from both / RST
  bool host_fin = false, peer_fin = false;
  ByteStream tx, rx;          // host → peer (all records), peer → host (until the hellos)
  std::vector<uint8_t> hs_tx, hs_rx;
  Hellos hello;
  // Keys.
  bool tls13 = false;
  crypto::Cipher cipher = crypto::Cipher::aes128gcm;
  crypto::TlsKeys app_keys, hs_keys;
  bool have_hs_keys = false;
  // Record walk.
  bool host_ccs = false, tls12_finished = false;
  uint64_t hs_rec_sn = 0, pre_records = 0;
  bool offload_started = false;
  uint32_t offload_start = 0;
  uint64_t rec_sn = 0, rec_sn0 = 0, iv0 = 0;
  uint32_t decided_end = 0;   // every byte before this seq is parsed (pre-offload or pushed)
  bool cut = false;
  uint32_t cut_seq = 0;       // frames ending after this pass through unchanged
  std::unique_ptr<ReplayTcpOps> ops;
  std::unique_ptr<drv::KtlsTxContext> kdev;
  std::unique_ptr<ktls::TlsOffloadCtxTx> ktls;
  // Output matching: NIC frames still due, per sent skb, in send order.
  struct Due {
    uint64_t slot;
    uint32_t frames;
  };
  std::deque<Due> due;
  // Counters.
  uint64_t host_frames = 0, peer_frames = 0, host_payload_bytes = 0;
  uint64_t frames_nic = 0, frames_unchanged = 0, skbs = 0, skbs_dropped = 0, split_frames = 0;
  uint64_t nic_frames_out = 0, nic_wire_bytes = 0, nic_payload_bytes = 0;
  uint64_t records_offloaded = 0, plaintext_bytes = 0, frames_after_ack = 0;
};

struct ConnKey {
  trace::IpAddr peer;
  uint16_t host_port, peer_port;
  bool operator<(const ConnKey& o) const {
    if (host_port != o.host_port) return host_port < o.host_port;
    if (peer_port != o.peer_port) return peer_port < o.peer_port;
    return peer < o.peer;
  }
};

struct Job {
  trace::CaptureFrame f;
  trace::ParsedFrame p;
  Conn* conn = nullptr;
  bool from_host = false;
  enum Kind : uint8_t { other, tcp } kind = other;
};

// One output position per input frame.
struct Slot {
  uint64_t t_ns = 0;
  uint32_t orig_len = 0;
  bool nic = false;
  uint32_t pending = 0, unissued = 0;  // NIC frames still due; skbs not yet taken by the driver
  std::vector<uint8_t> bytes;          // unchanged frame, or (NIC) the input's L2 header
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> out;  // (t_ns, frame) from the NIC
};

// An skb waiting for the driver (the ring may be full).
struct PendingXmit {
  Conn* conn = nullptr;
  uint64_t slot = 0;
  uint32_t frames = 0;
  tcp::Segment s;
  std::vector<uint8_t> hdr;
  bool offloaded = false;
  std::vector<uint64_t> refs;  // host-memory references held until the driver has its own
};

// --------------------------------------------------------------------------------------------
// Pre-pass: per direction, walk TLS record headers in sequence order and add the bodies of
// application-data records to the sender's tally; count SYNs per address.
struct Prepass {
  std::map<trace::IpAddr, uint64_t> app_bytes, syns;
  std::map<std::pair<trace::IpAddr, uint16_t>, uint64_t> endpoint_app_bytes;
  std::map<trace::IpAddr, bool> self_connected;  // an address talking TCP to itself (loopback)
  std::map<trace::IpAddr, bool> tcp_addrs;       // every address in a TCP frame
  uint64_t frames = 0;
};

bool run_prepass(const std::string& path, Prepass* out, std::string* err) {
  trace::CaptureReader r;
  if (!r.open(path)) {
    *err = r.error();
    return false;
  }
  struct Walk {
    uint32_t base = 0;
    uint64_t next = 0;
    uint8_t hdr[5] = {};
    uint32_t hdr_have = 0, body_left = 0;
    bool dead = false;
  };
  struct Key {
    trace::IpAddr s, d;
    uint16_t sp, dp;
    bool operator<(const Key& o) const {
      if (sp != o.sp) return sp < o.sp;
      if (dp != o.dp) return dp < o.dp;
      if (!(s == o.s)) return s < o.s;
      return d < o.d;
    }
  };
  std::map<Key, Walk> walks;
  // Follows one direction's TLS record headers through a segment's new bytes, counting the
  // application-data bytes each endpoint sends.
  auto count_app_data = [out](Walk& w, const trace::ParsedFrame& p, const uint8_t* frame) {
    if (w.dead || p.payload_len == 0 || p.truncated) return;
    int64_t off = int64_t(w.next) + int32_t(p.tcp.seq - uint32_t(w.base + w.next));
    int64_t e = off + p.payload_len;
    if (off > int64_t(w.next) || e <= int64_t(w.next)) return;  // a hole, or old bytes
    const uint8_t* d = frame + p.payload_off + (int64_t(w.next) - off);
    size_t n = size_t(e - int64_t(w.next));
    w.next += n;
    while (n > 0) {
      if (w.body_left == 0) {
        size_t t = std::min<size_t>(n, 5 - w.hdr_have);
        std::memcpy(w.hdr + w.hdr_have, d, t);
        w.hdr_have += uint32_t(t);
        d += t;
        n -= t;
        if (w.hdr_have == 5) {
          w.hdr_have = 0;
          w.body_left = be16(w.hdr + 3);
          if (w.hdr[0] < kCtCcs || w.hdr[0] > kCtHeartbeat || w.hdr[1] != 3) {
            w.dead = true;  // not TLS
            break;
          }
          if (w.body_left == 0) continue;
        }
      } else {
        size_t t = std::min<size_t>(n, w.body_left);
        if (w.hdr[0] == kCtAppData) {
          out->app_bytes[p.src_ip] += t;
          out->endpoint_app_bytes[{p.src_ip, p.src_port}] += t;
        }
        w.body_left -= uint32_t(t);
        d += t;
        n -= t;
      }
    }
  };
  trace::CaptureFrame f;
  while (r.next(&f)) {
    out->frames++;
    trace::ParsedFrame p = trace::parse_frame(f.bytes.data(), f.bytes.size(), r.link_type());
    if (!p.is_tcp || (!p.ok && !p.truncated)) continue;
    Key k{p.src_ip, p.dst_ip, p.src_port, p.dst_port};
    if (p.src_ip == p.dst_ip) out->self_connected[p.src_ip] = true;
    out->tcp_addrs[p.src_ip] = out->tcp_addrs[p.dst_ip] = true;
    const uint8_t fl = p.tcp.flags;
    if (fl & tcp::kSyn) {
      if (!(fl & tcp::kAck)) {
        out->syns[p.src_ip]++;
        out->syns[p.dst_ip]++;
      }
      Walk w;
      w.base = p.tcp.seq + 1;
      walks[k] = w;
      continue;
    }
    auto it = walks.find(k);
    if (it == walks.end()) continue;
    Walk& w = it->second;
    // A FIN may ride on the last data segment (Linux sends it so when the application closes
    // right after its last write; nicsim's host does too): count that payload, then end the walk.
    if (!(fl & tcp::kRst)) count_app_data(w, p, f.bytes.data());
    if (fl & (tcp::kFin | tcp::kRst)) walks.erase(it);
  }
  return true;  // a read error is reported by the main pass
}

// --------------------------------------------------------------------------------------------

class Replay {
 public:
  Replay(const Config& cfg, const ReplayOptions& o) : cfg_(cfg), o_(o) {}
  ReplaySummary run();

 private:
  void warn(const std::string& kind, const std::string& msg);
  std::string where(uint64_t frame) const { return o_.pcap + ": frame " + std::to_string(frame); }
  std::string conn_name(const Conn& c) const {
    return "connection " + endpoint(host_, c.host_port) + " <-> " + endpoint(c.peer_ip, c.peer_port);
  }
  // Ingest.
  bool read_one();
  void ingest(Job& j);
  Conn* lookup(Job& j);
  void host_payload(Conn& c, const Job& j);
  void peer_payload(Conn& c, const Job& j);
  void parse_host_records(Conn& c, uint64_t frame);
  bool host_record(Conn& c, const uint8_t* rec, size_t n, uint32_t seq, uint64_t frame);
  bool offload_record(Conn& c, const uint8_t* rec, size_t n, uint32_t seq, uint64_t frame);
  bool start_offload(Conn& c, const uint8_t* rec, uint32_t seq, uint64_t frame);
  void decide(Conn& c, uint64_t frame);
  void passthrough(Conn& c, const std::string& kind, const std::string& why, uint64_t frame);
  void cut(Conn& c, uint32_t seq, const std::string& kind, const std::string& why, uint64_t frame);
  // Simulation.
  bool ready(const Job& j) const;
  void force(Job& j);
  void pump();
  void process(Job& j);
  void send_unchanged(const Job& j);
  void send_via_nic(Conn& c, const Job& j);
  void issue_pending();
  void on_wire(model::tx::Frame&& fr);
  void flush_output(bool force = false);
  void maybe_finish();
  void progress_tick();
  uint16_t gso_size(const Conn& c, const trace::ParsedFrame& p) const;
  ReplaySummary summarize(double wall_s);

  Config cfg_;
  ReplayOptions o_;
  trace::IpAddr host_;
  uint16_t host_port_ = 0;  // 0: any port of host_ (a loopback capture needs the port)
  bool is_host(const trace::IpAddr& ip, uint16_t port) const {
    return ip == host_ && (host_port_ == 0 || port == host_port_);
  }
  std::string host_name() const { return host_port_ ? endpoint(host_, host_port_) : host_.str(); }
  KeyLog keys_;
  Prepass pre_;
  trace::CaptureReader reader_;
  trace::LinkType lt_ = trace::LinkType::ethernet;
  bool eof_ = false, read_error_ = false;
  uint64_t t0_ns_ = 0;
  bool have_t0_ = false;
  TimePs last_t_ps_ = 0;
  uint64_t frames_in_ = 0, captured_bytes_ = 0;

  sim::EventQueue q_;
  host::HostMemory mem_;
  std::unique_ptr<HostBridge> bridge_;
  std::unique_ptr<model::sc::NicTop> nic_;
  std::unique_ptr<drv::Mlx5eTx> driver_;

  std::vector<std::unique_ptr<Conn>> conns_;
  std::map<ConnKey, Conn*> by_key_;
  std::deque<Job> jobs_;
  uint64_t jobs_bytes_ = 0, lookahead_peak_bytes_ = 0;
  std::deque<Slot> slots_;
  uint64_t slot_base_ = 0;
  std::deque<PendingXmit> pend_;
  trace::CaptureWriter writer_;
  uint64_t frames_out_ = 0;

  bool pumping_ = false, pump_armed_ = false, finished_ = false;
  std::map<std::string, uint64_t> warn_counts_;
  std::vector<std::string> warn_list_;
  uint64_t warnings_ = 0;
  std::map<std::string, uint64_t> unchanged_by_reason_;
  uint64_t host_frames_ = 0, host_frames_nic_ = 0, nic_unmatched_ = 0, nic_missing_ = 0, driver_busy_ = 0;
  std::chrono::steady_clock::time_point wall0_, last_progress_;
  bool tty_ = false;
};

void Replay::warn(const std::string& kind, const std::string& msg) {
  warnings_++;
  ++warn_counts_[kind];
  if (warn_list_.size() < 200) warn_list_.push_back(msg);
  if (warnings_ <= 200) std::fprintf(stderr, "nicsim replay: warning: %s\n", msg.c_str());
  else if (warnings_ == 201) std::fprintf(stderr, "nicsim replay: further warnings only counted in the stats\n");
}

// ---------------------------------------------------------------------------- ingest

bool Replay::read_one() {
  if (eof_) return false;
  Job j;
  if (!reader_.next(&j.f)) {
    eof_ = true;
    if (!reader_.error().empty()) {
      read_error_ = true;
      warn("capture_truncated", reader_.error() + " (the replay stops at the last whole frame)");
    }
    // Whatever is still undecided at the end can no longer become decidable.
    for (auto& c : conns_) {
      if (c->state == ConnState::undecided) {
        passthrough(*c, "no_tls_handshake", "the capture ends before the TLS hellos", c->first_frame);
      } else if (c->state == ConnState::reproduce && !c->cut && c->tx.held_bytes() > 0 && c->tx.on()) {
        cut(*c, c->decided_end, "capture_ends_in_record",
            "the capture ends inside a record (" + std::to_string(c->tx.held_bytes()) +
                " bytes unparsed); frames carrying them pass through",
            frames_in_);
      }
    }
    return false;
  }
  frames_in_++;
  captured_bytes_ += j.f.bytes.size();
  if (!have_t0_) {
    have_t0_ = true;
    t0_ns_ = j.f.t_ns;
  }
  ingest(j);
  jobs_bytes_ += j.f.bytes.size() + sizeof(Job);
  lookahead_peak_bytes_ = std::max(lookahead_peak_bytes_, jobs_bytes_);
  jobs_.push_back(std::move(j));
  return true;
}

Conn* Replay::lookup(Job& j) {
  const trace::ParsedFrame& p = j.p;
  j.from_host = is_host(p.src_ip, p.src_port);
  ConnKey k = j.from_host ? ConnKey{p.dst_ip, p.src_port, p.dst_port} : ConnKey{p.src_ip, p.dst_port, p.src_port};
  const bool syn = (p.tcp.flags & tcp::kSyn) != 0, syn_only = syn && !(p.tcp.flags & tcp::kAck);
  auto it = by_key_.find(k);
  Conn* c = it == by_key_.end() ? nullptr : it->second;
  // A new SYN on a finished connection's ports, or with another ISN, starts a new connection.
  if (c && syn_only) {
    bool same = j.from_host ? (c->host_syn && c->host_isn == p.tcp.seq) : (c->peer_syn && c->peer_isn == p.tcp.seq);
    if (!same) c = nullptr;
  }
  if (c) return c;
  auto n = std::make_unique<Conn>();
  n->id = uint32_t(conns_.size());
  n->first_frame = j.f.index;
  n->peer_ip = k.peer;
  n->host_port = k.host_port;
  n->peer_port = k.peer_port;
  n->addr.src_ip = host_;
  n->addr.dst_ip = k.peer;
  n->addr.src_port = k.host_port;
  n->addr.dst_port = k.peer_port;
  c = n.get();
  conns_.push_back(std::move(n));
  by_key_[k] = c;
  if (!syn) {
    passthrough(*c, "start_not_captured",
                "the connection's start (SYN) was not captured; its frames pass through unchanged", j.f.index);
  }
  return c;
}

void Replay::ingest(Job& j) {
  j.p = trace::parse_frame(j.f.bytes.data(), j.f.bytes.size(), lt_);
  const trace::ParsedFrame& p = j.p;
  if (!p.is_tcp || (!p.ok && !p.truncated)) return;  // not TCP (or unparsable): passes through
  if (!is_host(p.src_ip, p.src_port) && !is_host(p.dst_ip, p.dst_port)) return;
  j.kind = Job::tcp;
  Conn* c = lookup(j);
  j.conn = c;
  const uint8_t fl = p.tcp.flags;
  if (j.from_host) {
    c->host_frames++;
    if ((fl & tcp::kSyn) && !c->host_syn) {
      c->host_syn = true;
      c->host_isn = p.tcp.seq;
      c->tx.init(p.tcp.seq + 1);
      c->decided_end = p.tcp.seq + 1;
    }
    if (fl & tcp::kFin) c->host_fin = true;
  } else {
    c->peer_frames++;
    if ((fl & tcp::kSyn) && !c->peer_syn) {
      c->peer_syn = true;
      c->peer_isn = p.tcp.seq;
      c->peer_mss = p.tcp.mss_opt;
      c->rx.init(p.tcp.seq + 1);
    }
    if (fl & tcp::kFin) c->peer_fin = true;
  }
  if (p.truncated && j.from_host && p.payload_len > 0 && c->state != ConnState::passthrough) {
    // The frame's bytes are not all in the capture (snaplen): nothing after them is knowable.
    if (c->state == ConnState::undecided)
      passthrough(*c, "snaplen", "frame cut by the capture's snaplen before the TLS hellos", j.f.index);
    else if (!c->cut)
      cut(*c, tcp::seq_before(p.tcp.seq, c->decided_end) ? p.tcp.seq : c->decided_end, "snaplen",
          "frame cut by the capture's snaplen: its bytes are unknown", j.f.index);
    return;
  }
  if (!p.ok) return;
  if (j.from_host && p.payload_len > 0) host_payload(*c, j);
  if (!j.from_host && p.payload_len > 0) peer_payload(*c, j);
  if ((fl & tcp::kRst) || (c->host_fin && c->peer_fin)) {
    // Closed: once every byte is parsed the reassembly buffers go (memory follows the open
    // connections); later retransmissions carry bytes already decided.
    if (c->tx.held_bytes() == 0 && !c->closed) {
      c->closed = true;
      c->tx.drop();
      c->rx.drop();
    }
  }
}

void Replay::host_payload(Conn& c, const Job& j) {
  c.host_payload_bytes += j.p.payload_len;
  if (c.state == ConnState::passthrough || c.cut || c.closed) return;
  if (!c.tx.on()) {
    passthrough(c, "start_not_captured", "data from the host before its SYN or SYN-ACK was seen", j.f.index);
    return;
  }
  int64_t off = c.tx.offset_of(j.p.tcp.seq);
  c.tx.add(off, j.f.bytes.data() + j.p.payload_off, j.p.payload_len);
  parse_host_records(c, j.f.index);
}

void Replay::peer_payload(Conn& c, const Job& j) {
  if (c.state != ConnState::undecided) return;
  if (!c.rx.on()) {
    if (!c.peer_syn && c.rx.end() == 0)
      passthrough(c, "start_not_captured", "data from the peer before its SYN or SYN-ACK was seen", j.f.index);
    return;
  }
  c.rx.add(c.rx.offset_of(j.p.tcp.seq), j.f.bytes.data() + j.p.payload_off, j.p.payload_len);
  // Only the peer's plaintext handshake records matter (its hello).
  while (c.state == ConnState::undecided && c.rx.avail() >= 5) {
    const uint8_t* d = c.rx.data();
    uint16_t len = be16(d + 3);
    if (d[0] < kCtCcs || d[0] > kCtHeartbeat || d[1] != 3 || len > kMaxRecordBody) {
      passthrough(c, "not_tls", "the peer's bytes are not TLS records", j.f.index);
      return;
    }
    if (c.rx.avail() < 5u + len) break;
    if (d[0] == kCtHandshake) {
      c.hs_rx.insert(c.hs_rx.end(), d + 5, d + 5 + len);
      std::string err;
      if (!scan_hellos(&c.hs_rx, false, &c.hello, &err)) {
        passthrough(c, "bad_hello", "the peer's hello: " + err, j.f.index);
        return;
      }
    } else if (d[0] != kCtCcs && d[0] != kCtAlert) {
      // Encrypted from here on: the hellos must have been seen by now.
      c.rx.consume(5u + len);
      c.rx.drop();
      break;
    }
    c.rx.consume(5u + len);
    if (c.hello.have_ch && c.hello.have_sh) {
      decide(c, j.f.index);
      c.rx.drop();
      std::vector<uint8_t>().swap(c.hs_rx);
    }
  }
}

void Replay::parse_host_records(Conn& c, uint64_t frame) {
  while (c.state != ConnState::passthrough && !c.cut && c.tx.avail() >= 5) {
    const uint8_t* d = c.tx.data();
    const uint32_t seq = c.tx.seq_of(c.tx.consumed());
    uint16_t len = be16(d + 3);
    if (d[0] < kCtCcs || d[0] > kCtHeartbeat || d[1] != 3 || len > kMaxRecordBody) {
      std::string why = "the host's bytes at seq " + std::to_string(seq) + " are not a TLS record";
      if (c.state == ConnState::undecided) passthrough(c, "not_tls", why, frame);
      else cut(c, seq, "not_tls", why, frame);
      return;
    }
    if (c.tx.avail() < 5u + len) return;
    bool go = host_record(c, d, 5u + len, seq, frame);
    if (c.tx.on()) c.tx.consume(5u + len);
    if (!go) return;
    c.decided_end = seq + 5u + len;
  }
}

void Replay::decide(Conn& c, uint64_t frame) {
  if (c.state != ConnState::undecided || !c.hello.have_ch || !c.hello.have_sh) return;
  const Hellos& h = c.hello;
  if (h.version == 0x0304) c.tls13 = true;
  else if (h.version == 0x0303) c.tls13 = false;
  else return passthrough(c, "tls_version", "TLS version " + hex16(h.version) + " is not offloadable (1.2 and 1.3 are)", frame);
  if (!suite_cipher(c.tls13, h.suite, &c.cipher))
    return passthrough(c, "cipher_suite", "cipher suite " + hex16(h.suite) + " is not AES-GCM: not offloadable", frame);
  const Secrets* s = keys_.find(h.client_random);
  const bool host_server = !h.host_sent_ch;
  const size_t kl = crypto::key_bytes(c.cipher);
  const trace::PrfHash ph = c.cipher == crypto::Cipher::aes128gcm ? trace::PrfHash::sha256 : trace::PrfHash::sha384;
  c.app_keys = crypto::TlsKeys{};
  c.app_keys.version = c.tls13 ? crypto::TlsVersion::tls13 : crypto::TlsVersion::tls12;
  c.app_keys.cipher = c.cipher;
  c.hs_keys = c.app_keys;
  if (!c.tls13) {
    if (!s || s->master.size() != 48)
      return passthrough(c, "no_keys", "the key log has no CLIENT_RANDOM line for this connection", frame);
    uint8_t ck[32], sk[32], cs[4], ss[4];
    if (!trace::tls12_gcm_keys(ph, s->master.data(), h.client_random, h.server_random, kl, ck, sk, cs, ss))
      return passthrough(c, "no_keys", "TLS 1.2 key expansion failed", frame);
    std::memcpy(c.app_keys.key, host_server ? sk : ck, kl);
    std::memcpy(c.app_keys.salt, host_server ? ss : cs, 4);
  } else {
    const std::map<uint32_t, std::vector<uint8_t>>* app = s ? (host_server ? &s->server_app : &s->client_app) : nullptr;
    if (!app || app->find(0) == app->end())
      return passthrough(c, "no_keys",
                         std::string("the key log has no ") + (host_server ? "SERVER" : "CLIENT") +
                             "_TRAFFIC_SECRET_0 for this connection",
                         frame);
    const std::vector<uint8_t>& secret = app->at(0);
    if (secret.size() != trace::hash_len(ph))
      return passthrough(c, "no_keys", "the key log's traffic secret length does not match suite " + hex16(h.suite), frame);
    uint8_t iv[12];
    if (!trace::tls13_traffic_keys(ph, secret, kl, c.app_keys.key, iv))
      return passthrough(c, "no_keys", "HKDF-Expand-Label failed", frame);
    std::memcpy(c.app_keys.salt, iv, 4);
    std::memcpy(c.app_keys.iv, iv + 4, 8);
    const std::vector<uint8_t>& hs = host_server ? s->server_hs : s->client_hs;
    if (hs.size() == trace::hash_len(ph) && trace::tls13_traffic_keys(ph, hs, kl, c.hs_keys.key, iv)) {
      std::memcpy(c.hs_keys.salt, iv, 4);
      std::memcpy(c.hs_keys.iv, iv + 4, 8);
      c.have_hs_keys = true;
    }
  }
  c.state = ConnState::reproduce;
}

void Replay::passthrough(Conn& c, const std::string& kind, const std::string& why, uint64_t frame) {
  if (c.state == ConnState::passthrough) return;
  c.state = ConnState::passthrough;
  c.reason = kind;
  c.tx.drop();
  c.rx.drop();
  std::vector<uint8_t>().swap(c.hs_tx);
  std::vector<uint8_t>().swap(c.hs_rx);
  warn(kind, where(frame) + ": " + conn_name(c) + ": " + why + "; the connection passes through unchanged");
}

void Replay::cut(Conn& c, uint32_t seq, const std::string& kind, const std::string& why, uint64_t frame) {
  if (c.cut) return;
  c.cut = true;
  c.cut_seq = seq;
  c.reason = kind;
  c.tx.drop();
  warn(kind, where(frame) + ": " + conn_name(c) + ": " + why + "; frames from seq " + std::to_string(seq) +
                 " on pass through unchanged");
}

// One complete record the host sent (header included), starting at TCP seq. False: stop
// walking (the connection passes through or was cut).
bool Replay::host_record(Conn& c, const uint8_t* rec, size_t n, uint32_t seq, uint64_t frame) {
  const uint8_t type = rec[0];
  if (c.offload_started) return offload_record(c, rec, n, seq, frame);
  const bool encrypted = c.tls13 ? (type == kCtAppData) : c.host_ccs;
  if (c.state == ConnState::undecided) {
    if (type == kCtHandshake) {
      c.hs_tx.insert(c.hs_tx.end(), rec + 5, rec + n);
      std::string err;
      if (!scan_hellos(&c.hs_tx, true, &c.hello, &err)) {
        passthrough(c, "bad_hello", "the host's hello: " + err, frame);
        return false;
      }
      if (c.hello.have_ch && c.hello.have_sh) {
        decide(c, frame);
        std::vector<uint8_t>().swap(c.hs_tx);
        if (c.state == ConnState::passthrough) return false;
      }
    } else if (type == kCtCcs) {
      c.host_ccs = true;
    } else if (type != kCtAlert) {
      passthrough(c, "no_tls_handshake", "a protected record before both TLS hellos were seen", frame);
      return false;
    }
    c.pre_records++;
    return true;
  }
  // Reproduced connection, before offload.
  if (!encrypted) {
    if (type == kCtCcs) c.host_ccs = true;
    if (type == kCtAppData) {
      cut(c, seq, "not_tls", "application data before the host's ChangeCipherSpec", frame);
      return false;
    }
    c.pre_records++;
    return true;
  }
  if (!c.tls13) {
    if (!c.tls12_finished) {
      // The encrypted Finished, record 0 of the new keys: the TLS library sends it before
      // setsockopt(TLS_TX). It must open with the key log's keys.
      if (!crypto::tls_open_record(c.app_keys, 0, rec, n, nullptr, nullptr)) {
        cut(c, seq, "decrypt_failed",
            "the record at seq " + std::to_string(seq) + " (the host's Finished, record 0) fails to decrypt with the key log's keys",
            frame);
        return false;
      }
      c.tls12_finished = true;
      c.pre_records++;
      return true;
    }
    if (!start_offload(c, rec, seq, frame)) return false;
    c.rec_sn = c.rec_sn0 = 1;
    return offload_record(c, rec, n, seq, frame);
  }
  // TLS 1.3: the first record that opens with the application keys at number 0 starts offload;
  // before it, records under the handshake keys.
  if (crypto::tls_open_record(c.app_keys, 0, rec, n, nullptr, nullptr)) {
    if (!start_offload(c, rec, seq, frame)) return false;
    return offload_record(c, rec, n, seq, frame);
  }
  if (c.have_hs_keys) {
    if (!crypto::tls_open_record(c.hs_keys, c.hs_rec_sn, rec, n, nullptr, nullptr)) {
      cut(c, seq, "decrypt_failed",
          "the record at seq " + std::to_string(seq) + " fails to decrypt: it opens with neither the handshake keys (record " +
              std::to_string(c.hs_rec_sn) + ") nor the application keys (record 0) of the key log",
          frame);
      return false;
    }
  } else if (c.hs_rec_sn >= 16) {
    cut(c, seq, "decrypt_failed",
        "no record of the host's first " + std::to_string(c.hs_rec_sn + 1) +
            " protected ones opens with the key log's application keys",
        frame);
    return false;
  }
  c.hs_rec_sn++;
  c.pre_records++;
  return true;
}

// setsockopt(TLS_TX) with the keys of the first offloaded record (at seq, number c.rec_sn).
bool Replay::start_offload(Conn& c, const uint8_t* rec, uint32_t seq, uint64_t frame) {
  const uint64_t sn = c.tls13 ? 0 : 1;
  ktls::CryptoInfo ci;
  ci.version = c.app_keys.version;
  ci.cipher = c.cipher;
  std::memcpy(ci.key, c.app_keys.key, sizeof ci.key);
  std::memcpy(ci.salt, c.app_keys.salt, 4);
  if (c.tls13) std::memcpy(ci.iv, c.app_keys.iv, 8);
  else std::memcpy(ci.iv, rec + 5, 8);  // the capture's explicit nonce of this record
  for (int i = 0; i < 8; i++) ci.rec_seq[i] = uint8_t(sn >> (56 - 8 * i));
  c.iv0 = be64(ci.iv);
  c.ops = std::make_unique<ReplayTcpOps>(mem_, seq);
  c.kdev = std::make_unique<drv::KtlsTxContext>(*driver_, driver_->sq_for_flow(c.id));
  ktls::TlsOffloadCtxTx::Options opt;
  opt.tx_max_payload_len = 16384;
  opt.placeholder_seed = 0x5eed + c.id;
  opt.tls13_offload = true;
  c.ktls = std::make_unique<ktls::TlsOffloadCtxTx>(mem_, *c.ops, opt);
  c.kdev->set_tls_ctx(c.ktls.get());
  int rc = c.ktls->tls_set_device_offload(ci, c.kdev.get());
  if (rc != 0 || !c.ktls->device_offloaded()) {
    cut(c, seq, "offload_refused", "setsockopt(TLS_TX) was refused (" + std::to_string(rc) + ")", frame);
    return false;
  }
  c.offload_started = true;
  c.offload_start = seq;
  c.rec_sn = c.rec_sn0 = sn;
  return true;
}

bool Replay::offload_record(Conn& c, const uint8_t* rec, size_t n, uint32_t seq, uint64_t frame) {
  std::vector<uint8_t> pt;
  uint8_t type = 0;
  const std::string at = "record " + std::to_string(c.rec_sn) + " (seq " + std::to_string(seq) + ")";
  if (!crypto::tls_open_record(c.app_keys, c.rec_sn, rec, n, &type, &pt)) {
    cut(c, seq, "decrypt_failed", at + " fails to decrypt with the key log's keys", frame);
    return false;
  }
  if (!c.tls13) {
    // The kernel advances the explicit nonce with the record number (tls_device.c); anything
    // else in the capture is beyond what the offload could have sent.
    uint64_t want = c.iv0 + (c.rec_sn - c.rec_sn0), got = be64(rec + 5);
    if (got != want) {
      cut(c, seq, "explicit_nonce",
          at + ": explicit nonce " + std::to_string(got) + " is not iv + index (" + std::to_string(want) +
              "), which the kernel could not have produced",
          frame);
      return false;
    }
  } else if (n != pt.size() + crypto::tls_overhead_bytes(crypto::TlsVersion::tls13)) {
    cut(c, seq, "tls13_padding", at + " is padded, which kTLS never does", frame);
    return false;
  }
  long r = c.ktls->sendmsg(pt.data(), pt.size(), 0, type);
  if (r != long(pt.size()) || c.ops->write_seq() != seq + uint32_t(n)) {
    cut(c, seq, "emulator",
        at + ": the offload emulator did not take the record as one record (sendmsg " + std::to_string(r) + ")", frame);
    return false;
  }
  c.rec_sn++;
  c.records_offloaded++;
  c.plaintext_bytes += pt.size();
  if (c.tls13 && type == kCtHandshake && !pt.empty() && pt[0] == 24) {
    // KeyUpdate: mainline kTLS refuses to rekey a device-offloaded socket (TlsTxRekeyError);
    // the records under the next secret are beyond the offload.
    c.decided_end = seq + uint32_t(n);
    cut(c, seq + uint32_t(n), "key_update",
        at + " is a KeyUpdate: a device-offloaded socket cannot be rekeyed", frame);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------- simulation

bool Replay::ready(const Job& j) const {
  if (j.kind != Job::tcp || !j.from_host) return true;
  const Conn& c = *j.conn;
  if (c.state == ConnState::passthrough) return true;
  // Frames without payload (SYN-ACK, pure ACKs, FIN) carry no TLS byte: they go through the NIC
  // as plain sends without waiting for the connection's TLS decision, which can be many
  // round trips later. (If the connection then passes through, only these went via the NIC:
  // identical bytes but for the checksums the NIC computes.)
  if (j.p.payload_len == 0 || !j.p.ok) return true;
  if (c.state == ConnState::undecided) return false;
  const uint32_t end = j.p.tcp.seq + j.p.payload_len;
  if (c.cut && tcp::seq_after(end, c.cut_seq)) return true;
  return !tcp::seq_after(end, c.decided_end);
}

// The look-ahead limit: the head job's connection stops waiting.
void Replay::force(Job& j) {
  Conn& c = *j.conn;
  const std::string why = "no decision within the look-ahead limit (" + std::to_string(o_.lookahead_limit_bytes) +
                          " buffered bytes)";
  if (c.state == ConnState::undecided) passthrough(c, "lookahead", why, j.f.index);
  else cut(c, c.decided_end, "lookahead", why, j.f.index);
}

void Replay::pump() {
  pump_armed_ = false;
  pumping_ = true;
  for (;;) {
    if (jobs_.empty() && !read_one()) break;
    Job& j = jobs_.front();
    if (!ready(j)) {
      if (jobs_bytes_ > o_.lookahead_limit_bytes) force(j);
      else if (!read_one() && !ready(j)) force(j);  // at the end everything is decided
      continue;
    }
    uint64_t rel_ns = j.f.t_ns > t0_ns_ ? j.f.t_ns - t0_ns_ : 0;
    TimePs t = std::max(last_t_ps_, TimePs(rel_ns) * 1000);
    if (t > q_.now_ps()) {
      pump_armed_ = true;
      q_.at(t, [this] { pump(); });
      break;
    }
    last_t_ps_ = t;
    process(j);
    jobs_bytes_ -= j.f.bytes.size() + sizeof(Job);
    jobs_.pop_front();
  }
  pumping_ = false;
  flush_output();
  maybe_finish();
}

void Replay::process(Job& j) {
  if (j.kind != Job::tcp) {
    unchanged_by_reason_[j.p.is_tcp ? "other_hosts" : (j.p.ok ? "not_tcp" : "unparsed")]++;
    return send_unchanged(j);
  }
  Conn& c = *j.conn;
  if (!j.from_host) {
    // The peer's ACK frees the records it covers (tls_tcp_clean_acked), as TCP would.
    if (c.ktls && (j.p.tcp.flags & tcp::kAck) && c.offload_started &&
        !tcp::seq_before(j.p.tcp.ack, c.offload_start)) {
      c.ktls->clean_acked(j.p.tcp.ack);
      c.ops->release_acked(j.p.tcp.ack);
    }
    c.frames_unchanged++;
    unchanged_by_reason_["peer"]++;
    return send_unchanged(j);
  }
  host_frames_++;
  if (c.state == ConnState::passthrough) {
    c.frames_unchanged++;
    unchanged_by_reason_["conn_" + c.reason]++;
    return send_unchanged(j);
  }
  const uint32_t end = j.p.tcp.seq + j.p.payload_len;
  if (c.cut && j.p.payload_len > 0 && tcp::seq_after(end, c.cut_seq)) {
    c.frames_unchanged++;
    unchanged_by_reason_["cut_" + c.reason]++;
    return send_unchanged(j);
  }
  if (!j.p.ok) {
    c.frames_unchanged++;
    unchanged_by_reason_["unparsed"]++;
    return send_unchanged(j);
  }
  send_via_nic(c, j);
}

void Replay::send_unchanged(const Job& j) {
  Slot s;
  s.t_ns = j.f.t_ns;
  s.orig_len = j.f.orig_len;
  s.bytes = j.f.bytes;
  slots_.push_back(std::move(s));
}

// A frame that fits the NIC's MTU was one segment on the sender's wire too: it is sent as it
// is (0: no TSO). A larger one is a GSO/TSO skb (or a receiver's GRO frame): cut at Linux's
// mss_now, the peer's MSS option less the TCP options of the frame (RFC 6691), capped by what
// the MTU leaves after the IP and TCP headers.
uint16_t Replay::gso_size(const Conn& c, const trace::ParsedFrame& p) const {
  const uint32_t l3_hdr = uint32_t(p.l4_off - p.l3_off), tcp_hdr = uint32_t(p.payload_off - p.l4_off);
  if (l3_hdr + tcp_hdr + p.payload_len <= cfg_.driver.mtu_bytes) return 0;
  uint32_t mtu_room = cfg_.driver.mtu_bytes > l3_hdr + tcp_hdr ? cfg_.driver.mtu_bytes - l3_hdr - tcp_hdr : 1;
  uint32_t mss = mtu_room;
  if (c.peer_mss) {
    uint32_t opt = tcp_hdr - 20;
    mss = std::min(mss, c.peer_mss > opt ? c.peer_mss - opt : 1u);
  }
  return uint16_t(std::max<uint32_t>(1, std::min<uint32_t>(mss, 65535)));
}

void Replay::send_via_nic(Conn& c, const Job& j) {
  const trace::ParsedFrame& p = j.p;
  const uint32_t seq = p.tcp.seq, len = p.payload_len, end = seq + len;
  // The skb's headers: the captured ones, behind an Ethernet header made up for the NIC when
  // the capture's link layer is not Ethernet.
  std::vector<uint8_t> hdr;
  if (lt_ == trace::LinkType::ethernet) {
    hdr.assign(j.f.bytes.begin(), j.f.bytes.begin() + int64_t(p.payload_off));
  } else {
    static const uint8_t eth[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    hdr.assign(eth, eth + 12);
    hdr.push_back(p.v6 ? 0x86 : 0x08);
    hdr.push_back(p.v6 ? 0xdd : 0x00);
    hdr.insert(hdr.end(), j.f.bytes.begin() + int64_t(p.l3_off), j.f.bytes.begin() + int64_t(p.payload_off));
  }
  const size_t l4_in_hdr = hdr.size() - (p.payload_off - p.l4_off);
  if (hdr.size() > abi::kMaxInlineHdrBytes || (p.v6 && p.l4_off - p.l3_off != 40)) {
    c.frames_unchanged++;
    unchanged_by_reason_[p.v6 && p.l4_off - p.l3_off != 40 ? "ipv6_extension_headers" : "headers_too_long"]++;
    return send_unchanged(j);
  }
  struct Piece {
    uint32_t seq, len;
    bool offl;
  };
  std::vector<Piece> pieces;
  if (len == 0 || !c.offload_started || !tcp::seq_after(end, c.offload_start)) {
    pieces.push_back({seq, len, false});
  } else if (!tcp::seq_before(seq, c.offload_start)) {
    pieces.push_back({seq, len, true});
  } else {
    pieces.push_back({seq, c.offload_start - seq, false});
    pieces.push_back({c.offload_start, end - c.offload_start, true});
    c.split_frames++;
  }
  std::vector<std::vector<tcp::Frag>> frags(pieces.size());
  for (size_t i = 0; i < pieces.size(); i++) {
    if (pieces[i].offl && !c.ops->frags(pieces[i].seq, pieces[i].len, &frags[i])) {
      // Bytes the peer had already acknowledged in the capture: the kernel freed them and
      // could not have sent this frame; it passes through as captured.
      c.frames_after_ack++;
      c.frames_unchanged++;
      unchanged_by_reason_["after_ack"]++;
      return send_unchanged(j);
    }
  }
  const uint16_t gso = gso_size(c, p);
  Slot s;
  s.t_ns = j.f.t_ns;
  s.nic = true;
  if (lt_ != trace::LinkType::ethernet) s.bytes.assign(j.f.bytes.begin(), j.f.bytes.begin() + int64_t(p.l3_off));
  const uint64_t slot_idx = slot_base_ + slots_.size();
  for (size_t i = 0; i < pieces.size(); i++) {
    const Piece& pc = pieces[i];
    PendingXmit x;
    x.conn = &c;
    x.slot = slot_idx;
    x.hdr = hdr;
    x.offloaded = pc.offl;
    if (pc.seq != seq) put_be32(x.hdr.data() + l4_in_hdr + 4, pc.seq);
    if (i + 1 < pieces.size()) x.hdr[l4_in_hdr + 13] &= uint8_t(~(tcp::kFin | tcp::kPsh));
    x.s.seq = pc.seq;
    x.s.ack = p.tcp.ack;
    x.s.flags = x.hdr[l4_in_hdr + 13];
    x.s.window = p.tcp.window;
    x.s.has_ts = p.tcp.has_ts;
    x.s.tsval = p.tcp.tsval;
    x.s.tsecr = p.tcp.tsecr;
    x.s.payload_len = pc.len;
    x.s.gso_size = gso && pc.len > gso ? gso : 0;
    x.s.decrypted = pc.offl;
    if (pc.offl) {
      x.s.frags = frags[i];
      for (const auto& f : x.s.frags) {
        mem_.retain(f.addr);
        x.refs.push_back(f.addr);
      }
    } else if (pc.len > 0) {
      uint64_t a = mem_.alloc(pc.len, 64, false);
      mem_.write(a, j.f.bytes.data() + p.payload_off + (pc.seq - seq), pc.len);
      x.s.frags.assign(1, tcp::Frag{a, pc.len});
      x.refs.push_back(a);
    }
    x.frames = x.s.gso_size ? (pc.len + gso - 1) / gso : 1;
    s.pending += x.frames;
    s.unissued++;
    pend_.push_back(std::move(x));
  }
  slots_.push_back(std::move(s));
  c.frames_nic++;
  host_frames_nic_++;
  issue_pending();
}

void Replay::issue_pending() {
  while (!pend_.empty()) {
    PendingXmit& x = pend_.front();
    drv::SkbMeta m;
    m.addr = &x.conn->addr;
    m.ktls = x.offloaded ? x.conn->kdev.get() : nullptr;
    m.sqn = driver_->sq_for_flow(x.conn->id);  // plain and offloaded skbs of a socket: one queue
    m.hdr = x.hdr.data();
    m.hdr_len = x.hdr.size();
    drv::XmitResult r = driver_->xmit(x.s, m);
    if (r == drv::XmitResult::busy) {
      driver_busy_++;
      return;  // on_wake retries
    }
    Slot& s = slots_[size_t(x.slot - slot_base_)];
    s.unissued--;
    x.conn->skbs++;
    if (r == drv::XmitResult::sent) {
      x.conn->due.push_back(Conn::Due{x.slot, x.frames});
    } else {
      s.pending -= x.frames;
      x.conn->skbs_dropped++;
    }
    for (uint64_t a : x.refs) mem_.release(a);
    pend_.pop_front();
  }
}

void Replay::on_wire(model::tx::Frame&& fr) {
  trace::ParsedFrame p = trace::parse_frame(fr.bytes.data(), fr.bytes.size(), trace::LinkType::ethernet);
  Conn* c = nullptr;
  if (p.is_tcp && is_host(p.src_ip, p.src_port)) {
    auto it = by_key_.find(ConnKey{p.dst_ip, p.src_port, p.dst_port});
    if (it != by_key_.end()) c = it->second;
  }
  if (!c || c->due.empty()) {
    // Cannot happen unless the NIC emits a frame nobody sent: counted, reported.
    nic_unmatched_++;
    return;
  }
  Conn::Due& d = c->due.front();
  Slot& s = slots_[size_t(d.slot - slot_base_)];
  c->nic_frames_out++;
  c->nic_wire_bytes += fr.bytes.size();
  c->nic_payload_bytes += p.payload_len;
  uint64_t t_ns = t0_ns_ + fr.depart_ps / 1000;
  if (lt_ == trace::LinkType::ethernet) {
    s.out.emplace_back(t_ns, std::move(fr.bytes));
  } else {
    // Back to the input's link layer: its L2 header, then IP..payload without Ethernet padding.
    size_t ip_len = p.v6 ? 40u + be16(fr.bytes.data() + 14 + 4) : be16(fr.bytes.data() + 14 + 2);
    std::vector<uint8_t> b = s.bytes;
    b.insert(b.end(), fr.bytes.begin() + 14, fr.bytes.begin() + int64_t(std::min(fr.bytes.size(), 14 + ip_len)));
    s.out.emplace_back(t_ns, std::move(b));
  }
  s.pending--;
  if (--d.frames == 0) c->due.pop_front();
  flush_output();
  maybe_finish();
}

void Replay::flush_output(bool force) {
  while (!slots_.empty()) {
    Slot& s = slots_.front();
    if (s.nic && (s.pending > 0 || s.unissued > 0)) {
      if (!force) break;
      nic_missing_ += s.pending;
    }
    if (!s.nic) {
      writer_.write(s.t_ns, s.bytes.data(), s.bytes.size(), s.orig_len);
      frames_out_++;
    } else {
      for (auto& [t, b] : s.out) {
        writer_.write(t, b.data(), b.size());
        frames_out_++;
      }
    }
    slots_.pop_front();
    slot_base_++;
  }
}

void Replay::maybe_finish() {
  if (finished_ || pumping_) return;
  if (!eof_ || !jobs_.empty() || !pend_.empty() || !slots_.empty()) return;
  if (!driver_->all_completed()) return;
  finished_ = true;
  sc_core::sc_stop();
}

void Replay::progress_tick() {
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_progress_ > std::chrono::seconds(2)) {
    last_progress_ = now;
    double wall = std::chrono::duration<double>(now - wall0_).count();
    std::fprintf(stderr, "\rnicsim replay: sim %.3f ms, %llu frames in, %llu out, %.1f MB/s captured   ",
                 double(q_.now_ps()) / 1e9, (unsigned long long)frames_in_, (unsigned long long)frames_out_,
                 double(captured_bytes_) / 1e6 / std::max(wall, 1e-9));
  }
  q_.after(100 * sim::kPsPerUs, [this] { progress_tick(); });
}

ReplaySummary Replay::run() {
  wall0_ = last_progress_ = std::chrono::steady_clock::now();
  ReplaySummary s;
  auto unusable = [&](const std::string& e) {
    s.unusable = true;
    s.error = e;
    return s;
  };
  // Inputs first: nothing is built for an input that cannot be used.
  if (!reader_.open(o_.pcap)) return unusable(reader_.error());
  lt_ = reader_.link_type();
  std::string err;
  if (!keys_.load(o_.keylog, [this](const std::string& m) { warn("keylog_line", m); }, &err)) return unusable(err);
  if (!run_prepass(o_.pcap, &pre_, &err)) return unusable(err);
  if (pre_.frames == 0) {
    trace::CaptureReader r;
    r.open(o_.pcap);
    trace::CaptureFrame f;
    r.next(&f);
    return unusable(r.error().empty() ? o_.pcap + ": the capture holds no frame" : r.error());
  }
  if (!o_.host.empty()) {
    if (!parse_host(o_.host, &host_, &host_port_))
      return unusable("--host " + o_.host + ": expected an IPv4 or IPv6 address, IPv4:PORT or [IPv6]:PORT");
    if (!pre_.tcp_addrs.count(host_))
      return unusable("--host " + o_.host + ": " + o_.pcap + " has no TCP connection of this address");
  } else {
    uint64_t best = 0;
    for (const auto& [ip, n] : pre_.app_bytes)
      if (n > best) best = n, host_ = ip;
    // A capture where the address talks to itself (loopback): the endpoint is address + port.
    if (best > 0 && pre_.self_connected.count(host_)) {
      uint64_t b = 0;
      for (const auto& [ep, n] : pre_.endpoint_app_bytes)
        if (ep.first == host_ && n > b) b = n, host_port_ = ep.second;
    }
    if (best == 0)
      return unusable(o_.pcap + ": no endpoint sends TLS application data (after a captured SYN); give --host");
  }
  // The composition: host event queue in SystemC, the NIC, the driver.
  bridge_ = std::make_unique<HostBridge>("host", q_);
  const uint64_t max_ctx = (pre_.syns.count(host_) ? pre_.syns[host_] : 0) + 2;
  uint64_t icm = mem_.alloc(size_t(cfg_.nic.tls_ctx_bytes) * max_ctx, 4096);
  nic_ = std::make_unique<model::sc::NicTop>("nic", cfg_.nic, &mem_, o_.engine, icm,
                                             sc_core::sc_time(cfg_.run.quantum_ns, sc_core::SC_NS));
  driver_ = std::make_unique<drv::Mlx5eTx>(mem_, *nic_, cfg_.driver);
  nic_->on_wire = [this](model::tx::Frame&& fr) { on_wire(std::move(fr)); };
  nic_->on_cqe = [this](uint16_t sqn, uint32_t idx, TimePs t) {
    q_.at(t, [this, sqn, idx] {
      driver_->poll_cq(sqn, idx);
      maybe_finish();
    });
  };
  driver_->on_wake = [this](uint16_t) {
    issue_pending();
    flush_output();
  };
  if (!writer_.open(o_.out, lt_)) return unusable(writer_.error());

  q_.at(0, [this] { pump(); });
  tty_ = o_.progress && isatty(2);
  if (tty_) q_.after(100 * sim::kPsPerUs, [this] { progress_tick(); });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  std::string internal;
  try {
    sc_core::sc_start();
  } catch (const std::exception& e) {
    internal = std::string("internal error: ") + e.what();
  }
  if (tty_) std::fprintf(stderr, "\n");
  if (!finished_ && internal.empty()) {
    // The NIC went idle with frames still due: write what there is and say so.
    flush_output(true);
    if (nic_missing_ > 0 || !jobs_.empty())
      warn("nic_missing",
           std::to_string(nic_missing_) + " frame(s) the NIC never put on the wire; " +
               std::to_string(jobs_.size()) + " input frame(s) not processed");
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
  s = summarize(wall);
  if (!internal.empty()) {
    s.ok = false;
    s.error = internal;
    return s;
  }
  if (!writer_.commit()) {
    s.ok = false;
    s.error = writer_.error();
    return s;
  }
  if (!o_.stats.empty() && !write_json_file(o_.stats, s.stats, &err)) {
    s.ok = false;
    s.error = err;
    return s;
  }
  s.ok = true;
  return s;
}

ReplaySummary Replay::summarize(double wall_s) {
  ReplaySummary s;
  s.wall_s = wall_s;
  s.frames_in = frames_in_;
  s.frames_out = frames_out_;
  s.captured_bytes = captured_bytes_;
  s.host = host_name();
  s.host_frames = host_frames_;
  s.host_frames_nic = host_frames_nic_;
  s.warnings = warnings_;
  s.max_rss_bytes = max_rss_bytes();
  s.sim_s = double(q_.now_ps()) / 1e12;
  const auto& d = driver_->stats();
  s.ooo = d.tx_tls_ooo;
  s.dump_bytes = d.tx_tls_dump_bytes;
  s.resyncs = d.tls_resyncs;
  nlohmann::json conns = nlohmann::json::array(), passthrough_reasons = nlohmann::json::object();
  for (const auto& cp : conns_) {
    const Conn& c = *cp;
    s.connections++;
    const bool offl = c.offload_started;
    if (offl) s.connections_offloaded++;
    if (c.state == ConnState::passthrough) {
      s.connections_passthrough++;
      passthrough_reasons[c.reason] = passthrough_reasons.value(c.reason, 0) + 1;
    }
    s.records += c.records_offloaded;
    s.frames_unchanged += c.frames_unchanged;
    nlohmann::json j;
    j["id"] = c.id;
    j["host"] = endpoint(host_, c.host_port);
    j["peer"] = endpoint(c.peer_ip, c.peer_port);
    j["first_frame"] = c.first_frame;
    j["outcome"] = c.state == ConnState::passthrough ? "passthrough" : offl ? (c.cut ? "offloaded_then_cut" : "offloaded")
                                                                                : "not_offloaded";
    j["reason"] = c.reason;
    if (c.state != ConnState::passthrough && c.hello.have_sh) {
      j["tls"] = c.tls13 ? "1.3" : "1.2";
      j["cipher"] = crypto::cipher_name(c.cipher);
      j["suite"] = hex16(c.hello.suite);
      j["host_role"] = c.hello.host_sent_ch ? "client" : "server";
    }
    if (c.cut) j["cut_seq"] = c.cut_seq;
    if (offl) j["offload_start_seq"] = c.offload_start;
    j["frames"] = {{"host", c.host_frames},          {"peer", c.peer_frames},
                   {"host_via_nic", c.frames_nic},   {"unchanged", c.frames_unchanged},
                   {"split_at_start_marker", c.split_frames}, {"after_ack", c.frames_after_ack},
                   {"skbs", c.skbs},                 {"skbs_dropped_by_driver", c.skbs_dropped}};
    j["records"] = {{"pre_offload", c.pre_records}, {"offloaded", c.records_offloaded},
                    {"plaintext_bytes", c.plaintext_bytes}};
    if (c.ktls) {
      j["tls_stat"] = tls_stat_json(c.ktls->tls_stat());
      j["ktls"] = offload_counters_json(c.ktls->counters());
    } else {
      j["tls_stat"] = tls_stat_json({});
    }
    if (c.kdev) j["ethtool"] = ethtool_json(c.kdev->stats);
    j["nic"] = {{"frames", c.nic_frames_out}, {"wire_bytes", c.nic_wire_bytes}, {"payload_bytes", c.nic_payload_bytes}};
    conns.push_back(std::move(j));
  }
  nlohmann::json st;
  st["config"] = cfg_.to_json();
  st["input"] = {{"pcap", o_.pcap}, {"keylog", o_.keylog}, {"link_type", reader_.raw_link_type()},
                 {"frames", frames_in_}, {"captured_bytes", captured_bytes_}, {"truncated", read_error_}};
  st["host"] = host_name();
  st["summary"] = {{"frames_in", frames_in_},
                   {"frames_out", frames_out_},
                   {"host_frames", host_frames_},
                   {"host_frames_via_nic", host_frames_nic_},
                   {"frames_unchanged_by_reason", unchanged_by_reason_},
                   {"connections", s.connections},
                   {"connections_offloaded", s.connections_offloaded},
                   {"connections_passthrough", s.connections_passthrough},
                   {"passthrough_reasons", passthrough_reasons},
                   {"records_offloaded", s.records},
                   {"nic_frames_unmatched", nic_unmatched_},
                   {"nic_frames_missing", nic_missing_},
                   {"driver_busy", driver_busy_},
                   {"lookahead_peak_bytes", lookahead_peak_bytes_},
                   {"warnings", warnings_},
                   {"warnings_by_kind", warn_counts_},
                   {"sim_time_s", s.sim_s}};
  st["ethtool"] = ethtool_json(d);
  st["tls_stat"] = tls_stat_total_json(conns);
  st["nic"] = nic_stats_json(*nic_);
  st["host_memory"] = {{"bytes_peak", mem_.bytes_peak()}, {"bytes_live_at_end", mem_.bytes_live()}};
  st["connections"] = conns;
  st["warnings"] = warn_list_;
  st["wall"] = {{"seconds", wall_s},
                {"captured_bytes_per_second", wall_s > 0 ? double(captured_bytes_) / wall_s : 0},
                {"max_rss_bytes", s.max_rss_bytes},
                {"host_events", bridge_->events_run()}};
  s.stats = std::move(st);
  return s;
}

}  // namespace

ReplaySummary run_replay(const Config& cfg, const ReplayOptions& o) {
  Replay r(cfg, o);
  return r.run();
}

void print_replay_summary(const ReplaySummary& s) {
  std::printf("nicsim replay: host %s\n", s.host.c_str());
  std::printf("  result            %s\n", s.ok ? "ok" : ("FAILED: " + s.error).c_str());
  std::printf("  frames            %llu in, %llu out; host frames %llu (%llu through the NIC), %llu unchanged\n",
              (unsigned long long)s.frames_in, (unsigned long long)s.frames_out, (unsigned long long)s.host_frames,
              (unsigned long long)s.host_frames_nic, (unsigned long long)s.frames_unchanged);
  std::printf("  connections       %llu (%llu offloaded, %llu passed through)\n", (unsigned long long)s.connections,
              (unsigned long long)s.connections_offloaded, (unsigned long long)s.connections_passthrough);
  std::printf("  TLS records       %llu offloaded\n", (unsigned long long)s.records);
  std::printf("  tx_tls_ooo        %llu; resyncs %llu; DUMP bytes %llu\n", (unsigned long long)s.ooo,
              (unsigned long long)s.resyncs, (unsigned long long)s.dump_bytes);
  std::printf("  warnings          %llu\n", (unsigned long long)s.warnings);
  std::printf("  wall time         %.3f s; %.1f MB/s of captured bytes; peak RSS %.1f MiB\n", s.wall_s,
              s.wall_s > 0 ? double(s.captured_bytes) / 1e6 / s.wall_s : 0.0, double(s.max_rss_bytes) / 1048576.0);
}

CLI::App* add_replay_command(CLI::App& cli, ReplayFlags& f) {
  auto* c = cli.add_subcommand("replay", "replay a TLS capture through the NIC model, bit for bit");
  c->add_option("--pcap", f.pcap, "input capture (pcap or pcapng)")->required();
  c->add_option("--keylog", f.keylog, "SSLKEYLOGFILE of the capture")->required();
  c->add_option("--out", f.out, "output capture (.pcapng → pcapng, else pcap; ns timestamps)")->required();
  c->add_option("--host", f.host,
                "offloading host: IP, IPv4:PORT or [IPv6]:PORT (default: the endpoint sending the most TLS data)");
  c->add_option("--config", f.config, "configuration file (JSON)");
  c->add_option("--stats", f.stats, "write statistics JSON");
  c->add_flag("--quiet", f.quiet, "no summary on stdout");
  c->add_option("--crypto", f.crypto, "AES-GCM engine: behavioural or rtl (the Verilated engine, co-simulated)");
  c->add_option("--wave", f.wave, "with --crypto rtl: write the engine's waveform to FILE (FST)");
  c->add_option("--wave-window", f.wave_window, "engine cycles START:END of the waveform (default 0:1000000)");
  return c;
}

int do_replay(const ReplayFlags& f) {
  Config cfg;
  std::string err;
  if (!f.config.empty() && !cfg.load_file(f.config, &err)) {
    std::fprintf(stderr, "nicsim: %s\n", err.c_str());
    return 2;
  }
  if (!f.crypto.empty()) cfg.run.crypto_engine = f.crypto;
  std::string v = cfg.validate();
  if (!v.empty()) {
    std::fprintf(stderr, "nicsim: %s\n", invalid_configuration(f.config, v).c_str());
    return 2;
  }
  // --crypto rtl: the engine outlives the replay (app/engine.h).
  WaveOptions wave;
  wave.path = f.wave;
  if (!f.wave_window.empty() && (f.wave.empty() || !parse_wave_window(f.wave_window, &wave))) {
    std::fprintf(stderr, "nicsim: --wave-window %s: expected START:END engine cycles with END > START, and --wave FILE\n",
                 f.wave_window.c_str());
    return 2;
  }
  std::unique_ptr<model::tx::GcmEngine> engine = make_crypto_engine(cfg, wave, &err);
  if (!err.empty()) {
    std::fprintf(stderr, "nicsim: %s\n", err.c_str());
    return 2;
  }
  ReplayOptions o;
  o.engine = engine.get();
  o.pcap = f.pcap;
  o.keylog = f.keylog;
  o.out = f.out;
  o.host = f.host;
  o.stats = f.stats;
  o.quiet = f.quiet;
  ReplaySummary s = run_replay(cfg, o);
  if (s.unusable) {
    std::fprintf(stderr, "nicsim replay: %s\n", s.error.c_str());
    return 1;
  }
  if (!f.quiet || !s.ok) print_replay_summary(s);
  const std::string rtl_line = crypto_engine_summary(engine.get());
  if (!rtl_line.empty() && (!f.quiet || !s.ok)) std::printf("%s\n", rtl_line.c_str());
  if (!s.ok) {
    std::fprintf(stderr, "nicsim replay: failed: %s\n", s.error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace nicsim::app
