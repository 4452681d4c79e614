// TLS endpoints: in-memory handshakes pinned to one version and suite, the offload keys taken
// from the server's key log, and the peer's SSL object as the oracle: records sealed outside
// OpenSSL with those keys (model/crypto's tls_seal_record, as the kTLS emulator will) must come
// out of SSL_read byte for byte, a flipped byte or a wrong sequence number must not.
#include <catch2/catch.hpp>

#include <random>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "host/peer/deterministic_rand.h"
#include "host/peer/tls_endpoint.h"
#include "model/crypto/tls_record.h"

using namespace nicsim::host::peer;
using nicsim::crypto::Cipher;
using nicsim::crypto::TlsKeys;
using nicsim::crypto::TlsVersion;

namespace {

struct Pair {
  std::unique_ptr<TlsEndpoint> client;
  std::unique_ptr<TlsEndpoint> server;
  std::vector<uint8_t> c2s;  // handshake bytes client → server
  std::vector<uint8_t> s2c;  // handshake bytes server → client
};

Pair handshake(TlsVersion v, Cipher c, uint64_t seed, const std::string& sni = "") {
  install_deterministic_rand(seed);
  Pair p;
  std::string err;
  p.client = TlsEndpoint::create({v, c, false, sni}, &err);
  REQUIRE(p.client != nullptr);
  p.server = TlsEndpoint::create({v, c, true, ""}, &err);
  REQUIRE(p.server != nullptr);
  const bool ok = run_handshake(*p.client, *p.server, &err, &p.c2s, &p.s2c);
  INFO(err);
  REQUIRE(ok);
  REQUIRE(p.client->handshake_done());
  REQUIRE(p.server->handshake_done());
  return p;
}

struct Sink {
  std::vector<uint8_t> data;
  std::vector<size_t> sizes;  // one entry per on_app_data call
  int closes = 0;
  std::vector<std::string> errors;
};

void attach(TlsEndpoint& ep, Sink& s) {
  ep.on_app_data = [&s](const uint8_t* p, size_t n) {
    s.data.insert(s.data.end(), p, p + n);
    s.sizes.push_back(n);
  };
  ep.on_close_notify = [&s] { ++s.closes; };
  ep.on_error = [&s](const std::string& what) { s.errors.push_back(what); };
}

// Feeds the bytes in chunks that cut records anywhere, stepping after each chunk as a TCP
// receiver delivering segments would.
void feed_in_chunks(TlsEndpoint& ep, const std::vector<uint8_t>& bytes, size_t chunk) {
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    ep.feed(bytes.data() + off, std::min(chunk, bytes.size() - off));
    ep.step();
  }
}

std::vector<std::vector<uint8_t>> split_records(const std::vector<uint8_t>& s) {
  std::vector<std::vector<uint8_t>> out;
  size_t off = 0;
  while (off + 5 <= s.size()) {
    const size_t len = static_cast<size_t>(s[off + 3]) << 8 | s[off + 4];
    REQUIRE(off + 5 + len <= s.size());
    out.emplace_back(s.begin() + static_cast<long>(off),
                     s.begin() + static_cast<long>(off + 5 + len));
    off += 5 + len;
  }
  REQUIRE(off == s.size());
  return out;
}

std::vector<uint8_t> pattern(size_t n, uint8_t salt) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i * 31 + salt * 7 + (i >> 8) * 13);
  return v;
}

uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

bool contains(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  return !needle.empty() &&
         std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
  return s;
}

bool same_keys(const TlsKeys& a, const TlsKeys& b) {
  return a.version == b.version && a.cipher == b.cipher &&
         std::memcmp(a.key, b.key, sizeof a.key) == 0 &&
         std::memcmp(a.salt, b.salt, sizeof a.salt) == 0 &&
         std::memcmp(a.iv, b.iv, sizeof a.iv) == 0 && a.rec_seq0 == b.rec_seq0;
}

uint64_t expected_next_seq(TlsVersion v) { return v == TlsVersion::tls12 ? 1 : 0; }

