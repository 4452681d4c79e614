// aes_gcm stage (AesGcmStage + BehaviouralGcmEngine + TlsCtxTable): kernel-built plaintext
// record images streamed through the stage in arbitrary pieces must come out exactly as
// crypto::tls_seal_record seals them; DUMP replays rebuild the state mid-record; progress
// params rewind the record number; malformed headers stop the context; and the engine's cycle
// costs follow crypto-engine.md §7.6.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "testbench/model/tx/tls_stream.h"

using namespace nicsim;
using namespace nicsim::testbench::tx;
using abi::CqeSyndrome;
using abi::RecordTrackerState;
using model::tx::BehaviouralGcmEngine;
using model::tx::GcmEngineParams;
using model::tx::GcmSegment;
using model::tx::GcmTiming;

namespace {

const char* vname(TlsVersion v) { return v == TlsVersion::tls12 ? "TLS1.2" : "TLS1.3"; }

// Compares the stage's output with the oracle record by record, so a failure names the record.
void check_records(const Stream& s, const std::vector<uint8_t>& out, size_t from = 0) {
  REQUIRE(out.size() == s.sealed.size() - from);
  for (const Record& r : s.recs) {
    size_t a = std::max(r.stream_off, from), b = r.stream_off + r.sealed.size();
    if (b <= from) continue;
    INFO("record seq " << r.seq << " data " << r.image.size() << " bytes, compared from stream offset " << a);
    CHECK(std::equal(out.begin() + long(a - from), out.begin() + long(b - from), s.sealed.begin() + long(a)));
  }
}

}  // namespace

TEST_CASE("aes_gcm: kernel record streams in random pieces equal tls_seal_record", "[aes_gcm]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  const Cipher c = GENERATE(Cipher::aes128gcm, Cipher::aes256gcm);
  INFO(vname(v) << " " << crypto::cipher_name(c));
  // A base record number below a 32-bit carry: the AAD / XOR nonce carry is exercised.
  const uint64_t base = 0x00000001fffffffdull;
  const crypto::TlsKeys k = make_keys(v, c, base);
  std::mt19937_64 rng(0x5eed + uint64_t(v) * 7 + uint64_t(c));
  const std::vector<size_t> sizes = {0, 1, 15, 16, 17, 1448, 16384, 16383, 0, 0, 4096, 16384, 31, 9000, 2};
  // Control records share the stream and the record numbers (type goes into the AAD / inner byte).
  const std::vector<uint8_t> types = {0x17, 0x17, 0x16, 0x17, 0x15, 0x17, 0x17, 0x17, 0x15, 0x17};
  const Stream s = make_stream(k, base, sizes, rng, types);
  for (int round = 0; round < 4; round++) {
    GcmRig rig(k);
    REQUIRE(rig.program_static(base) == CqeSyndrome::none);
    REQUIRE(rig.program_progress() == CqeSyndrome::none);
    CqeSyndrome err;
    std::vector<uint8_t> out = rig.feed(s.image, 0, s.image.size(), false, rng, &err);
    REQUIRE(err == CqeSyndrome::none);
    check_records(s, out);
    CHECK(rig.ctx()->rec_seq == base + sizes.size());
    CHECK(rig.ctx()->records_encrypted == sizes.size());
    CHECK(rig.ctx()->rec_off == 0);
    CHECK(rig.stage.stats().records_completed == sizes.size());
    CHECK(rig.stage.stats().tls_bytes == s.image.size());
    CHECK(rig.stage.stats().errors == 0);
    CHECK(rig.stage.stats().dump_pkts == 0);
  }
}

TEST_CASE("aes_gcm: every cut position of small records, and byte-by-byte feeding", "[aes_gcm]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  const Cipher c = GENERATE(Cipher::aes128gcm, Cipher::aes256gcm);
  INFO(vname(v) << " " << crypto::cipher_name(c));
  const uint64_t base = 7;
  const crypto::TlsKeys k = make_keys(v, c, base);
  std::mt19937_64 rng(99);
  const Stream s = make_stream(k, base, {0, 1, 17, 33, 0}, rng);
  // Two pieces cut at every position: header, explicit nonce, payload, tag, next header.
  for (size_t cut = 1; cut < s.image.size(); cut++) {
    INFO("cut at " << cut);
    GcmRig rig(k);
    rig.program_static(base);
    rig.program_progress();
    CqeSyndrome e1, e2;
    std::vector<uint8_t> a = rig.piece(s.image, 0, cut, false, &e1);
    std::vector<uint8_t> b = rig.piece(s.image, cut, s.image.size() - cut, false, &e2);
    REQUIRE(e1 == CqeSyndrome::none);
    REQUIRE(e2 == CqeSyndrome::none);
    a.insert(a.end(), b.begin(), b.end());
    REQUIRE(a == s.sealed);
  }
  GcmRig rig(k);
  rig.program_static(base);
  rig.program_progress();
  CqeSyndrome err;
  std::vector<uint8_t> out = rig.feed(s.image, 0, s.image.size(), false, rng, &err, /*max_piece=*/1);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(out == s.sealed);
  CHECK(rig.stage.stats().tls_pkts == s.image.size());
  CHECK(rig.ctx()->rec_seq == base + 5);
}

