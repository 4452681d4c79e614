// TLS record protection: the known-answer records of the kTLS reference (TLS 1.2 and 1.3,
// "Hello world"), fourteen real TLS 1.3 records from The Illustrated TLS 1.3 Connection, and
// the ways a record must fail to open.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/crypto/tls_record.h"
#include "testbench/common/vectors.h"

using namespace nicsim::crypto;
using nicsim::testbench::from_hex;
using nicsim::testbench::to_hex;
using Bytes = std::vector<uint8_t>;

namespace {

std::string hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

Bytes read_bytes(const std::string& rel) {
  const std::string path = nicsim::testbench::vectors_dir() + "/" + rel;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TlsKeys make_keys(TlsVersion ver, Cipher c, const std::string& key_hex, const std::string& iv12_hex) {
  TlsKeys k;
  k.version = ver;
  k.cipher = c;
  const Bytes key = from_hex(key_hex), iv = from_hex(iv12_hex);
  REQUIRE(key.size() == key_bytes(c));
  REQUIRE(iv.size() == 12);
  std::memcpy(k.key, key.data(), key.size());
  std::memcpy(k.salt, iv.data(), 4);  // TLS 1.3 static IV = salt(4) || iv(8), as in crypto_info
  std::memcpy(k.iv, iv.data() + 4, 8);
  return k;
}

const Bytes kHello = {'H', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};

// Opens rec and checks content and type; then re-seals and checks every byte.
void open_and_reseal(const TlsKeys& k, uint64_t seq, const Bytes& rec, uint8_t want_type,
                     const Bytes& want_pt) {
  uint8_t type = 0;
  Bytes pt;
  REQUIRE(tls_open_record(k, seq, rec.data(), rec.size(), &type, &pt));
  CHECK(int(type) == int(want_type));
  CHECK(hex(pt) == hex(want_pt));
  // TLS 1.2 records carry their explicit nonce; re-seal with the one on the wire.
  const uint8_t* explicit_nonce =
      k.version == TlsVersion::tls12 ? rec.data() + kTlsHeaderBytes : nullptr;
  const Bytes again = tls_seal_record(k, seq, type, pt.data(), pt.size(), explicit_nonce);
  CHECK(hex(again) == hex(rec));
}

}  // namespace

TEST_CASE("Record sizes match init_prot_info", "[crypto][tls]") {
  STATIC_REQUIRE(tls_prepend_bytes(TlsVersion::tls12) == 13);
  STATIC_REQUIRE(tls_prepend_bytes(TlsVersion::tls13) == 5);
  STATIC_REQUIRE(tls_overhead_bytes(TlsVersion::tls12) == 29);
  STATIC_REQUIRE(tls_overhead_bytes(TlsVersion::tls13) == 22);
}

TEST_CASE("Nonce and AAD constructions, byte by byte", "[crypto][tls]") {
  const uint8_t salt[4] = {0xa0, 0xa1, 0xa2, 0xa3};
  const uint8_t iv[8] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
  uint8_t nonce[12];
  tls12_nonce(salt, iv, nonce);
  CHECK(to_hex(nonce, 12) == "a0a1a2a31011121314151617");
  tls13_nonce(salt, iv, 0x0102030405060708ull, nonce);
  CHECK(to_hex(nonce, 12) == "a0a1a2a3111311171113111f");
  tls13_nonce(salt, iv, 0, nonce);
  CHECK(to_hex(nonce, 12) == "a0a1a2a31011121314151617");
  uint8_t aad[13];
  tls12_aad(0x0102030405060708ull, 0x16, 0x4000, aad);
  CHECK(to_hex(aad, 13) == "0102030405060708160303" "4000");
}

TEST_CASE("TLS 1.2 explicit nonce rule: iv + (seq - rec_seq0), big-endian, wrapping", "[crypto][tls]") {
  TlsKeys k;
  uint8_t en[8];
  tls12_explicit_nonce(k, 1, en);
  CHECK(to_hex(en, 8) == "0000000000000001");
  const uint8_t iv[8] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff};
  std::memcpy(k.iv, iv, 8);
  k.rec_seq0 = 5;
  tls12_explicit_nonce(k, 7, en);  // two records after the installed one; carries a byte
  CHECK(to_hex(en, 8) == "0000000000000101");
  tls12_explicit_nonce(k, 5, en);
  CHECK(to_hex(en, 8) == "00000000000000ff");
  std::memset(k.iv, 0xff, 8);
  tls12_explicit_nonce(k, 6, en);  // wraps modulo 2^64
  CHECK(to_hex(en, 8) == "0000000000000000");
  // Sealing with nullptr uses exactly that rule.
  k.version = TlsVersion::tls12;
  k.rec_seq0 = 0x1234;
  const Bytes rec = tls_seal_record(k, 0x1236, kTlsContentAppData, kHello.data(), kHello.size());
  CHECK(to_hex(rec.data() + 5, 8) == "0000000000000001");
  const uint8_t given[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const Bytes rec2 = tls_seal_record(k, 0x1236, kTlsContentAppData, kHello.data(), kHello.size(), given);
  CHECK(to_hex(rec2.data() + 5, 8) == "0102030405060708");
  // The record carries its nonce: both open with the same keys and seq.
  CHECK(tls_open_record(k, 0x1236, rec.data(), rec.size(), nullptr, nullptr));
  CHECK(tls_open_record(k, 0x1236, rec2.data(), rec2.size(), nullptr, nullptr));
}

// Source: /work/shared/reference/kernel-ktls-offload.md §5.3 (computed with python
// cryptography 48 / OpenSSL 3.0.19): "Hello world", key/salt/iv all zero, rec_seq from 0.
TEST_CASE("Known-answer records: Hello world with all-zero keys", "[crypto][tls][kat]") {
  struct Kat {
    TlsVersion ver;
    Cipher cipher;
    uint64_t seq;
    const char* record;
  };
  const Kat kats[] = {
      {TlsVersion::tls12, Cipher::aes128gcm, 0,
       "170303002300000000000000004bedb6a20f96d4fd8144a6b9c8b0f669622e8c75a707fa8d97541a"},
      {TlsVersion::tls12, Cipher::aes128gcm, 1,
       "170303002300000000000000012664b55c68a805d2295e88ee0e0e396b2f1ad8f8a13ab614ba07cd"},
      {TlsVersion::tls12, Cipher::aes256gcm, 0,
       "1703030023000000000000000086c22c5122401c017522a128c5baaaf34e4a6d07f65627019c46d6"},
      {TlsVersion::tls13, Cipher::aes128gcm, 0,
       "170303001c4bedb6a20f96d4fd8144a6ae69f1c443ba87832877f27ec8f2d244c0"},
      {TlsVersion::tls13, Cipher::aes128gcm, 1,
       "170303001c2664b55c68a805d2295e8883c9e0e64635d0b73ed13c074081bf4a52"},
  };
  for (const Kat& kat : kats) {
    INFO("record " << kat.record);
    TlsKeys k;
    k.version = kat.ver;
    k.cipher = kat.cipher;
    const Bytes want = from_hex(kat.record);
    // nullptr explicit nonce: iv (0) + seq, the kernel's nonce for these records.
    const Bytes rec = tls_seal_record(k, kat.seq, kTlsContentAppData, kHello.data(), kHello.size());
    CHECK(hex(rec) == kat.record);
    CHECK(rec.size() == kHello.size() + tls_overhead_bytes(kat.ver));
    open_and_reseal(k, kat.seq, want, kTlsContentAppData, kHello);
  }
}

// Keys and IVs: traces/vectors/README.md §3a/§3b (copied from /work/shared/vectors/README.md,
// derived there from each folder's keylog.txt with HKDF-Expand-Label). Records and their
// plaintexts: illustrated-tls13 (MIT, Copyright (c) 2018 Michael Driscoll).
namespace {

struct RealRecord {
  const char* cipher_file;
  const char* plain_file;  // TLSInnerPlaintext: content || type (no padding in these captures)
  int keys;                // index into the key table
  uint64_t seq;
};

void check_real_records(Cipher c, const char* dir, const char* const keys[4][2],
                        const RealRecord* recs, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const RealRecord& r = recs[i];
    INFO(dir << r.cipher_file << " seq " << r.seq);
    const TlsKeys k = make_keys(TlsVersion::tls13, c, keys[r.keys][0], keys[r.keys][1]);
    const Bytes rec = read_bytes(std::string(dir) + r.cipher_file);
    const Bytes inner = read_bytes(std::string(dir) + r.plain_file);
    REQUIRE(inner.size() >= 2);
    REQUIRE(rec.size() == inner.size() + kTlsHeaderBytes + kGcmTagBytes);
    const Bytes content(inner.begin(), inner.end() - 1);
    open_and_reseal(k, r.seq, rec, inner.back(), content);
    // Every record here is a handshake (0x16) or application data (0x17) record.
    CHECK((inner.back() == kTlsContentHandshake || inner.back() == kTlsContentAppData));
    // The neighbouring sequence numbers must not open it.
    CHECK_FALSE(tls_open_record(k, r.seq + 1, rec.data(), rec.size(), nullptr, nullptr));
    if (r.seq > 0) CHECK_FALSE(tls_open_record(k, r.seq - 1, rec.data(), rec.size(), nullptr, nullptr));
  }
}

}  // namespace