// The whole oracle round trip for one version × cipher.
void check_offload_round_trip(TlsVersion v, Cipher c) {
  Pair p = handshake(v, c, 77);
  const std::string suite = openssl_suite_name(v, c);
  CHECK(p.client->negotiated_cipher() == suite);
  CHECK(p.server->negotiated_cipher() == suite);
  CHECK(p.client->negotiated_version() == static_cast<uint16_t>(v));
  CHECK(p.server->negotiated_version() == static_cast<uint16_t>(v));

  TlsKeys k;
  uint64_t seq = 99;
  std::string err;
  REQUIRE(p.server->offload_keys(&k, &seq, &err));
  INFO(err);
  CHECK(seq == expected_next_seq(v));
  CHECK(k.rec_seq0 == seq);
  CHECK(k.version == v);
  CHECK(k.cipher == c);
  // Unused key bytes stay zero (AES-128 uses 16 of the 32).
  if (c == Cipher::aes128gcm) {
    const uint8_t zeros[16] = {};
    CHECK(std::memcmp(k.key + 16, zeros, 16) == 0);
  }

  // The client derives the same server_to_client keys from its own key log and from the
  // records it received: two independent views of one connection.
  TlsKeys kc;
  uint64_t seqc = 99;
  REQUIRE(p.client->offload_keys(&kc, &seqc, &err, KeyDirection::server_to_client));
  CHECK(same_keys(k, kc));
  CHECK(seqc == seq);

  // Independent check of the sequence number against the server's flights.
  const auto recs = split_records(p.s2c);
  REQUIRE(recs.size() >= 2);
  if (v == TlsVersion::tls12) {
    // Last two records: ChangeCipherSpec, then the Finished under the new keys at seq 0.
    const auto& ccs = recs[recs.size() - 2];
    const auto& fin = recs.back();
    CHECK(ccs[0] == 0x14);
    REQUIRE(fin.size() >= 13);
    uint8_t type = 0;
    std::vector<uint8_t> pt;
    REQUIRE(nicsim::crypto::tls_open_record(k, 0, fin.data(), fin.size(), &type, &pt));
    CHECK(type == 0x16);
    REQUIRE(pt.size() == 16);  // Finished: 4-byte handshake header + 12 bytes verify_data
    CHECK(pt[0] == 20);
    // iv = the explicit nonce OpenSSL would use next: the Finished's + 1.
    CHECK(be64(k.iv) == be64(fin.data() + 5) + 1);
  } else {
    // No record of the server is under its application keys yet (no tickets).
    for (const auto& r : recs)
      CHECK_FALSE(nicsim::crypto::tls_open_record(k, 0, r.data(), r.size(), nullptr, nullptr));
  }

  // Seal records outside OpenSSL, as the offload path will, and let the peer decrypt them.
  const std::vector<size_t> sizes = {1, 100, 0, 16384, 1000, 5};
  std::vector<uint8_t> wire, expected;
  std::vector<size_t> expected_sizes;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::vector<uint8_t> pt = pattern(sizes[i], static_cast<uint8_t>(i));
    const std::vector<uint8_t> rec =
        nicsim::crypto::tls_seal_record(k, seq + i, 0x17, pt.data(), pt.size());
    CHECK(rec.size() == pt.size() + nicsim::crypto::tls_overhead_bytes(v));
    wire.insert(wire.end(), rec.begin(), rec.end());
    expected.insert(expected.end(), pt.begin(), pt.end());
    if (!pt.empty()) expected_sizes.push_back(pt.size());
  }
  Sink sink;
  attach(*p.client, sink);
  feed_in_chunks(*p.client, wire, 1000);
  const std::string first_error = sink.errors.empty() ? std::string() : sink.errors.front();
  INFO(first_error);
  CHECK(sink.errors.empty());
  CHECK(sink.data.size() == expected.size());
  CHECK(sink.data == expected);
  CHECK(sink.sizes == expected_sizes);
  CHECK(sink.closes == 0);

  // close_notify (alert level warning(1), description close_notify(0)) at the next number.
  const uint8_t close_notify[2] = {1, 0};
  const std::vector<uint8_t> alert =
      nicsim::crypto::tls_seal_record(k, seq + sizes.size(), 0x15, close_notify, 2);
  feed_in_chunks(*p.client, alert, 7);
  CHECK(sink.closes == 1);
  CHECK(p.client->peer_closed());
  CHECK(sink.errors.empty());
  CHECK_FALSE(p.client->failed());
  CHECK(sink.data == expected);  // nothing more delivered
}

