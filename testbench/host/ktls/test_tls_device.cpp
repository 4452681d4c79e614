// tls_device.c emulator: record building, record list, tls_get_record, clean_acked, host
// memory references, software-kTLS mode, error cases, TX resync.
#include <catch2/catch.hpp>

#include <cerrno>
#include <memory>

#include "testbench/host/ktls/ktls_fixture.h"

using namespace nicsim;
using namespace nicsim::testbench::ktls;
using host::ktls::MSG_EOR;
using host::ktls::MSG_MORE;
using crypto::Cipher;
using crypto::TlsVersion;

namespace {

constexpr uint32_t kOverhead12 = 29;
constexpr uint32_t kOverhead13 = 22;

uint16_t hdr_len(const std::vector<uint8_t>& img) {
  return static_cast<uint16_t>((img[3] << 8) | img[4]);
}
bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

struct Rig {
  explicit Rig(TlsVersion v, Cipher c, uint64_t rec_seq, uint32_t isn = 1000,
               TlsOffloadCtxTx::Options opt = {}, bool with_dev = true)
      : tcp(mem, isn), info(make_info(v, c, rec_seq)) {
    baseline = mem.live_regions();
    ctx = std::make_unique<TlsOffloadCtxTx>(mem, tcp, opt);
    tcp.write_pre_offload(200, 0xee);  // handshake bytes queued before the key
    rc = ctx->tls_set_device_offload(info, with_dev ? &dev : nullptr);
  }
  long send(const std::vector<uint8_t>& d, int flags = 0, uint8_t type = 0x17) {
    return ctx->sendmsg(d.data(), d.size(), flags, type);
  }
  HostMemory mem;
  FakeTcp tcp;
  FakeDev dev;
  CryptoInfo info;
  size_t baseline = 0;
  std::unique_ptr<TlsOffloadCtxTx> ctx;
  int rc = -1;
};

}  // namespace

TEST_CASE("offload install: start marker, fence, tls_dev_add, counters") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, /*rec_seq=*/5);
  REQUIRE(r.rc == 0);
  const uint32_t start = 1000 + 200;
  CHECK(r.ctx->device_offloaded());
  CHECK_FALSE(r.ctx->sw_mode());
  CHECK(r.dev.adds == 1);
  CHECK(r.dev.start_sn == start);
  CHECK(std::memcmp(r.dev.added_info.key, r.info.key, 16) == 0);
  CHECK(r.tcp.eor_at == std::vector<uint32_t>{start});
  CHECK(r.ctx->start_marker_seq() == start);
  CHECK(r.ctx->unacked_record_sn() == 4);  // rec_seq - 1 for the marker
  CHECK(r.ctx->next_record_sn() == 5);
  REQUIRE(r.ctx->records_in_list() == 1);
  CHECK(r.ctx->records_list().front().len == 0);
  CHECK(r.ctx->records_list().front().end_seq == start);
  CHECK(r.ctx->tls_stat().TlsTxDevice == 1);
  CHECK(r.ctx->tls_stat().TlsCurrTxDevice == 1);
  CHECK(r.ctx->tls_stat().TlsTxSw == 0);
  CHECK(r.ctx->tls_set_device_offload(r.info, &r.dev) == -EEXIST);
  CHECK(r.dev.adds == 1);
}

TEST_CASE("TLS 1.2 AES-128 records: header, explicit nonce = iv + index, placeholder, end_seq") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 5);
  const uint32_t start = 1200;
  auto a = pattern(1000, 1), b = pattern(10, 2), c = pattern(3, 3);
  REQUIRE(r.send(a) == 1000);
  REQUIRE(r.send(b) == 10);
  REQUIRE(r.send(c) == 3);
  REQUIRE(r.tcp.pushes.size() == 3);
  const uint64_t iv0 = get_be64(r.info.iv);
  const std::vector<uint8_t>* data[] = {&a, &b, &c};
  uint32_t seq = start;
  for (size_t i = 0; i < 3; ++i) {
    const auto& p = r.tcp.pushes[i];
    const size_t n = data[i]->size();
    INFO("record " << i);
    CHECK(p.decrypted);
    CHECK(p.seq == seq);
    REQUIRE(p.len == n + kOverhead12);
    CHECK(p.bytes[0] == 0x17);
    CHECK(p.bytes[1] == 0x03);
    CHECK(p.bytes[2] == 0x03);
    CHECK(hdr_len(p.bytes) == 8 + n + 16);
    CHECK(get_be64(p.bytes.data() + 5) == iv0 + i);  // carries at i = 2: ..cd fe → ..ce 00
    CHECK(std::memcmp(p.bytes.data() + 13, data[i]->data(), n) == 0);
    // Garbage, not zeros: neither half of the placeholder is zero.
    CHECK_FALSE(all_zero(p.bytes.data() + 13 + n, 8));
    CHECK_FALSE(all_zero(p.bytes.data() + 13 + n + 8, 8));
    seq += p.len;
  }
  // Distinct records get distinct placeholder garbage.
  CHECK(std::memcmp(r.tcp.pushes[0].bytes.data() + 1013, r.tcp.pushes[1].bytes.data() + 23, 16) != 0);
  CHECK(get_be64(r.tcp.pushes[2].bytes.data() + 5) == 0x0123456789abce00ull);
  const auto& list = r.ctx->records_list();
  REQUIRE(list.size() == 4);
  CHECK(list[1].end_seq == start + 1029);
  CHECK(list[2].end_seq == start + 1029 + 39);
  CHECK(list[3].end_seq == start + 1029 + 39 + 32);
  CHECK(list[1].addr == r.tcp.pushes[0].addr);
  CHECK(r.ctx->next_record_sn() == 8);
  CHECK(r.ctx->counters().records_pushed == 3);
  CHECK(r.ctx->counters().record_bytes_pushed == 1029 + 39 + 32);
  CHECK(r.ctx->counters().app_bytes == 1013);
}

