// desc_fetch: hand-assembled WQEs (abi structs) decoded field for field; malformed WQEs give
// local_length; doorbell reads split at desc_prefetch_wqebbs and at the ring end; available_at.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "model/tx/desc_fetch.h"

using namespace nicsim;
using namespace nicsim::abi;
using model::tx::DescFetch;
using model::tx::DescRead;
using model::tx::NicConfig;
using model::tx::SqState;
using model::tx::TxWork;

namespace {

// A send queue the test writes WQEs into (the NIC's on-chip copy), producer counter included.
struct Ring {
  SqState sq;
  explicit Ring(uint32_t size_wqebbs, uint16_t start = 0) {
    sq.sqn = 5;
    sq.ring_addr = 0x7000'0000;
    sq.size_wqebbs = size_wqebbs;
    sq.cache.assign(size_t(size_wqebbs) * kWqebbBytes, 0);
    sq.ci = sq.pc = sq.fetched = start;
  }
  uint8_t* at(uint16_t counter) { return sq.cache.data() + size_t(counter & (sq.size_wqebbs - 1)) * kWqebbBytes; }
  // Writes a WQE of `bytes` (ctrl included, already filled in) at pc and advances pc.
  uint16_t post(const void* wqe, size_t bytes, size_t wqebbs) {
    uint16_t pi = sq.pc;
    std::memcpy(at(pi), wqe, bytes);
    sq.pc = uint16_t(sq.pc + wqebbs);
    return pi;
  }
};

CtrlSeg ctrl(Opcode op, uint8_t opmod, uint16_t pi, uint8_t ds, uint8_t flags, uint32_t tis) {
  CtrlSeg c{};
  c.opcode = uint8_t(op);
  c.opmod = opmod;
  c.wqe_index = pi;
  c.ds_count = ds;
  c.fm_ce_se = flags;
  c.sqn = 5;
  c.tis_num = tis;
  return c;
}

std::vector<uint8_t> test_hdr(size_t n) {
  std::vector<uint8_t> h(n);
  for (size_t i = 0; i < n; i++) h[i] = uint8_t(0x40 + i * 3);
  return h;
}

// A send/LSO WQE: ctrl, eth seg, inline header padded to DS, data segments.
std::vector<uint8_t> send_wqe(Opcode op, uint16_t pi, uint32_t tis, uint16_t mss, const std::vector<uint8_t>& hdr,
                              const std::vector<DataSeg>& segs, uint8_t cs_flags = kCsumL3 | kCsumL4,
                              int ds_override = -1) {
  size_t ds = 2 + ds_for_bytes(hdr.size()) + segs.size();
  std::vector<uint8_t> w(wqebbs_for_ds(ds) * kWqebbBytes, 0);
  CtrlSeg c = ctrl(op, 0, pi, uint8_t(ds_override >= 0 ? size_t(ds_override) : ds), kCqUpdate, tis);
  std::memcpy(w.data(), &c, sizeof c);
  EthSeg e{};
  e.cs_flags = cs_flags;
  e.mss = mss;
  e.inline_hdr_sz = uint16_t(hdr.size());
  std::memcpy(w.data() + 16, &e, sizeof e);
  std::memcpy(w.data() + 32, hdr.data(), hdr.size());
  size_t off = (2 + ds_for_bytes(hdr.size())) * kDsBytes;
  for (const DataSeg& d : segs) {
    std::memcpy(w.data() + off, &d, sizeof d);
    off += kDsBytes;
  }
  return w;
}

DataSeg dseg(uint32_t len, uint64_t addr) {
  DataSeg d{};
  d.byte_count = len;
  d.addr = addr;
  return d;
}

}  // namespace