TEST_CASE("aes_gcm: the stage's input is not the oracle's (placeholder and plaintext differ)", "[aes_gcm]") {
  // Guards the oracle itself: if images already equalled sealed records the tests above could
  // not fail.
  std::mt19937_64 rng(3);
  const crypto::TlsKeys k = make_keys(TlsVersion::tls12, Cipher::aes128gcm, 0);
  const Record r = make_record(k, 0, 0x17, random_bytes(rng, 100), rng);
  REQUIRE(r.image.size() == r.sealed.size());
  CHECK(std::equal(r.image.begin(), r.image.begin() + 13, r.sealed.begin()));  // header + nonce in clear
  CHECK_FALSE(std::equal(r.image.begin() + 13, r.image.begin() + 113, r.sealed.begin() + 13));
  CHECK_FALSE(std::equal(r.image.end() - 16, r.image.end(), r.sealed.end() - 16));
}

TEST_CASE("aes_gcm: DUMP a record prefix, then the rest equals the sealed bytes at the same offsets", "[aes_gcm]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  const Cipher c = GENERATE(Cipher::aes128gcm, Cipher::aes256gcm);
  INFO(vname(v) << " " << crypto::cipher_name(c));
  const uint64_t base = 1000;
  const crypto::TlsKeys k = make_keys(v, c, base);
  std::mt19937_64 rng(0xd0d0 + uint64_t(c));
  const Stream s = make_stream(k, base, {3000, 16384, 0, 700}, rng);
  const size_t pre = crypto::tls_prepend_bytes(v);
  for (size_t r = 0; r < s.recs.size(); r++) {
    const Record& rec = s.recs[r];
    const size_t len = rec.image.size();
    const size_t data_end = len - 16;
    // Packet starts: record start, inside the header, at the nonce, right after the prepend,
    // mid-payload, at the tag, inside the tag, on the tag's last byte, and random ones.
    std::vector<size_t> starts = {0, 1, 3, 5, pre, std::min(pre + 1, data_end), data_end / 2,
                                  data_end, data_end + 1, data_end + 8, len - 1};
    for (int i = 0; i < 4; i++) starts.push_back(rng() % len);
    for (size_t p : starts) {
      INFO("record " << r << " (" << len << " bytes), packet starts at record offset " << p);
      GcmRig rig(k);
      REQUIRE(rig.program_static(rec.seq) == CqeSyndrome::none);
      REQUIRE(rig.program_progress() == CqeSyndrome::none);
      const size_t at = rec.stream_off + p;
      CqeSyndrome err;
      // DUMPs in pieces of at most hw_mtu = 1522 bytes, as the driver posts them.
      rig.feed(s.image, rec.stream_off, at, true, rng, &err, 1522);
      REQUIRE(err == CqeSyndrome::none);
      CHECK(rig.stage.stats().dump_bytes == p);
      CHECK(rig.stage.stats().tls_bytes == 0);
      CHECK(rig.ctx()->rec_off == p);
      std::vector<uint8_t> out = rig.feed(s.image, at, s.image.size(), false, rng, &err);
      REQUIRE(err == CqeSyndrome::none);
      REQUIRE(out.size() == s.image.size() - at);
      CHECK(std::equal(out.begin(), out.end(), s.sealed.begin() + long(at)));
      CHECK(rig.ctx()->rec_seq == base + s.recs.size());
      CHECK(rig.ctx()->records_dumped == 0);  // a DUMP never reaches a record's last byte here
      CHECK(rig.ctx()->records_encrypted == s.recs.size() - r);
    }
  }
}

