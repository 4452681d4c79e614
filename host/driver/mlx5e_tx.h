// The mlx5-like driver's transmit path (drivers/net/ethernet/mellanox/mlx5/core/en_tx.c and
// en_accel/ktls_tx.c): per send queue, WQEs are written into the ring in host memory and the
// doorbell rung; completions are polled from the CQ ring. kTLS sockets get the in-order /
// out-of-order treatment of mlx5e_ktls_handle_tx_skb: in order → a data WQE carrying the TIS
// number; out of order → tls_get_record, then static params (only when the record number
// changed), progress params, a fenced NOP, DUMP WQEs (≤ hw_mtu bytes each) replaying the record
// from its header up to the packet, then the packet, all on the same queue.
// Counter names are mlx5's ethtool names.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/ktls/tls_device.h"
#include "host/mem/host_memory.h"
#include "host/tcp/segment.h"
#include "host/trace/packet.h"
#include "model/abi/device.h"
#include "model/abi/wqe.h"

namespace nicsim::host::driver {

struct DriverConfig {
  uint32_t sq_size_wqebbs = 1024;  // mlx5e default TX ring: 1024 WQEBBs (log_sq_size 10)
  uint32_t cq_size = 1024;
  uint32_t num_sqs = 1;            // channels; a flow uses SQ flow_id % num_sqs
  uint32_t mtu_bytes = 1500;
  // hw_mtu = MTU + ETH_HLEN 14 + VLAN_HLEN 4 + ETH_FCS_LEN 4 (MLX5E_SW2HW_MTU).
  uint32_t hw_mtu() const { return mtu_bytes + 22; }
};

// ethtool -S names (mlx5e sw stats), summed over the driver's queues.
struct EthtoolStats {
  uint64_t tx_packets = 0, tx_bytes = 0, tx_tso_packets = 0, tx_tso_bytes = 0;
  uint64_t tx_queue_stopped = 0, tx_queue_wake = 0, tx_cqes = 0, tx_cqe_err = 0, tx_nop = 0;
  uint64_t tx_tls_encrypted_packets = 0, tx_tls_encrypted_bytes = 0;
  uint64_t tx_tls_ooo = 0;
  uint64_t tx_tls_dump_packets = 0, tx_tls_dump_bytes = 0;
  uint64_t tx_tls_resync_bytes = 0;  // exported by mlx5 but never incremented by ConnectX kTLS
  uint64_t tx_tls_skip_no_sync_data = 0, tx_tls_drop_no_sync_data = 0;
  uint64_t tx_tls_drop_bypass_req = 0;  // likewise never incremented (Innova-only)
  uint64_t tx_tls_ctx = 0, tx_tls_del = 0;
  // Not mlx5 counters: what the model can tell beyond them.
  uint64_t tls_static_params_posted = 0, tls_progress_params_posted = 0, tls_resyncs = 0;
  uint64_t tls_resync_prefix_bytes = 0;  // sum of sync_len over resyncs (what DUMPs must replay)
  uint64_t linearized = 0, tx_dropped_hdr = 0;
};

class Mlx5eTx;

// mlx5e_ktls_offload_context_tx: one per offloaded socket; it is the socket's tlsdev_ops.
class KtlsTxContext final : public ktls::TlsDevOps {
 public:
  KtlsTxContext(Mlx5eTx& drv, uint16_t sqn) : drv_(drv), sqn_(sqn) {}
  ~KtlsTxContext() override;
  void set_tls_ctx(ktls::TlsOffloadCtxTx* ctx) { tx_ctx_ = ctx; }
  int tls_dev_add(const ktls::CryptoInfo& info, uint32_t start_offload_tcp_sn) override;
  void tls_dev_del() override;
  int tls_dev_resync(uint32_t, uint64_t) override { return -95; }  // -EOPNOTSUPP, as mlx5
  bool added() const { return tisn_ != 0; }
  uint32_t tisn() const { return tisn_; }
  uint32_t expected_seq() const { return expected_seq_; }
  // Per-socket copies of the counters (the stats JSON's per-flow view).
  EthtoolStats stats;