// One good record, then the tampered one, then another good one: the peer delivers the first
// only, reports the MAC failure and stays failed.
void check_tamper(TlsVersion v, Cipher c, size_t flip_at, const char* what) {
  INFO(what);
  Pair p = handshake(v, c, 78);
  TlsKeys k;
  uint64_t seq = 0;
  std::string err;
  REQUIRE(p.server->offload_keys(&k, &seq, &err));
  const std::vector<uint8_t> a = pattern(300, 1), b = pattern(300, 2), d = pattern(300, 3);
  std::vector<uint8_t> r0 = nicsim::crypto::tls_seal_record(k, seq, 0x17, a.data(), a.size());
  std::vector<uint8_t> r1 = nicsim::crypto::tls_seal_record(k, seq + 1, 0x17, b.data(), b.size());
  std::vector<uint8_t> r2 = nicsim::crypto::tls_seal_record(k, seq + 2, 0x17, d.data(), d.size());
  REQUIRE(flip_at < r1.size());
  r1[flip_at] ^= 0x01;
  Sink sink;
  attach(*p.client, sink);
  feed_in_chunks(*p.client, r0, r0.size());
  CHECK(sink.data == a);
  feed_in_chunks(*p.client, r1, r1.size());
  feed_in_chunks(*p.client, r2, r2.size());
  CHECK(sink.data == a);
  REQUIRE(sink.errors.size() == 1);
  CHECK(p.client->failed());
  CHECK(p.client->error() == sink.errors.front());
  INFO(sink.errors.front());
  CHECK(lower(sink.errors.front()).find("bad record mac") != std::string::npos);
  // OpenSSL answers with a fatal alert (bad_record_mac) for the transport to carry.
  CHECK(p.client->output_pending_bytes() > 0);
}

}  // namespace

TEST_CASE("TLS 1.2 AES-128-GCM: offloaded records decrypt at the peer", "[peer][tls]") {
  check_offload_round_trip(TlsVersion::tls12, Cipher::aes128gcm);
}
TEST_CASE("TLS 1.2 AES-256-GCM: offloaded records decrypt at the peer", "[peer][tls]") {
  check_offload_round_trip(TlsVersion::tls12, Cipher::aes256gcm);
}
TEST_CASE("TLS 1.3 AES-128-GCM: offloaded records decrypt at the peer", "[peer][tls]") {
  check_offload_round_trip(TlsVersion::tls13, Cipher::aes128gcm);
}
TEST_CASE("TLS 1.3 AES-256-GCM: offloaded records decrypt at the peer", "[peer][tls]") {
  check_offload_round_trip(TlsVersion::tls13, Cipher::aes256gcm);
}

TEST_CASE("a flipped byte anywhere in a record is a bad record MAC", "[peer][tls]") {
  for (Cipher c : {Cipher::aes128gcm, Cipher::aes256gcm}) {
    // TLS 1.2: header type (in the AAD), explicit nonce, ciphertext, tag.
    check_tamper(TlsVersion::tls12, c, 0, "1.2 type byte 0x17 -> 0x16");
    check_tamper(TlsVersion::tls12, c, 5, "1.2 explicit nonce");
    check_tamper(TlsVersion::tls12, c, 13 + 150, "1.2 ciphertext");
    check_tamper(TlsVersion::tls12, c, 13 + 300 + 15, "1.2 last tag byte");
    // TLS 1.3: ciphertext (first, middle, the hidden content type) and tag.
    check_tamper(TlsVersion::tls13, c, 5, "1.3 first ciphertext byte");
    check_tamper(TlsVersion::tls13, c, 5 + 150, "1.3 ciphertext");
    check_tamper(TlsVersion::tls13, c, 5 + 300, "1.3 inner content type");
    check_tamper(TlsVersion::tls13, c, 5 + 301 + 15, "1.3 last tag byte");
  }
}

