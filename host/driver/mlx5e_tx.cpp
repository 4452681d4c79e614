#include "host/driver/mlx5e_tx.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nicsim::host::driver {

using namespace abi;

trace::TcpHeaderFields header_fields(const tcp::Segment& s, uint16_t ip_id) {
  trace::TcpHeaderFields h;
  h.seq = s.seq;
  h.ack = s.ack;
  h.flags = s.flags;
  h.window = s.window;
  h.has_ts = s.has_ts;
  h.tsval = s.tsval;
  h.tsecr = s.tsecr;
  h.mss_opt = s.mss_opt;
  h.wscale_opt = s.wscale_opt;
  h.ip_id = ip_id;
  return h;
}

// ---------------------------------------------------------------------------------------------
// KtlsTxContext: mlx5e_ktls_add_tx / mlx5e_ktls_del_tx.

KtlsTxContext::~KtlsTxContext() { tls_dev_del(); }

int KtlsTxContext::tls_dev_add(const ktls::CryptoInfo& info, uint32_t start_offload_tcp_sn) {
  if (tisn_) return -17;  // -EEXIST
  crypto_info_ = info;
  dek_ = drv_.nic_.create_dek(info.cipher, info.key);
  tisn_ = drv_.nic_.create_tis();
  expected_seq_ = start_offload_tcp_sn;
  // The context is programmed in-band on the data SQ with the first packet, not here.
  ctx_post_pending_ = true;
  drv_.count(this, &EthtoolStats::tx_tls_ctx);
  return 0;
}

void KtlsTxContext::tls_dev_del() {
  if (!tisn_) return;
  drv_.nic_.destroy_tis(tisn_);
  drv_.nic_.destroy_dek(dek_);
  tisn_ = dek_ = 0;
  drv_.count(this, &EthtoolStats::tx_tls_del);
}

// ---------------------------------------------------------------------------------------------

Mlx5eTx::Mlx5eTx(HostMemory& mem, NicDeviceOps& nic, DriverConfig cfg) : mem_(mem), nic_(nic), cfg_(cfg) {
  sqs_.resize(std::max<uint32_t>(1, cfg_.num_sqs));
  for (auto& sq : sqs_) {
    SqCreateParams p;
    p.size_wqebbs = cfg_.sq_size_wqebbs;
    p.cq_size = cfg_.cq_size;
    p.ring_addr = mem_.alloc(size_t(p.size_wqebbs) * kWqebbBytes, 4096);
    p.cq_addr = mem_.alloc(size_t(p.cq_size) * sizeof(Cqe), 4096);
    sq.ring_addr = p.ring_addr;
    sq.cq_addr = p.cq_addr;
    sq.db_record_addr = mem_.alloc(64);
    sq.sqn = nic_.create_sq(p);
    sq.wi.resize(p.size_wqebbs);
  }
}

Mlx5eTx::~Mlx5eTx() = default;

// Worst case one xmit can post (mlx5e ktls stop room): static 3 + progress 1 + fence NOP 1 +
// DUMPs (a whole record prefix in hw_mtu pieces, plus one per record frag) + the data WQE with
// its inline headers and frags, plus a ring-edge NOP as large as the biggest WQE.
uint32_t Mlx5eTx::stop_room() const {
  uint32_t dumps = uint32_t((16384 + 29 + cfg_.hw_mtu() - 1) / cfg_.hw_mtu()) + 1;
  uint32_t data = uint32_t(wqebbs_for_ds(2 + ds_for_bytes(kMaxInlineHdrBytes) + kMaxWqeDataSegs));
  return 3 + 1 + 1 + dumps + 2 * data;
}

uint32_t Mlx5eTx::ring_room(uint16_t sqn) const {
  const Sq& sq = sqs_[sqn];
  return cfg_.sq_size_wqebbs - uint16_t(sq.pc - sq.cc);
}

bool Mlx5eTx::all_completed() const {
  for (const Sq& sq : sqs_)
    if (sq.pc != sq.cc) return false;
  return true;
}

