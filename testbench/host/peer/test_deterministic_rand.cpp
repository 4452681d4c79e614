// The deterministic RAND method: its ChaCha20 keystream against RFC 8439 and against OpenSSL's
// own ChaCha20, that OpenSSL really draws from it once installed, sub-streams, and the shared
// server certificate built from it.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "host/peer/deterministic_rand.h"
#include "host/peer/tls_endpoint.h"

using namespace nicsim::host::peer;

namespace {

std::vector<uint8_t> openssl_chacha20_keystream(uint64_t seed, uint64_t stream_id, size_t n) {
  // Same key layout as detail::keystream; OpenSSL's 16-byte ChaCha20 "IV" is the 32-bit block
  // counter (word 12) followed by words 13..15. Our 64-bit counter's high word (13) is 0 for
  // the first 2^32 blocks, and words 14..15 are the stream id.
  uint8_t key[32];
  for (int i = 0; i < 8; ++i) key[i] = static_cast<uint8_t>(seed >> (8 * i));
  std::memcpy(key + 8, "nicsim-deterministic-rnd", 24);
  uint8_t iv[16] = {};
  for (int i = 0; i < 8; ++i) iv[8 + i] = static_cast<uint8_t>(stream_id >> (8 * i));
  std::vector<uint8_t> zeros(n, 0), out(n, 0);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  REQUIRE(EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, key, iv) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, out.data(), &len, zeros.data(), static_cast<int>(n)) == 1);
  EVP_CIPHER_CTX_free(ctx);
  REQUIRE(static_cast<size_t>(len) == n);
  return out;
}

std::vector<uint8_t> ours(uint64_t seed, uint64_t stream_id, size_t n) {
  std::vector<uint8_t> v(n);
  detail::keystream(seed, stream_id, v.data(), n);
  return v;
}

}  // namespace

TEST_CASE("chacha20 block matches RFC 8439 section 2.3.2", "[peer][rand]") {
  // Key 00 01 .. 1f, block counter 1, nonce 00 00 00 09 00 00 00 4a 00 00 00 00.
  uint32_t state[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
                        0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c,
                        0x13121110, 0x17161514, 0x1b1a1918, 0x1f1e1d1c,
                        0x00000001, 0x09000000, 0x4a000000, 0x00000000};
  const uint8_t expected[64] = {
      0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71,
      0xc4, 0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22, 0xaa, 0x9a, 0xc3, 0xd4,
      0x6c, 0x4e, 0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa, 0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9,
      0x8b, 0x02, 0xa2, 0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8,
      0xa2, 0x50, 0x3c, 0x4e};
  uint8_t out[64];
  detail::chacha20_block(state, out);
  CHECK(std::memcmp(out, expected, 64) == 0);
}

TEST_CASE("keystream equals OpenSSL's ChaCha20 for the documented key layout", "[peer][rand]") {
  // 1000 bytes spans 16 blocks (counter carries) and ends mid-block.
  CHECK(ours(0, 0, 1000) == openssl_chacha20_keystream(0, 0, 1000));
  CHECK(ours(0x0123456789abcdefULL, 0, 1000) ==
        openssl_chacha20_keystream(0x0123456789abcdefULL, 0, 1000));
  CHECK(ours(7, kCertificateRandStream, 300) ==
        openssl_chacha20_keystream(7, kCertificateRandStream, 300));
  CHECK(ours(7, 0, 64) != ours(8, 0, 64));
  CHECK(ours(7, 0, 64) != ours(7, 1, 64));
}