TEST_CASE("next_rec_seq is exact: one more or one less is rejected", "[peer][tls]") {
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    for (int delta : {-1, 1}) {
      if (v == TlsVersion::tls13 && delta < 0) continue;  // next_rec_seq is 0
      Pair p = handshake(v, Cipher::aes128gcm, 79);
      TlsKeys k;
      uint64_t seq = 0;
      std::string err;
      REQUIRE(p.server->offload_keys(&k, &seq, &err));
      const std::vector<uint8_t> pt = pattern(64, 9);
      const auto rec = nicsim::crypto::tls_seal_record(
          k, static_cast<uint64_t>(static_cast<int64_t>(seq) + delta), 0x17, pt.data(), pt.size());
      Sink sink;
      attach(*p.client, sink);
      feed_in_chunks(*p.client, rec, rec.size());
      CHECK(sink.data.empty());
      CHECK(sink.errors.size() == 1);
    }
  }
}

TEST_CASE("TLS 1.2: the peer takes the explicit nonce from the record", "[peer][tls]") {
  // The kernel puts crypto_info.iv + index on the wire; any unique value decrypts. Here BE64(seq),
  // the other common convention, must work as well as offload_keys' iv.
  Pair p = handshake(TlsVersion::tls12, Cipher::aes256gcm, 80);
  TlsKeys k;
  uint64_t seq = 0;
  std::string err;
  REQUIRE(p.server->offload_keys(&k, &seq, &err));
  Sink sink;
  attach(*p.client, sink);
  std::vector<uint8_t> expected;
  for (uint64_t i = 0; i < 3; ++i) {
    uint8_t nonce[8];
    for (int b = 0; b < 8; ++b) nonce[b] = static_cast<uint8_t>((seq + i) >> (56 - 8 * b));
    const std::vector<uint8_t> pt = pattern(200 + i, static_cast<uint8_t>(i));
    const auto rec = nicsim::crypto::tls_seal_record(k, seq + i, 0x17, pt.data(), pt.size(), nonce);
    CHECK(be64(rec.data() + 5) == seq + i);
    feed_in_chunks(*p.client, rec, 50);
    expected.insert(expected.end(), pt.begin(), pt.end());
  }
  CHECK(sink.errors.empty());
  CHECK(sink.data == expected);
}

TEST_CASE("records OpenSSL wrote before the hand-over are counted", "[peer][tls]") {
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    Pair p = handshake(v, Cipher::aes128gcm, 81);
    Sink sink;
    attach(*p.client, sink);
    std::string err;
    // 3000 bytes (one record) + 20000 bytes (16384 + 3616): three records through SSL_write.
    const std::vector<uint8_t> w1 = pattern(3000, 1), w2 = pattern(20000, 2);
    REQUIRE(p.server->write_app_data(w1.data(), w1.size(), &err));
    REQUIRE(p.server->write_app_data(w2.data(), w2.size(), &err));
    const std::vector<uint8_t> sw = p.server->take_output();
    const auto recs = split_records(sw);
    REQUIRE(recs.size() == 3);
    TlsKeys k;
    uint64_t seq = 0;
    REQUIRE(p.server->offload_keys(&k, &seq, &err));
    CHECK(seq == expected_next_seq(v) + 3);
    if (v == TlsVersion::tls12) CHECK(be64(k.iv) == be64(recs.back().data() + 5) + 1);
    // The direction now belongs to the installer.
    CHECK_FALSE(p.server->write_app_data(w1.data(), 10, &err));
    CHECK(err.find("handed over") != std::string::npos);
    CHECK_FALSE(p.server->shutdown(&err));

    const std::vector<uint8_t> w3 = pattern(777, 3);
    const auto rec = nicsim::crypto::tls_seal_record(k, seq, 0x17, w3.data(), w3.size());
    std::vector<uint8_t> wire = sw;
    wire.insert(wire.end(), rec.begin(), rec.end());
    feed_in_chunks(*p.client, wire, 1460);
    std::vector<uint8_t> expected = w1;
    expected.insert(expected.end(), w2.begin(), w2.end());
    expected.insert(expected.end(), w3.begin(), w3.end());
    CHECK(sink.errors.empty());
    CHECK(sink.data == expected);
  }
}

