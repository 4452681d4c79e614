// tls_device_fallback.c emulator: software re-encryption of offloaded skbs, checked byte for
// byte against records sealed independently by crypto::tls_seal_record, and against the
// known-answer records of the reference (§5.3).
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "testbench/host/ktls/ktls_fixture.h"

using namespace nicsim;
using namespace nicsim::testbench::ktls;
using crypto::Cipher;
using crypto::TlsVersion;
using Fallback = TlsOffloadCtxTx::Fallback;

namespace {

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i + 1 < h.size(); i += 2) v.push_back(uint8_t(std::stoul(h.substr(i, 2), nullptr, 16)));
  return v;
}

// A connection with a mix of records: full-size, tiny, empty, a control record.
struct Stream {
  Stream(TlsVersion v, Cipher c, uint64_t rec_seq0, uint32_t isn)
      : tcp(mem, isn), info(make_info(v, c, rec_seq0)), rec_seq0(rec_seq0) {
    ctx = std::make_unique<TlsOffloadCtxTx>(mem, tcp, TlsOffloadCtxTx::Options{});
    tcp.write_pre_offload(300, 0xab);
    REQUIRE(ctx->tls_set_device_offload(info, &dev) == 0);
    start = ctx->start_marker_seq();
    const size_t sizes[] = {1000, 20000, 3, 0, 16384, 777, 5000};
    for (size_t i = 0; i < 7; ++i) {
      const uint8_t type = i == 5 ? 0x16 : 0x17;
      auto d = pattern(sizes[i], 60 + uint32_t(i));
      REQUIRE(ctx->sendmsg(d.data(), d.size(), 0, type) == long(d.size()));
    }
    wire = seal_pushes(ctx->keys(), rec_seq0, tcp.pushes);
    for (const auto& p : tcp.pushes) {
      rs.push_back(p.seq);
      re.push_back(p.seq + p.len);
    }
    end = re.back();
  }
  // Fallback of [seq, seq+len) compared with the oracle's wire bytes at the same offset.
  void check(uint32_t seq, uint32_t len) {
    INFO("seq " << seq << " (start+" << (seq - start) << ") len " << len);
    std::vector<uint8_t> out(len, 0x5a);
    REQUIRE(ctx->sw_fallback(seq, tcp.at(seq), len, out.data()) == Fallback::encrypted);
    const size_t off = seq - start;
    REQUIRE(off + len <= wire.size());
    CHECK(std::memcmp(out.data(), wire.data() + off, len) == 0);
  }
  HostMemory mem;
  FakeTcp tcp;
  FakeDev dev;
  CryptoInfo info;
  uint64_t rec_seq0;
  std::unique_ptr<TlsOffloadCtxTx> ctx;
  uint32_t start = 0, end = 0;
  std::vector<uint8_t> wire;
  std::vector<uint32_t> rs, re;
};

struct Config {
  TlsVersion v;
  Cipher c;
  uint64_t rec_seq0;
  uint32_t isn;
};
const Config kConfigs[] = {
    {TlsVersion::tls12, Cipher::aes128gcm, 5, 1000},
    {TlsVersion::tls12, Cipher::aes256gcm, 0, 0xffff0000u},  // records straddle the seq wrap
    {TlsVersion::tls13, Cipher::aes256gcm, 0, 0xffff8000u},
    {TlsVersion::tls13, Cipher::aes128gcm, 1234567, 42},
};

}  // namespace