TEST_CASE("desc_fetch: NOP, static params, progress params, DUMP decode exactly", "[desc_fetch]") {
  NicConfig cfg;
  DescFetch df(cfg);
  Ring r(64, 10);
  // Fenced NOP.
  CtrlSeg nop = ctrl(Opcode::nop, 0, r.sq.pc, 1, kFenceInitiatorSmall, 0);
  r.post(&nop, sizeof nop, 1);
  // Static params (UMR, 3 WQEBBs, no fence).
  UmrStaticParamsWqe umr{};
  umr.ctrl = ctrl(Opcode::umr, kOpmodTlsStaticParams, r.sq.pc, 12, 0, 7);
  TlsStaticParams& sp = umr.params;
  sp.const_2 = 2;
  sp.tls_version = kTlsVersion13;
  sp.const_1 = 1;
  sp.encryption_standard = 1;
  sp.dek_index = 0x123456;
  for (int i = 0; i < 8; i++) sp.initial_record_number[i] = uint8_t(0xf0 + i);
  sp.resync_tcp_sn = 0;
  const uint8_t salt[4] = {0xde, 0xad, 0xbe, 0xef};
  std::memcpy(sp.gcm_iv, salt, 4);
  for (int i = 0; i < 8; i++) sp.implicit_iv[i] = uint8_t(0x11 * (i + 1));
  const uint16_t umr_pi = r.post(&umr, sizeof umr, 3);
  // Progress params (SET_PSV, fenced).
  SetPsvProgressParamsWqe psv{};
  psv.ctrl = ctrl(Opcode::set_psv, kOpmodTlsProgressParams, r.sq.pc, 4, kFenceInitiatorSmall, 7);
  psv.params.tis_tir_num = 7;
  psv.params.hw_resync_tcp_sn = 0xabcdef01;
  psv.params.record_tracker_state = uint8_t(RecordTrackerState::start);
  psv.params.auth_state = uint8_t(AuthState::no_offload);
  psv.params.hw_offset_record_number = 3;
  r.post(&psv, sizeof psv, 1);
  // DUMP.
  DumpWqe dump{};
  dump.ctrl = ctrl(Opcode::dump, 0, r.sq.pc, 2, kCqUpdate, 7);
  dump.data = dseg(1522, 0x1234'5678'9abcull);
  r.post(&dump, sizeof dump, 1);

  TxWork w;
  CHECK(df.decode(r.sq, &w) == 1);
  CHECK(w.error == CqeSyndrome::none);
  CHECK(w.opcode == Opcode::nop);
  CHECK(w.fence);
  CHECK_FALSE(w.cq_update);
  CHECK(w.wqebbs == 1);
  CHECK(w.ctrl.wqe_index == 10);
  CHECK(r.sq.ci == 11);

  CHECK(df.decode(r.sq, &w) == 3);
  CHECK(w.error == CqeSyndrome::none);
  CHECK(w.opcode == Opcode::umr);
  CHECK_FALSE(w.fence);
  CHECK(w.wqebbs == 3);
  CHECK(w.tis_num == 7);
  CHECK(w.ctrl.wqe_index == umr_pi);
  CHECK(std::memcmp(&w.static_params, &sp, sizeof sp) == 0);
  CHECK(w.static_params.dek_index == 0x123456);
  CHECK(r.sq.ci == 14);

  CHECK(df.decode(r.sq, &w) == 1);
  CHECK(w.opcode == Opcode::set_psv);
  CHECK(w.fence);
  CHECK(w.tis_num == 7);
  CHECK(std::memcmp(&w.progress_params, &psv.params, sizeof psv.params) == 0);
  CHECK(w.progress_params.hw_offset_record_number == 3);

  CHECK(df.decode(r.sq, &w) == 1);
  CHECK(w.opcode == Opcode::dump);
  CHECK(w.cq_update);
  CHECK_FALSE(w.fence);
  CHECK(w.num_segs == 1);
  CHECK(w.segs[0].byte_count == 1522);
  CHECK(w.segs[0].addr == 0x1234'5678'9abcull);
  CHECK(r.sq.ci == 16);
  CHECK_FALSE(r.sq.pending());

  CHECK(df.stats().pkts == 4);
  CHECK(df.stats().wqebbs == 6);
  CHECK(df.stats().nops == 1);
  CHECK(df.stats().errors == 0);
}