TEST_CASE("client_to_server keys: the server opens what the client's SSL wrote", "[peer][tls]") {
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    for (Cipher c : {Cipher::aes128gcm, Cipher::aes256gcm}) {
      Pair p = handshake(v, c, 82);
      std::string err;
      TlsKeys ks;
      uint64_t seq_s = 99;
      REQUIRE(p.server->offload_keys(&ks, &seq_s, &err, KeyDirection::client_to_server));
      CHECK(seq_s == expected_next_seq(v));
      // Not the server's own direction: the server can still write.
      const uint8_t one = 1;
      CHECK(p.server->write_app_data(&one, 1, &err));

      Sink server_sink;
      attach(*p.server, server_sink);
      const std::vector<uint8_t> req = pattern(517, 4);
      REQUIRE(p.client->write_app_data(req.data(), req.size(), &err));
      const std::vector<uint8_t> out = p.client->take_output();
      const auto recs = split_records(out);
      REQUIRE(recs.size() == 1);
      uint8_t type = 0;
      std::vector<uint8_t> pt;
      REQUIRE(nicsim::crypto::tls_open_record(ks, seq_s, recs[0].data(), recs[0].size(), &type,
                                              &pt));
      CHECK(type == 0x17);
      CHECK(pt == req);
      feed_in_chunks(*p.server, out, out.size());
      CHECK(server_sink.data == req);

      // The client's own view, after it wrote that record: one more, and (1.2) the next nonce.
      TlsKeys kc;
      uint64_t seq_c = 0;
      REQUIRE(p.client->offload_keys(&kc, &seq_c, &err, KeyDirection::client_to_server));
      CHECK(seq_c == seq_s + 1);
      CHECK(std::memcmp(kc.key, ks.key, sizeof kc.key) == 0);
      CHECK(std::memcmp(kc.salt, ks.salt, 4) == 0);
      if (v == TlsVersion::tls12)
        CHECK(be64(kc.iv) == be64(recs[0].data() + 5) + 1);
      else
        CHECK(std::memcmp(kc.iv, ks.iv, 8) == 0);
      // Keys of the two directions differ.
      TlsKeys k_s2c;
      uint64_t seq_x = 0;
      REQUIRE(p.server->offload_keys(&k_s2c, &seq_x, &err));
      CHECK(std::memcmp(k_s2c.key, ks.key, sizeof ks.key) != 0);
    }
  }
}

