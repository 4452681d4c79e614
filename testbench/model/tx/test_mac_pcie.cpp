// mac_tx wire time and back-to-back/stall accounting; the PCIe link's read latency/bandwidth
// model; the shared Internet checksum against a naive RFC 1071 loop.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "model/abi/inet_csum.h"
#include "model/tx/mac_tx.h"

using namespace nicsim;
using model::tx::Clock;
using model::tx::MacTx;
using model::tx::NicConfig;
using model::tx::PcieLink;

TEST_CASE("mac_tx: wire time = (max(len, 60) + FCS 4 + preamble 8 + IFG 12) x 8 / rate", "[mac_tx]") {
  NicConfig cfg;  // 100 Gb/s
  MacTx m(cfg, Clock::from_mhz(cfg.clock_mhz));
  // 1514-byte frame: (1514 + 24) x 8 / 100 ns = 123.04 ns.
  CHECK(m.wire_ps(1514) == 123040);
  // Minimum frame: 60 + 24 = 84 bytes = 6.72 ns; shorter frames are padded to it.
  CHECK(m.wire_ps(60) == 6720);
  CHECK(m.wire_ps(10) == 6720);
  CHECK(m.wire_ps(0) == 6720);
  CHECK(m.wire_ps(61) == 6800);
  CHECK(m.wire_ps(9014) == 723040);  // jumbo: 9038 x 80 ps
  cfg.line_rate_gbps = 25;
  CHECK(MacTx(cfg, Clock{}).wire_ps(1514) == 492160);
  cfg.line_rate_gbps = 400;
  CHECK(MacTx(cfg, Clock{}).wire_ps(1514) == 30760);
  cfg.line_rate_gbps = 30;  // 1538 x 8000 / 30 = 410133.33 -> rounded to the nearest ps
  CHECK(MacTx(cfg, Clock{}).wire_ps(1514) == 410133);
  cfg.line_rate_gbps = 3;  // 84 x 8000 / 3 = 224000
  CHECK(MacTx(cfg, Clock{}).wire_ps(1) == 224000);
}

TEST_CASE("mac_tx: back-to-back frames, stall accounting, return = last bit before the IFG", "[mac_tx]") {
  NicConfig cfg;
  const Clock clk = Clock::from_mhz(250);
  REQUIRE(clk.period_ps == 4000);
  MacTx m(cfg, clk);
  // Frame 1 ready at 0: on the wire [0, 123040); its last bit leaves 12 byte times (960 ps)
  // before the end of its slot.
  CHECK(m.send(0, 1514, 1448) == 122080);
  CHECK(m.free_at_ps() == 123040);
  CHECK(m.stats().stall_cycles == 0);
  // Frame 2 ready at 10 ns waits until 123.04 ns: 113040 ps = 28 whole cycles of stall.
  CHECK(m.send(10000, 1514, 1448) == 245120);
  CHECK(m.stats().stall_cycles == 28);
  // Frame 3 (minimum size) ready at 0 waits until 246.08 ns: 246080 ps = 61 whole cycles.
  CHECK(m.send(0, 60, 6) == 246080 + 6720 - 960);
  CHECK(m.stats().stall_cycles == 28 + 61);
  // Frame 4 after the link went idle: no stall, starts at its ready time.
  CHECK(m.send(1'000'000, 10, 0) == 1'000'000 + 6720 - 960);
  CHECK(m.stats().stall_cycles == 89);
  CHECK(m.free_at_ps() == 1'006'720);
  CHECK(m.stats().frames == 4);
  CHECK(m.stats().pkts == 4);
  CHECK(m.stats().bytes == 1448 + 1448 + 6);
  CHECK(m.stats().wire_bytes == 1538 + 1538 + 84 + 84);
  // Busy: ceil(123040 / 4000) = 31 per full frame, ceil(6720 / 4000) = 2 per minimum frame.
  CHECK(m.stats().busy_cycles == 31 + 31 + 2 + 2);
  // A long back-to-back train runs at exactly line rate.
  MacTx t(cfg, clk);
  uint64_t last = 0;
  for (int i = 0; i < 1000; i++) last = t.send(0, 1514, 1448);
  CHECK(t.free_at_ps() == 1000ull * 123040);
  CHECK(last == 1000ull * 123040 - 960);
}

