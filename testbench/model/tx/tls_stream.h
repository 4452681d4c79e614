// Test helpers for the aes_gcm stage: plaintext TLS record images exactly as the kernel's
// tls_device.c builds them (header with the final length, TLS 1.2 explicit nonce = iv + record
// index, data, TLS 1.3 inner content type, 16 arbitrary tag-placeholder bytes), the oracle
// (crypto::tls_seal_record on the same inputs), and a context programmed through TlsCtxTable
// the way the driver's in-band WQEs program it.
#pragma once
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "model/crypto/tls_record.h"
#include "model/tx/aes_gcm.h"
#include "model/tx/gcm_engine.h"
#include "model/tx/nic_config.h"
#include "model/tx/tls_ctx.h"

namespace nicsim::testbench::tx {

using crypto::Cipher;
using crypto::TlsVersion;
using model::tx::TisContext;

inline crypto::TlsKeys make_keys(TlsVersion v, Cipher c, uint64_t rec_seq0) {
  crypto::TlsKeys k;
  k.version = v;
  k.cipher = c;
  for (int i = 0; i < 32; i++) k.key[i] = uint8_t(0x3c + 11 * i);
  const uint8_t salt[4] = {0x9a, 0x01, 0xfe, 0x42};
  // The last byte sits just below a carry so the BE64 explicit-nonce add carries across bytes.
  const uint8_t iv[8] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe};
  std::memcpy(k.salt, salt, 4);
  std::memcpy(k.iv, iv, 8);
  k.rec_seq0 = rec_seq0;
  return k;
}

// One record of a stream: its plaintext image (what the NIC reads) and the sealed bytes (what
// must leave the NIC), both header..tag.
struct Record {
  uint64_t seq = 0;
  uint8_t type = crypto::kTlsContentAppData;
  std::vector<uint8_t> image, sealed;
  size_t stream_off = 0;  // offset of the header in the stream
};

inline std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

inline Record make_record(const crypto::TlsKeys& k, uint64_t seq, uint8_t type,
                          const std::vector<uint8_t>& data, std::mt19937_64& rng) {
  Record r;
  r.seq = seq;
  r.type = type;
  const bool v12 = k.version == TlsVersion::tls12;
  const size_t n = data.size();
  const size_t len = n + crypto::kGcmTagBytes + (v12 ? 8 : 1);
  r.image.push_back(v12 ? type : crypto::kTlsContentAppData);
  r.image.push_back(0x03);
  r.image.push_back(0x03);
  r.image.push_back(uint8_t(len >> 8));
  r.image.push_back(uint8_t(len));
  uint8_t nonce[8];
  crypto::tls12_explicit_nonce(k, seq, nonce);
  if (v12) r.image.insert(r.image.end(), nonce, nonce + 8);
  r.image.insert(r.image.end(), data.begin(), data.end());
  if (!v12) r.image.push_back(type);
  // Garbage placeholder: never zeros, so a NIC that forgets the tag is caught.
  for (int i = 0; i < 16; i++) r.image.push_back(uint8_t(0xa5 ^ uint8_t(rng()) ^ 1));
  r.sealed = crypto::tls_seal_record(k, seq, type, data.data(), n, v12 ? nonce : nullptr);
  return r;
}

struct Stream {
  std::vector<Record> recs;
  std::vector<uint8_t> image, sealed;
  void add(Record r) {
    r.stream_off = image.size();
    image.insert(image.end(), r.image.begin(), r.image.end());
    sealed.insert(sealed.end(), r.sealed.begin(), r.sealed.end());
    recs.push_back(std::move(r));
  }
};

inline Stream make_stream(const crypto::TlsKeys& k, uint64_t seq0, const std::vector<size_t>& sizes,
                          std::mt19937_64& rng, const std::vector<uint8_t>& types = {}) {
  Stream s;
  for (size_t i = 0; i < sizes.size(); i++) {
    uint8_t type = i < types.size() ? types[i] : crypto::kTlsContentAppData;
    s.add(make_record(k, seq0 + i, type, random_bytes(rng, sizes[i]), rng));
  }
  return s;
}

