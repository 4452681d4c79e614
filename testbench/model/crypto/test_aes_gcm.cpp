// AesGcmStream and the one-shot helpers against NIST CAVP GCMVS and Wycheproof vectors, plus
// the streaming properties the NIC model relies on (arbitrary split points, direction changes,
// re-keying, abandoned operations).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/crypto/aes_gcm.h"
#include "testbench/common/vectors.h"

using nicsim::crypto::AesGcmStream;
using nicsim::crypto::Cipher;
using nicsim::crypto::gcm_decrypt;
using nicsim::crypto::gcm_encrypt;
using nicsim::crypto::kGcmIvBytes;
using nicsim::crypto::kGcmTagBytes;
using nicsim::testbench::GcmVector;
using nicsim::testbench::to_hex;
using Bytes = std::vector<uint8_t>;

namespace {

Cipher cipher_for(const GcmVector& v) {
  REQUIRE((v.key.size() == 16 || v.key.size() == 32));
  return v.key.size() == 16 ? Cipher::aes128gcm : Cipher::aes256gcm;
}

std::string hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

// Encrypts v.pt through a freshly keyed stream; returns ct || tag.
Bytes stream_encrypt(AesGcmStream& s, const GcmVector& v, const Bytes& pt) {
  s.set_key(cipher_for(v), v.key.data());
  s.start(v.iv.data(), v.aad.data(), v.aad.size());
  Bytes out(pt.size() + kGcmTagBytes);
  s.update(pt.data(), out.data(), pt.size());
  s.finish_tag(out.data() + pt.size());
  return out;
}

// Checks one vector every way the library offers. A valid vector must encrypt to ct||tag
// (stream and one-shot) and decrypt to pt; an invalid one must fail the tag check.
void check_vector(AesGcmStream& s, const GcmVector& v) {
  INFO(v.source);
  REQUIRE(v.iv.size() == kGcmIvBytes);
  const Cipher c = cipher_for(v);
  const Bytes expect_ct_tag = [&] {
    Bytes b = v.ct;
    b.insert(b.end(), v.tag.begin(), v.tag.end());
    return b;
  }();

  if (v.valid) {
    REQUIRE(v.tag.size() == kGcmTagBytes);
    CHECK(hex(stream_encrypt(s, v, v.pt)) == hex(expect_ct_tag));
    Bytes ct(v.pt.size()), tag(kGcmTagBytes);
    gcm_encrypt(c, v.key.data(), v.iv.data(), v.aad.data(), v.aad.size(), v.pt.data(),
                v.pt.size(), ct.data(), tag.data());
    CHECK(hex(ct) == hex(v.ct));
    CHECK(hex(tag) == hex(v.tag));
  }

  // Decrypt through the stream (same key already installed or re-installed here).
  s.set_key(c, v.key.data());
  s.start(v.iv.data(), v.aad.data(), v.aad.size(), /*decrypt=*/true);
  Bytes pt(v.ct.size());
  s.update(v.ct.data(), pt.data(), v.ct.size());
  Bytes tag16(kGcmTagBytes, 0);
  // A tag of another length can never be the right 16-byte tag; check it as all-zero padded
  // and additionally require the vector to be invalid.
  std::memcpy(tag16.data(), v.tag.data(), std::min(v.tag.size(), kGcmTagBytes));
  const bool ok = s.finish_check(tag16.data());
  CHECK(ok == (v.valid && v.tag.size() == kGcmTagBytes));
  if (v.valid) CHECK(hex(pt) == hex(v.pt));

  Bytes pt2(v.ct.size(), 0xa5);
  const bool ok2 = gcm_decrypt(c, v.key.data(), v.iv.data(), v.aad.data(), v.aad.size(),
                               v.ct.data(), v.ct.size(), pt2.data(), tag16.data());
  CHECK(ok2 == ok);
  if (v.valid) {
    CHECK(hex(pt2) == hex(v.pt));
  } else {
    CHECK(hex(pt2) == hex(Bytes(v.ct.size(), 0)));  // rejected plaintext is wiped
    // Re-encrypting the message must not reproduce the (invalid) ct || tag.
    if (!v.pt.empty() || v.ct.empty()) CHECK(hex(stream_encrypt(s, v, v.pt)) != hex(expect_ct_tag));
  }
}

struct NistExpect {
  const char* file;
  size_t key_bytes;
  size_t fails;  // FAIL records in the 96-bit IV / 128-bit tag subset
};

void run_nist(const NistExpect& e) {
  const std::string path = nicsim::testbench::vectors_dir() + "/nist-cavp-gcm/" + e.file;
  const std::vector<GcmVector> vs = nicsim::testbench::load_nist_rsp(path, 96, 128);
  // 375 per file (see traces/vectors/README.md): a parse that drops records must fail here.
  REQUIRE(vs.size() == 375);
  size_t fails = 0, with_pt = 0, with_aad = 0;
  AesGcmStream s;
  for (const GcmVector& v : vs) {
    REQUIRE(v.key.size() == e.key_bytes);
    fails += v.valid ? 0 : 1;
    with_pt += v.pt.empty() ? 0 : 1;
    with_aad += v.aad.empty() ? 0 : 1;
    check_vector(s, v);
  }
  CHECK(fails == e.fails);
  CHECK(with_pt > 0);
  CHECK(with_aad > 0);
}

// Deterministic bytes for the property tests.
Bytes random_bytes(std::mt19937_64& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// Split [0, n) into chunks: fixed size when step > 0, else random lengths in [0, 2*maxc].
std::vector<size_t> splits(std::mt19937_64& rng, size_t n, size_t step) {
  std::vector<size_t> out;
  size_t done = 0;
  while (done < n) {
    size_t c = step > 0 ? step : static_cast<size_t>(rng() % 40);
    if (step == 0 && rng() % 8 == 0) c = static_cast<size_t>(rng() % 3000);  // some long ones
    c = std::min(c, n - done);
    out.push_back(c);
    done += c;
  }
  return out;
}

}  // namespace

TEST_CASE("NIST gcmEncryptExtIV128: all 96-bit IV / 128-bit tag records", "[crypto][nist]") {
  run_nist({"gcmEncryptExtIV128.rsp", 16, 0});
}
TEST_CASE("NIST gcmEncryptExtIV256: all 96-bit IV / 128-bit tag records", "[crypto][nist]") {
  run_nist({"gcmEncryptExtIV256.rsp", 32, 0});
}
TEST_CASE("NIST gcmDecrypt128: valid records decrypt, FAIL records are rejected", "[crypto][nist]") {
  run_nist({"gcmDecrypt128.rsp", 16, 196});
}
TEST_CASE("NIST gcmDecrypt256: valid records decrypt, FAIL records are rejected", "[crypto][nist]") {
  run_nist({"gcmDecrypt256.rsp", 32, 191});
}

TEST_CASE("NIST loader filters on IV and tag length", "[crypto][nist]") {
  const std::string path = nicsim::testbench::vectors_dir() + "/nist-cavp-gcm/gcmEncryptExtIV128.rsp";
  // 7 875 records = 3 IV lengths x 7 tag lengths x 375.
  CHECK(nicsim::testbench::load_nist_rsp(path, 96, 32).size() == 375);
  CHECK(nicsim::testbench::load_nist_rsp(path, 1024, 128).size() == 375);
  CHECK(nicsim::testbench::load_nist_rsp(path, 96, 127).empty());
  const auto first = nicsim::testbench::load_nist_rsp(path, 96, 128).front();
  // Count = 0 of the first group (line 13 of the file).
  CHECK(first.source == "gcmEncryptExtIV128.rsp:13");
  CHECK(hex(first.key) == "11754cd72aec309bf52f7687212e8957");
  CHECK(hex(first.tag) == "250327c674aaf477aef2675748cf6971");
}

TEST_CASE("Wycheproof aes_gcm_test: every 96-bit IV test with 128/256-bit keys", "[crypto][wycheproof]") {
  const std::vector<GcmVector> vs =
      nicsim::testbench::load_wycheproof(nicsim::testbench::vectors_dir() + "/wycheproof/aes_gcm_test.json");
  // 67 AES-128 + 66 AES-256 tests (C2SP/wycheproof dac1dd47): 79 valid, 54 invalid.
  REQUIRE(vs.size() == 133);
  size_t k128 = 0, valid = 0, modified_tag = 0;
  AesGcmStream s;
  for (const GcmVector& v : vs) {
    k128 += v.key.size() == 16 ? 1 : 0;
    valid += v.valid ? 1 : 0;
    for (const auto& f : v.flags) modified_tag += f == "ModifiedTag" ? 1 : 0;
    check_vector(s, v);
  }
  CHECK(k128 == 67);
  CHECK(valid == 79);
  CHECK(modified_tag == 54);
}

TEST_CASE("Streaming: any split of update() equals the one-shot result", "[crypto][stream]") {
  std::mt19937_64 rng(0x6e6963);  // fixed seed: reproducible split points
  AesGcmStream s;
  const size_t lengths[] = {0, 1, 15, 16, 17, 31, 32, 33, 255, 1448, 1500, 4096, 16385};
  const size_t steps[] = {1, 15, 16, 17, 1448, 0, 0, 0};  // 0: random chunk lengths
  size_t checked = 0;
  for (Cipher c : {Cipher::aes128gcm, Cipher::aes256gcm}) {
    for (size_t n : lengths) {
      const Bytes key = random_bytes(rng, 32), iv = random_bytes(rng, 12);
      const Bytes aad = random_bytes(rng, rng() % 2 ? 13 : 5);
      const Bytes pt = random_bytes(rng, n);
      Bytes ref(n), ref_tag(kGcmTagBytes);
      gcm_encrypt(c, key.data(), iv.data(), aad.data(), aad.size(), pt.data(), n, ref.data(),
                  ref_tag.data());
      s.set_key(c, key.data());
      for (size_t step : steps) {
        const std::vector<size_t> parts = splits(rng, n, step);
        // Encrypt in pieces, alternately out-of-place and in place.
        Bytes ct = pt, tag(kGcmTagBytes);
        s.start(iv.data(), aad.data(), aad.size());
        size_t off = 0, i = 0;
        Bytes tmp;
        for (size_t len : parts) {
          if (i++ % 2 == 0) {
            s.update(ct.data() + off, ct.data() + off, len);
          } else {
            tmp.assign(ct.begin() + static_cast<long>(off), ct.begin() + static_cast<long>(off + len));
            s.update(tmp.data(), ct.data() + off, len);
          }
          s.update(nullptr, nullptr, 0);  // empty updates are harmless anywhere
          off += len;
        }
        s.finish_tag(tag.data());
        INFO("cipher " << nicsim::crypto::cipher_name(c) << " n " << n << " step " << step);
        REQUIRE(hex(ct) == hex(ref));
        REQUIRE(hex(tag) == hex(ref_tag));
        // Decrypt in a different random split.
        const std::vector<size_t> parts2 = splits(rng, n, 0);
        Bytes back(n);
        s.start(iv.data(), aad.data(), aad.size(), true);
        off = 0;
        for (size_t len : parts2) {
          s.update(ct.data() + off, back.data() + off, len);
          off += len;
        }
        REQUIRE(s.finish_check(tag.data()));
        REQUIRE(hex(back) == hex(pt));
        ++checked;
      }
    }
  }
  CHECK(checked == 2 * 13 * 8);
}

TEST_CASE("Streaming: NIST vectors fed one byte at a time", "[crypto][stream]") {
  const auto vs = nicsim::testbench::load_nist_rsp(
      nicsim::testbench::vectors_dir() + "/nist-cavp-gcm/gcmEncryptExtIV256.rsp");
  REQUIRE(vs.size() == 375);
  AesGcmStream s;
  size_t fed = 0;
  for (const GcmVector& v : vs) {
    if (v.pt.size() != 51) continue;  // PTlen 408: a partial last block
    INFO(v.source);
    s.set_key(Cipher::aes256gcm, v.key.data());
    s.start(v.iv.data(), v.aad.data(), v.aad.size());
    Bytes ct(v.pt.size()), tag(kGcmTagBytes);
    for (size_t i = 0; i < v.pt.size(); ++i) s.update(&v.pt[i], &ct[i], 1);
    s.finish_tag(tag.data());
    CHECK(hex(ct) == hex(v.ct));
    CHECK(hex(tag) == hex(v.tag));
    ++fed;
  }
  CHECK(fed == 75);
}

TEST_CASE("Stream: one key serves both directions, re-keys, abandoned operations", "[crypto][stream]") {
  const auto v128 = nicsim::testbench::load_nist_rsp(
      nicsim::testbench::vectors_dir() + "/nist-cavp-gcm/gcmEncryptExtIV128.rsp");
  const auto v256 = nicsim::testbench::load_nist_rsp(
      nicsim::testbench::vectors_dir() + "/nist-cavp-gcm/gcmEncryptExtIV256.rsp");
  // Records with plaintext and AAD, so every part of the state matters.
  auto pick = [](const std::vector<GcmVector>& vs) {
    for (const auto& v : vs) {
      if (v.pt.size() == 51 && v.aad.size() == 90) return v;
    }
    FAIL("no vector with PT 408 bits and AAD 720 bits");
    return GcmVector{};
  };
  const GcmVector a = pick(v128), b = pick(v256);
  AesGcmStream s;
  CHECK_FALSE(s.has_key());
  auto enc = [&](const GcmVector& v) {
    Bytes ct(v.pt.size()), tag(kGcmTagBytes);
    s.start(v.iv.data(), v.aad.data(), v.aad.size());
    s.update(v.pt.data(), ct.data(), ct.size());
    s.finish_tag(tag.data());
    CHECK(hex(ct) == hex(v.ct));
    CHECK(hex(tag) == hex(v.tag));
  };
  auto dec = [&](const GcmVector& v, bool good_tag) {
    Bytes pt(v.ct.size());
    Bytes tag = v.tag;
    if (!good_tag) tag[15] ^= 1;
    s.start(v.iv.data(), v.aad.data(), v.aad.size(), true);
    s.update(v.ct.data(), pt.data(), pt.size());
    CHECK(s.finish_check(tag.data()) == good_tag);
    CHECK(hex(pt) == hex(v.pt));  // the keystream is right even when the tag is not
  };
  s.set_key(Cipher::aes128gcm, a.key.data());
  CHECK(s.has_key());
  CHECK(s.cipher() == Cipher::aes128gcm);
  enc(a);
  dec(a, true);
  dec(a, false);
  enc(a);
  enc(a);
  dec(a, true);
  // Re-key to the other size and back, on the same object.
  s.set_key(Cipher::aes256gcm, b.key.data());
  CHECK(s.cipher() == Cipher::aes256gcm);
  dec(b, true);
  enc(b);
  s.set_key(Cipher::aes128gcm, a.key.data());
  enc(a);
  // Same cipher, new key (the no-reallocation path): the old schedule must be gone.
  GcmVector a2 = v128.at(1);
  REQUIRE(a2.key != a.key);
  s.set_key(Cipher::aes128gcm, a2.key.data());
  enc(a2);
  // An operation abandoned half way (e.g. a dropped DUMP) does not leak into the next one.
  s.set_key(Cipher::aes128gcm, a.key.data());
  {
    Bytes junk(40);
    s.start(a.iv.data(), a.aad.data(), a.aad.size());
    s.update(a.pt.data(), junk.data(), 20);
    CHECK(s.active());
    s.start(a.iv.data(), nullptr, 0, true);
    s.update(a.ct.data(), junk.data(), 7);
  }
  enc(a);
  CHECK_FALSE(s.active());

  // Moves carry the key; the moved-from stream is unkeyed and can be keyed again.
  AesGcmStream moved(std::move(s));
  CHECK(moved.has_key());
  CHECK_FALSE(s.has_key());  // NOLINT(bugprone-use-after-move): documented state
  std::swap(s, moved);
  enc(a);
  moved.set_key(Cipher::aes256gcm, b.key.data());
  CHECK(moved.has_key());
}

TEST_CASE("Stream: misuse is reported, not silently computed", "[crypto][stream]") {
  AesGcmStream s;
  const uint8_t iv[12] = {};
  uint8_t buf[16] = {};
  CHECK_THROWS_AS(s.start(iv, nullptr, 0), std::logic_error);
  s.set_key(Cipher::aes128gcm, buf);
  CHECK_THROWS_AS(s.update(buf, buf, 1), std::logic_error);
  CHECK_THROWS_AS(s.finish_tag(buf), std::logic_error);
  s.start(iv, nullptr, 0, true);
  CHECK_THROWS_AS(s.finish_tag(buf), std::logic_error);
  s.start(iv, nullptr, 0, false);
  CHECK_THROWS_AS(s.finish_check(buf), std::logic_error);
  s.finish_tag(buf);
  // AES-128-GCM, zero key, zero IV, empty input: the GCM spec's test case 1 tag.
  CHECK(to_hex(buf, 16) == "58e2fccefa7e3061367f1d57a4e7455a");
}

TEST_CASE("cipher_name and parse_cipher are inverses", "[crypto]") {
  Cipher c = Cipher::aes256gcm;
  CHECK(std::string(nicsim::crypto::cipher_name(Cipher::aes128gcm)) == "aes128gcm");
  CHECK(std::string(nicsim::crypto::cipher_name(Cipher::aes256gcm)) == "aes256gcm");
  REQUIRE(nicsim::crypto::parse_cipher("aes128gcm", &c));
  CHECK(c == Cipher::aes128gcm);
  REQUIRE(nicsim::crypto::parse_cipher("aes256gcm", &c));
  CHECK(c == Cipher::aes256gcm);
  CHECK_FALSE(nicsim::crypto::parse_cipher("aes192gcm", &c));
  CHECK_FALSE(nicsim::crypto::parse_cipher("", &c));
  CHECK(c == Cipher::aes256gcm);
  CHECK(nicsim::crypto::key_bytes(Cipher::aes128gcm) == 16);
  CHECK(nicsim::crypto::key_bytes(Cipher::aes256gcm) == 32);
}

TEST_CASE("Hex helpers", "[vectors]") {
  using nicsim::testbench::from_hex;
  CHECK(from_hex("").empty());
  CHECK(from_hex("00ff7Aa5") == Bytes{0x00, 0xff, 0x7a, 0xa5});
  CHECK_THROWS_AS(from_hex("abc"), std::runtime_error);
  CHECK_THROWS_AS(from_hex("zz"), std::runtime_error);
  const Bytes b{0x01, 0xab, 0xff};
  CHECK(to_hex(b.data(), b.size()) == "01abff");
}