TEST_CASE("aes_gcm: DUMP of a whole record completes it, the next record encrypts", "[aes_gcm]") {
  const crypto::TlsKeys k = make_keys(TlsVersion::tls12, Cipher::aes128gcm, 50);
  std::mt19937_64 rng(8);
  const Stream s = make_stream(k, 50, {2000, 500}, rng);
  GcmRig rig(k);
  rig.program_static(50);
  rig.program_progress();
  CqeSyndrome err;
  // Two DUMPs as the driver cuts them: 1522 bytes, then the remaining 507.
  REQUIRE(s.recs[1].stream_off == 2029);
  rig.piece(s.image, 0, 1522, true, &err);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(rig.ctx()->records_dumped == 0);
  rig.piece(s.image, 1522, 507, true, &err);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(rig.ctx()->records_dumped == 1);
  CHECK(rig.ctx()->records_encrypted == 0);
  CHECK(rig.ctx()->rec_seq == 51);
  std::vector<uint8_t> out = rig.feed(s.image, s.recs[1].stream_off, s.image.size(), false, rng, &err);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(out == s.recs[1].sealed);
  CHECK(rig.stage.stats().dump_pkts == 2);
  CHECK(rig.stage.stats().dump_bytes == 2029);
  CHECK(rig.stage.stats().records_completed == 2);
  CHECK(rig.ctx()->records_encrypted == 1);
  CHECK(rig.ctx()->rec_seq == 52);
}

TEST_CASE("aes_gcm: resync to earlier records after the context advanced (static + progress, progress only)",
          "[aes_gcm]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  const Cipher c = GENERATE(Cipher::aes128gcm, Cipher::aes256gcm);
  INFO(vname(v) << " " << crypto::cipher_name(c));
  const uint64_t base = 0xfffffffeull;
  const crypto::TlsKeys k = make_keys(v, c, base);
  std::mt19937_64 rng(0xabc + uint64_t(v));
  const Stream s = make_stream(k, base, {1200, 5000, 77, 16384, 300}, rng);
  GcmRig rig(k);
  uint64_t programmed = base;  // what the driver's crypto_info.rec_seq caches
  rig.program_static(base);
  rig.program_progress();
  CqeSyndrome err;
  std::vector<uint8_t> out = rig.feed(s.image, 0, s.image.size(), false, rng, &err);
  REQUIRE(err == CqeSyndrome::none);
  check_records(s, out);
  REQUIRE(rig.ctx()->rec_seq == base + 5);
  // Retransmissions as the driver resyncs them: static params only when the record number
  // differs from the one last programmed (mlx5 tx_post_resync_params), progress params always.
  // Targets go back and forth, including the record programmed last (progress params alone
  // must rewind the record count) and record `base` after the context moved far past it.
  const std::vector<size_t> targets = {0, 0, 2, 1, 1, 4, 3, 0, 3};
  for (size_t t : targets) {
    const Record& rec = s.recs[t];
    const size_t p = rng() % rec.image.size();
    INFO("resync to record " << t << " offset " << p << " (programmed " << programmed << ")");
    if (rec.seq != programmed) {
      REQUIRE(rig.program_static(rec.seq) == CqeSyndrome::none);
      programmed = rec.seq;
    }
    REQUIRE(rig.program_progress() == CqeSyndrome::none);
    CHECK(rig.ctx()->rec_seq == rec.seq);
    CHECK(rig.ctx()->tracker == RecordTrackerState::start);
    rig.feed(s.image, rec.stream_off, rec.stream_off + p, true, rng, &err, 1522);
    REQUIRE(err == CqeSyndrome::none);
    // Retransmit up to the end of the next record (or the stream).
    const size_t end = t + 1 < s.recs.size() ? s.recs[t + 1].stream_off + s.recs[t + 1].image.size() : s.image.size();
    out = rig.feed(s.image, rec.stream_off + p, end, false, rng, &err);
    REQUIRE(err == CqeSyndrome::none);
    REQUIRE(out.size() == end - rec.stream_off - p);
    CHECK(std::equal(out.begin(), out.end(), s.sealed.begin() + long(rec.stream_off + p)));
  }
}

TEST_CASE("aes_gcm: progress params restart at initial_record_number + hw_offset_record_number", "[aes_gcm]") {
  const crypto::TlsKeys k = make_keys(TlsVersion::tls13, Cipher::aes256gcm, 40);
  std::mt19937_64 rng(12);
  const Stream s = make_stream(k, 40, {100, 200, 300, 400}, rng);
  GcmRig rig(k);
  rig.program_static(40);
  rig.program_progress(2);  // the next header is record 42's
  CHECK(rig.ctx()->rec_seq == 42);
  CqeSyndrome err;
  std::vector<uint8_t> out = rig.feed(s.image, s.recs[2].stream_off, s.image.size(), false, rng, &err);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(std::equal(out.begin(), out.end(), s.sealed.begin() + long(s.recs[2].stream_off)));
  // Static params alone reset the count to their base (no progress params needed for it).
  rig.program_static(41);
  CHECK(rig.ctx()->rec_seq == 41);
  CHECK(rig.ctx()->initial_record_number == 41);
  rig.program_progress(0);
  out = rig.feed(s.image, s.recs[1].stream_off, s.recs[2].stream_off, false, rng, &err);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(out == s.recs[1].sealed);
  // The wrong record number gives different ciphertext: the check above can fail.
  rig.program_progress(1);  // claims record 42 while the stream carries record 41
  out = rig.feed(s.image, s.recs[1].stream_off, s.recs[2].stream_off, false, rng, &err);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(out != s.recs[1].sealed);
}