// Random piece sizes, 1 byte up to 20 KiB, biased towards small pieces so that cuts fall inside
// headers, explicit nonces and tags often.
inline size_t random_piece(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0: return 1 + rng() % 16;
    case 1: return 1 + rng() % 64;
    case 2: return 1 + rng() % 1600;
    default: return 1 + rng() % 20480;
  }
}

inline void put_be64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; i--) {
    p[i] = uint8_t(v);
    v >>= 8;
  }
}

// A TIS context programmed through the table, an engine and the stage.
struct GcmRig {
  model::tx::NicConfig cfg;
  model::tx::TlsCtxTable table{64, 208, 0x4000'0000};
  model::tx::BehaviouralGcmEngine engine{model::tx::GcmEngineParams{}};
  model::tx::AesGcmStage stage{cfg, &engine};
  crypto::TlsKeys keys;
  uint32_t dek = 0, tis = 0;

  explicit GcmRig(const crypto::TlsKeys& k) : keys(k) {
    table.set_on_progress_reset([this](uint32_t t) { engine.reset_flow(t); });
    dek = table.create_dek(k.cipher, k.key);
    tis = table.create_tis();
  }
  abi::TlsStaticParams static_params(uint64_t initial_record_number) const {
    abi::TlsStaticParams p{};
    p.const_2 = 2;
    p.const_1 = 1;
    p.encryption_standard = 1;
    p.tls_version = keys.version == TlsVersion::tls12 ? abi::kTlsVersion12 : abi::kTlsVersion13;
    p.dek_index = dek;
    put_be64(initial_record_number, p.initial_record_number);
    std::memcpy(p.gcm_iv, keys.salt, 4);
    if (keys.version == TlsVersion::tls13) std::memcpy(p.implicit_iv, keys.iv, 8);
    return p;
  }
  abi::CqeSyndrome program_static(uint64_t initial_record_number) {
    return table.apply_static_params(tis, static_params(initial_record_number));
  }
  abi::CqeSyndrome program_progress(uint32_t hw_offset_record_number = 0) {
    abi::TlsProgressParams p{};
    p.tis_tir_num = tis;
    p.record_tracker_state = uint8_t(abi::RecordTrackerState::start);
    p.auth_state = uint8_t(abi::AuthState::no_offload);
    p.hw_offset_record_number = hw_offset_record_number;
    return table.apply_progress_params(tis, p);
  }
  TisContext* ctx() { return table.context(tis); }

  // Feeds bytes [from, to) of `in` through the stage in random pieces; returns what came out
  // (for DUMP, what the stage left in its buffer). Stops at the first error.
  std::vector<uint8_t> feed(const std::vector<uint8_t>& in, size_t from, size_t to, bool dump,
                            std::mt19937_64& rng, abi::CqeSyndrome* err, size_t max_piece = 0) {
    std::vector<uint8_t> out;
    *err = abi::CqeSyndrome::none;
    size_t i = from;
    while (i < to) {
      size_t n = std::min(random_piece(rng), to - i);
      if (max_piece) n = std::min(n, max_piece);
      std::vector<uint8_t> buf(in.begin() + long(i), in.begin() + long(i + n));
      uint64_t lat = 0;
      stage.process(ctx(), buf.data(), uint32_t(n), dump, &lat, err);
      if (*err != abi::CqeSyndrome::none) break;
      out.insert(out.end(), buf.begin(), buf.end());
      i += n;
    }
    return out;
  }
  // One piece, returning the occupancy and latency.
  std::vector<uint8_t> piece(const std::vector<uint8_t>& in, size_t from, size_t n, bool dump,
                             abi::CqeSyndrome* err, uint64_t* occ = nullptr, uint64_t* lat = nullptr) {
    std::vector<uint8_t> buf(in.begin() + long(from), in.begin() + long(from + n));
    uint64_t l = 0;
    uint64_t o = stage.process(ctx(), buf.data(), uint32_t(n), dump, &l, err);
    if (occ) *occ = o;
    if (lat) *lat = l;
    return buf;
  }
};

}  // namespace nicsim::testbench::tx