TEST_CASE("desc_fetch: send and LSO with inline headers and several data segments", "[desc_fetch]") {
  NicConfig cfg;
  cfg.wqe_parse_cycles_per_wqebb = 2;
  DescFetch df(cfg);
  Ring r(64);
  const std::vector<uint8_t> hdr66 = test_hdr(66), hdr86 = test_hdr(86), hdr14 = test_hdr(14);
  const std::vector<DataSeg> three = {dseg(1000, 0x1000'0040), dseg(29, 0x2000'0000), dseg(7, 0x3000'0007)};
  auto w1 = send_wqe(Opcode::send, 0, 9, 0, hdr66, three);  // ds 2 + 5 + 3 = 10: 3 WQEBBs
  REQUIRE(w1.size() == 3 * kWqebbBytes);
  r.post(w1.data(), w1.size(), 3);
  std::vector<DataSeg> many;
  for (uint32_t i = 0; i < kMaxWqeDataSegs; i++) many.push_back(dseg(100 + i, 0x4000'0000ull + 4096 * i));
  auto w2 = send_wqe(Opcode::lso, 3, 0, 1448, hdr86, many, kCsumL4);  // ds 2 + 6 + 32 = 40: 10
  REQUIRE(w2.size() == 10 * kWqebbBytes);
  r.post(w2.data(), w2.size(), 10);
  auto w3 = send_wqe(Opcode::send, 13, 0, 0, hdr14, {});  // headers only: ds 3, one WQEBB
  r.post(w3.data(), w3.size(), 1);

  TxWork w;
  CHECK(df.decode(r.sq, &w) == 6);  // 3 WQEBBs x 2 cycles
  REQUIRE(w.error == CqeSyndrome::none);
  CHECK(w.opcode == Opcode::send);
  CHECK(w.is_send());
  CHECK(w.is_tls());
  CHECK(w.tis_num == 9);
  CHECK(w.cq_update);
  CHECK(w.wqebbs == 3);
  CHECK(w.eth.cs_flags == (kCsumL3 | kCsumL4));
  CHECK(w.eth.mss == 0);
  CHECK(w.inline_hdr == hdr66);
  REQUIRE(w.num_segs == 3);
  for (int i = 0; i < 3; i++) {
    CHECK(w.segs[i].byte_count == three[size_t(i)].byte_count);
    CHECK(w.segs[i].addr == three[size_t(i)].addr);
  }

  CHECK(df.decode(r.sq, &w) == 20);
  REQUIRE(w.error == CqeSyndrome::none);
  CHECK(w.opcode == Opcode::lso);
  CHECK_FALSE(w.is_tls());
  CHECK(w.eth.mss == 1448);
  CHECK(w.eth.cs_flags == kCsumL4);
  CHECK(w.inline_hdr == hdr86);
  REQUIRE(w.num_segs == kMaxWqeDataSegs);
  CHECK(w.segs[31].byte_count == 131);
  CHECK(w.segs[31].addr == 0x4000'0000ull + 4096 * 31);
  CHECK(w.inline_hdr.size() == 86);

  CHECK(df.decode(r.sq, &w) == 2);
  REQUIRE(w.error == CqeSyndrome::none);
  CHECK(w.inline_hdr == hdr14);
  CHECK(w.num_segs == 0);
  CHECK(r.sq.ci == 14);
  CHECK(df.stats().wqebbs == 14);
}

TEST_CASE("desc_fetch: malformed WQEs complete with local_length", "[desc_fetch]") {
  NicConfig cfg;
  const std::vector<uint8_t> hdr = test_hdr(66);
  struct Bad {
    const char* what;
    std::vector<uint8_t> wqe;
    uint16_t wqebbs;  // the WQE's size (what the driver advanced pc by)
  };
  std::vector<Bad> bads;
  {
    CtrlSeg c = ctrl(Opcode::nop, 0, 0, 0, 0, 0);
    std::vector<uint8_t> w(64, 0);
    std::memcpy(w.data(), &c, sizeof c);
    bads.push_back({"ds_count 0", w, 1});
  }
  {
    UmrStaticParamsWqe u{};
    u.ctrl = ctrl(Opcode::umr, 0x2, 0, 12, 0, 3);
    std::vector<uint8_t> w(sizeof u);
    std::memcpy(w.data(), &u, sizeof u);
    bads.push_back({"UMR with a bad opmod", w, 3});
  }
  {
    UmrStaticParamsWqe u{};
    u.ctrl = ctrl(Opcode::umr, kOpmodTlsStaticParams, 0, 8, 0, 3);  // 128 bytes < 192
    std::vector<uint8_t> w(sizeof u);
    std::memcpy(w.data(), &u, sizeof u);
    bads.push_back({"UMR too short for the params", w, 2});
  }
  {
    SetPsvProgressParamsWqe p{};
    p.ctrl = ctrl(Opcode::set_psv, 0x0, 0, 4, 0, 3);
    std::vector<uint8_t> w(sizeof p);
    std::memcpy(w.data(), &p, sizeof p);
    bads.push_back({"SET_PSV with a bad opmod", w, 1});
  }
  {
    SetPsvProgressParamsWqe p{};
    p.ctrl = ctrl(Opcode::set_psv, kOpmodTlsProgressParams, 0, 3, 0, 3);  // 48 < 64 bytes
    std::vector<uint8_t> w(sizeof p);
    std::memcpy(w.data(), &p, sizeof p);
    bads.push_back({"SET_PSV too short", w, 1});
  }
  {
    DumpWqe d{};
    d.ctrl = ctrl(Opcode::dump, 0, 0, 1, 0, 3);  // no data segment
    std::vector<uint8_t> w(64, 0);
    std::memcpy(w.data(), &d, sizeof d);
    bads.push_back({"DUMP without its data segment", w, 1});
  }
  {
    std::vector<DataSeg> segs;
    for (uint32_t i = 0; i < kMaxWqeDataSegs + 1; i++) segs.push_back(dseg(10, 0x1000));
    bads.push_back({"33 data segments", send_wqe(Opcode::send, 0, 0, 0, hdr, segs), 10});
  }
  bads.push_back({"LSO with mss 0", send_wqe(Opcode::lso, 0, 0, 0, hdr, {dseg(5000, 0x1000)}), 2});
  bads.push_back({"inline header under 14 bytes", send_wqe(Opcode::send, 0, 0, 0, test_hdr(13), {dseg(10, 0x1000)}), 1});
  // inline_hdr_sz claims more bytes than the WQE's DS count holds.
  bads.push_back({"inline header past the WQE", send_wqe(Opcode::send, 0, 0, 0, hdr, {}, kCsumL4, 5), 2});
  {
    // Header larger than kMaxInlineHdrBytes (257 bytes: 17 DS + 2 = 19 DS, 5 WQEBBs).
    bads.push_back({"inline header over 256 bytes", send_wqe(Opcode::send, 0, 0, 0, test_hdr(257), {}), 5});
  }
  bads.push_back({"send with ds 1", send_wqe(Opcode::send, 0, 0, 0, hdr, {}, kCsumL4, 1), 1});
  {
    CtrlSeg c = ctrl(Opcode(0x77), 0, 0, 1, 0, 0);
    std::vector<uint8_t> w(64, 0);
    std::memcpy(w.data(), &c, sizeof c);
    bads.push_back({"unknown opcode", w, 1});
  }
  for (const Bad& b : bads) {
    INFO(b.what);
    DescFetch df(cfg);
    Ring r(64, 20);
    r.post(b.wqe.data(), b.wqe.size(), b.wqebbs);
    // A good NOP right behind it.
    CtrlSeg nop = ctrl(Opcode::nop, 0, r.sq.pc, 1, 0, 0);
    const uint16_t nop_pi = r.post(&nop, sizeof nop, 1);
    TxWork w;
    df.decode(r.sq, &w);
    CHECK(w.error == CqeSyndrome::local_length);
    CHECK(df.stats().errors == 1);
    // The bad WQE is consumed as a whole when its ds_count is usable, so the next WQE decodes.
    CHECK(r.sq.ci == nop_pi);
    df.decode(r.sq, &w);
    CHECK(w.error == CqeSyndrome::none);
    CHECK(w.opcode == Opcode::nop);
    CHECK(w.ctrl.wqe_index == nop_pi);
  }
}

TEST_CASE("desc_fetch: a WQE beyond the doorbell or across the ring end is malformed", "[desc_fetch]") {
  NicConfig cfg;
  DescFetch df(cfg);
  {
    Ring r(64, 100);
    UmrStaticParamsWqe u{};
    u.ctrl = ctrl(Opcode::umr, kOpmodTlsStaticParams, 100, 12, 0, 3);
    std::memcpy(r.at(100), &u, sizeof u);
    r.sq.pc = 102;  // the doorbell covers only 2 of its 3 WQEBBs
    TxWork w;
    df.decode(r.sq, &w);
    CHECK(w.error == CqeSyndrome::local_length);
    CHECK(w.wqebbs == 1);
    CHECK(r.sq.ci == 101);
  }
  {
    Ring r(64, 62);  // index 62: two WQEBBs left before the ring end
    auto s = send_wqe(Opcode::send, 62, 0, 0, test_hdr(66), {dseg(1, 1), dseg(1, 2), dseg(1, 3)});  // 3 WQEBBs
    std::memcpy(r.at(62), s.data(), 128);
    r.sq.pc = 65;
    TxWork w;
    df.decode(r.sq, &w);
    CHECK(w.error == CqeSyndrome::local_length);
    CHECK(r.sq.ci == 63);
  }
}

TEST_CASE("desc_fetch: doorbell reads split at desc_prefetch_wqebbs and at the ring end", "[desc_fetch]") {
  NicConfig cfg;  // desc_prefetch_wqebbs = 16
  REQUIRE(cfg.desc_prefetch_wqebbs == 16);
  DescFetch df(cfg);
  Ring r(64);
  const uint64_t base = r.sq.ring_addr;
  auto reads = df.on_doorbell(r.sq, 40);
  REQUIRE(reads.size() == 3);
  CHECK(reads[0].addr == base);
  CHECK(reads[0].len_bytes == 1024);
  CHECK(reads[0].start == 0);
  CHECK(reads[0].end == 16);
  CHECK(reads[1].addr == base + 1024);
  CHECK(reads[1].len_bytes == 1024);
  CHECK(reads[1].end == 32);
  CHECK(reads[2].addr == base + 2048);
  CHECK(reads[2].len_bytes == 512);
  CHECK(reads[2].start == 32);
  CHECK(reads[2].end == 40);
  CHECK(r.sq.pc == 40);
  CHECK(r.sq.fetched == 40);
  // A doorbell that repeats the producer counter reads nothing.
  CHECK(df.on_doorbell(r.sq, 40).empty());
  // 40 -> 76 crosses the end at 64: [40,56), [56,64), then [64,76) from the ring's start.
  reads = df.on_doorbell(r.sq, 76);
  REQUIRE(reads.size() == 3);
  CHECK(reads[0].addr == base + 40 * 64);
  CHECK(reads[0].len_bytes == 16 * 64);
  CHECK(reads[1].addr == base + 56 * 64);
  CHECK(reads[1].len_bytes == 8 * 64);
  CHECK(reads[1].end == 64);
  CHECK(reads[2].addr == base);
  CHECK(reads[2].len_bytes == 12 * 64);
  CHECK(reads[2].start == 64);
  CHECK(reads[2].end == 76);
  CHECK(df.stats().doorbells == 3);
  CHECK(df.stats().dma_reads == 6);
  // The 16-bit counter wraps: 65530 -> 4 on a 64-entry ring (index 58).
  Ring w(64, 65530);
  reads = df.on_doorbell(w.sq, 4);
  REQUIRE(reads.size() == 2);
  CHECK(reads[0].addr == base + 58 * 64);
  CHECK(reads[0].len_bytes == 6 * 64);
  CHECK(reads[0].start == 65530);
  CHECK(reads[0].end == 0);
  CHECK(reads[1].addr == base);
  CHECK(reads[1].len_bytes == 4 * 64);
  CHECK(reads[1].start == 0);
  CHECK(reads[1].end == 4);
  // Smaller prefetch size.
  NicConfig c4;
  c4.desc_prefetch_wqebbs = 4;
  DescFetch df4(c4);
  Ring q(16);
  reads = df4.on_doorbell(q.sq, 10);
  REQUIRE(reads.size() == 3);
  CHECK(reads[2].len_bytes == 2 * 64);
}

TEST_CASE("desc_fetch: available_at is the arrival of the chunk holding the range, chunks retire", "[desc_fetch]") {
  NicConfig cfg;
  DescFetch df(cfg);
  Ring r(64);
  for (const DescRead& d : df.on_doorbell(r.sq, 40)) r.sq.chunks.push_back({d.end, 1000ull * d.end});
  // Chunks end at 16, 32, 40 and arrive at 16000, 32000, 40000.
  CHECK(DescFetch::available_at(r.sq, 1) == 16000);
  CHECK(DescFetch::available_at(r.sq, 16) == 16000);
  CHECK(DescFetch::available_at(r.sq, 17) == 32000);
  CHECK(DescFetch::available_at(r.sq, 32) == 32000);
  CHECK(DescFetch::available_at(r.sq, 33) == 40000);
  CHECK(DescFetch::available_at(r.sq, 40) == 40000);
  // Decoding past a chunk's end retires it.
  for (uint16_t i = 0; i < 40; i++) {
    CtrlSeg nop = ctrl(Opcode::nop, 0, i, 1, 0, 0);
    std::memcpy(r.at(i), &nop, sizeof nop);
  }
  TxWork w;
  for (int i = 0; i < 16; i++) df.decode(r.sq, &w);
  REQUIRE(r.sq.chunks.size() == 2);
  CHECK(r.sq.chunks.front().end == 32);
  df.decode(r.sq, &w);
  CHECK(r.sq.chunks.size() == 2);
  CHECK(DescFetch::available_at(r.sq, 18) == 32000);
  // Wrapped counters: chunk ends 65535 and 3.
  Ring q(64, 65530);
  q.sq.chunks.push_back({65535, 500});
  q.sq.chunks.push_back({3, 900});
  CHECK(DescFetch::available_at(q.sq, 65533) == 500);
  CHECK(DescFetch::available_at(q.sq, 65535) == 500);
  CHECK(DescFetch::available_at(q.sq, 0) == 900);
  CHECK(DescFetch::available_at(q.sq, 2) == 900);
}