TEST_CASE("aes_gcm: malformed headers stop the context with tls_bad_record until progress params", "[aes_gcm]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  INFO(vname(v));
  const crypto::TlsKeys k = make_keys(v, Cipher::aes128gcm, 0);
  std::mt19937_64 rng(77);
  const Stream good = make_stream(k, 0, {500}, rng);
  const bool v12 = v == TlsVersion::tls12;
  const size_t pre = crypto::tls_prepend_bytes(v);
  struct Bad {
    const char* what;
    size_t off;
    uint8_t val;
  };
  // Length fields: below the minimum (1.2: 8 + 16 = 24, 1.3: 1 + 16 = 17) and above the RFC
  // maximum (1.2: 2^14 + 2048, 1.3: 2^14 + 256).
  const uint16_t too_short = v12 ? 23 : 16;
  const uint16_t too_long = v12 ? 16384 + 2048 + 1 : 16384 + 256 + 1;
  std::vector<std::vector<uint8_t>> bads;
  std::vector<const char*> whats;
  auto with = [&](const char* what, std::initializer_list<std::pair<size_t, uint8_t>> edits) {
    std::vector<uint8_t> b = good.image;
    for (auto [o, val] : edits) b[o] = val;
    bads.push_back(b);
    whats.push_back(what);
  };
  with("version 03 01", {{2, 0x01}});
  with("version 02 03", {{1, 0x02}});
  with("length too short", {{3, uint8_t(too_short >> 8)}, {4, uint8_t(too_short)}});
  with("length too long", {{3, uint8_t(too_long >> 8)}, {4, uint8_t(too_long)}});
  with("length zero", {{3, 0}, {4, 0}});
  if (!v12) with("TLS 1.3 outer type not 0x17", {{0, 0x16}});
  for (size_t i = 0; i < bads.size(); i++) {
    // The packet ends (a) exactly at the end of the prepend, (b) one byte later, (c) mid-header
    // with the rest in a second packet.
    for (int mode = 0; mode < 3; mode++) {
      INFO(whats[i] << ", mode " << mode);
      GcmRig rig(k);
      rig.program_static(0);
      rig.program_progress();
      CqeSyndrome err = CqeSyndrome::none;
      if (mode == 0) {
        rig.piece(bads[i], 0, pre, false, &err);
      } else if (mode == 1) {
        rig.piece(bads[i], 0, pre + 1, false, &err);
      } else {
        rig.piece(bads[i], 0, 2, false, &err);
        REQUIRE(err == CqeSyndrome::none);  // nothing to judge yet
        rig.piece(bads[i], 2, 200, false, &err);
      }
      CHECK(err == CqeSyndrome::tls_bad_record);
      CHECK(rig.ctx()->tracker == RecordTrackerState::searching);
      CHECK(rig.stage.stats().errors == 1);
      // Everything after is refused until the driver resyncs.
      rig.piece(good.image, 0, good.image.size(), false, &err);
      CHECK(err == CqeSyndrome::tls_bad_record);
      CHECK(rig.stage.stats().errors == 2);
      rig.program_progress();
      std::vector<uint8_t> out = rig.piece(good.image, 0, good.image.size(), false, &err);
      CHECK(err == CqeSyndrome::none);
      CHECK(out == good.sealed);
    }
  }
  // Type bytes other than 0x17 are legal in TLS 1.2 (control records) and the RFC limits
  // themselves are accepted (lengths the kernel never makes, but valid TLS).
  if (v12) {
    GcmRig rig(k);
    rig.program_static(0);
    rig.program_progress();
    std::vector<uint8_t> hdr = {0x15, 0x03, 0x03, uint8_t((16384 + 2048) >> 8), uint8_t(16384 + 2048)};
    hdr.resize(13, 0);
    CqeSyndrome err;
    rig.piece(hdr, 0, hdr.size(), false, &err);
    CHECK(err == CqeSyndrome::none);
    CHECK(rig.ctx()->tracker == RecordTrackerState::tracking);
    CHECK(rig.ctx()->payload_len == 16384 + 2048 - 24);
  }
}

