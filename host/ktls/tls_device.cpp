// The kernel's TLS device-offload layer, TX side: net/tls/tls_device.c (tls_set_device_offload,
// tls_push_data, tls_device_record_close, tls_push_record, tls_get_record,
// tls_tcp_clean_acked, tls_device_resync_tx, tls_device_down) re-expressed in C++.
// The software fallback (tls_device_fallback.c) is in tls_device_fallback.cpp.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "host/ktls/tls_device_impl.h"

namespace nicsim::host::ktls {

namespace {

constexpr uint32_t kTlsMinRecordSizeLim = 64;  // TLS_MIN_RECORD_SIZE_LIM (RFC 8449)

// Deterministic stand-in for "whatever bytes the socket page frag held": the NIC must
// overwrite them, so tests and runs notice if anything forwards them unencrypted.
uint64_t splitmix64(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool valid_payload_len(crypto::TlsVersion v, uint32_t len) {
  const uint32_t min = kTlsMinRecordSizeLim - (v == crypto::TlsVersion::tls13 ? 1 : 0);
  return len >= min && len <= crypto::kTlsMaxPayload;
}

}  // namespace

TlsOffloadCtxTx::TlsOffloadCtxTx(HostMemory& mem, TcpSocketOps& tcp, Options opt)
    : impl_(new Impl(mem, tcp, opt)) {
  impl_->placeholder_state = opt.placeholder_seed;
  impl_->tx_max_payload_len = opt.tx_max_payload_len;
}

// tls_device_sk_destruct + tls_device_free_ctx: the open record (never sent) and every record
// still in the list are freed; the device context goes away with the socket.
TlsOffloadCtxTx::~TlsOffloadCtxTx() {
  Impl& s = *impl_;
  if (s.has_open) s.mem.release(s.open_addr);
  for (const TlsRecordInfo& r : s.records_list) {
    if (!tls_record_is_start_marker(r)) s.mem.release(r.addr);
  }
  // The kernel defers tls_dev_del to a workqueue after the socket is destroyed; here it runs
  // at once, so the TlsDevOps object must outlive this context.
  if (s.hw && s.netdev != nullptr) s.netdev->tls_dev_del();
  delete impl_;
}

int TlsOffloadCtxTx::tls_set_device_offload(const CryptoInfo& info, TlsDevOps* dev) {
  Impl& s = *impl_;
  if (s.configured) return -EEXIST;
  if (info.version != TlsVersion::tls12 && info.version != TlsVersion::tls13) return -EINVAL;
  if (info.cipher != Cipher::aes128gcm && info.cipher != Cipher::aes256gcm) return -EINVAL;
  if (!valid_payload_len(info.version, s.tx_max_payload_len)) return -EINVAL;

  s.info = info;
  s.keys = crypto::TlsKeys{};
  s.keys.version = info.version;
  s.keys.cipher = info.cipher;
  std::memcpy(s.keys.key, info.key, crypto::key_bytes(info.cipher));
  std::memcpy(s.keys.salt, info.salt, sizeof s.keys.salt);
  std::memcpy(s.keys.iv, info.iv, sizeof s.keys.iv);
  s.tx_rec_seq = get_be64(info.rec_seq);
  s.keys.rec_seq0 = s.tx_rec_seq;
  std::memcpy(s.tx_iv, info.iv, sizeof s.tx_iv);
  // tls_sw_fallback_init (device mode) / the SW AEAD (software mode): same key either way.
  s.gcm.set_key(info.cipher, s.keys.key);
  s.configured = true;

  // No offload-capable route (dev == nullptr) or, in mainline mode, TLS 1.3: refused before
  // the write queue is fenced.
  bool offload = dev != nullptr &&
                 (info.version == TlsVersion::tls12 || s.opt.tls13_offload);
  if (offload) {
    const uint32_t write_seq = s.tcp.write_seq();
    // unacked_record_sn = rec_seq - 1 accounts for the start marker at the head of the list.
    s.unacked_record_sn = s.tx_rec_seq - 1;
    s.start_marker_seq = write_seq;
    s.records_list.push_back(TlsRecordInfo{write_seq, 0, 0, 0});
    // Fence: the first offloaded byte must begin a fresh skb.
    s.tcp.mark_eor();
    if (dev->tls_dev_add(info, write_seq) == 0) {
      s.hw = true;
      s.netdev = dev;
      s.stat.TlsTxDevice++;
      s.stat.TlsCurrTxDevice++;
      return 0;
    }
    // tls_dev_add failed: the offload context is freed (the eor mark stays on the queue).
    s.records_list.clear();
    s.unacked_record_sn = 0;
  }
  // Silent fallback to software kTLS: not an error for the application.
  s.sw = true;
  s.stat.TlsTxSw++;
  s.stat.TlsCurrTxSw++;
  return 0;
}

bool TlsOffloadCtxTx::device_offloaded() const { return impl_->hw && !impl_->down; }

int TlsOffloadCtxTx::set_tx_max_payload_len(uint32_t len) {
  Impl& s = *impl_;
  if (!s.configured) return -EINVAL;
  if (!valid_payload_len(s.keys.version, len)) return -EINVAL;
  if (s.has_open) return -EBUSY;
  s.tx_max_payload_len = len;
  return 0;
}

// tls_device_record_close + tls_push_record (+ the software path's encryption) of the open
// record. Returns 0 or -EBADMSG; either way the open record is consumed.
int TlsOffloadCtxTx::Impl::close_and_push(uint8_t record_type) {
  Impl& s = *this;
  const size_t pre = s.prepend();
  const uint32_t data_len = s.open_data_len;
  const uint32_t len =
      static_cast<uint32_t>(pre + data_len + s.tail() + crypto::kGcmTagBytes);
  const uint64_t addr = s.open_addr;
  s.has_open = false;
  s.open_addr = 0;
  s.open_data_len = 0;

  // tls_advance_record_sn would wrap tx.rec_seq: tls_err_abort(-EBADMSG). The kernel's TCP
  // then refuses the record (sk_err set), so it never reaches the wire; we free it here
  // rather than leave a record in the list that TCP never got.
  if (s.tx_rec_seq == UINT64_MAX) {
    s.sk_err = EBADMSG;
    s.mem.release(addr);
    return -EBADMSG;
  }

  uint8_t* img = s.mem.ptr(addr, len);
  size_t off = pre + data_len;
  // TLS 1.3 (pending HW series; always in SW kTLS): the real type is the last plaintext byte.
  if (s.tls13()) img[off++] = record_type;
  // Tag placeholder: arbitrary bytes, never zeros on purpose.
  const uint64_t g0 = splitmix64(&s.placeholder_state);
  const uint64_t g1 = splitmix64(&s.placeholder_state) | 1;  // not all-zero, ever
  put_be64(g0, img + off);
  put_be64(g1, img + off + 8);
  // tls_fill_prepend.
  const uint32_t hdr_len = len - static_cast<uint32_t>(crypto::kTlsHeaderBytes);
  img[0] = s.tls13() ? crypto::kTlsContentAppData : record_type;
  img[1] = 0x03;
  img[2] = 0x03;
  img[3] = static_cast<uint8_t>(hdr_len >> 8);
  img[4] = static_cast<uint8_t>(hdr_len);
  if (!s.tls13()) std::memcpy(img + crypto::kTlsHeaderBytes, s.tx_iv, sizeof s.tx_iv);

  const uint32_t write_seq = s.tcp.write_seq();
  const uint64_t rcd_sn = s.tx_rec_seq;
  if (s.sw) {
    // Software kTLS: encrypt in place, as tls_sw does before handing the record to TCP.
    uint8_t nonce[crypto::kGcmIvBytes];
    uint8_t* payload = img + pre;
    const size_t ct_len = data_len + s.tail();
    if (s.tls13()) {
      crypto::tls13_nonce(s.keys.salt, s.keys.iv, rcd_sn, nonce);
      s.gcm.start(nonce, img, crypto::kTlsHeaderBytes);
    } else {
      crypto::tls12_nonce(s.keys.salt, s.tx_iv, nonce);
      uint8_t aad[13];
      crypto::tls12_aad(rcd_sn, record_type, static_cast<uint16_t>(data_len), aad);
      s.gcm.start(nonce, aad, sizeof aad);
    }
    s.gcm.update(payload, payload, ct_len);
    s.gcm.finish_tag(payload + ct_len);
    s.ctr.sw_records_sealed++;
  } else {
    // tls_push_record: end_seq before TCP sees the bytes (exact: TCP appends them next).
    s.records_list.push_back(TlsRecordInfo{write_seq + len, len, addr, record_type});
    if (s.tx_sync_sched) {
      // tls_device_resync_tx: this record starts a fresh skb and the device learns its seq
      // and record number; the flag stays set (retry at the next record) on failure.
      s.tcp.mark_eor();
      int err = 0;
      if (s.netdev != nullptr) {
        err = s.netdev->tls_dev_resync(write_seq, rcd_sn);
        s.ctr.resyncs_sent++;
      }
      if (err == 0) s.tx_sync_sched = false;
    }
  }

  // tls_advance_record_sn: rec_seq + 1 and (TLS 1.2) the explicit-nonce counter + 1.
  s.tx_rec_seq++;
  if (!s.tls13()) put_be64(get_be64(s.tx_iv) + 1, s.tx_iv);

  s.tcp.push_pages(addr, len, /*decrypted=*/!s.sw);
  // Software mode keeps no record list: TCP's own reference keeps the bytes alive.
  if (s.sw) s.mem.release(addr);

  s.ctr.records_pushed++;
  s.ctr.record_bytes_pushed += len;
  if (record_type != crypto::kTlsContentAppData) s.ctr.control_records++;
  return 0;
}

long TlsOffloadCtxTx::sendmsg(const uint8_t* data, size_t n, int flags, uint8_t record_type) {
  Impl& s = *impl_;
  if (!s.configured) return -EINVAL;  // not a TLS socket yet (host bug, reported not thrown)
  if (flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR)) return -EOPNOTSUPP;
  if ((flags & (MSG_MORE | MSG_EOR)) == (MSG_MORE | MSG_EOR)) return -EINVAL;