TEST_CASE("Illustrated TLS 1.3 (AES-256-GCM): nine real records open and re-seal", "[crypto][tls][real]") {
  // /work/shared/vectors/README.md §3a, illustrated-tls13/captures, TLS_AES_256_GCM_SHA384.
  const char* const keys[4][2] = {
      {"9f13575ce3f8cfc1df64a77ceaffe89700b492ad31b4fab01c4792be1b266b7f", "9563bc8b590f671f488d2da3"},  // server hs
      {"1135b4826a9a70257e5a391ad93093dfd7c4214812f493b3e3daae1eb2b1ac69", "4256d2e0e88babdd05eb2f27"},  // client hs
      {"01f78623f17e3edcc09e944027ba3218d57c8e0db93cd3ac419309274700ac27", "196a750b0c5049c0cc51a541"},  // server app
      {"de2f4c7672723a692319873e5c227606691a32d1c59d8b9f51dbb9352e9ca9cc", "bb007956f474b25de902432f"},  // client app
  };
  const RealRecord recs[] = {
      {"serverencextensions", "serverextensions", 0, 0},
      {"serverenccert", "servercert", 0, 1},
      {"serverenccertverify", "servercertverify", 0, 2},
      {"serverencfinished", "serverfinished", 0, 3},
      {"clientencfinished", "clientfinished", 1, 0},
      {"clientencdata", "clientdata", 3, 0},
      {"serverencticket1", "serverticket1", 2, 0},
      {"serverencticket2", "serverticket2", 2, 1},
      {"serverencdata", "serverdata", 2, 2},
  };
  STATIC_REQUIRE(sizeof recs / sizeof recs[0] == 9);
  check_real_records(Cipher::aes256gcm, "illustrated-tls13/captures/caps/", keys, recs, 9);
  // "pong" from the server, as the README says.
  const TlsKeys k = make_keys(TlsVersion::tls13, Cipher::aes256gcm, keys[2][0], keys[2][1]);
  const Bytes rec = read_bytes("illustrated-tls13/captures/caps/serverencdata");
  Bytes pt;
  REQUIRE(tls_open_record(k, 2, rec.data(), rec.size(), nullptr, &pt));
  CHECK(std::string(pt.begin(), pt.end()) == "pong");
}

