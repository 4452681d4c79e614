// The kernel's TLS device-offload layer, TX side (net/tls/tls_device.c and
// tls_device_fallback.c), as a plain C++ emulator. Names follow the kernel.
//
// The application writes with sendmsg(); records are built as plaintext images in host memory
// (header, TLS 1.2 explicit nonce, data, TLS 1.3 inner content type, tag placeholder holding
// arbitrary bytes), closed at tx_max_payload_len bytes of data or when the caller does not set
// MSG_MORE, appended to records_list with end_seq, and pushed to TCP by reference. Drivers look
// records up with tls_get_record(); TCP's ACKs free them through clean_acked().
//
// Versions: mainline Linux offloads TLS 1.2 only (TLS 1.3 falls back to software kTLS). This
// emulator also offloads TLS 1.3 as the pending "tls: TLS 1.3 hardware offload support" series
// does (content-type byte appended at record close, per-record XOR nonce in the fallback);
// Options::tls13_offload = false restores the mainline behaviour.
//
// Host-memory ownership (the kernel's page references, modelled with HostMemory refcounts):
// every record image is one region allocated by this layer. In device mode the record list
// holds one reference until clean_acked() (or the destructor) drops it; TcpSocketOps::
// push_pages() must take its own reference (HostMemory::retain) if it keeps the bytes, and
// drop it when TCP is done with them. In software-kTLS mode the record is encrypted in place
// before push_pages() and this layer drops its reference right after the call.
// Single-threaded: ctx->lock is not modelled; the driver calls tls_get_record directly.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "host/mem/host_memory.h"
#include "model/crypto/tls_record.h"

namespace nicsim::host::ktls {

using crypto::Cipher;
using crypto::TlsVersion;

constexpr int MSG_MORE = 0x8000;  // linux/socket.h value, kept for familiarity
constexpr int MSG_EOR = 0x80;
constexpr int MSG_DONTWAIT = 0x40;    // accepted; the emulator never blocks anyway
constexpr int MSG_NOSIGNAL = 0x4000;  // accepted, no effect

// uapi tls12_crypto_info_aes_gcm_{128,256}: key, salt (implicit IV), iv (TLS 1.2: explicit
// nonce of the record at rec_seq), rec_seq (record number of the first offloaded record), BE.
struct CryptoInfo {
  TlsVersion version = TlsVersion::tls12;
  Cipher cipher = Cipher::aes128gcm;
  uint8_t key[32] = {};
  uint8_t salt[4] = {};
  uint8_t iv[8] = {};
  uint8_t rec_seq[8] = {};
};

// One record handed to TCP and not yet fully ACKed. Our records are one contiguous host-memory
// region (a single frag) holding the plaintext image header..tag.
struct TlsRecordInfo {
  uint32_t end_seq = 0;  // TCP seq one past the record's last byte on the wire
  uint32_t len = 0;      // on-wire length, header..tag; 0 = the start marker
  uint64_t addr = 0;     // host memory of the image; 0 for the start marker
  uint8_t type = 0;      // real content type (for counters and the fallback)
};
inline uint32_t tls_record_start_seq(const TlsRecordInfo& r) { return r.end_seq - r.len; }
inline bool tls_record_is_start_marker(const TlsRecordInfo& r) { return r.len == 0; }

// What the offload layer needs from its TCP socket.
class TcpSocketOps {
 public:
  virtual ~TcpSocketOps() = default;
  virtual uint32_t write_seq() const = 0;
  virtual size_t send_space() const = 0;
  // MSG_SPLICE_PAGES | MSG_SENDPAGE_DECRYPTED: queue [addr, addr+len) by reference.
  virtual void push_pages(uint64_t addr, uint32_t len, bool decrypted) = 0;
  virtual void mark_eor() = 0;  // tcp_write_collapse_fence
};

// struct tlsdev_ops, TX direction.
class TlsDevOps {
 public:
  virtual ~TlsDevOps() = default;
  virtual int tls_dev_add(const CryptoInfo& info, uint32_t start_offload_tcp_sn) = 0;
  virtual void tls_dev_del() = 0;
  virtual int tls_dev_resync(uint32_t seq, uint64_t rcd_sn) = 0;  // mlx5: -EOPNOTSUPP
};

// /proc/net/tls_stat, TX-relevant lines (per emulated socket; the app sums them).
struct TlsStat {
  uint64_t TlsCurrTxSw = 0, TlsCurrTxDevice = 0, TlsTxSw = 0, TlsTxDevice = 0;
  uint64_t TlsTxRekeyOk = 0, TlsTxRekeyError = 0;
};

// Emulator-only counters (not in the kernel, useful to the user).
struct OffloadCounters {
  uint64_t records_pushed = 0, record_bytes_pushed = 0, app_bytes = 0;
  uint64_t records_acked = 0, control_records = 0;
  // fallback_skbs: every sw_fallback call; fallback_bytes: payload bytes it encrypted;
  // fallback_prefix_bytes: record-prefix bytes re-encrypted and thrown away (sync_size).
  uint64_t fallback_skbs = 0, fallback_bytes = 0, fallback_prefix_bytes = 0;
  uint64_t fallback_passthrough = 0, fallback_drops = 0;
  uint64_t get_record_calls = 0, get_record_misses = 0, get_record_hint_hits = 0;
  uint64_t resync_requests = 0, resyncs_sent = 0;  // TLS_TX_SYNC_SCHED / tls_dev_resync calls
  uint64_t sw_records_sealed = 0;                  // software-kTLS mode only
};

class TlsOffloadCtxTx {
 public:
  struct Options {
    uint32_t tx_max_payload_len = 16384;  // TLS_TX_MAX_PAYLOAD_LEN; [64,16384] (1.3: [63,..])
    uint64_t placeholder_seed = 0x5eed;   // tag placeholder bytes are arbitrary, seeded
    // true: TLS 1.3 is offloaded (pending HW series); false: mainline, 1.3 → software kTLS.
    bool tls13_offload = true;
  };
  TlsOffloadCtxTx(HostMemory& mem, TcpSocketOps& tcp, Options opt);
  ~TlsOffloadCtxTx();  // releases every record still held; tls_dev_del if still offloaded
  TlsOffloadCtxTx(const TlsOffloadCtxTx&) = delete;
  TlsOffloadCtxTx& operator=(const TlsOffloadCtxTx&) = delete;