TEST_CASE("OpenSSL RAND_bytes and RAND_priv_bytes draw from the seeded stream", "[peer][rand]") {
  install_deterministic_rand(1234);
  REQUIRE(deterministic_rand_installed());
  CHECK(deterministic_rand_seed() == 1234);
  CHECK(deterministic_rand_bytes_drawn() == 0);
  std::vector<uint8_t> a(37), b(100);
  REQUIRE(RAND_bytes(a.data(), static_cast<int>(a.size())) == 1);
  REQUIRE(RAND_priv_bytes(b.data(), static_cast<int>(b.size())) == 1);
  CHECK(deterministic_rand_bytes_drawn() == 137);
  // Both calls continue one stream: a || b is its first 137 bytes.
  std::vector<uint8_t> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  CHECK(ab == ours(1234, 0, 137));

  // Re-installing the same seed restarts the stream.
  install_deterministic_rand(1234);
  std::vector<uint8_t> c(137);
  REQUIRE(RAND_bytes(c.data(), 137) == 1);
  CHECK(c == ab);
  // Another seed, another stream.
  install_deterministic_rand(1235);
  REQUIRE(RAND_bytes(c.data(), 137) == 1);
  CHECK(c == ours(1235, 0, 137));
  CHECK(c != ab);
}

TEST_CASE("a substream leaves the main stream where it was", "[peer][rand]") {
  install_deterministic_rand(99);
  std::vector<uint8_t> m1(10), s(50), m2(20);
  REQUIRE(RAND_bytes(m1.data(), 10) == 1);
  {
    ScopedRandSubstream sub(kCertificateRandStream);
    REQUIRE(RAND_bytes(s.data(), 50) == 1);
  }
  REQUIRE(RAND_bytes(m2.data(), 20) == 1);
  CHECK(s == ours(99, kCertificateRandStream, 50));
  std::vector<uint8_t> m = m1;
  m.insert(m.end(), m2.begin(), m2.end());
  CHECK(m == ours(99, 0, 30));
  CHECK(deterministic_rand_bytes_drawn() == 30);  // sub-stream bytes are not counted
}

TEST_CASE("server certificate has fixed fields and depends on the seed only", "[peer][rand][cert]") {
  std::string err;
  install_deterministic_rand(5);
  const std::vector<uint8_t> der5 = server_certificate_der(&err);
  REQUIRE(!der5.empty());
  // Building it did not consume the main stream.
  CHECK(deterministic_rand_bytes_drawn() == 0);

  const unsigned char* p = der5.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der5.size()));
  REQUIRE(x != nullptr);
  CHECK(p == der5.data() + der5.size());
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  CHECK(std::string(buf) == "/CN=nicsim");
  X509_NAME_oneline(X509_get_issuer_name(x), buf, sizeof buf);
  CHECK(std::string(buf) == "/CN=nicsim");
  CHECK(ASN1_INTEGER_get(X509_get0_serialNumber(x)) == 1);
  CHECK(X509_get_version(x) == X509_VERSION_3);
  std::tm nb{}, na{};
  REQUIRE(ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) == 1);
  REQUIRE(ASN1_TIME_to_tm(X509_get0_notAfter(x), &na) == 1);
  CHECK(nb.tm_year + 1900 == 2026);
  CHECK(nb.tm_mon == 0);
  CHECK(nb.tm_mday == 1);
  CHECK(nb.tm_hour + nb.tm_min + nb.tm_sec == 0);
  CHECK(na.tm_year + 1900 == 2036);
  CHECK(na.tm_mon == 0);
  CHECK(na.tm_mday == 1);
  EVP_PKEY* pub = X509_get0_pubkey(x);
  REQUIRE(pub != nullptr);
  char group[64] = {};
  size_t glen = 0;
  REQUIRE(EVP_PKEY_get_group_name(pub, group, sizeof group, &glen) == 1);
  CHECK(std::string(group) == "prime256v1");
  CHECK(X509_verify(x, pub) == 1);  // self-signed, and the signature is valid
  CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
  X509_free(x);

  // Same seed again (after another seed) → the same bytes; another seed → another key.
  install_deterministic_rand(6);
  const std::vector<uint8_t> der6 = server_certificate_der(&err);
  REQUIRE(!der6.empty());
  CHECK(der6 != der5);
  install_deterministic_rand(5);
  CHECK(server_certificate_der(&err) == der5);
}
