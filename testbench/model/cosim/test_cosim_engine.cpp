// The co-simulation bridge (model/cosim) against the behavioural engine and an independent TLS
// oracle: same GcmSegments into both engines, ciphertext and tags byte for byte, per-segment
// occupancy and latency within ±2 cycles (issue 4 item 4), flow-slot mapping and its limit,
// state-loss rules identical to the behavioural engine, and the waveform file.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <unistd.h>

#include "model/cosim/rtl_gcm_engine.h"
#include "testbench/model/cosim/tls_pieces.h"

extern "C" {
#include "fstapi.h"
}

using nicsim::model::cosim::CosimError;
using nicsim::model::cosim::RtlGcmEngine;
using nicsim::model::cosim::RtlGcmEngineOptions;
using nicsim::model::tx::BehaviouralGcmEngine;
using nicsim::model::tx::GcmEngineParams;
using nicsim::model::tx::GcmSegment;
using nicsim::model::tx::GcmTiming;
using namespace nicsim::testbench::cosim;

namespace {

GcmEngineParams params_for_lead(uint32_t lead) {
  GcmEngineParams p;  // the defaults are the RTL's (gcm_engine.h)
  p.lanes = RtlGcmEngine::lanes();
  p.cmd_lead_cycles = lead;
  p.flow_slots = RtlGcmEngine::flows();
  return p;
}

struct Result {
  size_t pieces = 0, dump_pieces = 0, records_checked = 0, tags = 0;
  std::set<std::pair<size_t, size_t>> distinct_records;  // (flow, record) checked at least once
  int64_t max_occ_diff = 0, max_lat_diff = 0, max_record_diff = 0;
  std::map<int64_t, size_t> lat_hist, occ_hist;
};

struct FlowSpec {
  uint32_t tis;
  TlsVersion v;
  Cipher c;
};

// Two flows interleaved segment by segment (1448-byte TCP segments), 16 KiB records with a few
// short ones (record boundaries inside segments), periodic retransmissions (DUMP of the record
// prefix, then the segment) and whole-record DUMPs. Every piece goes through both engines.
const std::vector<uint32_t> kBulkRecords{16384, 16384, 700, 16384, 16384, 3000, 16384, 1, 16384};
// Small writes: records inside one segment, across block and beat edges.
const std::vector<uint32_t> kSmallRecords{1, 15, 16, 17, 63, 64, 65, 200, 1400, 1448, 2000, 4096, 9, 1435, 48, 3};

Result correlate(const FlowSpec& fa, const FlowSpec& fb, uint32_t lead, uint64_t seed,
                 const std::vector<uint32_t>& sizes = kBulkRecords) {
  const uint32_t mss = 1448;
  std::vector<TlsFlowGen> flows;
  flows.emplace_back(fa.tis, fa.v, fa.c, sizes, seed);
  flows.emplace_back(fb.tis, fb.v, fb.c, sizes, seed + 1);
  RtlGcmEngineOptions o;
  o.cmd_lead_cycles = lead;
  RtlGcmEngine rtl(o);
  BehaviouralGcmEngine beh(params_for_lead(lead));
  Result res;
  // Ciphertext images of each record as the RTL produced them (non-dump pieces).
  std::vector<std::vector<std::vector<uint8_t>>> images(2);
  for (size_t f = 0; f < 2; ++f) {
    images[f].resize(flows[f].records());
    for (size_t r = 0; r < flows[f].records(); ++r) images[f][r] = flows[f].sealed(r);
    for (size_t r = 0; r < flows[f].records(); ++r)  // blank the payload + tag: the RTL fills it
      std::fill(images[f][r].begin() + long(flows[f].prepend()), images[f][r].end(), 0);
  }
  // Per record: pieces' occupancy summed plus the last piece's tail, for both engines.
  std::vector<std::vector<std::array<int64_t, 2>>> rec_cost(2);
  for (size_t f = 0; f < 2; ++f) rec_cost[f].assign(flows[f].records(), {0, 0});

  auto feed = [&](size_t f, const Piece& p) {
    const GcmSegment& s = p.seg;
    const uint32_t n = uint32_t(p.data.size());
    std::vector<uint8_t> a = p.data, b(n);
    std::array<uint8_t, 16> ta{}, tb{};
    GcmTiming tr, tbh;
    INFO("flow " << f << " record " << p.record << " off " << s.rec_offset << " n " << n << " first "
                 << s.first << " last " << s.last << " dump " << s.dump);
    REQUIRE(rtl.process(s, a.data(), a.data(), n, s.last ? ta.data() : nullptr, &tr));  // in place
    REQUIRE(beh.process(s, p.data.data(), b.data(), n, s.last ? tb.data() : nullptr, &tbh));
    res.pieces++;
    res.dump_pieces += s.dump;
    if (!s.dump) {
      CHECK(a == b);
      std::copy(a.begin(), a.end(), images[f][p.record].begin() + long(flows[f].prepend() + s.rec_offset));
    }
    if (s.last) {
      CHECK(ta == tb);
      res.tags++;
      if (!s.dump) {
        auto& img = images[f][p.record];
        std::copy(ta.begin(), ta.end(), img.end() - 16);
        // The oracle: the record as a TLS library seals it.
        CHECK(img == flows[f].sealed(p.record));
        res.records_checked++;
        res.distinct_records.insert({f, p.record});
      }
    }
    const int64_t docc = int64_t(tr.occupancy_cycles) - int64_t(tbh.occupancy_cycles);
    const int64_t dlat = int64_t(tr.latency_cycles) - int64_t(tbh.latency_cycles);
    res.occ_hist[docc]++;
    res.lat_hist[dlat]++;
    if (std::getenv("COSIM_VERBOSE") ? (docc || dlat) : (std::llabs(docc) > 2 || std::llabs(dlat) > 2))
      std::printf("  outlier: flow %zu rec %zu off %u n %u first %d last %d dump %d: rtl %llu/%llu beh %llu/%llu\n", f,
                  p.record, s.rec_offset, n, s.first, s.last, s.dump, (unsigned long long)tr.occupancy_cycles,
                  (unsigned long long)tr.latency_cycles, (unsigned long long)tbh.occupancy_cycles,
                  (unsigned long long)tbh.latency_cycles);
    res.max_occ_diff = std::max<int64_t>(res.max_occ_diff, std::llabs(docc));
    res.max_lat_diff = std::max<int64_t>(res.max_lat_diff, std::llabs(dlat));
    // A record's cost through an otherwise idle engine: its pieces back to back, then the tail.
    auto& rc = rec_cost[f][p.record];
    if (s.first) rc = {0, 0};
    if (s.last) {
      rc[0] += int64_t(tr.latency_cycles);
      rc[1] += int64_t(tbh.latency_cycles);
      if (!s.dump) res.max_record_diff = std::max<int64_t>(res.max_record_diff, std::llabs(rc[0] - rc[1]));
    } else {
      rc[0] += int64_t(tr.occupancy_cycles);
      rc[1] += int64_t(tbh.occupancy_cycles);
    }
  };

  size_t seg_no = 0;
  while (!flows[0].done() || !flows[1].done()) {
    for (size_t f = 0; f < 2; ++f) {
      if (flows[f].done()) continue;
      for (const Piece& p : flows[f].next_segment(mss)) feed(f, p);
      ++seg_no;
      if (seg_no % 9 == 4 + f) {
        for (const Piece& p : flows[f].retransmit_last(mss)) feed(f, p);
      }
      if (seg_no % 31 == 17) {
        for (const Piece& p : flows[f].retransmit_from_last_tag(mss)) feed(f, p);
      }
    }
  }
  return res;
}

void report(const char* what, const Result& r) {
  std::printf("%s: %zu pieces (%zu dump), %zu records checked against the oracle, %zu tags; max |rtl-beh| "
              "occupancy %lld, latency %lld, record %lld cycles\n  latency diff histogram:",
              what, r.pieces, r.dump_pieces, r.records_checked, r.tags, (long long)r.max_occ_diff,
              (long long)r.max_lat_diff, (long long)r.max_record_diff);
  for (auto& [d, n] : r.lat_hist) std::printf(" %+lld:%zu", (long long)d, n);
  std::printf("\n  occupancy diff histogram:");
  for (auto& [d, n] : r.occ_hist) std::printf(" %+lld:%zu", (long long)d, n);
  std::printf("\n");
}

void check_result(const Result& r, size_t records) {
  CHECK(r.pieces > 50);
  CHECK(r.dump_pieces > 5);
  CHECK(r.distinct_records.size() == 2 * records);  // every record, some twice (retransmitted)
  CHECK(r.max_occ_diff <= 2);
  CHECK(r.max_lat_diff <= 2);
  CHECK(r.max_record_diff <= 2);
}

}  // namespace