TEST_CASE("fallback reproduces the reference known-answer records (zero key, Hello world)") {
  struct Kat {
    TlsVersion v;
    Cipher c;
    const char* rec0;
    const char* rec1;  // nullptr: not given
  };
  const Kat kats[] = {
      {TlsVersion::tls12, Cipher::aes128gcm,
       "170303002300000000000000004bedb6a20f96d4fd8144a6b9c8b0f669622e8c75a707fa8d97541a",
       "170303002300000000000000012664b55c68a805d2295e88ee0e0e396b2f1ad8f8a13ab614ba07cd"},
      {TlsVersion::tls12, Cipher::aes256gcm,
       "1703030023000000000000000086c22c5122401c017522a128c5baaaf34e4a6d07f65627019c46d6",
       nullptr},
      {TlsVersion::tls13, Cipher::aes128gcm,
       "170303001c4bedb6a20f96d4fd8144a6ae69f1c443ba87832877f27ec8f2d244c0",
       "170303001c2664b55c68a805d2295e8883c9e0e64635d0b73ed13c074081bf4a52"},
  };
  const std::string hello = "Hello world";
  for (const Kat& k : kats) {
    INFO(k.rec0);
    HostMemory mem;
    FakeTcp tcp(mem, 7);
    FakeDev dev;
    TlsOffloadCtxTx ctx(mem, tcp, {});
    CryptoInfo info;  // all-zero key, salt, iv, rec_seq
    info.version = k.v;
    info.cipher = k.c;
    REQUIRE(ctx.tls_set_device_offload(info, &dev) == 0);
    for (int i = 0; i < 2; ++i)
      REQUIRE(ctx.sendmsg(reinterpret_cast<const uint8_t*>(hello.data()), hello.size(), 0) == 11);
    std::vector<uint8_t> want = unhex(k.rec0);
    if (k.rec1) {
      auto r1 = unhex(k.rec1);
      want.insert(want.end(), r1.begin(), r1.end());
    } else {
      want.resize(tcp.stream.size());  // only record 0 is known
    }
    std::vector<uint8_t> out(tcp.stream.size());
    REQUIRE(ctx.sw_fallback(7, tcp.stream.data(), uint32_t(out.size()), out.data()) ==
            Fallback::encrypted);
    const size_t cmp = k.rec1 ? out.size() : unhex(k.rec0).size();
    CHECK(std::vector<uint8_t>(out.begin(), out.begin() + cmp) ==
          std::vector<uint8_t>(want.begin(), want.begin() + cmp));
  }
}

TEST_CASE("fallback: whole records and whole stream equal tls_seal_record output") {
  for (const Config& cf : kConfigs) {
    INFO("version " << int(cf.v) << " isn " << cf.isn);
    Stream s(cf.v, cf.c, cf.rec_seq0, cf.isn);
    REQUIRE(s.tcp.pushes.size() == 8);  // 20000 bytes make two records
    for (size_t i = 0; i < s.rs.size(); ++i) s.check(s.rs[i], s.re[i] - s.rs[i]);
    s.check(s.start, s.end - s.start);  // one big skb over every record
    CHECK(s.ctx->counters().fallback_prefix_bytes == 0);
  }
}

TEST_CASE("fallback: mid-record segments, records spanned, tag and header splits") {
  for (const Config& cf : kConfigs) {
    INFO("version " << int(cf.v) << " isn " << cf.isn);
    Stream s(cf.v, cf.c, cf.rec_seq0, cf.isn);
    const uint32_t tail = uint32_t(crypto::tls_tail_bytes(cf.v));
    // Starts mid-plaintext of record 1 and spans into record 2 (prefix from the image).
    const uint32_t seq = s.rs[1] + 5000;
    s.check(seq, (s.re[1] - seq) + 700);
    CHECK(s.ctx->counters().fallback_prefix_bytes == 5000);
    CHECK(s.ctx->counters().fallback_bytes == (s.re[1] - seq) + 700);
    s.check(s.rs[1] + 1, 1448);                       // one MSS, mid record
    s.check(s.rs[0] + 3, 10);                         // starts inside the header
    s.check(s.re[0] - 7, 100);                        // starts inside the tag
    s.check(s.re[0] - 16 - tail, 16 + tail);          // exactly the (type byte and) tag
    s.check(s.rs[0] + 10, s.re[0] - s.rs[0] - 10 - 5);  // ends inside the tag
    s.check(s.rs[0] + 10, s.re[0] - s.rs[0] - 10 - 17 - tail);  // ends 1 byte before type/tag
    s.check(s.rs[0] + 10, s.re[0] - s.rs[0] - 10 + 3);  // ends inside the next header
    s.check(s.rs[0] + 10, s.re[0] - s.rs[0] - 10 + 9);  // ends inside the explicit nonce
    s.check(s.rs[3], s.re[5] - s.rs[3] + 20);         // 3-byte and empty records and more
    s.check(s.rs[4] + 2, 1);                          // one byte of the empty record
    s.check(s.rs[6] + 100, s.end - s.rs[6] - 100);    // the control record (0x16) and the next
    s.check(s.rs[1] + 16000, s.end - s.rs[1] - 16000);  // a TSO-sized skb over 7 records
  }
}