// Reserves wqebbs contiguous WQEBBs, padding the ring's tail with a NOP first if needed.
uint8_t* Mlx5eTx::reserve(Sq& sq, uint16_t wqebbs, uint16_t* pi) {
  const uint32_t mask = cfg_.sq_size_wqebbs - 1;
  uint32_t idx = sq.pc & mask;
  uint32_t contig = cfg_.sq_size_wqebbs - idx;
  if (contig < wqebbs) post_nop(sq, false, uint16_t(contig));
  *pi = sq.pc;
  return claim(sq, wqebbs);
}

// Takes wqebbs blocks at the producer counter (the caller made sure they do not wrap): zeroed,
// with fresh completion bookkeeping.
uint8_t* Mlx5eTx::claim(Sq& sq, uint16_t wqebbs) {
  const uint32_t idx = sq.pc & (cfg_.sq_size_wqebbs - 1);
  uint8_t* p = mem_.ptr(sq.ring_addr + uint64_t(idx) * kWqebbBytes, size_t(wqebbs) * kWqebbBytes);
  std::memset(p, 0, size_t(wqebbs) * kWqebbBytes);
  WqeInfo& wi = sq.wi[idx];
  wi.num_wqebbs = wqebbs;
  wi.dump_bytes = 0;
  wi.owner = nullptr;
  wi.refs.clear();
  sq.pc = uint16_t(sq.pc + wqebbs);
  return p;
}

static CtrlSeg make_ctrl(Opcode op, uint8_t opmod, uint16_t pi, size_t ds, uint8_t flags, uint16_t sqn, uint32_t tis) {
  CtrlSeg c{};
  c.opcode = uint8_t(op);
  c.opmod = opmod;
  c.wqe_index = pi;
  c.ds_count = uint8_t(ds);
  c.fm_ce_se = flags;
  c.sqn = sqn;
  c.tis_num = tis;
  return c;
}

void Mlx5eTx::post_nop(Sq& sq, bool fence, uint16_t wqebbs) {
  // A NOP spanning several WQEBBs pads the ring edge; ds_count ≤ 255 limits one to 63 blocks.
  while (wqebbs > 0) {
    uint16_t n = std::min<uint16_t>(wqebbs, 63);
    CtrlSeg c = make_ctrl(Opcode::nop, 0, sq.pc, size_t(n) * kDsPerWqebb, fence ? kFenceInitiatorSmall : 0, sq.sqn, 0);
    uint8_t* p = claim(sq, n);
    std::memcpy(p, &c, sizeof c);
    wqebbs = uint16_t(wqebbs - n);
    stats_.tx_nop++;
  }
}

void Mlx5eTx::post_static_params(Sq& sq, KtlsTxContext& k, bool fence) {
  uint16_t pi;
  uint8_t* p = reserve(sq, 3, &pi);
  UmrStaticParamsWqe w{};
  w.ctrl = make_ctrl(Opcode::umr, kOpmodTlsStaticParams, pi, sizeof(UmrStaticParamsWqe) / kDsBytes,
                     fence ? kFenceInitiatorSmall : 0, sq.sqn, k.tisn_);
  TlsStaticParams& sp = w.params;
  sp.const_2 = 2;
  sp.const_1 = 1;
  sp.encryption_standard = 1;
  sp.tls_version = k.crypto_info_.version == crypto::TlsVersion::tls12 ? kTlsVersion12 : kTlsVersion13;
  sp.dek_index = k.dek_;
  std::memcpy(sp.initial_record_number, k.crypto_info_.rec_seq, 8);
  std::memcpy(sp.gcm_iv, k.crypto_info_.salt, 4);
  // TLS 1.3 needs the whole static IV; for 1.2 the explicit nonce travels in each record.
  if (k.crypto_info_.version == crypto::TlsVersion::tls13) std::memcpy(sp.implicit_iv, k.crypto_info_.iv, 8);
  std::memcpy(p, &w, sizeof w);
  count(&k, &EthtoolStats::tls_static_params_posted);
}

