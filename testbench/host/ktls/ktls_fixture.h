// Test doubles for the kTLS offload emulator: a TCP socket that records what it is given and
// a device whose tls_dev_add/resync results are configurable; plus the oracle that re-seals
// every pushed record with crypto::tls_seal_record.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "host/ktls/tls_device.h"
#include "host/mem/host_memory.h"
#include "model/crypto/tls_record.h"

namespace nicsim::testbench::ktls {

using host::HostMemory;
using host::ktls::CryptoInfo;
using host::ktls::TlsOffloadCtxTx;
using host::ktls::TlsRecordInfo;

struct FakeTcp : host::ktls::TcpSocketOps {
  struct Push {
    uint64_t addr;
    uint32_t len;
    bool decrypted;
    uint32_t seq;                // write_seq of the first byte
    std::vector<uint8_t> bytes;  // image at push time
    bool released = false;
  };
  explicit FakeTcp(HostMemory& m, uint32_t isn) : mem(m), seq(isn), stream_seq0(isn) {}

  uint32_t write_seq() const override { return seq; }
  size_t send_space() const override { return space; }
  void push_pages(uint64_t addr, uint32_t len, bool decrypted) override {
    mem.retain(addr);  // TCP's own page reference
    const uint8_t* p = mem.ptr(addr, len ? len : 1);
    Push pu{addr, len, decrypted, seq, std::vector<uint8_t>(p, p + len)};
    stream.insert(stream.end(), p, p + len);
    pushes.push_back(std::move(pu));
    seq += len;
    space = space > len ? space - len : 0;
  }
  void mark_eor() override { eor_at.push_back(seq); }

  // Bytes queued before the TLS key was installed (already encrypted by the TLS library).
  void write_pre_offload(uint32_t n, uint8_t fill) {
    stream.insert(stream.end(), n, fill);
    seq += n;
  }
  // TCP frees its chunks once cumulatively ACKed.
  void release_all() {
    for (Push& p : pushes) {
      if (!p.released) mem.release(p.addr);
      p.released = true;
    }
  }
  // The bytes TCP would put in a segment [s, s+n): the plaintext images as queued.
  const uint8_t* at(uint32_t s) const { return stream.data() + (s - stream_seq0); }

  HostMemory& mem;
  uint32_t seq;
  uint32_t stream_seq0;
  size_t space = std::numeric_limits<size_t>::max() / 2;
  std::vector<Push> pushes;
  std::vector<uint32_t> eor_at;
  std::vector<uint8_t> stream;
};

struct FakeDev : host::ktls::TlsDevOps {
  int tls_dev_add(const CryptoInfo& info, uint32_t start_offload_tcp_sn) override {
    adds++;
    added_info = info;
    start_sn = start_offload_tcp_sn;
    return add_result;
  }
  void tls_dev_del() override { dels++; }
  int tls_dev_resync(uint32_t seq, uint64_t rcd_sn) override {
    resyncs.push_back({seq, rcd_sn});
    return resync_result;
  }
  int add_result = 0;
  int resync_result = 0;
  int adds = 0, dels = 0;
  CryptoInfo added_info;
  uint32_t start_sn = 0;
  struct Resync {
    uint32_t seq;
    uint64_t rcd_sn;
  };
  std::vector<Resync> resyncs;
};

inline void put_be64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
inline uint64_t get_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Keys with no zero bytes; the TLS 1.2 iv sits just below a byte carry so the explicit-nonce
// counter's big-endian add is exercised after two records.
inline CryptoInfo make_info(crypto::TlsVersion v, crypto::Cipher c, uint64_t rec_seq) {
  CryptoInfo info;
  info.version = v;
  info.cipher = c;
  for (int i = 0; i < 32; ++i) info.key[i] = static_cast<uint8_t>(0x11 + 7 * i);
  const uint8_t salt[4] = {0xca, 0xfe, 0xba, 0xbe};
  const uint8_t iv[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xfe};
  std::memcpy(info.salt, salt, 4);
  std::memcpy(info.iv, iv, 8);
  put_be64(rec_seq, info.rec_seq);
  return info;
}

inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    v[i] = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// The oracle: every pushed record image re-sealed independently by tls_seal_record with the
// same keys, record number and (TLS 1.2) explicit nonce. Returns the wire bytes of the pushes,
// concatenated, starting at pushes[0].seq.
inline std::vector<uint8_t> seal_pushes(const crypto::TlsKeys& k, uint64_t rec_seq0,
                                        const std::vector<FakeTcp::Push>& pushes) {
  std::vector<uint8_t> wire;
  const bool tls13 = k.version == crypto::TlsVersion::tls13;
  const size_t pre = crypto::tls_prepend_bytes(k.version);
  for (size_t i = 0; i < pushes.size(); ++i) {
    const std::vector<uint8_t>& img = pushes[i].bytes;
    const size_t n = img.size() - crypto::tls_overhead_bytes(k.version);
    const uint8_t type = tls13 ? img[pre + n] : img[0];
    std::vector<uint8_t> rec = crypto::tls_seal_record(
        k, rec_seq0 + i, type, img.data() + pre, n, tls13 ? nullptr : img.data() + 5);
    wire.insert(wire.end(), rec.begin(), rec.end());
  }
  return wire;
}

}  // namespace nicsim::testbench::ktls