 private:
  friend class Mlx5eTx;
  Mlx5eTx& drv_;
  uint16_t sqn_;
  ktls::TlsOffloadCtxTx* tx_ctx_ = nullptr;
  ktls::CryptoInfo crypto_info_{};   // rec_seq doubles as "record number last programmed"
  uint32_t tisn_ = 0, dek_ = 0;
  uint32_t expected_seq_ = 0;
  bool ctx_post_pending_ = false;
};

// What xmit needs to know about the skb beyond the TCP segment.
struct SkbMeta {
  const trace::FlowAddr* addr = nullptr;  // the socket's addressing
  uint16_t ip_id = 0;
  KtlsTxContext* ktls = nullptr;          // the socket's offload context, if offloaded
  // The socket's send queue (sq_for_flow). Every skb of a socket, offloaded or not, goes on
  // the same queue, so the NIC sees them in TCP's order. -1: the offload context's queue, or 0.
  int sqn = -1;
  // Replay (app/replay.cpp): the captured frame's own Ethernet..TCP-options header bytes,
  // inlined as they are (every field, option and tag as captured; the NIC rewrites lengths,
  // checksums and, for TSO, seq / IP ID / flags). nullptr: headers are built from addr and the
  // segment's fields. The segment's seq and payload_len must agree with the bytes given.
  const uint8_t* hdr = nullptr;
  size_t hdr_len = 0;
};

enum class XmitResult { sent, dropped, busy };

// The TCP/IP header fields an skb carries, as the frame builder takes them.
trace::TcpHeaderFields header_fields(const tcp::Segment& s, uint16_t ip_id);

class Mlx5eTx {
 public:
  Mlx5eTx(HostMemory& mem, abi::NicDeviceOps& nic, DriverConfig cfg);
  ~Mlx5eTx();

  // mlx5e_xmit. busy: the ring lacks the worst-case room (netif_tx_stop_queue); TCP retries
  // after the queue's wake callback.
  XmitResult xmit(const tcp::Segment& s, const SkbMeta& m);
  uint16_t sq_for_flow(uint32_t flow_id) const { return uint16_t(flow_id % sqs_.size()); }
  // The CQE at index idx of sqn's CQ is visible now: poll it (mlx5e_poll_tx_cq).
  void poll_cq(uint16_t sqn, uint32_t idx);
  // netif_tx_wake_queue for sqn.
  std::function<void(uint16_t sqn)> on_wake;

  const EthtoolStats& stats() const { return stats_; }
  const DriverConfig& config() const { return cfg_; }
  abi::NicDeviceOps& nic() { return nic_; }
  uint32_t ring_room(uint16_t sqn) const;
  bool all_completed() const;  // every posted WQE has completed

 private:
  friend class KtlsTxContext;
  struct WqeInfo {      // mlx5e_tx_wqe_info
    uint16_t num_wqebbs = 0;
    uint32_t dump_bytes = 0;      // DUMP: counted at completion, as mlx5 does
    KtlsTxContext* owner = nullptr;
    std::vector<uint64_t> refs;   // host memory regions to release at completion
  };
  struct Sq {
    uint16_t sqn = 0;
    uint64_t ring_addr = 0, cq_addr = 0, db_record_addr = 0;
    uint16_t pc = 0, cc = 0;       // producer / consumer counters in WQEBBs
    uint32_t cq_cc = 0;            // CQEs consumed
    bool stopped = false;
    std::vector<WqeInfo> wi;       // by WQEBB index of a WQE's first block
  };
  uint32_t stop_room() const;
  uint8_t* reserve(Sq& sq, uint16_t wqebbs, uint16_t* pi);
  uint8_t* claim(Sq& sq, uint16_t wqebbs);
  void post_nop(Sq& sq, bool fence, uint16_t wqebbs = 1);
  void post_static_params(Sq& sq, KtlsTxContext& k, bool fence);
  void post_progress_params(Sq& sq, KtlsTxContext& k, bool fence);
  void post_dump(Sq& sq, KtlsTxContext& k, uint64_t addr, uint32_t len, bool fence);
  bool post_data(Sq& sq, const tcp::Segment& s, const SkbMeta& m, uint32_t tisn);
  void ring(Sq& sq);
  enum class SyncResult { done, skip_no_data, fail };
  SyncResult ktls_handle_ooo(Sq& sq, KtlsTxContext& k, const tcp::Segment& s);
  void count(KtlsTxContext* k, uint64_t EthtoolStats::*field, uint64_t v = 1) {
    stats_.*field += v;
    if (k) k->stats.*field += v;
  }

  HostMemory& mem_;
  abi::NicDeviceOps& nic_;
  DriverConfig cfg_;
  std::vector<Sq> sqs_;
  EthtoolStats stats_;
  std::vector<uint8_t> hdr_scratch_;
};

}  // namespace nicsim::host::driver