TEST_CASE("TLS 1.3 AES-256 records: outer type 0x17, inner type byte, length field") {
  Rig r(TlsVersion::tls13, Cipher::aes256gcm, 0);
  auto a = pattern(777, 4);
  std::vector<uint8_t> alert = {0x01, 0x00};
  REQUIRE(r.send(a) == 777);
  REQUIRE(r.send(alert, 0, 0x15) == 2);
  REQUIRE(r.tcp.pushes.size() == 2);
  const auto& p0 = r.tcp.pushes[0].bytes;
  REQUIRE(p0.size() == 777 + kOverhead13);
  CHECK(p0[0] == 0x17);
  CHECK(p0[1] == 0x03);
  CHECK(p0[2] == 0x03);
  CHECK(hdr_len(p0) == 777 + 1 + 16);
  CHECK(std::memcmp(p0.data() + 5, a.data(), 777) == 0);  // no explicit nonce in 1.3
  CHECK(p0[5 + 777] == 0x17);
  CHECK_FALSE(all_zero(p0.data() + 5 + 778, 16));
  const auto& p1 = r.tcp.pushes[1].bytes;
  REQUIRE(p1.size() == 2 + kOverhead13);
  CHECK(p1[0] == 0x17);  // real type hidden inside
  CHECK(hdr_len(p1) == 2 + 1 + 16);
  CHECK(p1[5] == 0x01);
  CHECK(p1[6] == 0x00);
  CHECK(p1[7] == 0x15);
  CHECK(r.ctx->records_list()[2].type == 0x15);
  CHECK(r.ctx->counters().control_records == 1);
  CHECK(r.ctx->next_record_sn() == 2);
  CHECK(r.ctx->unacked_record_sn() == UINT64_MAX);  // 0 - 1 for the start marker
}

TEST_CASE("MSG_MORE merges sends into one record, push_pending_record flushes") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 0);
  auto a = pattern(100, 5), b = pattern(200, 6), c = pattern(50, 7);
  REQUIRE(r.send(a, MSG_MORE) == 100);
  REQUIRE(r.send(b, MSG_MORE) == 200);
  CHECK(r.tcp.pushes.empty());
  CHECK(r.ctx->has_open_record());
  CHECK(r.ctx->records_in_list() == 1);
  REQUIRE(r.send(c) == 50);
  REQUIRE(r.tcp.pushes.size() == 1);
  const auto& p = r.tcp.pushes[0].bytes;
  REQUIRE(p.size() == 350 + kOverhead12);
  CHECK(hdr_len(p) == 8 + 350 + 16);
  CHECK(std::memcmp(p.data() + 13, a.data(), 100) == 0);
  CHECK(std::memcmp(p.data() + 113, b.data(), 200) == 0);
  CHECK(std::memcmp(p.data() + 313, c.data(), 50) == 0);
  CHECK_FALSE(r.ctx->has_open_record());

  REQUIRE(r.send(a, MSG_MORE) == 100);
  r.ctx->push_pending_record();
  REQUIRE(r.tcp.pushes.size() == 2);
  CHECK(r.tcp.pushes[1].len == 100 + kOverhead12);
  r.ctx->push_pending_record();  // nothing open: no-op
  CHECK(r.tcp.pushes.size() == 2);
  // MSG_EOR behaves as "no MSG_MORE"; together they are refused.
  CHECK(r.send(a, MSG_MORE | MSG_EOR) == -EINVAL);
  REQUIRE(r.send(a, MSG_EOR) == 100);
  CHECK(r.tcp.pushes.size() == 3);
  CHECK(r.send(a, 0x1) == -EOPNOTSUPP);  // MSG_OOB
}

