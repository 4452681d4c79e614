// Frame building and parsing, and the Internet checksum against a byte-wise RFC 1071 oracle.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <random>

#include "host/trace/packet.h"

using namespace nicsim::host::trace;

namespace {

// The oracle: RFC 1071 §4.1's loop, one big-endian 16-bit word at a time, carries folded at the
// end. Written independently of csum_partial (no 64-bit tricks, no byte swapping).
uint32_t naive_sum(const uint8_t* p, size_t n, uint32_t initial = 0) {
  uint64_t s = initial;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t(p[i]) << 8) | p[i + 1];
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint32_t(s);
}
uint16_t naive_check(const uint8_t* p, size_t n, uint32_t initial = 0) {
  return uint16_t(~naive_sum(p, n, initial) & 0xffff);
}

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// The TCP pseudo-header built byte by byte (RFC 793 §3.1, RFC 8200 §8.1), summed naively.
uint32_t naive_pseudo(const IpAddr& s, const IpAddr& d, uint32_t tcp_len) {
  std::vector<uint8_t> ph;
  size_t alen = s.v6 ? 16 : 4;
  ph.insert(ph.end(), s.ip.begin(), s.ip.begin() + long(alen));
  ph.insert(ph.end(), d.ip.begin(), d.ip.begin() + long(alen));
  if (s.v6) {
    for (int i = 3; i >= 0; --i) ph.push_back(uint8_t(tcp_len >> (8 * i)));
    ph.insert(ph.end(), {0, 0, 0, 6});
  } else {
    ph.insert(ph.end(), {0, 6, uint8_t(tcp_len >> 8), uint8_t(tcp_len)});
  }
  return naive_sum(ph.data(), ph.size());
}

FlowAddr flow4() {
  FlowAddr a;
  a.src_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  a.dst_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  a.src_ip = IpAddr::v4(192, 168, 10, 1);
  a.dst_ip = IpAddr::v4(192, 168, 10, 2);
  a.src_port = 43210;
  a.dst_port = 443;
  return a;
}
FlowAddr flow6() {
  FlowAddr a = flow4();
  a.src_ip = IpAddr{};
  a.src_ip.v6 = true;
  a.src_ip.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  a.dst_ip = a.src_ip;
  a.dst_ip.ip[15] = 0x02;
  return a;
}

std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// Independent checks of a built frame's checksums using the oracle.
void check_checksums_naive(const std::vector<uint8_t>& f, bool v6) {
  size_t l3 = 14, ihl = v6 ? 40 : size_t(f[l3] & 0x0f) * 4;
  if (!v6) CHECK(naive_sum(&f[l3], ihl) == 0xffff);
  IpAddr s, d;
  s.v6 = d.v6 = v6;
  std::memcpy(s.ip.data(), &f[l3 + (v6 ? 8 : 12)], v6 ? 16 : 4);
  std::memcpy(d.ip.data(), &f[l3 + (v6 ? 24 : 16)], v6 ? 16 : 4);
  size_t l4 = l3 + ihl;
  uint32_t tcp_len = uint32_t(f.size() - l4);
  CHECK(naive_sum(&f[l4], tcp_len, naive_pseudo(s, d, tcp_len)) == 0xffff);
}

}  // namespace