TEST_CASE("pcie: small read = round trip, large read = round trip + the bytes after the first 64", "[pcie]") {
  NicConfig cfg;  // 550 ns, 105 Gb/s, write 275 ns, MRRS 512
  {
    PcieLink l(cfg);
    CHECK(l.read(0, 64) == 550000);
  }
  {
    PcieLink l(cfg);
    CHECK(l.read(0, 1) == 550000);
  }
  {
    // 4096 bytes: 550 ns + 4032 B x 8 / 105 ns = 550000 + 307200 ps.
    PcieLink l(cfg);
    CHECK(l.read(1000, 4096) == 1000 + 857200);
    CHECK(l.stats().read_requests == 8);
    CHECK(l.stats().read_bytes == 4096);
    CHECK(l.stats().read_busy_ps == 312076);  // round(4096 x 76.190476)
  }
  // Clean numbers at 100 Gb/s (80 ps per byte).
  cfg.pcie_read_gbps = 100;
  PcieLink l(cfg);
  CHECK(l.read(0, 4096) == 550000 + 4032 * 80);  // 872560
  // Issued together, the second read's completions queue behind the first's.
  CHECK(l.read(0, 64) == 872560 + 64 * 80);  // 877680
  CHECK(l.read(0, 1024) == 877680 + 1024 * 80);
  // Much later: the link is idle again, only the round trip counts.
  CHECK(l.read(10'000'000, 512) == 10'000'000 + 550000 + 448 * 80);
  CHECK(l.read(10'000'000, 64) == 10'585'840 + 64 * 80);
  CHECK(l.stats().reads == 5);
  CHECK(l.stats().read_requests == 8 + 1 + 2 + 1 + 1);
  CHECK(l.stats().read_busy_ps == (4096 + 64 + 1024 + 512 + 64) * 80ull);
  // Two small reads together: each sees the full round trip, the second one 64 bytes later.
  PcieLink s(cfg);
  CHECK(s.read(0, 64) == 550000);
  CHECK(s.read(0, 64) == 555120);
  // Writes are posted: one-way latency, no bandwidth model.
  CHECK(s.write(1000, 64) == 276000);
  CHECK(s.write(1000, 4096) == 276000);
  CHECK(s.stats().writes == 2);
  CHECK(s.stats().write_bytes == 4160);
}

namespace {
// RFC 1071 as written: 16-bit big-endian words, odd byte padded with zero, end-around carry.
uint16_t naive_csum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) {
    sum += uint32_t(p[i]) << 8 | p[i + 1];
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  }
  if (n & 1) {
    sum += uint32_t(p[n - 1]) << 8;
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  }
  return uint16_t(~sum);
}
}  // namespace

TEST_CASE("inet_csum: the AVX2 and the SSE2/scalar loops of csum_native agree with a naive loop", "[csum]") {
  // csum_native picks the AVX2 loop at run time where the CPU has it; both paths must give the
  // naive RFC 1071 sum (folded, native order swapped to big-endian), at every alignment and
  // length around the 32/64-byte step sizes, and on long random buffers.
  std::mt19937_64 rng(64);
  std::vector<uint8_t> buf(70000);
  for (auto& b : buf) b = uint8_t(rng());
  auto check = [&](size_t a, size_t n) {
    INFO("align " << a << " n " << n);
    const uint16_t want = naive_csum(buf.data() + a, n);
    REQUIRE(abi::csum_finish(abi::csum_native_to_be(abi::csum_native(buf.data() + a, n, false))) == want);
    REQUIRE(abi::csum_finish(abi::csum_native_to_be(abi::csum_native(buf.data() + a, n, true))) == want);
  };
  for (size_t a = 0; a < 4; a++)
    for (size_t n = 0; n <= 200; n++) check(a, n);
  for (int i = 0; i < 100; i++) check(rng() % 64, rng() % 65536);
  std::vector<uint8_t> ff(4099, 0xff);
  for (size_t n : {size_t(64), size_t(128), size_t(4096), size_t(4099)}) {
    const uint16_t want = naive_csum(ff.data(), n);
    CHECK(abi::csum_finish(abi::csum_native_to_be(abi::csum_native(ff.data(), n, false))) == want);
    CHECK(abi::csum_finish(abi::csum_native_to_be(abi::csum_native(ff.data(), n, true))) == want);
  }
}