TEST_CASE("aes_gcm: no context, static params missing", "[aes_gcm]") {
  const crypto::TlsKeys k = make_keys(TlsVersion::tls12, Cipher::aes128gcm, 0);
  GcmRig rig(k);
  uint8_t buf[40] = {};
  uint64_t lat = 0;
  CqeSyndrome err;
  rig.stage.process(nullptr, buf, 40, false, &lat, &err);
  CHECK(err == CqeSyndrome::tls_no_context);
  rig.stage.process(rig.ctx(), buf, 40, false, &lat, &err);  // TIS exists, no static params yet
  CHECK(err == CqeSyndrome::tls_no_context);
  CHECK(rig.stage.stats().errors == 2);
}

TEST_CASE("aes_gcm: context table rejects malformed static / progress params", "[aes_gcm][tls_ctx]") {
  const crypto::TlsKeys k = make_keys(TlsVersion::tls12, Cipher::aes256gcm, 0);
  GcmRig rig(k);
  auto p = rig.static_params(5);
  auto bad = p;
  bad.const_2 = 1;
  CHECK(rig.table.apply_static_params(rig.tis, bad) == CqeSyndrome::tls_no_context);
  bad = p;
  bad.const_1 = 0;
  CHECK(rig.table.apply_static_params(rig.tis, bad) == CqeSyndrome::tls_no_context);
  bad = p;
  bad.encryption_standard = 0;
  CHECK(rig.table.apply_static_params(rig.tis, bad) == CqeSyndrome::tls_no_context);
  bad = p;
  bad.tls_version = 0x4;
  CHECK(rig.table.apply_static_params(rig.tis, bad) == CqeSyndrome::tls_no_context);
  bad = p;
  bad.dek_index = 99;
  CHECK(rig.table.apply_static_params(rig.tis, bad) == CqeSyndrome::tls_no_context);
  CHECK(rig.table.apply_static_params(rig.tis + 1, p) == CqeSyndrome::tls_no_context);
  CHECK_FALSE(rig.ctx()->static_valid);
  CHECK(rig.table.stats().bad_tis == 6);
  REQUIRE(rig.table.apply_static_params(rig.tis, p) == CqeSyndrome::none);
  const TisContext& c = *rig.ctx();
  CHECK(c.static_valid);
  CHECK(c.cipher == Cipher::aes256gcm);
  CHECK(c.version == TlsVersion::tls12);
  CHECK(std::memcmp(c.key, k.key, 32) == 0);
  CHECK(std::memcmp(c.salt, k.salt, 4) == 0);
  CHECK(c.initial_record_number == 5);
  CHECK(c.rec_seq == 5);
  abi::TlsProgressParams pp{};
  pp.tis_tir_num = rig.tis + 1;  // names another TIS
  CHECK(rig.table.apply_progress_params(rig.tis, pp) == CqeSyndrome::tls_no_context);
  CHECK(rig.table.stats().static_params == 1);
  CHECK(rig.table.stats().progress_params == 0);
  CHECK(rig.table.stats().bad_tis == 7);
}

// ---------------------------------------------------------------------------------------------
// Cycle costs: the RTL engine's (rtl/README.md), reproduced by timing_for and checked cycle for
// cycle against the Verilated engine by testbench/model/cosim. Defaults: 4 lanes (64-byte
// beats), AES pipeline 15 both key sizes, tag 5 cycles after the last beat through an idle
// GHASH, command 20 cycles ahead of the data (enough for the keystream at any lane count, so
// no stall). occupancy = beats of the segment's own bytes (ceil(n / 64)); latency = occupancy + 1
// (a ciphertext beat leaves one cycle after its plaintext) or, on a record's last segment,
// occupancy + 5 + the GHASH spill cycles of the last block list (blocks the last beat completes
// + padded partial block + length block, more than 4 = one more cycle); on a record of one
// multi-beat segment also the first list's spill (AAD block + 4 data blocks).

namespace {
GcmTiming timing(uint32_t off, uint32_t n, bool first, bool last, Cipher c, uint32_t lanes = 4, uint32_t lead = 20,
                 bool new_key = false, bool dump = false) {
  GcmSegment seg;
  seg.cipher = c;
  seg.rec_offset = off;
  seg.first = first;
  seg.last = last;
  seg.dump = dump;
  seg.aad_len = 13;
  GcmEngineParams p{lanes, 15, 15, 5, lead};
  return BehaviouralGcmEngine::timing_for(p, seg, n, new_key);
}
}  // namespace