TEST_CASE("same seed gives the same handshake bytes and key log and another seed does not",
          "[peer][tls][determinism]") {
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    Pair a = handshake(v, Cipher::aes256gcm, 42);
    const uint64_t drawn_a = deterministic_rand_bytes_drawn();
    Pair b = handshake(v, Cipher::aes256gcm, 42);
    const uint64_t drawn_b = deterministic_rand_bytes_drawn();
    Pair c = handshake(v, Cipher::aes256gcm, 43);
    // OpenSSL really drew its randomness from the seeded stream.
    CHECK(drawn_a > 64);
    CHECK(drawn_a == drawn_b);
    CHECK(a.c2s == b.c2s);
    CHECK(a.s2c == b.s2c);
    CHECK(a.server->keylog_lines() == b.server->keylog_lines());
    CHECK(a.client->keylog_lines() == b.client->keylog_lines());
    // Both ends log the same secrets (TLS 1.3: in a different order).
    auto sorted = [](std::vector<std::string> v) {
      std::sort(v.begin(), v.end());
      return v;
    };
    CHECK(sorted(a.server->keylog_lines()) == sorted(a.client->keylog_lines()));
    CHECK(a.c2s != c.c2s);
    CHECK(a.s2c != c.s2c);
    CHECK(a.server->keylog_lines() != c.server->keylog_lines());
    // The key log is NSS format for the requested version.
    const auto lines = a.server->keylog_lines();
    REQUIRE(!lines.empty());
    if (v == TlsVersion::tls12) {
      REQUIRE(lines.size() == 1);
      CHECK(lines[0].rfind("CLIENT_RANDOM ", 0) == 0);
      CHECK(lines[0].size() == 14 + 64 + 1 + 96);
    } else {
      std::vector<std::string> labels;
      for (const auto& l : lines) labels.push_back(l.substr(0, l.find(' ')));
      std::sort(labels.begin(), labels.end());
      CHECK(labels == std::vector<std::string>{"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                               "CLIENT_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
                                               "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                               "SERVER_TRAFFIC_SECRET_0"});
      for (const auto& l : lines) CHECK(l.size() == l.find(' ') + 1 + 64 + 1 + 96);  // SHA-384
    }
    // Equal offload keys too (they are a function of the key log and randoms).
    TlsKeys ka, kb;
    uint64_t sa = 0, sb = 0;
    std::string err;
    REQUIRE(a.server->offload_keys(&ka, &sa, &err));
    REQUIRE(b.server->offload_keys(&kb, &sb, &err));
    CHECK(same_keys(ka, kb));
    CHECK(sa == sb);
  }
}

TEST_CASE("versions and suites are pinned exactly", "[peer][tls]") {
  std::string err;
  {
    install_deterministic_rand(1);
    auto cl = TlsEndpoint::create({TlsVersion::tls12, Cipher::aes128gcm, false, ""}, &err);
    auto sv = TlsEndpoint::create({TlsVersion::tls13, Cipher::aes128gcm, true, ""}, &err);
    REQUIRE(cl);
    REQUIRE(sv);
    CHECK_FALSE(run_handshake(*cl, *sv, &err));
    CHECK((cl->failed() || sv->failed()));
    INFO(err);
    CHECK(lower(err).find("unsupported protocol") != std::string::npos);
  }
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    install_deterministic_rand(2);
    auto cl = TlsEndpoint::create({v, Cipher::aes128gcm, false, ""}, &err);
    auto sv = TlsEndpoint::create({v, Cipher::aes256gcm, true, ""}, &err);
    REQUIRE(cl);
    REQUIRE(sv);
    CHECK_FALSE(run_handshake(*cl, *sv, &err));
    CHECK(sv->failed());
    CHECK(lower(err).find("no shared cipher") != std::string::npos);
  }
}

TEST_CASE("ClientHello carries the SNI and TLS 1.2 shows the shared certificate", "[peer][tls]") {
  Pair p = handshake(TlsVersion::tls12, Cipher::aes128gcm, 83, "peer.nicsim.test");
  const std::string sni = "peer.nicsim.test";
  CHECK(contains(p.c2s, std::vector<uint8_t>(sni.begin(), sni.end())));
  std::string err;
  const std::vector<uint8_t> der = server_certificate_der(&err);
  REQUIRE(!der.empty());
  CHECK(contains(p.s2c, der));
}

TEST_CASE("before the handshake there are no keys and writes are refused",
          "[peer][tls]") {
  install_deterministic_rand(3);
  std::string err;
  auto sv = TlsEndpoint::create({TlsVersion::tls13, Cipher::aes128gcm, true, ""}, &err);
  REQUIRE(sv);
  TlsKeys k;
  uint64_t seq = 0;
  CHECK_FALSE(sv->offload_keys(&k, &seq, &err));
  CHECK(err.find("not done") != std::string::npos);
  const uint8_t x = 0;
  CHECK_FALSE(sv->write_app_data(&x, 1, &err));
  CHECK(sv->negotiated_cipher().empty());
  CHECK(sv->negotiated_version() == 0);
  // Garbage instead of a ClientHello fails the endpoint with OpenSSL's reason.
  Sink sink;
  attach(*sv, sink);
  const std::vector<uint8_t> junk(64, 0x42);
  sv->feed(junk.data(), junk.size());
  sv->step();
  CHECK(sv->failed());
  CHECK(sink.errors.size() == 1);
}