void Mlx5eTx::post_progress_params(Sq& sq, KtlsTxContext& k, bool fence) {
  uint16_t pi;
  uint8_t* p = reserve(sq, 1, &pi);
  SetPsvProgressParamsWqe w{};
  w.ctrl = make_ctrl(Opcode::set_psv, kOpmodTlsProgressParams, pi, sizeof(SetPsvProgressParamsWqe) / kDsBytes,
                     fence ? kFenceInitiatorSmall : 0, sq.sqn, k.tisn_);
  w.params.tis_tir_num = k.tisn_;
  w.params.record_tracker_state = uint8_t(RecordTrackerState::start);
  w.params.auth_state = uint8_t(AuthState::no_offload);
  std::memcpy(p, &w, sizeof w);
  count(&k, &EthtoolStats::tls_progress_params_posted);
}

void Mlx5eTx::post_dump(Sq& sq, KtlsTxContext& k, uint64_t addr, uint32_t len, bool fence) {
  uint16_t pi;
  uint8_t* p = reserve(sq, 1, &pi);
  DumpWqe w{};
  w.ctrl = make_ctrl(Opcode::dump, 0, pi, sizeof(DumpWqe) / kDsBytes, uint8_t((fence ? kFenceInitiatorSmall : 0) | kCqUpdate),
                     sq.sqn, k.tisn_);
  w.data.byte_count = len;
  w.data.addr = addr;
  std::memcpy(p, &w, sizeof w);
  WqeInfo& wi = sq.wi[pi & (cfg_.sq_size_wqebbs - 1)];
  wi.dump_bytes = len;
  wi.owner = &k;
  mem_.retain(addr);  // the page reference DUMP holds until its completion
  wi.refs.push_back(addr);
}

bool Mlx5eTx::post_data(Sq& sq, const tcp::Segment& s, const SkbMeta& m, uint32_t tisn) {
  std::vector<uint8_t> hdr = m.hdr ? std::vector<uint8_t>(m.hdr, m.hdr + m.hdr_len)
                                   : trace::build_headers(*m.addr, header_fields(s, m.ip_id), s.payload_len, false);
  if (hdr.size() > kMaxInlineHdrBytes) return false;
  // Gather list: one data segment per frag. More frags than a WQE takes → copy into one
  // bounce buffer (skb_linearize).
  std::vector<tcp::Frag> frags = s.frags;
  uint64_t bounce = 0;
  if (frags.size() > kMaxWqeDataSegs) {
    bounce = mem_.alloc(s.payload_len, 64, false);
    uint32_t off = 0;
    for (const auto& f : frags) {
      mem_.write(bounce + off, mem_.ptr(f.addr, f.len), f.len);
      off += f.len;
    }
    frags.assign(1, tcp::Frag{bounce, s.payload_len});
    stats_.linearized++;
  }
  const bool lso = s.gso_size && s.payload_len > s.gso_size;
  size_t ds = 2 + ds_for_bytes(hdr.size()) + frags.size();
  uint16_t wqebbs = uint16_t(wqebbs_for_ds(ds));
  uint16_t pi;
  uint8_t* p = reserve(sq, wqebbs, &pi);
  CtrlSeg c = make_ctrl(lso ? Opcode::lso : Opcode::send, 0, pi, ds, kCqUpdate, sq.sqn, tisn);
  std::memcpy(p, &c, sizeof c);
  EthSeg e{};
  e.cs_flags = uint8_t(kCsumL4 | (m.addr->src_ip.v6 ? 0 : kCsumL3));
  e.mss = lso ? s.gso_size : 0;
  e.inline_hdr_sz = uint16_t(hdr.size());
  std::memcpy(p + kDsBytes, &e, sizeof e);
  std::memcpy(p + 2 * kDsBytes, hdr.data(), hdr.size());
  size_t off = (2 + ds_for_bytes(hdr.size())) * kDsBytes;
  WqeInfo& wi = sq.wi[pi & (cfg_.sq_size_wqebbs - 1)];
  for (const auto& f : frags) {
    DataSeg d{};
    d.byte_count = f.len;
    d.addr = f.addr;
    std::memcpy(p + off, &d, sizeof d);
    off += kDsBytes;
    if (!mem_.lookup(f.addr, f.len))
      throw std::logic_error("driver: skb seq " + std::to_string(s.seq) + " frag [0x" + std::to_string(f.addr) + ", +" +
                             std::to_string(f.len) + ") is not in host memory");
    if (f.addr != bounce) mem_.retain(f.addr);  // the bounce buffer's own reference is kept
    wi.refs.push_back(f.addr);
  }
  uint32_t segs = lso ? (s.payload_len + s.gso_size - 1) / s.gso_size : 1;
  stats_.tx_packets += segs;
  stats_.tx_bytes += s.payload_len + hdr.size() * segs;
  if (lso) {
    stats_.tx_tso_packets++;
    stats_.tx_tso_bytes += s.payload_len;
  }
  return true;
}