  // tls_process_cmsg (TLS_SET_RECORD_TYPE): never with MSG_MORE; an open data record is
  // flushed first so records of different types are never merged.
  if (record_type != crypto::kTlsContentAppData) {
    if (flags & MSG_MORE) return -EINVAL;
    if (s.sk_err) return -s.sk_err;
    if (s.has_open) {
      int rc = s.close_and_push(crypto::kTlsContentAppData);
      if (rc < 0) return rc;
    }
  }
  if (s.sk_err) return -s.sk_err;

  // tls_push_data.
  size_t size = n;
  long rc = 0;
  bool done = false;
  do {
    // tls_do_allocation: sk_page_frag_refill fails when the socket is out of send memory.
    // The emulator never blocks (sk_stream_wait_memory → -EAGAIN at once).
    bool last_record = false;
    if (s.tcp.send_space() == 0) {
      rc = -EAGAIN;
      if (!s.has_open) break;
      if (record_type != crypto::kTlsContentAppData) {
        // Never send a partial non-data record; report nothing of it as sent.
        s.mem.release(s.open_addr);
        s.has_open = false;
        s.open_data_len = 0;
        size = n;
        break;
      }
      if (s.open_data_len == 0) break;
      last_record = true;  // goto last_record: flush what we have
    } else {
      if (!s.has_open) {
        // tls_create_new_record: one region big enough for the largest record.
        s.open_capacity = s.tx_max_payload_len;
        const size_t region =
            s.prepend() + s.open_capacity + s.tail() + crypto::kGcmTagBytes;
        s.open_addr = s.mem.alloc(region, 64, /*zero=*/false);  // every pushed byte is written first
        s.open_data_len = 0;
        s.has_open = true;
      }
      const size_t copy = std::min<size_t>(size, s.open_capacity - s.open_data_len);
      if (copy > 0) {
        s.mem.write(s.open_addr + s.prepend() + s.open_data_len, data + (n - size), copy);
        s.open_data_len += static_cast<uint32_t>(copy);
        size -= copy;
        s.ctr.app_bytes += copy;
      }
      last_record = (size == 0);
    }
    if (last_record) {
      if (flags & MSG_MORE) break;  // pending_open_record_frags: the record stays open
      done = true;
    }
    if (done || s.open_data_len >= s.open_capacity) {
      rc = s.close_and_push(record_type);
      if (rc < 0) break;
    }
  } while (!done);