TEST_CASE("TLS 1.2 negotiates the extended master secret", "[peer][tls]") {
  // RFC 7627: the ServerHello echoes extension 0x0017. With it the master secret hashes the
  // handshake, but the key log still carries CLIENT_RANDOM <master> and the key expansion
  // still uses the two randoms, which is all offload_keys needs (the round-trip tests prove it).
  Pair p = handshake(TlsVersion::tls12, Cipher::aes128gcm, 84);
  const auto recs = split_records(p.s2c);
  REQUIRE(!recs.empty());
  const std::vector<uint8_t>& r = recs[0];
  REQUIRE(r[0] == 0x16);
  REQUIRE(r.size() > 5 + 4 + 2 + 32 + 1);
  REQUIRE(r[5] == 2);  // ServerHello
  size_t off = 5 + 4 + 2 + 32;
  off += 1 + r[off];  // session id
  off += 2 + 1;       // cipher suite, compression
  REQUIRE(off + 2 <= r.size());
  CHECK(static_cast<unsigned>(r[off - 3]) << 8 == 0xc000);  // an ECDHE-ECDSA suite: 0xC02B/0xC02C
  CHECK(r[off - 2] == 0x2b);                                // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  const size_t ext_end = off + 2 + (static_cast<size_t>(r[off]) << 8 | r[off + 1]);
  REQUIRE(ext_end <= r.size());
  bool ems = false, ticket = false;
  for (size_t e = off + 2; e + 4 <= ext_end;) {
    const unsigned type = static_cast<unsigned>(r[e]) << 8 | r[e + 1];
    const size_t len = static_cast<size_t>(r[e + 2]) << 8 | r[e + 3];
    ems |= type == 0x0017;
    ticket |= type == 0x0023;
    e += 4 + len;
  }
  CHECK(ems);
  CHECK_FALSE(ticket);  // session tickets are off
}

TEST_CASE("feed_borrowed: records cut anywhere across lent chunks decrypt, and leftovers survive the lender's reuse",
          "[peer][tls]") {
  // The worker lends frames' payloads (feed_borrowed) and steps once per batch; the frames are
  // recycled right after, so the test overwrites every lent buffer after each step. (OpenSSL
  // itself copies a partial record into its buffer; step() keeps anything it did not read.)
  for (TlsVersion v : {TlsVersion::tls12, TlsVersion::tls13}) {
    Pair p = handshake(v, Cipher::aes128gcm, 91);
    TlsKeys k;
    uint64_t seq = 0;
    std::string err;
    REQUIRE(p.server->offload_keys(&k, &seq, &err));
    std::vector<uint8_t> wire, expected;
    const std::vector<size_t> sizes = {16384, 1, 5000, 0, 16384, 777, 16384, 2};
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::vector<uint8_t> pt = pattern(sizes[i], static_cast<uint8_t>(40 + i));
      const std::vector<uint8_t> rec = nicsim::crypto::tls_seal_record(k, seq + i, 0x17, pt.data(), pt.size());
      wire.insert(wire.end(), rec.begin(), rec.end());
      expected.insert(expected.end(), pt.begin(), pt.end());
    }
    Sink sink;
    attach(*p.client, sink);
    std::mt19937_64 rng(7 + uint64_t(v));
    size_t off = 0;
    while (off < wire.size()) {
      // A batch of 1..6 lent chunks of 1..3000 bytes, with now and then a copied feed() in
      // between (bytes fed by copy must come after the lent ones still unread).
      std::vector<std::vector<uint8_t>> lent;
      const int chunks = 1 + int(rng() % 6);
      for (int c = 0; c < chunks && off < wire.size(); c++) {
        const size_t n = std::min<size_t>(1 + rng() % 3000, wire.size() - off);
        if (rng() % 5 == 0) {
          p.client->feed(wire.data() + off, n);
        } else {
          lent.emplace_back(wire.begin() + long(off), wire.begin() + long(off + n));
          p.client->feed_borrowed(lent.back().data(), lent.back().size());
        }
        off += n;
      }
      p.client->step();
      for (auto& b : lent) std::fill(b.begin(), b.end(), 0xA5);  // the lender reuses its buffers
    }
    const std::string first_error = sink.errors.empty() ? std::string() : sink.errors.front();
    INFO(first_error);
    CHECK(sink.errors.empty());
    CHECK(sink.data == expected);
  }
}