void Mlx5eTx::ring(Sq& sq) {
  uint32_t pc = sq.pc;
  mem_.write(sq.db_record_addr, &pc, sizeof pc);  // doorbell record, then the MMIO write
  nic_.ring_doorbell(sq.sqn, sq.pc);
}

// mlx5e_ktls_tx_handle_ooo + tx_sync_info_get.
Mlx5eTx::SyncResult Mlx5eTx::ktls_handle_ooo(Sq& sq, KtlsTxContext& k, const tcp::Segment& s) {
  uint64_t rcd_sn = 0;
  const ktls::TlsRecordInfo* rec = k.tx_ctx_ ? k.tx_ctx_->tls_get_record(s.seq, &rcd_sn) : nullptr;
  if (!rec) return SyncResult::fail;
  const uint32_t start = ktls::tls_record_start_seq(*rec);
  // The packet's last byte is before the record's first: for the start marker a pre-offload
  // packet (skip), otherwise data whose record was already ACKed and freed (fail).
  const bool ends_before = tcp::seq_before(s.seq + s.payload_len - 1, start);
  if (ktls::tls_record_is_start_marker(*rec)) return ends_before ? SyncResult::skip_no_data : SyncResult::fail;
  if (ends_before) return SyncResult::fail;
  const uint32_t sync_len = s.seq - start;

  // tx_post_resync_params: static params only when the record number differs from the one
  // last programmed; progress params always (fenced if static was skipped); then a fence NOP.
  uint8_t rn_be[8];
  for (int i = 0; i < 8; i++) rn_be[i] = uint8_t(rcd_sn >> (56 - 8 * i));
  const bool skip_static = std::memcmp(k.crypto_info_.rec_seq, rn_be, 8) == 0;
  if (!skip_static) {
    std::memcpy(k.crypto_info_.rec_seq, rn_be, 8);
    post_static_params(sq, k, true);
  }
  post_progress_params(sq, k, skip_static);
  post_nop(sq, true);
  // DUMPs of at most hw_mtu bytes replay the record from its header up to the packet.
  const uint32_t hw_mtu = cfg_.hw_mtu();
  for (uint32_t off = 0; off < sync_len; off += hw_mtu)
    post_dump(sq, k, rec->addr + off, std::min(hw_mtu, sync_len - off), false);
  count(&k, &EthtoolStats::tls_resyncs);
  count(&k, &EthtoolStats::tls_resync_prefix_bytes, sync_len);
  return SyncResult::done;
}