TEST_CASE("csum_partial: the RFC 1071 §3 numerical example", "[csum]") {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 have the one's complement sum ddf2.
  const uint8_t b[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(csum_partial(b, 8) == 0xddf2);
  CHECK(csum_fold(csum_partial(b, 8)) == 0x220d);
  // Same bytes split at even offsets and chained through `initial`.
  CHECK(csum_partial(b + 2, 6, csum_partial(b, 2)) == 0xddf2);
  CHECK(csum_partial(b + 4, 4, csum_partial(b, 4)) == 0xddf2);
  // Split at an odd offset: csum_block_add swaps the second block into place.
  CHECK(csum_block_add(csum_partial(b, 3), csum_partial(b + 3, 5), 3) == 0xddf2);
  // Plain chaining at an odd offset is documented as wrong; make sure it really differs here,
  // so nobody relies on it.
  CHECK(csum_partial(b + 3, 5, csum_partial(b, 3)) != 0xddf2);
}

TEST_CASE("csum_partial agrees with a byte-wise RFC 1071 loop on random data", "[csum]") {
  std::mt19937 rng(1071);
  std::vector<uint8_t> buf = random_bytes(rng, 4096 + 16);
  for (size_t n = 0; n <= 300; ++n) {
    for (size_t align = 0; align < 8; ++align) {
      uint32_t init = (n % 3 == 0) ? 0 : uint32_t(rng());
      INFO("n=" << n << " align=" << align << " init=" << init);
      REQUIRE(csum_partial(&buf[align], n, init) == naive_sum(&buf[align], n, init));
    }
  }
  // Longer runs, including the all-0xff worst case for carries.
  for (size_t n : {1000u, 1459u, 4095u, 4096u}) {
    REQUIRE(csum_partial(buf.data() + 1, n) == naive_sum(buf.data() + 1, n));
  }
  std::vector<uint8_t> ff(1 << 20, 0xff);
  CHECK(csum_partial(ff.data(), ff.size()) == naive_sum(ff.data(), ff.size()));
  CHECK(csum_partial(ff.data(), ff.size() - 1) == naive_sum(ff.data(), ff.size() - 1));
  std::vector<uint8_t> zero(64, 0);
  CHECK(csum_partial(zero.data(), zero.size()) == 0);
  CHECK(csum_fold(0) == 0xffff);
  CHECK(csum_fold(0x1fffe) == 0x0000);  // 0x1fffe folds to 0xffff
  // Random splits: chaining at even offsets, csum_block_add at any offset.
  for (int k = 0; k < 2000; ++k) {
    size_t n = rng() % 2000, cut = n ? rng() % n : 0;
    uint32_t whole = naive_sum(buf.data(), n);
    uint32_t a = csum_partial(buf.data(), cut);
    uint32_t b = csum_partial(buf.data() + cut, n - cut);
    INFO("n=" << n << " cut=" << cut);
    REQUIRE(csum_block_add(a, b, cut) == whole);
    if (cut % 2 == 0) REQUIRE(csum_partial(buf.data() + cut, n - cut, a) == whole);
  }
}

TEST_CASE("IPv4 SYN: Linux option layout, header fields and round trip", "[packet]") {
  FlowAddr a = flow4();
  TcpHeaderFields h;
  h.seq = 0x11223344;
  h.ack = 0;
  h.flags = 0x02;  // SYN
  h.window = 64240;
  h.has_ts = true;
  h.tsval = 0xa1b2c3d4;
  h.tsecr = 0;
  h.mss_opt = 1460;
  h.wscale_opt = 7;
  h.ip_id = 0xbeef;
  h.ttl = 63;
  std::vector<uint8_t> f = build_headers(a, h, 0, true);
  REQUIRE(f.size() == 14 + 20 + 40);
  CHECK(headers_len(false, h) == f.size());
  // Ethernet
  CHECK(std::equal(a.dst_mac.begin(), a.dst_mac.end(), f.begin()));
  CHECK(std::equal(a.src_mac.begin(), a.src_mac.end(), f.begin() + 6));
  CHECK(be16(&f[12]) == 0x0800);
  // IPv4: version/IHL, TOS, total length, ID, DF, TTL, protocol, addresses
  const uint8_t* ip = &f[14];
  CHECK(ip[0] == 0x45);
  CHECK(ip[1] == 0);
  CHECK(be16(ip + 2) == 60);
  CHECK(be16(ip + 4) == 0xbeef);
  CHECK(be16(ip + 6) == 0x4000);
  CHECK(ip[8] == 63);
  CHECK(ip[9] == 6);
  CHECK(std::memcmp(ip + 12, "\xc0\xa8\x0a\x01\xc0\xa8\x0a\x02", 8) == 0);
  // TCP: data offset 40 bytes, options MSS, NOP NOP TS, NOP WS
  const uint8_t* t = ip + 20;
  CHECK(be16(t) == 43210);
  CHECK(be16(t + 2) == 443);
  CHECK(be32(t + 4) == 0x11223344);
  CHECK(t[12] == 0xa0);
  CHECK(t[13] == 0x02);
  CHECK(be16(t + 14) == 64240);
  CHECK(be16(t + 18) == 0);
  const uint8_t opts[20] = {0x02, 0x04, 0x05, 0xb4,                          // MSS 1460
                            0x01, 0x01, 0x08, 0x0a, 0xa1, 0xb2, 0xc3, 0xd4,  // NOP NOP TS
                            0x00, 0x00, 0x00, 0x00,                          //   tsecr
                            0x01, 0x03, 0x03, 0x07};                         // NOP WS 7
  CHECK(std::memcmp(t + 20, opts, 20) == 0);
  check_checksums_naive(f, false);
  CHECK(verify_checksums(f.data(), f.size()));

  ParsedFrame p = parse_frame(f.data(), f.size());
  REQUIRE(p.ok);
  REQUIRE(p.is_tcp);
  CHECK(p.error.empty());
  CHECK_FALSE(p.v6);
  CHECK(p.l3_off == 14);
  CHECK(p.l4_off == 34);
  CHECK(p.payload_off == 74);
  CHECK(p.payload_len == 0);
  CHECK(p.src_ip == a.src_ip);
  CHECK(p.dst_ip == a.dst_ip);
  CHECK(p.src_port == 43210);
  CHECK(p.dst_port == 443);
  CHECK(p.tcp.seq == h.seq);
  CHECK(p.tcp.ack == 0);
  CHECK(p.tcp.flags == 0x02);
  CHECK(p.tcp.window == 64240);
  CHECK(p.tcp.has_ts);
  CHECK(p.tcp.tsval == 0xa1b2c3d4);
  CHECK(p.tcp.tsecr == 0);
  CHECK(p.tcp.mss_opt == 1460);
  CHECK(p.tcp.wscale_opt == 7);
  CHECK(p.tcp.ip_id == 0xbeef);
  CHECK(p.tcp.ttl == 63);
}

TEST_CASE("TCP option blocks stay 4-byte aligned for every combination", "[packet]") {
  FlowAddr a = flow4();
  for (int mask = 0; mask < 8; ++mask) {
    TcpHeaderFields h;
    h.flags = 0x02;
    h.mss_opt = (mask & 1) ? 9000 : 0;
    h.has_ts = (mask & 2) != 0;
    h.tsval = 5;
    h.tsecr = 6;
    h.wscale_opt = (mask & 4) ? 14 : -1;
    std::vector<uint8_t> f = build_headers(a, h, 0, true);
    size_t opt = (mask & 1 ? 4 : 0) + (mask & 2 ? 12 : 0) + (mask & 4 ? 4 : 0);
    INFO("mask " << mask);
    REQUIRE(f.size() == 54 + opt);
    CHECK(f[14 + 20 + 12] >> 4 == (20 + opt) / 4);
    ParsedFrame p = parse_frame(f.data(), f.size());
    REQUIRE(p.ok);
    CHECK(p.tcp.mss_opt == h.mss_opt);
    CHECK(p.tcp.has_ts == h.has_ts);
    CHECK(p.tcp.wscale_opt == h.wscale_opt);
    CHECK(verify_checksums(f.data(), f.size()));
  }
}

TEST_CASE("IPv4 data segment: CHECKSUM_PARTIAL state, fill_checksums, round trip", "[packet]") {
  std::mt19937 rng(42);
  FlowAddr a = flow4();
  TcpHeaderFields h;
  h.seq = 0xfffffff0;
  h.ack = 0x01020304;
  h.flags = 0x18;  // PSH ACK
  h.window = 502;
  h.has_ts = true;
  h.tsval = 1000;
  h.tsecr = 2000;
  h.ip_id = 7;
  for (size_t plen : {1u, 2u, 1447u, 1448u, 8948u}) {
    std::vector<uint8_t> payload = random_bytes(rng, plen);
    std::vector<uint8_t> f = build_headers(a, h, uint32_t(plen), false);
    REQUIRE(f.size() == 14 + 20 + 32);
    CHECK(f[14 + 20 + 12] == 0x80);  // 32-byte TCP header
    const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0};
    CHECK(std::memcmp(&f[14 + 20 + 20], ts, 12) == 0);
    f.insert(f.end(), payload.begin(), payload.end());
    INFO("payload " << plen);
    CHECK(be16(&f[16]) == 20 + 32 + plen);
    // CHECKSUM_PARTIAL: IPv4 checksum 0, TCP checksum = folded pseudo-header sum.
    CHECK(be16(&f[24]) == 0);
    CHECK(be16(&f[14 + 20 + 16]) == naive_pseudo(a.src_ip, a.dst_ip, uint32_t(32 + plen)));
    CHECK(be16(&f[14 + 20 + 16]) == tcp_pseudo_sum(a.src_ip, a.dst_ip, uint32_t(32 + plen)));
    CHECK_FALSE(verify_checksums(f.data(), f.size()));
    // The NIC's completion: sum from csum_start (TCP header) with the seed in place.
    std::vector<uint8_t> nic = f;
    uint16_t c = naive_check(&nic[34], nic.size() - 34);
    nic[34 + 16] = uint8_t(c >> 8);
    nic[34 + 17] = uint8_t(c);
    REQUIRE(fill_checksums(f.data(), f.size()));
    check_checksums_naive(f, false);
    CHECK(verify_checksums(f.data(), f.size()));
    CHECK(std::equal(f.begin() + 34, f.end(), nic.begin() + 34));  // same TCP checksum
    // build_frame gives the same bytes.
    CHECK(build_frame(a, h, payload.data(), plen, true) == f);

    ParsedFrame p = parse_frame(f.data(), f.size());
    REQUIRE(p.ok);
    REQUIRE(p.is_tcp);
    CHECK(p.payload_off == 66);
    CHECK(p.payload_len == plen);
    CHECK(std::equal(payload.begin(), payload.end(), f.begin() + 66));
    CHECK(p.tcp.seq == 0xfffffff0);
    CHECK(p.tcp.ack == 0x01020304);
    CHECK(p.tcp.flags == 0x18);
    CHECK(p.tcp.tsval == 1000);
    CHECK(p.tcp.tsecr == 2000);
    CHECK(p.tcp.mss_opt == 0);
    CHECK(p.tcp.wscale_opt == -1);

    // Any single flipped bit breaks verification.
    size_t pos = rng() % f.size();
    if (pos >= 14) {
      f[pos] ^= uint8_t(1u << (rng() % 8));
      CHECK_FALSE(verify_checksums(f.data(), f.size()));
    }
  }
  // build_headers with fill_checksums=true and payload: IPv4 checksum filled, TCP left partial.
  std::vector<uint8_t> f = build_headers(a, h, 100, true);
  CHECK(naive_sum(&f[14], 20) == 0xffff);
  CHECK(be16(&f[34 + 16]) == tcp_pseudo_sum(a.src_ip, a.dst_ip, 132));
  // IPv4 total length = 20 + 32 + payload must fit 16 bits.
  CHECK_THROWS_AS(build_headers(a, h, 65535 - 52 + 1, false), std::invalid_argument);
  CHECK(be16(&build_headers(a, h, 65535 - 52, false)[16]) == 65535);
}