  const size_t consumed = n - size;
  if (consumed > 0) {
    // The kernel's device path would report the bytes even when the push hit the rec_seq
    // wrap; the selftest contract (recseq_wrap, SW kTLS) is -EBADMSG: follow the contract.
    if (rc == -EBADMSG) return rc;
    return static_cast<long>(consumed);
  }
  return rc;
}

void TlsOffloadCtxTx::push_pending_record() {
  Impl& s = *impl_;
  if (s.has_open && s.sk_err == 0) s.close_and_push(crypto::kTlsContentAppData);
}

bool TlsOffloadCtxTx::has_open_record() const { return impl_->has_open; }
int TlsOffloadCtxTx::sk_err() const { return impl_->sk_err; }

void TlsOffloadCtxTx::tls_offload_tx_resync_request(uint32_t got_seq, uint32_t exp_seq) {
  // The kernel WARNs if the flag is already set; the request is idempotent either way.
  (void)got_seq;
  (void)exp_seq;
  impl_->tx_sync_sched = true;
  impl_->ctr.resync_requests++;
}
bool TlsOffloadCtxTx::tls_offload_tx_resync_pending() const { return impl_->tx_sync_sched; }

// tls_get_record, step for step (§1.6 of the reference): hint, else the head with
// unacked_record_sn and the between() range check unless the head is the start marker; walk.
const TlsRecordInfo* TlsOffloadCtxTx::Impl::get_record(uint32_t seq, uint64_t* rcd_sn) {
  ctr.get_record_calls++;
  uint64_t record_sn = hint_record_sn;
  size_t idx = 0;
  bool from_hint = false;
  if (hint_valid) {
    const TlsRecordInfo& h = records_list[static_cast<size_t>(hint_record_sn - unacked_record_sn)];
    if (!before(seq, tls_record_start_seq(h))) {
      from_hint = true;
      idx = static_cast<size_t>(hint_record_sn - unacked_record_sn);
      ctr.get_record_hint_hits++;
    }
  }
  if (!from_hint) {
    if (records_list.empty()) {
      ctr.get_record_misses++;
      return nullptr;
    }
    const TlsRecordInfo& first = records_list.front();
    if (!tls_record_is_start_marker(first)) {
      const TlsRecordInfo& last = records_list.back();
      if (!between(seq, tls_record_start_seq(first), last.end_seq)) {
        ctr.get_record_misses++;
        return nullptr;
      }
    }
    record_sn = unacked_record_sn;
    idx = 0;
  }
  for (; idx < records_list.size(); ++idx, ++record_sn) {
    const TlsRecordInfo& info = records_list[idx];
    if (before(seq, info.end_seq)) {
      // The hint only moves forward.
      if (!hint_valid ||
          after(info.end_seq,
                records_list[static_cast<size_t>(hint_record_sn - unacked_record_sn)].end_seq)) {
        hint_valid = true;
        hint_record_sn = record_sn;
      }
      if (rcd_sn != nullptr) *rcd_sn = record_sn;
      return &info;
    }
  }
  ctr.get_record_misses++;
  return nullptr;
}

const TlsRecordInfo* TlsOffloadCtxTx::tls_get_record(uint32_t seq, uint64_t* rcd_sn) {
  if (!impl_->hw) return nullptr;
  return impl_->get_record(seq, rcd_sn);
}

// tls_tcp_clean_acked: whole records only, wrap-safe, hint cleared with its record.
void TlsOffloadCtxTx::clean_acked(uint32_t acked_seq) {
  Impl& s = *impl_;
  if (!s.hw) return;
  if (s.hint_valid) {
    const TlsRecordInfo& h =
        s.records_list[static_cast<size_t>(s.hint_record_sn - s.unacked_record_sn)];
    if (!before(acked_seq, h.end_seq)) s.hint_valid = false;
  }
  uint64_t deleted = 0;
  while (!s.records_list.empty()) {
    const TlsRecordInfo& r = s.records_list.front();
    if (before(acked_seq, r.end_seq)) break;
    // The start marker has no memory and is not a record the peer ever sees.
    if (!tls_record_is_start_marker(r)) {
      s.mem.release(r.addr);
      s.ctr.records_acked++;
    }
    s.records_list.pop_front();
    deleted++;
  }
  s.unacked_record_sn += deleted;
}

void TlsOffloadCtxTx::tls_device_down() {
  Impl& s = *impl_;
  if (!s.hw || s.down) return;
  // Order as the kernel: traffic is switched to the fallback and ctx->netdev cleared (no more
  // resyncs) before the device context is deleted. tx_conf stays TLS_HW: sendmsg keeps
  // building plaintext records and the list.
  s.down = true;
  TlsDevOps* dev = s.netdev;
  s.netdev = nullptr;
  dev->tls_dev_del();
}

bool TlsOffloadCtxTx::device_down() const { return impl_->down; }
bool TlsOffloadCtxTx::sw_mode() const { return impl_->sw; }
uint64_t TlsOffloadCtxTx::next_record_sn() const { return impl_->tx_rec_seq; }
uint64_t TlsOffloadCtxTx::unacked_record_sn() const { return impl_->unacked_record_sn; }
size_t TlsOffloadCtxTx::records_in_list() const { return impl_->records_list.size(); }
uint32_t TlsOffloadCtxTx::start_marker_seq() const { return impl_->start_marker_seq; }
const std::deque<TlsRecordInfo>& TlsOffloadCtxTx::records_list() const {
  return impl_->records_list;
}
const TlsStat& TlsOffloadCtxTx::tls_stat() const { return impl_->stat; }
const OffloadCounters& TlsOffloadCtxTx::counters() const { return impl_->ctr; }
const crypto::TlsKeys& TlsOffloadCtxTx::keys() const { return impl_->keys; }

}  // namespace nicsim::host::ktls