  // setsockopt(SOL_TLS, TLS_TX): device offload when dev accepts, else software kTLS (the
  // kernel silently falls back: TlsTxSw instead of TlsTxDevice). Returns 0 or -errno for a
  // request the kernel would refuse outright (bad version/cipher, already set: -EEXIST;
  // Options::tx_max_payload_len out of range for the version: -EINVAL). dev may be nullptr
  // (no offload-capable route). dev must outlive this context (tls_dev_del in the destructor).
  int tls_set_device_offload(const CryptoInfo& info, TlsDevOps* dev);
  bool device_offloaded() const;  // tx_conf == TLS_HW and the device is up
  // setsockopt(SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN): -EINVAL before TLS_TX or out of
  // [64 (1.3: 63), 16384]; -EBUSY while a record is open. Applies to records created later.
  int set_tx_max_payload_len(uint32_t len);

  // tls_device_sendmsg: returns bytes consumed (≥ 0) or -errno (-EINVAL for MSG_MORE with a
  // non-data record type; -EBADMSG after a record-number wrap, sticky; -EOPNOTSUPP for other
  // flags). record_type != 0x17 stands for the TLS_SET_RECORD_TYPE cmsg: an open data record
  // is flushed first. Never blocks: before each record allocation / copy it requires
  // TcpSocketOps::send_space() > 0 (sk_stream_memory_free); when it is 0 the call stops and
  // returns the bytes consumed so far, or -EAGAIN if none. If at that point an open record
  // holds data, it stays open when this call has MSG_MORE, else it is closed and pushed (the
  // kernel's "last_record" path); a call that consumed nothing but flushed it returns 0.
  // n == 0 without MSG_MORE closes an open record or, with none open, pushes an EMPTY record
  // (inferred from code reading, reference §1.3); n == 0 with MSG_MORE opens an empty record.
  long sendmsg(const uint8_t* data, size_t n, int flags, uint8_t record_type = 0x17);
  // tls_device_push_pending_record: closes and pushes an open MSG_MORE record.
  void push_pending_record();
  bool has_open_record() const;  // tls_is_pending_open_record
  int sk_err() const;            // 0, or EBADMSG after a record-number wrap (sticky)

  // tls_offload_tx_resync_request / tls_offload_tx_resync_pending ("next record sync"
  // drivers): the next pushed record first fences TCP and calls tls_dev_resync(its seq, its
  // record number); the flag clears only when that returns 0 (or the device is down).
  void tls_offload_tx_resync_request(uint32_t got_seq, uint32_t exp_seq);
  bool tls_offload_tx_resync_pending() const;

  // Caller must treat the result as valid only until the next clean_acked. nullptr in
  // software-kTLS mode (there is no offload context) and before tls_set_device_offload.
  const TlsRecordInfo* tls_get_record(uint32_t seq, uint64_t* rcd_sn);
  void clean_acked(uint32_t acked_seq);  // tls_tcp_clean_acked

  // tls_sw_fallback for one skb's payload [seq, seq+len) given its plaintext image bytes.
  // encrypted: out[0..len) holds the wire bytes; passthrough: out is a copy of plain (bytes
  // before the start marker, len == 0, or software-kTLS mode whose bytes are already sealed);
  // drop: out is untouched. out must not overlap plain.
  enum class Fallback { encrypted, passthrough, drop };
  Fallback sw_fallback(uint32_t seq, const uint8_t* plain, uint32_t len, uint8_t* out);
  // tls_device_down: every later skb of the socket goes through sw_fallback.
  void tls_device_down();
  bool device_down() const;

  // In software kTLS mode (offload refused) records are sealed before they reach TCP.
  bool sw_mode() const;

  uint64_t next_record_sn() const;      // tx.rec_seq
  uint64_t unacked_record_sn() const;
  size_t records_in_list() const;       // including the start marker while present
  uint32_t start_marker_seq() const;    // write_seq at tls_set_device_offload
  const std::deque<TlsRecordInfo>& records_list() const;  // head = oldest unacked
  const TlsStat& tls_stat() const;
  const OffloadCounters& counters() const;
  const crypto::TlsKeys& keys() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace nicsim::host::ktls