TEST_CASE("Illustrated TLS 1.3 archive (AES-128-GCM): five real records open and re-seal", "[crypto][tls][real]") {
  // /work/shared/vectors/README.md §3b, illustrated-tls13/archive/captures, TLS_AES_128_GCM_SHA256.
  const char* const keys[4][2] = {
      {"844780a7acad9f980fa25c114e43402a", "4c042ddc120a38d1417fc815"},  // server handshake
      {"7154f314e6be7dc008df2c832baa1d39", "71abc2cae4c699d47c600268"},  // client handshake
      {"0b6d22c8ff68097ea871c672073773bf", "1b13dd9f8d8f17091d34b349"},  // server application
      {"49134b95328f279f0183860589ac6707", "bc4dd5f7b98acff85466261d"},  // client application
  };
  const RealRecord recs[] = {
      {"serverenchandshake", "serverhandshake", 0, 0},
      {"clientfinished", "clientfinishedplain", 1, 0},
      {"clientdata", "clientdataplain", 3, 0},
      {"servertickets", "serverticketsplain", 2, 0},
      {"serverdata", "serverdataplain", 2, 1},
  };
  check_real_records(Cipher::aes128gcm, "illustrated-tls13/archive/captures/caps/", keys, recs, 5);
  const TlsKeys k = make_keys(TlsVersion::tls13, Cipher::aes128gcm, keys[3][0], keys[3][1]);
  const Bytes rec = read_bytes("illustrated-tls13/archive/captures/caps/clientdata");
  Bytes pt;
  REQUIRE(tls_open_record(k, 0, rec.data(), rec.size(), nullptr, &pt));
  CHECK(std::string(pt.begin(), pt.end()) == "ping");
}