TEST_CASE("cosim: TLS 1.2 AES-128 and TLS 1.3 AES-256 interleaved: rtl = behavioural within 2 cycles", "[rtl]") {
  const Result r = correlate({7, TlsVersion::tls12, Cipher::aes128gcm}, {1234, TlsVersion::tls13, Cipher::aes256gcm},
                             GcmEngineParams{}.cmd_lead_cycles, 11);
  report("1.2/128 + 1.3/256", r);
  check_result(r, kBulkRecords.size());
}

TEST_CASE("cosim: TLS 1.3 AES-128 and TLS 1.2 AES-256 interleaved: rtl = behavioural within 2 cycles", "[rtl]") {
  const Result r = correlate({3, TlsVersion::tls13, Cipher::aes128gcm}, {19999, TlsVersion::tls12, Cipher::aes256gcm},
                             GcmEngineParams{}.cmd_lead_cycles, 12);
  report("1.3/128 + 1.2/256", r);
  check_result(r, kBulkRecords.size());
}

TEST_CASE("cosim: command arriving with its data (cold keystream): rtl = behavioural within 2 cycles", "[rtl]") {
  const Result r = correlate({5, TlsVersion::tls12, Cipher::aes256gcm}, {6, TlsVersion::tls13, Cipher::aes128gcm}, 0, 13);
  report("cold 1.2/256 + 1.3/128", r);
  check_result(r, kBulkRecords.size());
}