TEST_CASE("gcm engine timing: hand-computed occupancy and latency", "[aes_gcm][timing]") {
  struct Case {
    uint32_t off, n;
    bool first, last;
    Cipher c;
    uint32_t lanes, lead;
    bool new_key, dump;
    uint64_t occ, lat;
  };
  const Case cases[] = {
      // 1448 bytes: ceil(1448/64) = 23 beats, +1 for the ciphertext out. Key size, offset and
      // record start do not change it (the keystream waits for the data).
      {0, 1448, true, false, Cipher::aes128gcm, 4, 20, false, false, 23, 24},
      {1448, 1448, false, false, Cipher::aes128gcm, 4, 20, false, false, 23, 24},
      {1448, 1448, false, false, Cipher::aes256gcm, 4, 20, false, false, 23, 24},
      // 2 bytes straddling a block edge (15..16): one beat of input.
      {15, 2, false, false, Cipher::aes128gcm, 4, 20, false, false, 1, 2},
      // ... also at 1 lane: the input beat carries 16 bytes of the segment, not a block.
      {15, 2, false, false, Cipher::aes128gcm, 1, 20, false, false, 1, 2},
      // 64 bytes from offset 8: one beat (old block-based count said 2).
      {8, 64, false, false, Cipher::aes128gcm, 4, 20, false, false, 1, 2},
      {16, 16, false, false, Cipher::aes128gcm, 4, 20, false, false, 1, 2},
      // Last 384 bytes of a 16384-byte record: 6 beats; the last beat completes blocks
      // 1020..1023 (4) + length block = 5 > 4: one spill cycle; 6 + 5 + 1 = 12.
      {16000, 384, false, true, Cipher::aes256gcm, 4, 20, false, false, 6, 12},
      // Last 50 bytes of a 1000-byte record: blocks 59..61 completed + padded 62 + length = 5:
      // spill; 1 + 5 + 1 = 7.
      {950, 50, false, true, Cipher::aes128gcm, 4, 20, false, false, 1, 7},
      // Last 469 bytes of 16384 from 15915: 8 beats, the last from 16363 (block 1022)
      // completes blocks 1022..1023 (2) + length = 3 <= 4: no spill; 8 + 5 = 13 (the RTL's
      // own figure in test_cosim_engine).
      {15915, 469, false, true, Cipher::aes128gcm, 4, 20, false, false, 8, 13},
      // Whole 16384-byte record in one segment: 256 beats; tag 5 + last-list spill 1 + the
      // first list (AAD + 4 blocks = 5) spill 1 still queued in GHASH: 256 + 7.
      {0, 16384, true, true, Cipher::aes128gcm, 4, 20, false, false, 256, 263},
      // ... the first record on a new key: H^2..H^4 take the GHASH front 3 cycles; the
      // ciphertext FIFO holds 4 beats, the 5th and 6th wait: +2 occupancy, +1 backlog.
      {0, 16384, true, true, Cipher::aes128gcm, 4, 20, true, false, 258, 266},
      // ... a 4-beat first segment on a new key does not stall the input (FIFO), the 3 cycles
      // delay only its tag: 200 bytes (4 beats, last list: pad + length = 2) -> 4 + 5 + 1 + 3.
      {0, 200, true, true, Cipher::aes128gcm, 4, 20, true, false, 4, 13},
      // Empty record (TLS 1.2, no data): its command occupies a cycle. Its tag needs only the
      // command: E_K(0)/E_K(J0) beat (2 + 15 + 1), then AAD + length through GHASH (5) = 23
      // cycles after the command, 3 after the data would have come (lead 20); a lead of 24:
      // before that, so the one cycle. Commanded with its data (lead 0): 23; a new key's H
      // powers: + 3.
      {0, 0, true, true, Cipher::aes128gcm, 4, 20, false, false, 1, 3},
      {0, 0, true, true, Cipher::aes128gcm, 4, 24, false, false, 1, 1},
      {0, 0, true, true, Cipher::aes256gcm, 4, 20, true, false, 1, 6},
      {0, 0, true, true, Cipher::aes128gcm, 4, 0, false, false, 1, 23},
      {0, 0, true, true, Cipher::aes128gcm, 4, 0, true, false, 1, 26},
      // A zero-byte segment mid-record: one cycle, nothing out.
      {100, 0, false, false, Cipher::aes128gcm, 4, 20, false, false, 1, 1},
      // DUMP without the record's end: nothing comes out, latency = occupancy.
      {1448, 1448, false, false, Cipher::aes128gcm, 4, 20, false, true, 23, 23},
      // DUMP ending the record still computes the tag: 384 from 16000 as above.
      {16000, 384, false, true, Cipher::aes128gcm, 4, 20, false, true, 6, 12},
      // 65 bytes from offset 8 at 1, 2 and 8 lanes: 5, 3 and 1 beats.
      {8, 65, false, false, Cipher::aes128gcm, 1, 20, false, false, 5, 6},
      {8, 65, false, false, Cipher::aes128gcm, 2, 20, false, false, 3, 4},
      // 8 lanes, first and last in one beat: AAD + 4 completed + padded + length = 7 <= 8.
      {0, 65, true, true, Cipher::aes256gcm, 8, 20, false, false, 1, 6},
      // Command arriving with the data (lead 0): the first beat waits for the command FIFO and
      // generator (2), the AES pipeline (15), the E_K(0)/E_K(J0) beat on a record's first
      // segment (1) and, when the segment needs two keystream beats, the second (1): 19 here.
      {0, 1448, true, false, Cipher::aes128gcm, 4, 0, false, false, 23 + 19, 23 + 19 + 1},
      // ... mid-record, one keystream beat (10 bytes): 2 + 15.
      {100, 10, false, false, Cipher::aes256gcm, 4, 0, false, false, 1 + 17, 1 + 17 + 1},
      // ... a lead of 10 hides 10 of the 18 cycles.
      {1448, 1448, false, false, Cipher::aes128gcm, 4, 10, false, false, 23 + 8, 23 + 8 + 1},
  };
  for (const Case& k : cases) {
    INFO("off " << k.off << " n " << k.n << " first " << k.first << " last " << k.last << " lanes " << k.lanes
                << " lead " << k.lead << " new key " << k.new_key << " dump " << k.dump);
    GcmTiming t = timing(k.off, k.n, k.first, k.last, k.c, k.lanes, k.lead, k.new_key, k.dump);
    CHECK(t.occupancy_cycles == k.occ);
    CHECK(t.latency_cycles == k.lat);
  }
}