TEST_CASE("inet_csum: csum_copy_native copies every byte exactly and sums like csum_native", "[csum]") {
  // tx_checksum builds every frame with it: a wrong byte here is a wrong byte on the wire.
  // Both loops (AVX2, SSE2/scalar), every length around the step sizes at several source and
  // destination alignments, bytes around the destination untouched.
  std::mt19937_64 rng(1072);
  std::vector<uint8_t> src(70000);
  for (auto& b : src) b = uint8_t(rng());
  std::vector<uint8_t> dst(70000 + 128);
  auto check = [&](size_t sa, size_t da, size_t n, bool avx2) {
    INFO("src align " << sa << " dst align " << da << " n " << n << " avx2 " << avx2);
    std::fill(dst.begin(), dst.end(), uint8_t(0xa5));
    const uint32_t got = abi::csum_copy_native(dst.data() + 32 + da, src.data() + sa, n, avx2);
    REQUIRE(abi::csum_finish(abi::csum_native_to_be(got)) == naive_csum(src.data() + sa, n));
    REQUIRE(std::equal(src.begin() + long(sa), src.begin() + long(sa + n), dst.begin() + long(32 + da)));
    REQUIRE(std::all_of(dst.begin(), dst.begin() + long(32 + da), [](uint8_t b) { return b == 0xa5; }));
    REQUIRE(std::all_of(dst.begin() + long(32 + da + n), dst.end(), [](uint8_t b) { return b == 0xa5; }));
  };
  for (bool avx2 : {false, true}) {
    for (size_t a = 0; a < 4; a++)
      for (size_t n = 0; n <= 200; n++) check(a, 3 - a, n, avx2);
    for (int i = 0; i < 50; i++) check(rng() % 64, rng() % 64, rng() % 65536, avx2);
  }
}

TEST_CASE("inet_csum: csum_add/csum_finish equal a naive RFC 1071 loop", "[csum]") {
  std::mt19937_64 rng(1071);
  std::vector<uint8_t> buf(70000);
  for (auto& b : buf) b = uint8_t(rng());
  // Every length up to 300 at every alignment 0..7, and random long ones (odd included).
  for (size_t align = 0; align < 8; align++)
    for (size_t n = 0; n <= 300; n++) {
      INFO("align " << align << " n " << n);
      REQUIRE(abi::csum_finish(abi::csum_add(buf.data() + align, n)) == naive_csum(buf.data() + align, n));
    }
  for (int i = 0; i < 200; i++) {
    size_t n = rng() % 65536, a = rng() % 64;
    INFO("n " << n << " align " << a);
    REQUIRE(abi::csum_finish(abi::csum_add(buf.data() + a, n)) == naive_csum(buf.data() + a, n));
  }
  // All 0xff bytes (sum of 0xffff words) and all zero: the ones'-complement edge cases.
  std::vector<uint8_t> ff(1001, 0xff), zero(1000, 0);
  CHECK(abi::csum_finish(abi::csum_add(ff.data(), 1000)) == naive_csum(ff.data(), 1000));
  CHECK(abi::csum_finish(abi::csum_add(ff.data(), 1001)) == naive_csum(ff.data(), 1001));
  CHECK(abi::csum_finish(abi::csum_add(zero.data(), 1000)) == 0xffff);
  // Known value: RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2 (complement 220d).
  const uint8_t ex[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(abi::csum_finish(abi::csum_add(ex, 8)) == 0x220d);
}

TEST_CASE("inet_csum: chaining at even offsets and a starting sum", "[csum]") {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> buf(5001);
  for (auto& b : buf) b = uint8_t(rng());
  for (int i = 0; i < 500; i++) {
    size_t n = 1 + rng() % 5000, cut = (rng() % n) & ~size_t(1);
    uint64_t s = abi::csum_add(buf.data(), cut);
    s = abi::csum_add(buf.data() + cut, n - cut, s);
    INFO("n " << n << " cut " << cut);
    REQUIRE(abi::csum_finish(s) == naive_csum(buf.data(), n));
  }
  // A pseudo-header-like starting sum: summing the words first equals passing them in.
  const uint8_t words[4] = {0x12, 0x34, 0xab, 0xcd};
  std::vector<uint8_t> joined(words, words + 4);
  joined.insert(joined.end(), buf.begin(), buf.begin() + 333);
  CHECK(abi::csum_finish(abi::csum_add(buf.data(), 333, 0x1234 + 0xabcd)) == naive_csum(joined.data(), joined.size()));
}