TEST_CASE("cosim: small records (one or several per segment): rtl = behavioural within 2 cycles", "[rtl]") {
  const Result r = correlate({8, TlsVersion::tls13, Cipher::aes256gcm}, {9, TlsVersion::tls12, Cipher::aes128gcm},
                             GcmEngineParams{}.cmd_lead_cycles, 14, kSmallRecords);
  report("small records 1.3/256 + 1.2/128", r);
  check_result(r, kSmallRecords.size());
}

TEST_CASE("cosim: small records with a cold keystream: rtl = behavioural within 2 cycles", "[rtl]") {
  const Result r = correlate({8, TlsVersion::tls12, Cipher::aes256gcm}, {9, TlsVersion::tls13, Cipher::aes128gcm}, 0,
                             15, kSmallRecords);
  report("cold small records 1.2/256 + 1.3/128", r);
  check_result(r, kSmallRecords.size());
}

namespace {

// One piece through both engines; returns the RTL's verdict after checking both agree on it,
// on the bytes, the tag and (for accepted pieces) the timing within 2 cycles.
bool both(RtlGcmEngine& rtl, BehaviouralGcmEngine& beh, const GcmSegment& s, std::vector<uint8_t> data,
          GcmTiming* tr_out = nullptr) {
  std::vector<uint8_t> a = data, b = data;
  std::array<uint8_t, 16> ta{}, tb{};
  GcmTiming tr, tb_;
  const bool ok_r = rtl.process(s, a.data(), a.data(), uint32_t(a.size()), s.last ? ta.data() : nullptr, &tr);
  const bool ok_b = beh.process(s, b.data(), b.data(), uint32_t(b.size()), s.last ? tb.data() : nullptr, &tb_);
  CHECK(ok_r == ok_b);
  INFO("TIS " << s.flow << " off " << s.rec_offset << " n " << data.size() << " of " << s.rec_len << " first " << s.first
               << " last " << s.last << ": rtl " << tr.occupancy_cycles << "/" << tr.latency_cycles << " beh "
               << tb_.occupancy_cycles << "/" << tb_.latency_cycles);
  if (ok_r && ok_b) {
    if (!s.dump) CHECK(a == b);
    if (s.last) CHECK(ta == tb);
    CHECK(std::llabs(int64_t(tr.occupancy_cycles) - int64_t(tb_.occupancy_cycles)) <= 2);
    CHECK(std::llabs(int64_t(tr.latency_cycles) - int64_t(tb_.latency_cycles)) <= 2);
    if (tr_out) *tr_out = tr;
  }
  return ok_r;
}

GcmSegment piece(uint32_t tis, const uint8_t* key, uint32_t off, uint32_t n, uint32_t rec_len, bool dump = false) {
  GcmSegment s;
  s.flow = tis;
  s.key = key;
  s.cipher = Cipher::aes128gcm;
  for (int i = 0; i < 12; ++i) s.nonce[i] = uint8_t(tis * 3 + i);
  s.aad_len = 13;
  for (int i = 0; i < 13; ++i) s.aad[i] = uint8_t(i + tis);
  s.rec_offset = off;
  s.rec_len = rec_len;
  s.first = off == 0;
  s.last = off + n == rec_len;
  s.dump = dump;
  return s;
}

}  // namespace