TEST_CASE("gcm engine: process reports timing_for, refuses a segment that does not continue the record",
          "[aes_gcm][timing]") {
  BehaviouralGcmEngine e(GcmEngineParams{4, 15, 15, 5, 20});
  uint8_t key[16] = {1, 2, 3};
  uint8_t buf[200] = {}, tag[16];
  GcmSegment seg;
  seg.flow = 3;
  seg.key = key;
  seg.aad_len = 13;
  seg.rec_len = 200;
  seg.first = true;
  GcmTiming t;
  REQUIRE(e.process(seg, buf, buf, 100, nullptr, &t));
  // 100 bytes: 2 beats (a new key's H powers fit in the ciphertext FIFO); +1 out.
  CHECK(t.occupancy_cycles == 2);
  CHECK(t.latency_cycles == 3);
  seg.first = false;
  seg.rec_offset = 101;  // skips a byte
  CHECK_FALSE(e.process(seg, buf, buf, 99, tag, &t));
  seg.first = true;
  seg.rec_offset = 0;
  seg.last = true;
  CHECK(e.process(seg, buf, buf, 200, tag, &t));
  e.reset_flow(3);
  seg.first = false;
  seg.last = false;
  CHECK_FALSE(e.process(seg, buf, buf, 0, nullptr, &t));
}

TEST_CASE("aes_gcm stage: occupancy and latency of whole packets", "[aes_gcm][timing]") {
  const crypto::TlsKeys k = make_keys(TlsVersion::tls12, Cipher::aes128gcm, 0);
  std::mt19937_64 rng(5);
  const Stream s = make_stream(k, 0, {1000, 200}, rng);
  GcmRig rig(k);
  rig.program_static(0);
  rig.program_progress();
  CqeSyndrome err;
  uint64_t occ = 0, lat = 0;
  // Header + nonce + 100 payload bytes: the engine takes the 100 payload bytes in 2 beats (the
  // flow's first key: H^2..H^4 fit in the ciphertext FIFO, no stall), ciphertext out one cycle
  // later: 2, 3. Datapath beats ceil(113/64) = 2.
  rig.piece(s.image, 0, 113, false, &err, &occ, &lat);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(occ == 2);
  CHECK(lat == 3);
  // Payload 100..950 (850 bytes): ceil(850/64) = 14 beats; latency 14 + 1.
  rig.piece(s.image, 113, 850, false, &err, &occ, &lat);
  CHECK(occ == 14);
  CHECK(lat == 15);
  // Last 50 payload bytes of record 0 (950..999): 1 beat completing blocks 59..61 + padded
  // block 62 + length block = 5 > 4 lists: one spill cycle, tag 5 + 1 after it: latency 7.
  // Its tag, then record 1's prepend and all 200 bytes (first and last: 4 beats; last list =
  // padded block 12 + length = 2; the first list, AAD + 4 blocks = 5, spilled a cycle that is
  // still queued: tag 5 + 1 after the last beat: latency 4 + 6 = 10, ending at cumulative beat
  // 5 -> 5 + 10 - 4 = 11), its tag. Total occupancy 5 beats (datapath: ceil(295/64) = 5 too);
  // latency max(7, 11) = 11.
  const size_t rest = s.image.size() - 963;
  REQUIRE(rest == 50 + 16 + 13 + 200 + 16);
  rig.piece(s.image, 963, rest, false, &err, &occ, &lat);
  REQUIRE(err == CqeSyndrome::none);
  CHECK(occ == 5);
  CHECK(lat == 11);
  // A packet of tag bytes only: no engine work, one datapath beat.
  rig.program_progress(0);
  rig.feed(s.image, 0, 1013, true, rng, &err, 1522);
  rig.piece(s.image, 1013, 16, false, &err, &occ, &lat);
  CHECK(occ == 1);
  CHECK(lat == 1);
  // Bypass: ceil(n / 64) beats (at least one), latency one more.
  CHECK(rig.stage.bypass(0, &lat) == 1);
  CHECK(lat == 2);
  CHECK(rig.stage.bypass(1514, &lat) == 24);
  CHECK(lat == 25);
  CHECK(rig.stage.stats().bypass_pkts == 2);
  CHECK(rig.stage.stats().bypass_bytes == 1514);
}

