// tx_checksum: TSO cuts at the WQE's MSS and checksums, checked against frames that
// host/trace builds independently (build_frame with checksums filled); cycle cost per segment.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "host/trace/packet.h"
#include "model/tx/tx_checksum.h"

using namespace nicsim;
using namespace nicsim::host::trace;
using model::tx::NicConfig;
using model::tx::TxChecksum;
using model::tx::TxWork;

namespace {

// TCP flag bits (RFC 793 / RFC 3168).
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;

FlowAddr flow(bool v6) {
  FlowAddr a;
  a.src_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  a.dst_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  if (v6) {
    a.src_ip.v6 = a.dst_ip.v6 = true;
    for (int i = 0; i < 16; i++) {
      a.src_ip.ip[size_t(i)] = uint8_t(0x20 + i * 7);
      a.dst_ip.ip[size_t(i)] = uint8_t(0xfd - i * 5);
    }
  } else {
    a.src_ip = IpAddr::v4(10, 1, 2, 3);
    a.dst_ip = IpAddr::v4(192, 168, 200, 254);
  }
  a.src_port = 443;
  a.dst_port = 40001;
  return a;
}

TcpHeaderFields fields(bool ts, uint8_t flags) {
  TcpHeaderFields h;
  h.seq = 0xfffff000u;  // cuts wrap the 32-bit sequence space
  h.ack = 0x01020304;
  h.flags = flags;
  h.window = 501;
  h.has_ts = ts;
  h.tsval = 0x11223344;
  h.tsecr = 0x55667788;
  h.ip_id = 0xfffe;  // and the 16-bit IP ID
  return h;
}

// The work as the driver's WQE describes it: headers built for the whole payload with the
// pseudo-header sum only (CHECKSUM_PARTIAL), as mlx5e_tx.cpp builds them.
TxWork make_work(const FlowAddr& a, const TcpHeaderFields& h, const std::vector<uint8_t>& payload, bool lso,
                 uint16_t mss) {
  TxWork w;
  w.opcode = lso ? abi::Opcode::lso : abi::Opcode::send;
  w.eth.mss = lso ? mss : 0;
  w.eth.cs_flags = uint8_t(abi::kCsumL4 | (a.src_ip.v6 ? 0 : abi::kCsumL3));
  w.inline_hdr = build_headers(a, h, uint32_t(payload.size()), false);
  w.payload = payload;
  w.payload_len = uint32_t(payload.size());
  return w;
}

// Checks every frame against an independently built one and returns the expected cycles.
uint64_t check_frames(const FlowAddr& a, const TcpHeaderFields& h, const std::vector<uint8_t>& payload,
                      uint32_t mss, const TxWork& w, const NicConfig& cfg) {
  const uint32_t total = uint32_t(payload.size());
  const uint32_t nseg = total == 0 ? 1 : (total + mss - 1) / mss;
  REQUIRE(w.num_frames == nseg);
  const size_t hl = w.inline_hdr.size();
  uint64_t cycles = 0;
  for (uint32_t s = 0; s < nseg; s++) {
    INFO("segment " << s << " of " << nseg);
    const uint32_t off = s * mss, len = std::min(mss, total - off);
    TcpHeaderFields e = h;
    e.seq = h.seq + off;
    e.ip_id = uint16_t(h.ip_id + (a.src_ip.v6 ? 0 : s));
    e.flags = h.flags;
    if (s + 1 < nseg) e.flags &= uint8_t(~(kFin | kPsh));
    if (s > 0) e.flags &= uint8_t(~kCwr);  // CWR only on the first
    std::vector<uint8_t> want = build_frame(a, e, payload.data() + off, len, true);
    const std::vector<uint8_t>& got = w.frames[s].bytes;
    REQUIRE(got.size() == std::max<size_t>(want.size(), 60));
    CHECK(std::equal(want.begin(), want.end(), got.begin()));
    for (size_t i = want.size(); i < got.size(); i++) CHECK(got[i] == 0);  // Ethernet padding
    CHECK(verify_checksums(got.data(), got.size()));
    ParsedFrame p = parse_frame(got.data(), got.size());
    REQUIRE(p.ok);
    CHECK(p.payload_len == len);
    CHECK(p.tcp.seq == h.seq + off);
    CHECK(w.frames[s].has_payload == (len > 0));
    cycles += cfg.csum_hdr_cycles + (hl + len + 63) / 64;
  }
  return cycles;
}

}  // namespace