TEST_CASE("cosim: empty record + zero-length piece and a piece straddling every block edge", "[rtl]") {
  RtlGcmEngine rtl;
  BehaviouralGcmEngine beh(params_for_lead(GcmEngineParams{}.cmd_lead_cycles));
  const uint8_t key[16] = {9, 8, 7};
  GcmTiming t;
  // An empty record (TLS 1.2 allows one): only a tag, from the AAD; from its command: the
  // E_K(0)/E_K(J0) beat (2 + 15 + 1), GHASH (5), the new key's powers of H (3) = 26, minus
  // the lead (20) = 6. Then the same key again: 23 - 20 = 3.
  // (Figures for the default LANES = 4; other builds are checked against the behavioural
  // engine only.)
  const bool lanes4 = RtlGcmEngine::lanes() == 4;
  CHECK(both(rtl, beh, piece(1, key, 0, 0, 0), {}, &t));
  CHECK(t.occupancy_cycles == 1);
  if (lanes4) CHECK(t.latency_cycles == 6);
  CHECK(both(rtl, beh, piece(1, key, 0, 0, 0), {}, &t));
  if (lanes4) CHECK(t.latency_cycles == 3);
  // A record cut 1 byte at a time for its first 40 bytes, then the rest.
  std::vector<uint8_t> d(300);
  for (size_t i = 0; i < d.size(); ++i) d[i] = uint8_t(i * 13);
  for (uint32_t off = 0; off < 40; ++off) CHECK(both(rtl, beh, piece(2, key, off, 1, 300), {d[off]}));
  CHECK(both(rtl, beh, piece(2, key, 40, 0, 300), {}));  // zero bytes mid-record
  CHECK(both(rtl, beh, piece(2, key, 40, 260, 300), std::vector<uint8_t>(d.begin() + 40, d.end()), &t));
  CHECK(t.occupancy_cycles == (260 + 16 * RtlGcmEngine::lanes() - 1) / (16 * RtlGcmEngine::lanes()));  // beats
  CHECK(rtl.stats().records == 3);
}

