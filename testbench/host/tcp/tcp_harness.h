// Two TcpEndpoints joined by two Links on one EventQueue. The "device" is the test: xmit reads
// the skb's payload from host memory, cuts TSO skbs into gso_size pieces as the NIC would
// (FIN/PSH on the last piece only), encodes each piece as a frame (a 66-byte stand-in header,
// the size of Ethernet + IPv4 + TCP with timestamps, so link timing is realistic) and sends it
// over the Link, which serialises, delays, drops and reorders. Drops chosen by the test are
// applied before the link.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "host/mem/host_memory.h"
#include "host/sim/event_queue.h"
#include "host/tcp/link.h"
#include "host/tcp/tcp.h"

namespace nicsim::testbench::tcp {

using host::HostMemory;
using host::tcp::Link;
using host::tcp::LinkConfig;
using host::tcp::RxSegment;
using host::tcp::Segment;
using host::tcp::TcpConfig;
using host::tcp::TcpEndpoint;
using sim::TimePs;

constexpr size_t kHdrBytes = 66;

inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline uint32_t get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }

// One piece as it goes on the wire.
struct WirePiece {
  TimePs t = 0;
  uint32_t seq = 0, ack = 0, len = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  bool retransmit = false;
  int tx_count = 0;   // how many times a piece starting at this seq has been sent (1 = first)
  bool dropped = false;
};

inline std::vector<uint8_t> encode(const Segment& s, uint32_t seq, uint8_t flags,
                                   const uint8_t* payload, uint32_t len) {
  std::vector<uint8_t> f(kHdrBytes + len);
  put32(&f[0], seq);
  put32(&f[4], s.ack);
  f[8] = flags;
  std::memcpy(&f[9], &s.window, 2);
  f[11] = s.has_ts;
  put32(&f[12], s.tsval);
  put32(&f[16], s.tsecr);
  std::memcpy(&f[20], &s.mss_opt, 2);
  f[22] = uint8_t(s.wscale_opt);
  put32(&f[23], len);
  if (len) std::memcpy(&f[kHdrBytes], payload, len);
  return f;
}

inline RxSegment decode(const std::vector<uint8_t>& f) {
  RxSegment r;
  r.seq = get32(&f[0]);
  r.ack = get32(&f[4]);
  r.flags = f[8];
  std::memcpy(&r.window, &f[9], 2);
  r.has_ts = f[11] != 0;
  r.tsval = get32(&f[12]);
  r.tsecr = get32(&f[16]);
  std::memcpy(&r.mss_opt, &f[20], 2);
  r.wscale_opt = int8_t(f[22]);
  r.payload_len = get32(&f[23]);
  r.payload = r.payload_len ? f.data() + kHdrBytes : nullptr;
  return r;
}

struct Side {
  Side(sim::EventQueue& q, TcpConfig cfg, LinkConfig lcfg, std::string name)
      : q(q), ep(q, mem, cfg, std::move(name)), link(q, lcfg) {}

  sim::EventQueue& q;
  HostMemory mem;
  TcpEndpoint ep;
  Link link;  // outgoing direction
  Side* peer = nullptr;

  struct Skb {
    TimePs t;
    Segment seg;
    uint32_t snd_una, snd_wnd, cwnd, ssthresh, mss;  // sender state when it was handed over
  };
  std::vector<Skb> skbs;
  std::vector<WirePiece> wire;
  std::vector<std::pair<TimePs, RxSegment>> rx;  // what arrived (payload pointer cleared)
  std::map<uint32_t, int> tx_count;
  std::vector<std::string> violations;  // property failures seen inside callbacks
  std::function<bool(const WirePiece&)> drop;   // true = drop this piece
  std::function<bool(const Segment&)> gate;     // false = device queue full
  std::function<void(const Segment&)> on_skb;   // observer, after acceptance
  std::vector<uint8_t> received;
  bool fin = false;
  uint32_t tso_max = 65536;