TEST_CASE("tx_checksum: LSO cuts at mss, IPv4 and IPv6, every frame equals an independent build", "[tx_checksum]") {
  const bool v6 = GENERATE(false, true);
  const bool ts = GENERATE(true, false);
  INFO((v6 ? "IPv6" : "IPv4") << (ts ? " with TS" : " without TS"));
  NicConfig cfg;
  cfg.csum_hdr_cycles = GENERATE(1u, 3u);
  std::mt19937_64 rng(17);
  const FlowAddr a = flow(v6);
  const uint16_t mss = v6 ? 1428 : 1448;
  const uint8_t flags = kAck | kPsh | kFin | kCwr;
  for (uint32_t total : {0u, 1u, 1447u, 1448u, 1449u, 2896u, 10000u, 64000u}) {
    INFO("payload " << total);
    std::vector<uint8_t> payload(total);
    for (auto& b : payload) b = uint8_t(rng());
    const TcpHeaderFields h = fields(ts, flags);
    TxWork w = make_work(a, h, payload, true, mss);
    TxChecksum tc(cfg);
    std::vector<uint64_t> ready;
    const uint64_t cycles = tc.process(&w, &ready);
    REQUIRE(w.error == abi::CqeSyndrome::none);
    CHECK(cycles == check_frames(a, h, payload, mss, w, cfg));
    // Per-frame readiness: cumulative csum_hdr_cycles + ceil((hdr + len) / 64).
    REQUIRE(ready.size() == w.num_frames);
    uint64_t acc = 0;
    for (uint32_t s = 0; s < w.num_frames; s++) {
      const uint32_t len = std::min<uint32_t>(mss, total - s * mss);
      acc += cfg.csum_hdr_cycles + (w.inline_hdr.size() + len + 63) / 64;
      CHECK(ready[s] == acc);
    }
    CHECK(tc.stats().segments == w.num_frames);
    CHECK(tc.stats().tso_wqes == (w.num_frames > 1 ? 1u : 0u));
    CHECK(tc.stats().bytes == total);
    CHECK(tc.stats().pkts == 1);
  }
}

TEST_CASE("tx_checksum: hand-computed frame count, sizes and cycles for 64000 bytes at mss 1448", "[tx_checksum]") {
  NicConfig cfg;
  const FlowAddr a = flow(false);
  std::vector<uint8_t> payload(64000, 0x5a);
  const TcpHeaderFields h = fields(true, kAck | kPsh);
  TxWork w = make_work(a, h, payload, true, 1448);
  TxChecksum tc(cfg);
  std::vector<uint64_t> ready;
  const uint64_t cycles = tc.process(&w, &ready);
  // 64000 = 44 x 1448 + 288: 45 frames. Full frames 66 + 1448 = 1514 bytes: 1 + 24 cycles;
  // the last 66 + 288 = 354 bytes: 1 + 6. Total 44 x 25 + 7 = 1107.
  REQUIRE(w.num_frames == 45);
  CHECK(w.frames[0].bytes.size() == 1514);
  CHECK(w.frames[43].bytes.size() == 1514);
  CHECK(w.frames[44].bytes.size() == 354);
  CHECK(cycles == 1107);
  CHECK(ready[0] == 25);
  CHECK(ready[44] == 1107);
  ParsedFrame last = parse_frame(w.frames[44].bytes.data(), w.frames[44].bytes.size());
  REQUIRE(last.ok);
  CHECK(last.tcp.seq == uint32_t(0xfffff000u + 44 * 1448));
  CHECK(last.tcp.ip_id == uint16_t(0xfffe + 44));
  CHECK(last.tcp.flags == (kAck | kPsh));
  ParsedFrame mid = parse_frame(w.frames[1].bytes.data(), w.frames[1].bytes.size());
  CHECK(mid.tcp.flags == kAck);
  CHECK(mid.tcp.ip_id == 0xffff);
  ParsedFrame third = parse_frame(w.frames[2].bytes.data(), w.frames[2].bytes.size());
  CHECK(third.tcp.ip_id == 0x0000);
}