XmitResult Mlx5eTx::xmit(const tcp::Segment& s, const SkbMeta& m) {
  Sq& sq = sqs_[m.sqn >= 0 ? size_t(m.sqn) % sqs_.size() : m.ktls ? m.ktls->sqn_ : 0];
  if (ring_room(sq.sqn) < stop_room()) {
    if (!sq.stopped) {
      sq.stopped = true;
      stats_.tx_queue_stopped++;
    }
    return XmitResult::busy;
  }
  // Headers that do not fit the WQE's inline area cannot be sent (mlx5 would fail the skb);
  // refused before any state changes. Headers we build never get near the limit.
  if (m.hdr && m.hdr_len > kMaxInlineHdrBytes) {
    stats_.tx_dropped_hdr++;
    return XmitResult::dropped;
  }
  uint32_t tisn = 0;
  KtlsTxContext* k = m.ktls && m.ktls->added() ? m.ktls : nullptr;
  // mlx5e_ktls_handle_tx_skb: pure ACKs pass untouched.
  if (k && s.payload_len > 0) {
    if (k->ctx_post_pending_) {
      post_static_params(sq, *k, false);
      post_progress_params(sq, *k, true);
      post_nop(sq, true);
      k->ctx_post_pending_ = false;
    }
    bool offload = true;
    if (s.seq != k->expected_seq_) {
      count(k, &EthtoolStats::tx_tls_ooo);
      switch (ktls_handle_ooo(sq, *k, s)) {
        case SyncResult::done:
          break;
        case SyncResult::skip_no_data:
          count(k, &EthtoolStats::tx_tls_skip_no_sync_data);
          if (s.decrypted) {  // plaintext that would leave unencrypted: never
            ring(sq);
            return XmitResult::dropped;
          }
          offload = false;  // pre-offload bytes go out as the application wrote them
          break;
        case SyncResult::fail:
          count(k, &EthtoolStats::tx_tls_drop_no_sync_data);
          ring(sq);  // params/DUMPs already posted (none on fail) still go
          return XmitResult::dropped;
      }
    }
    if (offload) {
      k->expected_seq_ = s.seq + s.payload_len;
      tisn = k->tisn_;
      uint32_t segs = s.gso_size && s.payload_len > s.gso_size ? (s.payload_len + s.gso_size - 1) / s.gso_size : 1;
      count(k, &EthtoolStats::tx_tls_encrypted_packets, segs);
      count(k, &EthtoolStats::tx_tls_encrypted_bytes, s.payload_len);
    }
  } else if (s.decrypted) {
    // A decrypted skb without a device context would leak plaintext (sk_validate_xmit_skb
    // drops it); the glue routes such skbs through the software fallback first.
    return XmitResult::dropped;
  }
  post_data(sq, s, m, tisn);
  ring(sq);
  return XmitResult::sent;
}

void Mlx5eTx::poll_cq(uint16_t sqn, uint32_t idx) {
  Sq& sq = sqs_[sqn];
  const uint32_t mask = cfg_.sq_size_wqebbs - 1;
  while (int32_t(idx - sq.cq_cc) >= 0) {
    Cqe c;
    mem_.read(sq.cq_addr + uint64_t(sq.cq_cc & (cfg_.cq_size - 1)) * sizeof(Cqe), &c, sizeof c);
    sq.cq_cc++;
    stats_.tx_cqes++;
    if (c.opcode != kCqeReq) stats_.tx_cqe_err++;
    // Completions are in order: everything up to and including wqe_counter is done.
    const uint16_t last = c.wqe_counter;
    for (;;) {
      WqeInfo& wi = sq.wi[sq.cc & mask];
      const uint16_t this_pi = sq.cc;
      if (wi.dump_bytes) {
        count(wi.owner, &EthtoolStats::tx_tls_dump_packets);
        count(wi.owner, &EthtoolStats::tx_tls_dump_bytes, wi.dump_bytes);
        wi.dump_bytes = 0;
      }
      for (uint64_t a : wi.refs) mem_.release(a);
      wi.refs.clear();
      sq.cc = uint16_t(sq.cc + std::max<uint16_t>(1, wi.num_wqebbs));
      if (this_pi == last || sq.cc == sq.pc) break;
    }
  }
  if (sq.stopped && ring_room(sqn) >= stop_room()) {
    sq.stopped = false;
    stats_.tx_queue_wake++;
    if (on_wake) on_wake(sqn);
  }
}

}  // namespace nicsim::host::driver