TEST_CASE("control record flushes the open data record first, never with MSG_MORE") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 0);
  auto a = pattern(100, 8);
  std::vector<uint8_t> hs = {0x16, 0x01, 0x02};
  REQUIRE(r.send(a, MSG_MORE) == 100);
  CHECK(r.send(hs, MSG_MORE, 0x16) == -EINVAL);
  CHECK(r.tcp.pushes.empty());  // the refused call changed nothing
  CHECK(r.ctx->has_open_record());
  REQUIRE(r.send(hs, 0, 0x16) == 3);
  REQUIRE(r.tcp.pushes.size() == 2);
  CHECK(r.tcp.pushes[0].bytes[0] == 0x17);
  CHECK(r.tcp.pushes[0].len == 100 + kOverhead12);
  CHECK(r.tcp.pushes[1].bytes[0] == 0x16);
  CHECK(r.tcp.pushes[1].len == 3 + kOverhead12);
  CHECK(std::memcmp(r.tcp.pushes[1].bytes.data() + 13, hs.data(), 3) == 0);
  // Explicit nonces are consecutive across types: one record-number space.
  CHECK(get_be64(r.tcp.pushes[1].bytes.data() + 5) ==
        get_be64(r.tcp.pushes[0].bytes.data() + 5) + 1);
  CHECK(r.ctx->next_record_sn() == 2);
}

TEST_CASE("records close at 16384 bytes: one 32 KiB send gives two full records") {
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    Rig r(v, v == TlsVersion::tls12 ? Cipher::aes128gcm : Cipher::aes256gcm, 0);
    const uint32_t full = 16384 + (v == TlsVersion::tls12 ? kOverhead12 : kOverhead13);
    auto d = pattern(32768, 9);
    REQUIRE(r.send(d) == 32768);
    REQUIRE(r.tcp.pushes.size() == 2);
    CHECK(r.tcp.pushes[0].len == full);
    CHECK(r.tcp.pushes[1].len == full);
    CHECK(hdr_len(r.tcp.pushes[0].bytes) == full - 5);
    const auto& list = r.ctx->records_list();
    REQUIRE(list.size() == 3);
    CHECK(list[1].end_seq == 1200 + full);
    CHECK(list[2].end_seq == 1200 + 2 * full);
    // 32 KiB + 1 byte: a third, one-byte record.
    REQUIRE(r.send(pattern(32769, 10)) == 32769);
    REQUIRE(r.tcp.pushes.size() == 5);
    CHECK(r.tcp.pushes[4].len == full - 16383);
  }
}

TEST_CASE("tx_max_payload_len: smaller records, EBUSY/EINVAL rules") {
  TlsOffloadCtxTx::Options opt;
  opt.tx_max_payload_len = 512;
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 0, 1000, opt);
  REQUIRE(r.rc == 0);
  REQUIRE(r.send(pattern(1300, 11)) == 1300);
  REQUIRE(r.tcp.pushes.size() == 3);
  CHECK(r.tcp.pushes[0].len == 512 + kOverhead12);
  CHECK(r.tcp.pushes[1].len == 512 + kOverhead12);
  CHECK(r.tcp.pushes[2].len == 276 + kOverhead12);
  REQUIRE(r.send(pattern(10, 12), MSG_MORE) == 10);
  CHECK(r.ctx->set_tx_max_payload_len(128) == -EBUSY);
  r.ctx->push_pending_record();
  CHECK(r.ctx->set_tx_max_payload_len(63) == -EINVAL);  // 1.2 minimum is 64
  CHECK(r.ctx->set_tx_max_payload_len(16385) == -EINVAL);
  REQUIRE(r.ctx->set_tx_max_payload_len(64) == 0);
  REQUIRE(r.send(pattern(130, 13)) == 130);
  REQUIRE(r.tcp.pushes.size() == 7);
  CHECK(r.tcp.pushes[4].len == 64 + kOverhead12);
  CHECK(r.tcp.pushes[5].len == 64 + kOverhead12);
  CHECK(r.tcp.pushes[6].len == 2 + kOverhead12);

  Rig r13(TlsVersion::tls13, Cipher::aes256gcm, 0);
  CHECK(r13.ctx->set_tx_max_payload_len(62) == -EINVAL);
  REQUIRE(r13.ctx->set_tx_max_payload_len(63) == 0);  // 1.3: record_size_limit - 1
  REQUIRE(r13.send(pattern(100, 14)) == 100);
  REQUIRE(r13.tcp.pushes.size() == 2);
  CHECK(r13.tcp.pushes[0].len == 63 + kOverhead13);
  CHECK(r13.tcp.pushes[1].len == 37 + kOverhead13);

  // Before TLS_TX is set, and an out-of-range option at install time.
  HostMemory mem;
  FakeTcp tcp(mem, 0);
  TlsOffloadCtxTx unset(mem, tcp, {});
  CHECK(unset.set_tx_max_payload_len(1000) == -EINVAL);
  TlsOffloadCtxTx::Options bad;
  bad.tx_max_payload_len = 20000;
  TlsOffloadCtxTx badctx(mem, tcp, bad);
  FakeDev dev;
  CHECK(badctx.tls_set_device_offload(make_info(TlsVersion::tls12, Cipher::aes128gcm, 0), &dev) ==
        -EINVAL);
  CHECK(dev.adds == 0);
}