TEST_CASE("fallback: random segments agree with the oracle") {
  for (const Config& cf : kConfigs) {
    INFO("version " << int(cf.v) << " isn " << cf.isn);
    Stream s(cf.v, cf.c, cf.rec_seq0, cf.isn);
    const uint32_t total = s.end - s.start;
    auto rnd = pattern(6 * 120, 7 + cf.isn);
    for (size_t k = 0; k < rnd.size(); k += 6) {
      const uint32_t off = (uint32_t(rnd[k]) << 16 | uint32_t(rnd[k + 1]) << 8 | rnd[k + 2]) % total;
      uint32_t len = 1 + (uint32_t(rnd[k + 3]) << 8 | rnd[k + 4]) % (rnd[k + 5] < 40 ? 65535 : 1448);
      if (off + len > total) len = total - off;
      s.check(s.start + off, len);
    }
  }
}

TEST_CASE("fallback: pre-offload passthrough, straddle drop, acked drop, device down") {
  for (const Config& cf : kConfigs) {
    INFO("version " << int(cf.v) << " isn " << cf.isn);
    Stream s(cf.v, cf.c, cf.rec_seq0, cf.isn);
    std::vector<uint8_t> out(70000, 0x33);
    const auto& c = s.ctx->counters();
    // Entirely before the start marker: unmodified.
    REQUIRE(s.ctx->sw_fallback(s.start - 300, s.tcp.at(s.start - 300), 300, out.data()) ==
            Fallback::passthrough);
    CHECK(std::memcmp(out.data(), s.tcp.at(s.start - 300), 300) == 0);
    REQUIRE(s.ctx->sw_fallback(s.start - 100, s.tcp.at(s.start - 100), 50, out.data()) ==
            Fallback::passthrough);
    CHECK(c.fallback_passthrough == 2);
    // Straddling the marker: dropped, output untouched.
    std::fill(out.begin(), out.end(), 0x33);
    CHECK(s.ctx->sw_fallback(s.start - 100, s.tcp.at(s.start - 100), 101, out.data()) ==
          Fallback::drop);
    CHECK(out[0] == 0x33);
    CHECK(c.fallback_drops == 1);
    // No payload: as is.
    CHECK(s.ctx->sw_fallback(s.rs[1] + 9, s.tcp.at(s.rs[1] + 9), 0, out.data()) ==
          Fallback::passthrough);
    // Beyond everything queued: no record.
    CHECK(s.ctx->sw_fallback(s.end, s.tcp.at(s.start), 10, out.data()) == Fallback::drop);

    // ACK through record 1: its bytes are gone (drop), later records still re-encrypt right,
    // with record numbers counted from the new head.
    s.ctx->clean_acked(s.re[1]);
    CHECK(s.ctx->unacked_record_sn() == cf.rec_seq0 + 2);
    CHECK(s.ctx->sw_fallback(s.rs[1] + 10, s.tcp.at(s.rs[1] + 10), 20, out.data()) ==
          Fallback::drop);
    CHECK(s.ctx->sw_fallback(s.re[1] - 10, s.tcp.at(s.re[1] - 10), 20, out.data()) ==
          Fallback::drop);  // the skb begins in acked data
    CHECK(s.ctx->sw_fallback(s.start - 10, s.tcp.at(s.start - 10), 5, out.data()) ==
          Fallback::drop);  // marker gone: pre-offload bytes are acked too
    s.check(s.rs[2], 3000);
    s.check(s.rs[4] + 77, 9000);

    // Device down: ctx->netdev cleared, tls_dev_del called, records keep coming in plaintext
    // and the fallback encrypts them (the app routes every skb through it).
    s.ctx->tls_device_down();
    CHECK(s.dev.dels == 1);
    auto more = pattern(2000, 99);
    REQUIRE(s.ctx->sendmsg(more.data(), more.size(), 0) == 2000);
    REQUIRE(s.tcp.pushes.size() == 9);
    CHECK(s.tcp.pushes[8].decrypted);
    auto wire = seal_pushes(s.ctx->keys(), cf.rec_seq0 + 8, {s.tcp.pushes[8]});
    std::vector<uint8_t> o(wire.size());
    REQUIRE(s.ctx->sw_fallback(s.tcp.pushes[8].seq, s.tcp.pushes[8].bytes.data(),
                               uint32_t(o.size()), o.data()) == Fallback::encrypted);
    CHECK(o == wire);
    s.check(s.rs[5], s.end - s.rs[5]);
  }
}