TEST_CASE("IPv6 SYN-ACK and data: header fields, checksums, round trip", "[packet]") {
  std::mt19937 rng(6);
  FlowAddr a = flow6().reversed();
  TcpHeaderFields h;
  h.seq = 77;
  h.ack = 0x11223345;
  h.flags = 0x12;  // SYN ACK
  h.window = 65160;
  h.has_ts = true;
  h.tsval = 9;
  h.tsecr = 0xa1b2c3d4;
  h.mss_opt = 1440;
  h.wscale_opt = 7;
  h.ttl = 255;
  std::vector<uint8_t> f = build_headers(a, h, 0, true);
  REQUIRE(f.size() == 14 + 40 + 40);
  CHECK(be16(&f[12]) == 0x86dd);
  const uint8_t* ip = &f[14];
  CHECK(be32(ip) == 0x60000000);
  CHECK(be16(ip + 4) == 40);
  CHECK(ip[6] == 6);
  CHECK(ip[7] == 255);
  CHECK(std::memcmp(ip + 8, a.src_ip.ip.data(), 16) == 0);
  CHECK(std::memcmp(ip + 24, a.dst_ip.ip.data(), 16) == 0);
  CHECK(be16(ip + 40) == 443);  // reversed flow: source port is the server's
  check_checksums_naive(f, true);
  CHECK(verify_checksums(f.data(), f.size()));
  // The IPv6 pseudo-header carries a 32-bit upper-layer length (RFC 8200 §8.1).
  CHECK(tcp_pseudo_sum(a.src_ip, a.dst_ip, 70000) == naive_pseudo(a.src_ip, a.dst_ip, 70000));
  CHECK(tcp_pseudo_sum(a.src_ip, a.dst_ip, 70000) != tcp_pseudo_sum(a.src_ip, a.dst_ip, 4464));
  ParsedFrame p = parse_frame(f.data(), f.size());
  REQUIRE(p.ok);
  REQUIRE(p.is_tcp);
  CHECK(p.v6);
  CHECK(p.l4_off == 54);
  CHECK(p.src_ip == a.src_ip);
  CHECK(p.dst_ip == a.dst_ip);
  CHECK(p.src_port == 443);
  CHECK(p.dst_port == 43210);
  CHECK(p.tcp.ttl == 255);
  CHECK(p.tcp.ip_id == 0);
  CHECK(p.tcp.mss_opt == 1440);
  CHECK(p.tcp.wscale_opt == 7);
  CHECK(p.tcp.tsecr == 0xa1b2c3d4);

  h.flags = 0x10;
  h.mss_opt = 0;
  h.wscale_opt = -1;
  std::vector<uint8_t> payload = random_bytes(rng, 1001);
  std::vector<uint8_t> d = build_frame(a, h, payload.data(), payload.size(), false);
  CHECK(be16(&d[14 + 4]) == 32 + 1001);
  CHECK(be16(&d[54 + 16]) == naive_pseudo(a.src_ip, a.dst_ip, 32 + 1001));
  CHECK_FALSE(verify_checksums(d.data(), d.size()));
  REQUIRE(fill_checksums(d.data(), d.size()));
  check_checksums_naive(d, true);
  CHECK(verify_checksums(d.data(), d.size()));
  p = parse_frame(d.data(), d.size());
  REQUIRE(p.ok);
  CHECK(p.payload_off == 14 + 40 + 32);
  CHECK(p.payload_len == 1001);
}