TEST_CASE("zero-length send: empty record, with MSG_MORE an empty open record") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 0);
  REQUIRE(r.ctx->sendmsg(nullptr, 0, 0) == 0);
  REQUIRE(r.tcp.pushes.size() == 1);
  CHECK(r.tcp.pushes[0].len == kOverhead12);
  CHECK(hdr_len(r.tcp.pushes[0].bytes) == 24);
  REQUIRE(r.ctx->sendmsg(nullptr, 0, MSG_MORE) == 0);
  CHECK(r.ctx->has_open_record());
  CHECK(r.tcp.pushes.size() == 1);
  auto d = pattern(5, 15);
  REQUIRE(r.send(d) == 5);
  REQUIRE(r.tcp.pushes.size() == 2);
  CHECK(r.tcp.pushes[1].len == 5 + kOverhead12);

  Rig r13(TlsVersion::tls13, Cipher::aes256gcm, 0);
  REQUIRE(r13.ctx->sendmsg(nullptr, 0, 0) == 0);
  REQUIRE(r13.tcp.pushes.size() == 1);
  CHECK(r13.tcp.pushes[0].len == kOverhead13);
  CHECK(hdr_len(r13.tcp.pushes[0].bytes) == 17);
  CHECK(r13.tcp.pushes[0].bytes[5] == 0x17);
}

TEST_CASE("send space: -EAGAIN, partial count, last_record flush") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 0);
  r.tcp.space = 0;
  CHECK(r.send(pattern(10, 16)) == -EAGAIN);
  CHECK(r.tcp.pushes.empty());
  CHECK_FALSE(r.ctx->has_open_record());

  // Space for one record only: a 40000-byte send stops after the first full record.
  r.tcp.space = 16413;
  REQUIRE(r.send(pattern(40000, 17)) == 16384);
  REQUIRE(r.tcp.pushes.size() == 1);
  CHECK_FALSE(r.ctx->has_open_record());

  // An open MSG_MORE record when space runs out: kept open under MSG_MORE, else flushed.
  r.tcp.space = 1000000;
  REQUIRE(r.send(pattern(100, 18), MSG_MORE) == 100);
  r.tcp.space = 0;
  CHECK(r.send(pattern(10, 19), MSG_MORE) == -EAGAIN);
  CHECK(r.ctx->has_open_record());
  CHECK(r.tcp.pushes.size() == 1);
  CHECK(r.send(pattern(10, 20)) == 0);
  CHECK_FALSE(r.ctx->has_open_record());
  REQUIRE(r.tcp.pushes.size() == 2);
  CHECK(r.tcp.pushes[1].len == 100 + kOverhead12);

  // An EMPTY open record is not flushed when space runs out (kernel: only len > prepend).
  r.tcp.space = 1000000;
  REQUIRE(r.ctx->sendmsg(nullptr, 0, MSG_MORE) == 0);
  CHECK(r.ctx->has_open_record());
  r.tcp.space = 0;
  CHECK(r.send(pattern(10, 21)) == -EAGAIN);
  CHECK(r.ctx->has_open_record());
  CHECK(r.tcp.pushes.size() == 2);
}

