// Private state of TlsOffloadCtxTx, shared by tls_device.cpp and tls_device_fallback.cpp
// (the kernel splits the same struct tls_offload_context_tx across those two files).
#pragma once
#include <cstdint>
#include <deque>

#include "host/ktls/tls_device.h"
#include "model/crypto/aes_gcm.h"
#include "model/crypto/tls_record.h"

namespace nicsim::host::ktls {

// Wrap-safe TCP sequence compares (include/net/tcp.h).
inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool after(uint32_t a, uint32_t b) { return before(b, a); }
// between(seq, lo, hi): lo <= seq <= hi in sequence space.
inline bool between(uint32_t seq, uint32_t lo, uint32_t hi) { return hi - lo >= seq - lo; }

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

struct TlsOffloadCtxTx::Impl {
  Impl(HostMemory& m, TcpSocketOps& t, Options o) : mem(m), tcp(t), opt(o) {}

  HostMemory& mem;
  TcpSocketOps& tcp;
  Options opt;

  // tx_conf: none until tls_set_device_offload, then TLS_HW (hw) or TLS_SW (sw).
  bool configured = false;
  bool hw = false;
  bool sw = false;
  bool down = false;              // tls_device_down ran: every skb goes through the fallback
  TlsDevOps* netdev = nullptr;    // ctx->netdev; cleared by tls_device_down
  uint32_t tx_max_payload_len = crypto::kTlsMaxPayload;

  CryptoInfo info;
  crypto::TlsKeys keys;
  uint8_t tx_iv[8] = {};          // tx.iv after the salt: explicit nonce of the next record
  uint64_t tx_rec_seq = 0;        // tx.rec_seq: record number of the next record
  int sk_err = 0;
  bool tx_sync_sched = false;     // TLS_TX_SYNC_SCHED

  // Offload context (device mode only).
  std::deque<TlsRecordInfo> records_list;
  uint64_t unacked_record_sn = 0;  // record number of records_list.front()
  bool hint_valid = false;         // retransmit_hint != NULL
  uint64_t hint_record_sn = 0;     // the hint's record number; its index is sn - unacked
  uint32_t start_marker_seq = 0;

  // open_record: one host-memory region sized for the largest record.
  bool has_open = false;
  uint64_t open_addr = 0;
  uint32_t open_data_len = 0;      // bytes of application data copied in so far
  uint32_t open_capacity = 0;      // data capacity (tx_max_payload_len when it was created)

  crypto::AesGcmStream gcm;        // aead_send: SW-mode sealing and the fallback
  uint64_t placeholder_state = 0;  // splitmix64 state for the tag placeholder bytes

  TlsStat stat;
  OffloadCounters ctr;

  size_t prepend() const { return crypto::tls_prepend_bytes(keys.version); }
  size_t tail() const { return crypto::tls_tail_bytes(keys.version); }
  bool tls13() const { return keys.version == crypto::TlsVersion::tls13; }
  const TlsRecordInfo* get_record(uint32_t seq, uint64_t* rcd_sn);
  int close_and_push(uint8_t record_type);
};

}  // namespace nicsim::host::ktls