TEST_CASE("parse_frame ignores Ethernet padding and accepts one VLAN tag", "[packet]") {
  FlowAddr a = flow4();
  TcpHeaderFields h;
  h.flags = 0x10;
  h.has_ts = false;
  std::vector<uint8_t> f = build_headers(a, h, 0, true);
  REQUIRE(f.size() == 54);
  std::vector<uint8_t> padded = f;
  padded.resize(60, 0xee);  // minimum Ethernet frame; padding is not zero on purpose
  ParsedFrame p = parse_frame(padded.data(), padded.size());
  REQUIRE(p.ok);
  CHECK(p.payload_len == 0);
  CHECK(verify_checksums(padded.data(), padded.size()));
  padded[20] ^= 1;  // IPv4 header byte: the IP checksum must catch it
  CHECK_FALSE(verify_checksums(padded.data(), padded.size()));

  std::vector<uint8_t> v = f;
  const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x64};  // TPID, VLAN 100
  v.insert(v.begin() + 12, tag, tag + 4);
  p = parse_frame(v.data(), v.size());
  REQUIRE(p.ok);
  REQUIRE(p.is_tcp);
  CHECK(p.l3_off == 18);
  CHECK(p.l4_off == 38);
  CHECK(verify_checksums(v.data(), v.size()));
}