TEST_CASE("tls_get_record: starts, ends, inside, before the marker, acked, hint") {
  for (uint32_t isn : {1000u, 0xffffff00u}) {  // second run: records straddle the seq wrap
    INFO("isn " << isn);
    Rig r(TlsVersion::tls12, Cipher::aes128gcm, 5, isn);
    const uint32_t start = isn + 200;
    const size_t sizes[] = {1000, 10, 16384, 3, 500};
    for (size_t i = 0; i < 5; ++i) REQUIRE(r.send(pattern(sizes[i], 30 + i)) == long(sizes[i]));
    std::vector<uint32_t> rs, re;  // record start / end seqs
    uint32_t s = start;
    for (size_t i = 0; i < 5; ++i) {
      rs.push_back(s);
      s += static_cast<uint32_t>(sizes[i] + kOverhead12);
      re.push_back(s);
    }
    uint64_t sn = 0;
    // Before the offload start: the start marker, record number rec_seq - 1.
    const TlsRecordInfo* m = r.ctx->tls_get_record(start - 1, &sn);
    REQUIRE(m != nullptr);
    CHECK(m->len == 0);
    CHECK(sn == 4);
    REQUIRE(r.ctx->tls_get_record(start - 200, &sn) == m);
    for (size_t i = 0; i < 5; ++i) {
      for (uint32_t q : {rs[i], rs[i] + 1, rs[i] + 13, re[i] - 16, re[i] - 1}) {
        sn = 0;
        const TlsRecordInfo* rec = r.ctx->tls_get_record(q, &sn);
        INFO("record " << i << " seq " << q);
        REQUIRE(rec != nullptr);
        CHECK(rec->end_seq == re[i]);
        CHECK(tls_record_start_seq(*rec) == rs[i]);
        CHECK(sn == 5 + i);
      }
    }
    CHECK(r.ctx->tls_get_record(re[4], &sn) == nullptr);  // one past the last record
    CHECK(r.ctx->tls_get_record(re[4] + 5000, &sn) == nullptr);
    // The hint makes a forward lookup skip the head; a backward lookup restarts from it.
    const uint64_t hits0 = r.ctx->counters().get_record_hint_hits;
    REQUIRE(r.ctx->tls_get_record(rs[3], &sn) != nullptr);
    REQUIRE(r.ctx->tls_get_record(rs[4] + 2, &sn) != nullptr);
    CHECK(sn == 9);
    CHECK(r.ctx->counters().get_record_hint_hits == hits0 + 1);
    REQUIRE(r.ctx->tls_get_record(rs[0] + 2, &sn) != nullptr);
    CHECK(sn == 5);
    CHECK(r.ctx->counters().get_record_hint_hits == hits0 + 1);

    // ACK exactly the offload start: only the marker goes, unacked_record_sn = rec_seq.
    r.ctx->clean_acked(start);
    CHECK(r.ctx->records_in_list() == 5);
    CHECK(r.ctx->unacked_record_sn() == 5);
    CHECK(r.ctx->counters().records_acked == 0);
    // Now the head is a real record: seqs before it fail the between() check.
    CHECK(r.ctx->tls_get_record(start - 1, &sn) == nullptr);
    // The hint (record 4, set above) is in use; ACK part-way into record 1 frees record 0.
    REQUIRE(r.ctx->tls_get_record(rs[4], &sn) != nullptr);
    r.ctx->clean_acked(rs[1] + 7);
    CHECK(r.ctx->records_in_list() == 4);
    CHECK(r.ctx->unacked_record_sn() == 6);
    CHECK(r.ctx->tls_get_record(rs[0] + 5, &sn) == nullptr);  // already acked
    REQUIRE(r.ctx->tls_get_record(rs[1], &sn) != nullptr);  // partially acked stays whole
    CHECK(sn == 6);
    // ACK up to the hint's record: the hint (record 4) survives at its new list index.
    r.ctx->clean_acked(re[3]);
    CHECK(r.ctx->records_in_list() == 1);
    CHECK(r.ctx->unacked_record_sn() == 9);
    CHECK(r.ctx->counters().records_acked == 4);
    const TlsRecordInfo* last = r.ctx->tls_get_record(rs[4] + 100, &sn);
    REQUIRE(last != nullptr);
    CHECK(sn == 9);
    CHECK(last->end_seq == re[4]);
    CHECK(r.ctx->tls_get_record(rs[3], &sn) == nullptr);
    // ACK covering the hint's record clears the hint with it.
    r.ctx->clean_acked(re[4]);
    CHECK(r.ctx->records_in_list() == 0);
    CHECK(r.ctx->unacked_record_sn() == 10);
    CHECK(r.ctx->tls_get_record(re[4] - 1, &sn) == nullptr);
    REQUIRE(r.send(pattern(20, 50)) == 20);
    const uint64_t hits1 = r.ctx->counters().get_record_hint_hits;
    const TlsRecordInfo* next = r.ctx->tls_get_record(re[4] + 3, &sn);
    REQUIRE(next != nullptr);
    CHECK(sn == 10);
    CHECK(next->end_seq == re[4] + 20 + kOverhead12);
    CHECK(r.ctx->counters().get_record_hint_hits == hits1);  // not from a stale hint
  }
}