TEST_CASE("Tampered records do not open", "[crypto][tls][negative]") {
  for (TlsVersion ver : {TlsVersion::tls12, TlsVersion::tls13}) {
    for (Cipher c : {Cipher::aes128gcm, Cipher::aes256gcm}) {
      TlsKeys k;
      k.version = ver;
      k.cipher = c;
      for (size_t i = 0; i < 32; ++i) k.key[i] = static_cast<uint8_t>(0x40 + i);
      std::memcpy(k.salt, "salt", 4);
      std::memcpy(k.iv, "explicit", 8);
      Bytes payload(1448);
      for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
      const uint64_t seq = 41;
      const Bytes rec = tls_seal_record(k, seq, kTlsContentAppData, payload.data(), payload.size());
      INFO("version " << std::hex << static_cast<unsigned>(ver) << " cipher " << cipher_name(c));
      REQUIRE(rec.size() == payload.size() + tls_overhead_bytes(ver));
      uint8_t type = 0x99;
      Bytes pt;
      REQUIRE(tls_open_record(k, seq, rec.data(), rec.size(), &type, &pt));
      CHECK(pt == payload);
      CHECK(type == kTlsContentAppData);

      auto rejects = [&](const Bytes& bad, uint64_t s, const TlsKeys& kk) {
        uint8_t t = 0x99;
        Bytes out{1, 2, 3};
        const bool ok = tls_open_record(kk, s, bad.data(), bad.size(), &t, &out);
        CHECK_FALSE(ok);
        CHECK(out.empty());  // no unauthenticated plaintext escapes
        CHECK(t == 0x99);
      };
      auto flipped = [&](size_t at) {
        Bytes b = rec;
        b.at(at) ^= 0x01;
        return b;
      };
      rejects(flipped(rec.size() - 1), seq, k);   // tag, last byte
      rejects(flipped(rec.size() - 16), seq, k);  // tag, first byte
      rejects(flipped(tls_prepend_bytes(ver)), seq, k);        // ciphertext, first byte
      rejects(flipped(rec.size() - 17), seq, k);  // ciphertext, last byte
      rejects(flipped(0), seq, k);                // content type (AAD in both versions)
      rejects(flipped(4), seq, k);                // length
      rejects(flipped(2), seq, k);                // version
      if (ver == TlsVersion::tls12) rejects(flipped(5), seq, k);  // explicit nonce
      rejects(rec, seq + 1, k);                   // wrong sequence number
      rejects(rec, seq - 1, k);
      rejects(rec, 0, k);
      TlsKeys wrong = k;
      wrong.key[0] ^= 0x80;
      rejects(rec, seq, wrong);
      wrong = k;
      wrong.salt[3] ^= 0x01;
      rejects(rec, seq, wrong);
      wrong = k;
      wrong.version = ver == TlsVersion::tls12 ? TlsVersion::tls13 : TlsVersion::tls12;
      rejects(rec, seq, wrong);
      // Truncated / extended / empty buffers.
      rejects(Bytes(rec.begin(), rec.end() - 1), seq, k);
      Bytes longer = rec;
      longer.push_back(0);
      rejects(longer, seq, k);
      rejects(Bytes(rec.begin(), rec.begin() + 5), seq, k);
      rejects(Bytes(), seq, k);
      CHECK_FALSE(tls_open_record(k, seq, nullptr, 0, nullptr, nullptr));
    }
  }
}