TEST_CASE("aes_gcm: payload read from scattered segments (zero-copy DMA) equals the in-place walk", "[aes_gcm]") {
  // dma_read lends a TLS WQE's segments in place and the stage encrypts from them into the
  // wire buffer. Same bytes, occupancy and latency as gathering first: WQEs of 1..6 segments
  // cut at random points (inside headers, payload pieces and tags), for both versions.
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  const crypto::TlsKeys k = make_keys(v, Cipher::aes128gcm, 3);
  std::mt19937_64 rng(4242 + uint64_t(v));
  const Stream s = make_stream(k, 3, {0, 5, 1448, 16384, 100, 7000, 16384, 1}, rng);
  GcmRig a(k), b(k);
  for (GcmRig* r : {&a, &b}) {
    REQUIRE(r->program_static(3) == CqeSyndrome::none);
    REQUIRE(r->program_progress() == CqeSyndrome::none);
  }
  size_t pos = 0, wqes = 0;
  while (pos < s.image.size()) {
    const size_t n = std::min<size_t>(s.image.size() - pos, 1 + rng() % 40000);
    // Reference: one contiguous buffer, processed in place.
    std::vector<uint8_t> ref(s.image.begin() + long(pos), s.image.begin() + long(pos + n));
    uint64_t lat_a = 0, lat_b = 0;
    CqeSyndrome ea, eb;
    const uint64_t occ_a = a.stage.process(a.ctx(), ref.data(), uint32_t(n), false, &lat_a, &ea);
    // The same bytes in 1..6 separately allocated segments.
    const uint32_t nseg = uint32_t(1 + rng() % 6);
    std::vector<size_t> cuts = {0, n};
    for (uint32_t i = 1; i < nseg; i++) cuts.push_back(rng() % (n + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::vector<uint8_t>> segs;
    std::vector<const uint8_t*> ptrs;
    std::vector<uint32_t> lens;
    for (size_t i = 0; i + 1 < cuts.size(); i++) {
      segs.emplace_back(s.image.begin() + long(pos + cuts[i]), s.image.begin() + long(pos + cuts[i + 1]));
    }
    for (auto& sg : segs) {
      ptrs.push_back(sg.data());
      lens.push_back(uint32_t(sg.size()));
    }
    const std::vector<std::vector<uint8_t>> untouched = segs;
    std::vector<uint8_t> out(n, 0xee);
    model::tx::PayloadGather g{ptrs.data(), lens.data(), uint32_t(ptrs.size())};
    const uint64_t occ_b = b.stage.process(b.ctx(), g, out.data(), uint32_t(n), false, &lat_b, &eb);
    INFO("WQE " << wqes << " at stream offset " << pos << ", " << n << " bytes in " << ptrs.size() << " segments");
    REQUIRE(ea == CqeSyndrome::none);
    REQUIRE(eb == CqeSyndrome::none);
    REQUIRE(out == ref);
    CHECK(segs == untouched);  // the host's bytes are only read
    CHECK(occ_a == occ_b);
    CHECK(lat_a == lat_b);
    pos += n;
    wqes++;
  }
  CHECK(b.ctx()->records_encrypted == 8);
  CHECK(b.stage.stats().records_completed == a.stage.stats().records_completed);
}