TEST_CASE("cosim: a piece that does not continue its record is refused as the behavioural engine does", "[rtl]") {
  RtlGcmEngine rtl;
  BehaviouralGcmEngine beh(params_for_lead(GcmEngineParams{}.cmd_lead_cycles));
  const uint8_t key[16] = {1, 2, 3}, key2[16] = {4, 5, 6};
  const std::vector<uint8_t> d(100, 0x42);
  CHECK(both(rtl, beh, piece(5, key, 0, 100, 1000), d));
  CHECK_FALSE(both(rtl, beh, piece(5, key, 101, 100, 1000), d));  // skips a byte
  CHECK(both(rtl, beh, piece(5, key, 100, 100, 1000), d));        // the right offset still continues
  CHECK_FALSE(both(rtl, beh, piece(6, key, 200, 100, 1000), d));  // a TIS with no record started
  rtl.reset_flow(5);                                              // progress params: back to START
  beh.reset_flow(5);
  CHECK_FALSE(both(rtl, beh, piece(5, key, 200, 100, 1000), d));
  CHECK(both(rtl, beh, piece(5, key, 0, 100, 1000), d));           // a record start is always taken
  CHECK_FALSE(both(rtl, beh, piece(5, key2, 100, 100, 1000), d)); // a new key mid-record: state lost
  CHECK_FALSE(both(rtl, beh, piece(5, key, 100, 100, 1000), d));  // ... and stays lost
  CHECK(both(rtl, beh, piece(5, key2, 0, 1000, 1000), std::vector<uint8_t>(1000, 1)));
  // A piece the engine cannot be given at all (its end beyond the record) is a bridge error.
  GcmSegment bad = piece(5, key, 0, 100, 50);
  bad.last = true;
  std::vector<uint8_t> b(100);
  uint8_t tag[16];
  GcmTiming t;
  CHECK_THROWS_AS(rtl.process(bad, b.data(), b.data(), 100, tag, &t), CosimError);
}

TEST_CASE("cosim: TIS numbers share the engine's flow slots - more records in flight than slots fail clearly", "[rtl]") {
  const uint32_t slots = RtlGcmEngine::flows();
  RtlGcmEngine rtl;
  BehaviouralGcmEngine beh(params_for_lead(GcmEngineParams{}.cmd_lead_cycles));
  uint8_t keys[80][16];
  for (int i = 0; i < 80; ++i)
    for (int j = 0; j < 16; ++j) keys[i][j] = uint8_t(i * 31 + j);
  const std::vector<uint8_t> d(100, 0x17);
  // Many more TIS than slots, each with whole records: slots are reused at record starts.
  for (uint32_t round = 0; round < 2; ++round)
    for (uint32_t tis = 0; tis < 5 * slots; ++tis) CHECK(both(rtl, beh, piece(1000 + tis, keys[tis], 0, 100, 100), d));
  CHECK(rtl.stats().slot_assignments >= 10 * slots);
  // `slots` TIS with a record in flight each, interleaved: all fit.
  for (uint32_t tis = 0; tis < slots; ++tis) CHECK(both(rtl, beh, piece(tis, keys[tis], 0, 100, 300), d));
  for (uint32_t tis = 0; tis < slots; ++tis) CHECK(both(rtl, beh, piece(tis, keys[tis], 100, 100, 300), d));
  CHECK(rtl.stats().max_slots_in_flight == slots);
  // One more TIS starting a record while all are in flight: a clear error naming the limit.
  uint8_t tag[16];
  GcmTiming t;
  std::vector<uint8_t> x = d;
  const GcmSegment extra = piece(500, keys[70], 0, 100, 300);
  try {
    rtl.process(extra, x.data(), x.data(), 100, tag, &t);
    FAIL("no error with every slot in flight");
  } catch (const CosimError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("FLOWS=" + std::to_string(slots)) != std::string::npos);
    CHECK(m.find("records in flight") != std::string::npos);
  }
  // A reset context (progress params) frees its slot; so does a finished record.
  rtl.reset_flow(3);
  beh.reset_flow(3);
  CHECK(both(rtl, beh, piece(500, keys[70], 0, 100, 300), d));
  CHECK(both(rtl, beh, piece(4, keys[4], 200, 100, 300), d));  // TIS 4 finishes its record
  CHECK(both(rtl, beh, piece(501, keys[71], 0, 100, 100), d));  // ... and 501 takes that slot
  // The others still continue where they were, bytes and tags equal.
  for (uint32_t tis = 5; tis < slots; ++tis) CHECK(both(rtl, beh, piece(tis, keys[tis], 200, 100, 300), d));
}