TEST_CASE("TLS 1.3 inner plaintext: padding stripped, all-zero rejected, type inside", "[crypto][tls]") {
  TlsKeys k;
  k.version = TlsVersion::tls13;
  k.cipher = Cipher::aes128gcm;
  std::memcpy(k.salt, "\x01\x02\x03\x04", 4);
  // Seal an inner plaintext by hand: header as AAD, nonce from the helper.
  auto seal_inner = [&](const Bytes& inner, uint64_t seq) {
    Bytes rec(5 + inner.size() + 16);
    rec[0] = 0x17, rec[1] = 3, rec[2] = 3;
    rec[3] = static_cast<uint8_t>((inner.size() + 16) >> 8);
    rec[4] = static_cast<uint8_t>(inner.size() + 16);
    uint8_t nonce[12];
    tls13_nonce(k.salt, k.iv, seq, nonce);
    gcm_encrypt(k.cipher, k.key, nonce, rec.data(), 5, inner.data(), inner.size(), rec.data() + 5,
                rec.data() + 5 + inner.size());
    return rec;
  };
  // Content "ab", type alert, three padding zeros.
  const Bytes padded = seal_inner({'a', 'b', 0x15, 0, 0, 0}, 3);
  uint8_t type = 0;
  Bytes pt;
  REQUIRE(tls_open_record(k, 3, padded.data(), padded.size(), &type, &pt));
  CHECK(type == kTlsContentAlert);
  CHECK(pt == Bytes{'a', 'b'});
  // A content ending in zero bytes survives (only zeros after the type are padding).
  const Bytes rec0 = tls_seal_record(k, 4, kTlsContentHandshake, Bytes{0, 0}.data(), 2);
  REQUIRE(tls_open_record(k, 4, rec0.data(), rec0.size(), &type, &pt));
  CHECK(type == kTlsContentHandshake);
  CHECK(pt == Bytes{0, 0});
  // Empty content is allowed; an all-zero inner plaintext has no type and must fail.
  const Bytes empty = tls_seal_record(k, 5, kTlsContentAppData, nullptr, 0);
  CHECK(empty.size() == 22);
  REQUIRE(tls_open_record(k, 5, empty.data(), empty.size(), &type, &pt));
  CHECK(pt.empty());
  const Bytes zeros = seal_inner({0, 0, 0, 0}, 6);
  CHECK_FALSE(tls_open_record(k, 6, zeros.data(), zeros.size(), &type, &pt));
  // The outer type of a TLS 1.3 record is always application_data.
  const Bytes hs = seal_inner({'x', 0x16}, 7);
  Bytes outer_hs = hs;
  outer_hs[0] = 0x16;
  CHECK(tls_open_record(k, 7, hs.data(), hs.size(), &type, &pt));
  CHECK_FALSE(tls_open_record(k, 7, outer_hs.data(), outer_hs.size(), &type, &pt));
  // Handshake type sealed by the library is hidden behind 0x17 on the wire.
  const Bytes sealed_hs = tls_seal_record(k, 7, kTlsContentHandshake, Bytes{'x'}.data(), 1);
  CHECK(hex(sealed_hs) == hex(hs));
  CHECK_THROWS_AS(tls_seal_record(k, 7, 0, Bytes{'x'}.data(), 1), std::invalid_argument);
}

TEST_CASE("Record size limits: 2^14 plaintext seals and opens, more does not", "[crypto][tls]") {
  for (TlsVersion ver : {TlsVersion::tls12, TlsVersion::tls13}) {
    TlsKeys k;
    k.version = ver;
    k.cipher = Cipher::aes256gcm;
    Bytes big(kTlsMaxPayload + 1, 0x5a);
    CHECK_THROWS_AS(tls_seal_record(k, 0, kTlsContentAppData, big.data(), big.size()),
                    std::invalid_argument);
    const Bytes rec = tls_seal_record(k, 9, kTlsContentAppData, big.data(), kTlsMaxPayload);
    // On-wire maxima from init_prot_info: 16413 (1.2) and 16406 (1.3).
    CHECK(rec.size() == (ver == TlsVersion::tls12 ? 16413u : 16406u));
    CHECK(((size_t(rec[3]) << 8) | rec[4]) == rec.size() - 5);
    Bytes pt;
    REQUIRE(tls_open_record(k, 9, rec.data(), rec.size(), nullptr, &pt));
    CHECK(pt == Bytes(big.begin(), big.end() - 1));
  }
}