TEST_CASE("parse_frame: SLL, SLL2, raw IP and BSD loopback framing", "[packet]") {
  std::mt19937 rng(3);
  for (bool v6 : {false, true}) {
    FlowAddr a = v6 ? flow6() : flow4();
    TcpHeaderFields h;
    h.flags = 0x18;
    h.has_ts = true;
    h.seq = 1234;
    std::vector<uint8_t> payload = random_bytes(rng, 99);
    std::vector<uint8_t> eth = build_frame(a, h, payload.data(), payload.size(), true);
    std::vector<uint8_t> l3(eth.begin() + 14, eth.end());
    const uint16_t et = v6 ? 0x86dd : 0x0800;

    std::vector<uint8_t> sll(16, 0);
    sll[14] = uint8_t(et >> 8);
    sll[15] = uint8_t(et);
    sll.insert(sll.end(), l3.begin(), l3.end());
    std::vector<uint8_t> sll2(20, 0);
    sll2[0] = uint8_t(et >> 8);
    sll2[1] = uint8_t(et);
    sll2[4] = 0;
    sll2.insert(sll2.end(), l3.begin(), l3.end());
    // BSD loopback: family little-endian (as written by an x86 or arm64 macOS host) and
    // big-endian (LOOP); AF_INET6 as macOS numbers it (30).
    uint8_t fam = v6 ? 30 : 2;
    std::vector<uint8_t> null_le = {fam, 0, 0, 0};
    null_le.insert(null_le.end(), l3.begin(), l3.end());
    std::vector<uint8_t> null_be = {0, 0, 0, fam};
    null_be.insert(null_be.end(), l3.begin(), l3.end());

    struct Case {
      LinkType lt;
      const std::vector<uint8_t>* f;
      size_t l3_off;
    } cases[] = {{LinkType::linux_sll, &sll, 16},       {LinkType::linux_sll2, &sll2, 20},
                 {LinkType::raw_ip, &l3, 0},            {LinkType::null_loopback, &null_le, 4},
                 {LinkType::loop, &null_be, 4},         {LinkType::null_loopback, &null_be, 4}};
    for (const Case& c : cases) {
      INFO("link type " << int(c.lt) << " v6 " << v6);
      ParsedFrame p = parse_frame(c.f->data(), c.f->size(), c.lt);
      REQUIRE(p.ok);
      REQUIRE(p.is_tcp);
      CHECK(p.v6 == v6);
      CHECK(p.l3_off == c.l3_off);
      CHECK(p.payload_len == 99);
      CHECK(p.tcp.seq == 1234);
      CHECK(std::equal(payload.begin(), payload.end(), c.f->begin() + long(p.payload_off)));
      CHECK(verify_checksums(c.f->data(), c.f->size(), c.lt));
    }
    // Non-IP protocol on SLL → ok, not TCP.
    sll[14] = 0x08;
    sll[15] = 0x06;  // ARP
    ParsedFrame p = parse_frame(sll.data(), sll.size(), LinkType::linux_sll);
    CHECK(p.ok);
    CHECK_FALSE(p.is_tcp);
  }
  const uint8_t bad_raw[20] = {0x55};
  ParsedFrame p = parse_frame(bad_raw, sizeof bad_raw, LinkType::raw_ip);
  CHECK_FALSE(p.ok);
  CHECK(p.error.find("version") != std::string::npos);
}