TEST_CASE("tls_get_record agrees with a linear search for lookups in any order") {
  Rig r(TlsVersion::tls13, Cipher::aes256gcm, 77, 0xfffff000u);
  std::vector<uint32_t> rs, re;
  uint32_t s = r.ctx->start_marker_seq();
  for (int i = 0; i < 40; ++i) {
    const size_t n = pattern(1, 100 + i)[0] * 37u;
    REQUIRE(r.send(pattern(n, 200 + i)) == long(n));
    rs.push_back(s);
    s += static_cast<uint32_t>(n + kOverhead13);
    re.push_back(s);
  }
  auto lookups = pattern(4000, 99);
  size_t acked = 0;
  for (size_t k = 0; k + 3 < lookups.size(); k += 4) {
    const uint32_t off = (uint32_t(lookups[k]) << 16 | uint32_t(lookups[k + 1]) << 8 |
                          lookups[k + 2]) % (s - rs[0] + 100);
    const uint32_t q = rs[0] - 50 + off;
    // Expected: first unacked record with end_seq after q, if q is not before its start.
    int64_t want = -1;
    for (size_t i = acked; i < rs.size(); ++i) {
      if (static_cast<int32_t>(q - re[i]) < 0) {
        if (static_cast<int32_t>(q - rs[i]) >= 0) want = int64_t(i);
        break;
      }
    }
    uint64_t sn = 0;
    const TlsRecordInfo* rec = r.ctx->tls_get_record(q, &sn);
    const bool before_start = static_cast<int32_t>(q - rs[0]) < 0;
    INFO("q " << q << " acked " << acked);
    if (before_start && acked == 0) {
      REQUIRE(rec != nullptr);  // start marker still there
      CHECK(rec->len == 0);
      CHECK(sn == 76);
    } else if (want < 0) {
      CHECK(rec == nullptr);
    } else {
      REQUIRE(rec != nullptr);
      CHECK(rec->end_seq == re[size_t(want)]);
      CHECK(sn == 77 + uint64_t(want));
    }
    if (lookups[k + 3] < 8 && acked < rs.size() - 1) {  // now and then, ACK one more record
      r.ctx->clean_acked(re[acked]);
      acked++;
      CHECK(r.ctx->unacked_record_sn() == 77 + acked);
    }
  }
  CHECK(acked > 3);
  CHECK(r.ctx->counters().get_record_hint_hits > 10);  // 19 with this seed
}

TEST_CASE("host memory: records referenced until ACK and TCP release, destructor frees") {
  HostMemory mem;
  FakeTcp tcp(mem, 5);
  FakeDev dev;
  const size_t base = mem.live_regions();
  {
    TlsOffloadCtxTx ctx(mem, tcp, {});
    REQUIRE(ctx.tls_set_device_offload(make_info(TlsVersion::tls12, Cipher::aes256gcm, 0), &dev) ==
            0);
    for (int i = 0; i < 4; ++i) REQUIRE(ctx.sendmsg(pattern(3000, i).data(), 3000, 0) == 3000);
    CHECK(mem.live_regions() == base + 4);
    // Each region sized for the largest record: prepend + max payload + tail + tag.
    CHECK(mem.bytes_live() == 4 * (13 + 16384 + 16));
    ctx.clean_acked(ctx.records_list()[2].end_seq);  // marker + 2 records
    CHECK(mem.live_regions() == base + 4);            // TCP still holds them
    tcp.release_all();
    CHECK(mem.live_regions() == base + 2);            // the list holds the other two
    ctx.clean_acked(tcp.write_seq());
    CHECK(mem.live_regions() == base);
    REQUIRE(ctx.sendmsg(pattern(10, 9).data(), 10, 0) == 10);
    REQUIRE(ctx.sendmsg(pattern(10, 9).data(), 10, MSG_MORE) == 10);
    CHECK(mem.live_regions() == base + 2);
    CHECK(dev.dels == 0);
  }
  CHECK(dev.dels == 1);  // socket destroyed while offloaded
  CHECK(mem.live_regions() == base + 1);  // TCP's reference to the last pushed record
  tcp.release_all();
  CHECK(mem.live_regions() == base);
  CHECK(mem.bytes_live() == 0);
}