  bool xmit(const Segment& s) {
    if (gate && !gate(s)) return false;
    skbs.push_back(Skb{q.now_ps(), s, ep.snd_una(), ep.snd_wnd(), ep.cwnd_bytes(),
                       ep.ssthresh_bytes(), ep.mss()});
    // Structural properties of every skb.
    uint32_t sum = 0;
    for (const auto& fr : s.frags) sum += fr.len;
    if (sum != s.payload_len) violations.push_back("frags do not add up to payload_len");
    if (s.payload_len > ep.mss() && s.gso_size != ep.mss())
      violations.push_back("payload > mss without gso_size = mss");
    if (s.gso_size && s.payload_len <= s.gso_size) violations.push_back("gso_size on a small skb");
    if (s.payload_len > tso_max) violations.push_back("skb larger than tso_max");
    if (s.payload_len && host::tcp::seq_after(s.seq + s.payload_len, ep.snd_una() + ep.snd_wnd()))
      violations.push_back("skb beyond the peer's window at seq " + std::to_string(s.seq));
    std::vector<uint8_t> payload;
    payload.reserve(s.payload_len);
    for (const auto& fr : s.frags) {
      const uint8_t* p = mem.ptr(fr.addr, fr.len);  // throws if TCP handed a dead address
      payload.insert(payload.end(), p, p + fr.len);
    }
    // TSO as the NIC does it (Linux tcp_gso_segment): pieces of gso_size, seq advancing,
    // FIN and PSH only on the last piece.
    uint32_t step = s.gso_size && s.payload_len > s.gso_size ? s.gso_size : s.payload_len;
    uint32_t off = 0;
    do {
      uint32_t len = std::min(step, s.payload_len - off);
      bool last = off + len == s.payload_len;
      uint8_t flags = last ? s.flags : uint8_t(s.flags & ~(host::tcp::kFin | host::tcp::kPsh));
      WirePiece w;
      w.t = q.now_ps();
      w.seq = s.seq + off;
      w.ack = s.ack;
      w.len = len;
      w.flags = flags;
      w.window = s.window;
      w.retransmit = s.retransmit;
      if (len || (flags & (host::tcp::kSyn | host::tcp::kFin))) w.tx_count = ++tx_count[w.seq];
      w.dropped = drop && drop(w);
      wire.push_back(w);
      if (!w.dropped)
        link.send(encode(s, w.seq, flags, payload.data() + off, len), q.now_ps(), len > 0);
      off += len;
    } while (off < s.payload_len);
    if (on_skb) on_skb(s);
    return true;
  }

  void attach() {
    ep.set_xmit([this](const Segment& s) { return xmit(s); });
    link.set_deliver([this](std::vector<uint8_t>&& f) {
      RxSegment r = decode(f);
      RxSegment logged = r;
      logged.payload = nullptr;
      peer->rx.emplace_back(q.now_ps(), logged);
      peer->ep.on_receive(r);
    });
    ep.on_data = [this](const uint8_t* p, size_t n) { received.insert(received.end(), p, p + n); };
    ep.on_fin = [this] { fin = true; };
  }
};

// Feeds `data` to an endpoint as send space allows; shuts down writing at the end if asked.
struct Writer {
  TcpEndpoint* ep = nullptr;
  std::vector<uint8_t> data;
  size_t off = 0;
  bool fin = false, shut = false;
  void pump() {
    while (off < data.size()) {
      size_t n = ep->write(data.data() + off, data.size() - off);
      if (n == 0) break;
      off += n;
    }
    if (off == data.size() && fin && !shut) {
      ep->shutdown_write();
      shut = true;
    }
  }
};

inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(g());
  return v;
}

inline LinkConfig default_link(uint64_t seed = 1) {
  LinkConfig l;
  l.rate_gbps = 10.0;
  l.serialize = true;
  l.delay_ps = 10 * sim::kPsPerUs;
  l.seed = seed;
  return l;
}

struct Pair {
  Pair(TcpConfig ca, TcpConfig cb, LinkConfig la = default_link(1),
       LinkConfig lb = default_link(2))
      : a(q, ca, la, "a"), b(q, cb, lb, "b") {
    a.peer = &b;
    b.peer = &a;
    a.tso_max = ca.tso_max_bytes;
    b.tso_max = cb.tso_max_bytes;
    a.attach();
    b.attach();
  }
  sim::EventQueue q;
  Side a, b;

  void open() {
    b.ep.listen();
    a.ep.connect();
  }
  // Runs until pred() holds or the queue empties or the time limit passes.
  bool run(const std::function<bool()>& pred, TimePs limit_ps) {
    while (!pred()) {
      if (q.empty() || q.next_time_ps() > limit_ps) return pred();
      q.run_one();
    }
    return true;
  }
};

inline TcpConfig cfg_with_isn(uint32_t isn) {
  TcpConfig c;
  c.isn = isn;
  return c;
}

}  // namespace nicsim::testbench::tcp