TEST_CASE("parse_frame: IPv4 options, IPv6 extension headers, fragments, non-TCP", "[packet]") {
  FlowAddr a4 = flow4();
  TcpHeaderFields h;
  h.flags = 0x10;
  h.has_ts = true;
  h.tsval = 31;
  const uint8_t payload[5] = {'h', 'e', 'l', 'l', 'o'};
  std::vector<uint8_t> f = build_frame(a4, h, payload, 5, false);

  // IPv4 with 8 bytes of options (IHL 7): NOP x3 + EOL + 4 zero bytes.
  std::vector<uint8_t> o = f;
  const uint8_t ipopts[8] = {1, 1, 1, 0, 0, 0, 0, 0};
  o.insert(o.begin() + 34, ipopts, ipopts + 8);
  o[14] = 0x47;
  o[16] = 0;
  o[17] = uint8_t(28 + 32 + 5);
  REQUIRE(fill_checksums(o.data(), o.size()));
  check_checksums_naive(o, false);
  ParsedFrame p = parse_frame(o.data(), o.size());
  REQUIRE(p.ok);
  REQUIRE(p.is_tcp);
  CHECK(p.l4_off == 14 + 28);
  CHECK(p.payload_len == 5);
  CHECK(p.tcp.tsval == 31);
  CHECK(std::memcmp(&o[p.payload_off], "hello", 5) == 0);

  // IPv4 fragments (MF set; offset != 0) are not TCP for us.
  std::vector<uint8_t> fr = f;
  fr[20] = 0x20;  // MF
  p = parse_frame(fr.data(), fr.size());
  CHECK(p.ok);
  CHECK_FALSE(p.is_tcp);
  fr[20] = 0x00;
  fr[21] = 0x10;  // offset 128
  p = parse_frame(fr.data(), fr.size());
  CHECK(p.ok);
  CHECK_FALSE(p.is_tcp);
  // UDP
  std::vector<uint8_t> u = f;
  u[23] = 17;
  p = parse_frame(u.data(), u.size());
  CHECK(p.ok);
  CHECK_FALSE(p.is_tcp);
  CHECK(p.src_ip == a4.src_ip);
  CHECK_FALSE(verify_checksums(u.data(), u.size()));
  // ARP
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  p = parse_frame(arp.data(), arp.size());
  CHECK(p.ok);
  CHECK_FALSE(p.is_tcp);

  // IPv6 with hop-by-hop (8 bytes) and destination options (16 bytes) before TCP.
  FlowAddr a6 = flow6();
  std::vector<uint8_t> g = build_frame(a6, h, payload, 5, false);
  std::vector<uint8_t> ext = {60, 0, 1, 4, 0, 0, 0, 0,                          // HBH → DO
                              6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // DO → TCP
  std::vector<uint8_t> e = g;
  e.insert(e.begin() + 54, ext.begin(), ext.end());
  e[14 + 6] = 0;  // next header: hop-by-hop
  uint16_t plen = uint16_t(ext.size() + 32 + 5);
  e[18] = uint8_t(plen >> 8);
  e[19] = uint8_t(plen);
  REQUIRE(fill_checksums(e.data(), e.size()));
  p = parse_frame(e.data(), e.size());
  REQUIRE(p.ok);
  REQUIRE(p.is_tcp);
  CHECK(p.l4_off == 54 + 24);
  CHECK(p.payload_len == 5);
  CHECK(std::memcmp(&e[p.payload_off], "hello", 5) == 0);
  CHECK(verify_checksums(e.data(), e.size()));
  // TCP checksum of the IPv6 frame uses the upper-layer length, not the payload length.
  IpAddr s = a6.src_ip, d = a6.dst_ip;
  CHECK(naive_sum(&e[p.l4_off], 37, naive_pseudo(s, d, 37)) == 0xffff);

  // A fragment header → not TCP.
  std::vector<uint8_t> fh = g;
  const uint8_t frag[8] = {6, 0, 0, 1, 0, 0, 0, 9};
  fh.insert(fh.begin() + 54, frag, frag + 8);
  fh[14 + 6] = 44;
  fh[19] = uint8_t(fh[19] + 8);
  p = parse_frame(fh.data(), fh.size());
  CHECK(p.ok);
  CHECK_FALSE(p.is_tcp);
  // An extension header claiming more bytes than the IPv6 payload → error.
  std::vector<uint8_t> bad = e;
  bad[55] = 200;
  p = parse_frame(bad.data(), bad.size());
  CHECK_FALSE(p.ok);
  CHECK(p.error.find("extension header") != std::string::npos);
}

TEST_CASE("parse_frame: truncated and malformed frames", "[packet]") {
  std::mt19937 rng(9);
  for (bool v6 : {false, true}) {
    FlowAddr a = v6 ? flow6() : flow4();
    TcpHeaderFields h;
    h.flags = 0x10;
    h.has_ts = true;
    std::vector<uint8_t> payload = random_bytes(rng, 300);
    std::vector<uint8_t> f = build_frame(a, h, payload.data(), payload.size(), true);
    const size_t hdrs = headers_len(v6, h);
    // Every cut inside the headers: ok=false with a "truncated" message.
    for (size_t n = 0; n < hdrs; ++n) {
      ParsedFrame p = parse_frame(f.data(), n);
      INFO("v6 " << v6 << " n " << n);
      CHECK_FALSE(p.ok);
      CHECK(p.error.find("truncated") != std::string::npos);
      CHECK_FALSE(verify_checksums(f.data(), n));
    }
    // A cut inside the payload: headers parsed, payload_len clamped, flagged.
    ParsedFrame p = parse_frame(f.data(), hdrs + 100);
    CHECK_FALSE(p.ok);
    CHECK(p.truncated);
    CHECK(p.is_tcp);
    CHECK(p.payload_len == 100);
    CHECK(p.error.find("truncated") != std::string::npos);
    CHECK(p.error.find(std::to_string(f.size())) != std::string::npos);
    CHECK_FALSE(verify_checksums(f.data(), hdrs + 100));
  }
  FlowAddr a = flow4();
  TcpHeaderFields h;
  h.flags = 0x10;
  h.has_ts = true;
  std::vector<uint8_t> f = build_headers(a, h, 0, true);
  auto bad = [&](size_t off, uint8_t v, const char* what) {
    std::vector<uint8_t> g = f;
    g[off] = v;
    ParsedFrame p = parse_frame(g.data(), g.size());
    INFO(what << ": " << p.error);
    CHECK_FALSE(p.ok);
    CHECK_FALSE(p.error.empty());
  };
  bad(14, 0x44, "IHL 4");
  bad(14, 0x55, "IP version 5 under ethertype IPv4");
  bad(17, 30, "IPv4 total length shorter than IP+TCP headers");
  bad(34 + 12, 0x40, "TCP data offset 16");
  bad(34 + 12, 0xf0, "TCP data offset past the IP length");
  bad(34 + 20 + 3, 0, "TS option length 0");
  bad(34 + 20 + 3, 9, "TS option length 9");
  bad(34 + 20 + 3, 30, "TS option length past the header");
}

TEST_CASE("IpAddr::str follows RFC 5952 and agrees with inet_ntop", "[packet]") {
  CHECK(IpAddr::v4(10, 0, 0, 1).str() == "10.0.0.1");
  CHECK(IpAddr::v4(255, 255, 255, 255).str() == "255.255.255.255");
  auto v6 = [](std::initializer_list<uint16_t> w) {
    IpAddr a;
    a.v6 = true;
    size_t i = 0;
    for (uint16_t x : w) {
      a.ip[i++] = uint8_t(x >> 8);
      a.ip[i++] = uint8_t(x);
    }
    return a;
  };
  CHECK(v6({0, 0, 0, 0, 0, 0, 0, 0}).str() == "::");
  CHECK(v6({0, 0, 0, 0, 0, 0, 0, 1}).str() == "::1");
  CHECK(v6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}).str() == "2001:db8::1");
  CHECK(v6({0x2001, 0xdb8, 0, 1, 1, 1, 1, 1}).str() == "2001:db8:0:1:1:1:1:1");    // §4.2.2
  CHECK(v6({0x2001, 0, 0, 1, 0, 0, 0, 1}).str() == "2001:0:0:1::1");              // §4.2.3
  CHECK(v6({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}).str() == "2001:db8::1:0:0:1");      // §4.2.3
  CHECK(v6({0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0}).str() == "fe80::abcd:0:0:0");
  CHECK(v6({1, 0, 0, 0, 0, 0, 0, 0}).str() == "1::");
  CHECK(v6({0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201}).str() == "::ffff:192.0.2.1");  // §5
  CHECK(v6({0x2001, 0xDB8, 0xAAAA, 0, 0, 0, 0, 0}).str() == "2001:db8:aaaa::");    // §4.3
  // glibc's inet_ntop as a second opinion on random sparse addresses (skipping the ::a.b.c.d
  // "IPv4-compatible" form, which glibc prints dotted and RFC 5952 does not ask for).
  std::mt19937 rng(5952);
  for (int k = 0; k < 2000; ++k) {
    IpAddr a;
    a.v6 = true;
    for (size_t i = 0; i < 16; i += 2) {
      uint16_t w = (rng() % 3 == 0) ? uint16_t(rng()) : 0;
      a.ip[i] = uint8_t(w >> 8);
      a.ip[i + 1] = uint8_t(w);
    }
    bool compat = std::all_of(a.ip.begin(), a.ip.begin() + 12, [](uint8_t b) { return b == 0; });
    bool mapped = std::all_of(a.ip.begin(), a.ip.begin() + 10, [](uint8_t b) { return b == 0; }) &&
                  a.ip[10] == 0xff && a.ip[11] == 0xff;
    if (compat || mapped) continue;
    char buf[INET6_ADDRSTRLEN];
    REQUIRE(inet_ntop(AF_INET6, a.ip.data(), buf, sizeof buf) != nullptr);
    REQUIRE(a.str() == buf);
  }
}

TEST_CASE("FlowAddr::reversed swaps every field", "[packet]") {
  FlowAddr a = flow6();
  FlowAddr r = a.reversed();
  CHECK(r.src_mac == a.dst_mac);
  CHECK(r.dst_mac == a.src_mac);
  CHECK(r.src_ip == a.dst_ip);
  CHECK(r.dst_ip == a.src_ip);
  CHECK(r.src_port == a.dst_port);
  CHECK(r.dst_port == a.src_port);
  FlowAddr rr = r.reversed();
  CHECK(rr.src_ip == a.src_ip);
  CHECK(rr.src_mac == a.src_mac);
  CHECK(rr.src_port == a.src_port);
}