TEST_CASE("software kTLS when offload is refused: sealed records TCP can send as is") {
  struct Case {
    TlsVersion v;
    Cipher c;
    bool dev_present;
    int add_result;
    bool tls13_offload;
    size_t want_eor;
    int want_adds;
  };
  const Case cases[] = {
      {TlsVersion::tls12, Cipher::aes128gcm, false, 0, true, 0, 0},    // no capable device
      {TlsVersion::tls13, Cipher::aes256gcm, true, -95, true, 1, 1},   // tls_dev_add fails
      {TlsVersion::tls13, Cipher::aes128gcm, true, 0, false, 0, 0},    // mainline: 1.3 → SW
  };
  for (const Case& k : cases) {
    INFO("version " << int(k.v) << " dev " << k.dev_present);
    TlsOffloadCtxTx::Options opt;
    opt.tls13_offload = k.tls13_offload;
    HostMemory mem;
    FakeTcp tcp(mem, 0xfffffff0u);
    FakeDev dev;
    dev.add_result = k.add_result;
    const size_t base = mem.live_regions();
    const uint64_t rec_seq0 = 3;
    CryptoInfo info = make_info(k.v, k.c, rec_seq0);
    {
      TlsOffloadCtxTx ctx(mem, tcp, opt);
      REQUIRE(ctx.tls_set_device_offload(info, k.dev_present ? &dev : nullptr) == 0);
      CHECK(ctx.sw_mode());
      CHECK_FALSE(ctx.device_offloaded());
      CHECK(ctx.tls_stat().TlsTxSw == 1);
      CHECK(ctx.tls_stat().TlsCurrTxSw == 1);
      CHECK(ctx.tls_stat().TlsTxDevice == 0);
      CHECK(tcp.eor_at.size() == k.want_eor);
      CHECK(dev.adds == k.want_adds);
      CHECK(ctx.records_in_list() == 0);
      auto d1 = pattern(20000, 40), d2 = pattern(33, 41);
      REQUIRE(ctx.sendmsg(d1.data(), d1.size(), 0) == 20000);
      REQUIRE(ctx.sendmsg(d2.data(), d2.size(), 0, 0x15) == 33);
      REQUIRE(tcp.pushes.size() == 3);
      CHECK(mem.live_regions() == base + 3);  // TCP's references only
      uint64_t sn = 0;
      CHECK(ctx.tls_get_record(tcp.pushes[0].seq, &sn) == nullptr);
      CHECK(ctx.counters().sw_records_sealed == 3);
      const std::vector<uint8_t>* want_pt[] = {nullptr, nullptr, &d2};
      std::vector<uint8_t> first(d1.begin(), d1.begin() + 16384);
      std::vector<uint8_t> second(d1.begin() + 16384, d1.end());
      want_pt[0] = &first;
      want_pt[1] = &second;
      const uint8_t want_type[] = {0x17, 0x17, 0x15};
      for (size_t i = 0; i < 3; ++i) {
        const auto& p = tcp.pushes[i];
        INFO("record " << i);
        CHECK_FALSE(p.decrypted);
        uint8_t type = 0;
        std::vector<uint8_t> pt;
        REQUIRE(crypto::tls_open_record(ctx.keys(), rec_seq0 + i, p.bytes.data(), p.bytes.size(),
                                        &type, &pt));
        CHECK(type == want_type[i]);
        CHECK(pt == *want_pt[i]);
        // Byte-exact against a TLS library's sealing (explicit nonce = iv + index).
        uint8_t en[8];
        put_be64(get_be64(info.iv) + i, en);
        CHECK(crypto::tls_seal_record(ctx.keys(), rec_seq0 + i, want_type[i], want_pt[i]->data(),
                                      want_pt[i]->size(), en) == p.bytes);
      }
      // The fallback has nothing to do for ciphertext.
      std::vector<uint8_t> out(10);
      CHECK(ctx.sw_fallback(tcp.pushes[0].seq, tcp.pushes[0].bytes.data(), 10, out.data()) ==
            TlsOffloadCtxTx::Fallback::passthrough);
      CHECK(std::memcmp(out.data(), tcp.pushes[0].bytes.data(), 10) == 0);
    }
    CHECK(dev.dels == 0);
    tcp.release_all();
    CHECK(mem.live_regions() == base);
  }
}