TEST_CASE("tx_checksum: tiny frames are padded to 60 bytes, a plain send is one frame", "[tx_checksum]") {
  NicConfig cfg;
  const FlowAddr a = flow(false);
  const TcpHeaderFields h = fields(false, kAck | kPsh);  // 54-byte headers
  for (uint32_t n : {0u, 1u, 5u, 6u, 7u}) {
    INFO("payload " << n);
    std::vector<uint8_t> payload(n, 0xc3);
    TxWork w = make_work(a, h, payload, false, 0);
    TxChecksum tc(cfg);
    std::vector<uint64_t> ready;
    const uint64_t cycles = tc.process(&w, &ready);
    CHECK(cycles == check_frames(a, h, payload, std::max<uint32_t>(n, 1), w, cfg));
    CHECK(w.frames[0].bytes.size() == std::max<size_t>(54 + n, 60));
  }
  // LSO of 10 bytes at mss 4: three frames of 4, 4, 2 bytes, each padded.
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  TxWork w = make_work(a, h, payload, true, 4);
  TxChecksum tc(cfg);
  std::vector<uint64_t> ready;
  CHECK(tc.process(&w, &ready) == 3 * (1 + 1));
  check_frames(a, h, payload, 4, w, cfg);
  // A send larger than any MSS stays one frame (the stack did not ask for TSO).
  std::vector<uint8_t> big(3000, 7);
  TxWork s = make_work(a, h, big, false, 0);
  tc.process(&s, &ready);
  CHECK(s.num_frames == 1);
  CHECK(s.frames[0].bytes.size() == 3054);
  CHECK(verify_checksums(s.frames[0].bytes.data(), s.frames[0].bytes.size()));
}

TEST_CASE("tx_checksum: an 802.1Q tagged header", "[tx_checksum]") {
  NicConfig cfg;
  const FlowAddr a = flow(false);
  const TcpHeaderFields h = fields(true, kAck);
  std::vector<uint8_t> payload(3000);
  for (size_t i = 0; i < payload.size(); i++) payload[i] = uint8_t(i * 13);
  TxWork w = make_work(a, h, payload, true, 1448);
  const uint8_t tag[4] = {0x81, 0x00, 0x20, 0x05};
  w.inline_hdr.insert(w.inline_hdr.begin() + 12, tag, tag + 4);
  TxChecksum tc(cfg);
  std::vector<uint64_t> ready;
  tc.process(&w, &ready);
  REQUIRE(w.error == abi::CqeSyndrome::none);
  REQUIRE(w.num_frames == 3);
  for (uint32_t s = 0; s < 3; s++) {
    const auto& f = w.frames[s].bytes;
    CHECK(verify_checksums(f.data(), f.size()));
    ParsedFrame p = parse_frame(f.data(), f.size());
    REQUIRE(p.ok);
    CHECK(p.l3_off == 18);
    CHECK(p.payload_len == std::min<uint32_t>(1448, 3000 - s * 1448));
    CHECK(std::equal(f.begin() + long(p.payload_off), f.end(), payload.begin() + s * 1448));
  }
}

TEST_CASE("tx_checksum: headers that do not parse are refused", "[tx_checksum]") {
  NicConfig cfg;
  const FlowAddr a = flow(false);
  const TcpHeaderFields h = fields(true, kAck);
  std::vector<uint8_t> payload(100, 1);
  struct Bad {
    const char* what;
    size_t off;
    uint8_t val;
    int extra;
  };
  const Bad bads[] = {
      {"ARP ethertype", 12, 0x08, 0},  // 0x0806 below
      {"IP version 6 in an IPv4 frame", 14, 0x65, 0},
      {"IHL 4", 14, 0x44, 0},
      {"UDP", 23, 17, 0},
      {"TCP data offset 4", 46, 0x40, 0},
      {"trailing bytes after the TCP header", 0, 0, 4},
      {"truncated TCP options", 0, 0, -4},
  };
  for (const Bad& b : bads) {
    INFO(b.what);
    TxWork w = make_work(a, h, payload, true, 1448);
    if (b.off) w.inline_hdr[b.off] = b.val;
    if (std::string(b.what) == "ARP ethertype") w.inline_hdr[13] = 0x06;
    if (b.extra > 0) w.inline_hdr.insert(w.inline_hdr.end(), size_t(b.extra), 0);
    if (b.extra < 0) w.inline_hdr.resize(w.inline_hdr.size() - size_t(-b.extra));
    TxChecksum tc(cfg);
    std::vector<uint64_t> ready;
    CHECK(tc.process(&w, &ready) == 1);
    CHECK(w.error == abi::CqeSyndrome::local_length);
    CHECK(w.num_frames == 0);
    CHECK(tc.stats().bad_headers == 1);
  }
}