TEST_CASE("cosim: the engine clock runs on across pieces and the waveform of a window opens as FST", "[rtl]") {
  REQUIRE(RtlGcmEngine::tracing_available());
  const std::string path = "/tmp/nicsim-cosim-wave-" + std::to_string(::getpid()) + ".fst";
  RtlGcmEngineOptions o;
  o.wave_path = path;
  o.wave_start_cycle = 50;
  o.wave_end_cycle = 150;
  uint64_t cycles = 0;
  {
    RtlGcmEngine rtl(o);
    BehaviouralGcmEngine beh(params_for_lead(o.cmd_lead_cycles));
    const uint8_t key[16] = {1};
    uint64_t before = rtl.cycle();
    // Enough pieces that the run outlasts the window at any LANES (8 lanes: 12 beats a piece).
    constexpr uint32_t kPieces = 8;
    const uint64_t beats = (1448 + 16 * RtlGcmEngine::lanes() - 1) / (16 * RtlGcmEngine::lanes());
    for (uint32_t off = 0; off < kPieces * 1448; off += 1448) {
      CHECK(both(rtl, beh, piece(9, key, off, 1448, kPieces * 1448), std::vector<uint8_t>(1448, uint8_t(off))));
      // At least the command lead and the beats (23 at 4 lanes), every time.
      CHECK(rtl.cycle() >= before + o.cmd_lead_cycles + beats);
      before = rtl.cycle();
    }
    cycles = rtl.cycle();
    CHECK(rtl.stats().cycles == cycles);
    CHECK(rtl.stats().beats_in == kPieces * beats);
    CHECK(rtl.stats().beats_out == kPieces * beats);
    CHECK(rtl.stats().tags == 1);
  }  // the destructor closes the file
  REQUIRE(cycles > 150);
  void* r = fstReaderOpen(path.c_str());
  REQUIRE(r != nullptr);
  // Time unit: half an engine cycle (clock low at 2c, high at 2c + 1).
  CHECK(fstReaderGetStartTime(r) == 2 * 50);
  CHECK(fstReaderGetEndTime(r) == 2 * 150 - 1);
  CHECK(fstReaderGetVarCount(r) > 100);  // the ports and the internals
  // The top-level ports are there by their RTL names.
  std::set<std::string> names;
  fstReaderIterateHierRewind(r);
  std::string scope;
  while (fstHier* h = fstReaderIterateHier(r)) {
    if (h->htyp == FST_HT_SCOPE) scope = h->u.scope.name;
    if (h->htyp == FST_HT_VAR && scope == "tls_gcm_engine") {
      std::string v = h->u.var.name;  // vectors carry their range: "in_data_i [511:0]"
      names.insert(v.substr(0, v.find(' ')));
      if (v == "in_data_i [511:0]" || v == "tag_o [127:0]") names.insert(v);
    }
  }
  if (RtlGcmEngine::lanes() == 4) CHECK(names.count("in_data_i [511:0]") == 1);
  CHECK(names.count("tag_o [127:0]") == 1);
  for (const char* p : {"clk_i", "cmd_valid_i", "in_data_i", "out_data_o", "tag_o", "tag_valid_o", "err_o"}) {
    INFO(p);
    CHECK(names.count(p) == 1);
  }
  fstReaderClose(r);
  std::remove(path.c_str());
}