TEST_CASE("refused requests: bad version/cipher, EEXIST, rec_seq wrap EBADMSG") {
  HostMemory mem;
  FakeTcp tcp(mem, 0);
  FakeDev dev;
  {
    TlsOffloadCtxTx ctx(mem, tcp, {});
    CryptoInfo bad = make_info(TlsVersion::tls12, Cipher::aes128gcm, 0);
    bad.version = static_cast<TlsVersion>(0x0302);
    CHECK(ctx.tls_set_device_offload(bad, &dev) == -EINVAL);
    bad = make_info(TlsVersion::tls12, Cipher::aes128gcm, 0);
    bad.cipher = static_cast<Cipher>(7);
    CHECK(ctx.tls_set_device_offload(bad, &dev) == -EINVAL);
    CHECK(ctx.sendmsg(nullptr, 0, 0) == -EINVAL);  // not a TLS socket yet
    CHECK(dev.adds == 0);
    REQUIRE(ctx.tls_set_device_offload(make_info(TlsVersion::tls12, Cipher::aes128gcm, 0),
                                       nullptr) == 0);
    CHECK(ctx.tls_set_device_offload(make_info(TlsVersion::tls12, Cipher::aes128gcm, 0), &dev) ==
          -EEXIST);
    CHECK(dev.adds == 0);
  }
  const size_t base = mem.live_regions();
  for (bool sw : {false, true}) {
    INFO("sw " << sw);
    FakeTcp t2(mem, 0);
    {
      TlsOffloadCtxTx ctx(mem, t2, {});
      REQUIRE(ctx.tls_set_device_offload(
                  make_info(TlsVersion::tls12, Cipher::aes128gcm, UINT64_MAX - 1),
                  sw ? nullptr : &dev) == 0);
      REQUIRE(ctx.sendmsg(pattern(5, 1).data(), 5, 0) == 5);  // record 2^64 - 2: fine
      CHECK(ctx.sendmsg(pattern(5, 2).data(), 5, 0) == -EBADMSG);  // 2^64 - 1 would wrap
      CHECK(ctx.sk_err() == EBADMSG);
      CHECK(t2.pushes.size() == 1);
      CHECK(ctx.sendmsg(pattern(5, 3).data(), 5, 0) == -EBADMSG);  // sticky
      CHECK(ctx.sendmsg(pattern(5, 3).data(), 5, 0, 0x15) == -EBADMSG);
      CHECK(t2.pushes.size() == 1);
      CHECK(ctx.records_in_list() == (sw ? 0u : 2u));
    }
    t2.release_all();
    CHECK(mem.live_regions() == base);
  }
  // rec_seq = 2^64 - 1: the very first send fails (selftest recseq_wrap).
  FakeTcp t3(mem, 0);
  TlsOffloadCtxTx ctx(mem, t3, {});
  REQUIRE(ctx.tls_set_device_offload(make_info(TlsVersion::tls13, Cipher::aes256gcm, UINT64_MAX),
                                     &dev) == 0);
  CHECK(ctx.sendmsg(pattern(5, 1).data(), 5, 0) == -EBADMSG);
  CHECK(t3.pushes.empty());
}

TEST_CASE("TX resync request: fence and tls_dev_resync at the next record, retried on error") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 10);
  REQUIRE(r.send(pattern(100, 1)) == 100);
  r.ctx->tls_offload_tx_resync_request(1300, 1250);
  CHECK(r.ctx->tls_offload_tx_resync_pending());
  r.dev.resync_result = -5;
  const uint32_t seq1 = r.tcp.write_seq();
  REQUIRE(r.send(pattern(50, 2)) == 50);
  REQUIRE(r.dev.resyncs.size() == 1);
  CHECK(r.dev.resyncs[0].seq == seq1);
  CHECK(r.dev.resyncs[0].rcd_sn == 11);
  CHECK(r.ctx->tls_offload_tx_resync_pending());  // failed: retried next time
  CHECK(r.tcp.eor_at.back() == seq1);
  r.dev.resync_result = 0;
  const uint32_t seq2 = r.tcp.write_seq();
  REQUIRE(r.send(pattern(50, 3)) == 50);
  REQUIRE(r.dev.resyncs.size() == 2);
  CHECK(r.dev.resyncs[1].seq == seq2);
  CHECK(r.dev.resyncs[1].rcd_sn == 12);
  CHECK_FALSE(r.ctx->tls_offload_tx_resync_pending());
  CHECK(r.tcp.eor_at.size() == 3);  // offload start + two resync fences
  REQUIRE(r.send(pattern(50, 4)) == 50);
  CHECK(r.dev.resyncs.size() == 2);
  // Device down: ctx->netdev is gone, the flag just clears.
  r.ctx->tls_device_down();
  CHECK(r.dev.dels == 1);
  CHECK(r.ctx->device_down());
  CHECK_FALSE(r.ctx->device_offloaded());
  r.ctx->tls_offload_tx_resync_request(0, 0);
  REQUIRE(r.send(pattern(50, 5)) == 50);
  CHECK(r.dev.resyncs.size() == 2);
  CHECK_FALSE(r.ctx->tls_offload_tx_resync_pending());
  // tx_conf stays TLS_HW: plaintext records keep going to TCP marked decrypted.
  CHECK(r.tcp.pushes.back().decrypted);
  r.ctx->tls_device_down();
  CHECK(r.dev.dels == 1);
  r.ctx.reset();
  CHECK(r.dev.dels == 1);  // no second tls_dev_del at destruction
}
