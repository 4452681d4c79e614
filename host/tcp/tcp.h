// A TCP endpoint: sender (MSS and TSO-sized sends, NewReno congestion control, fast retransmit,
// RTO with back-off; retransmissions may re-segment) and receiver (in-order delivery,
// cumulative and duplicate ACKs, delayed ACK). Plain C++ on the host event queue.
//
// Send-side data lives in host memory as a queue of chunks. write() copies bytes into buffers
// TCP owns (tcp_sendmsg's copy path); push_pages() references bytes someone else owns
// (MSG_SPLICE_PAGES, what tls_device.c does with its records): TCP takes a HostMemory
// reference on the region and drops it once the chunk is cumulatively ACKed.
//
// No segment ever mixes chunks whose `decrypted` flag differs, or crosses an eor fence
// (tcp_write_collapse_fence): the kernel guarantees both for kTLS.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "host/mem/host_memory.h"
#include "host/sim/event_queue.h"
#include "host/tcp/segment.h"

namespace nicsim::host::tcp {

struct TcpConfig {
  uint32_t mss_bytes = 1448;            // 1500 MTU - 20 IP - 20 TCP - 12 timestamp option
  uint32_t tso_max_bytes = 65536;       // largest skb handed to the device (gso_max_size)
  uint32_t init_cwnd_segs = 10;         // RFC 6928 initial window
  uint32_t sndbuf_bytes = 4u << 20;     // send-queue limit seen by send_space()
  uint32_t rcvbuf_bytes = 6u << 20;     // advertised receive window
  uint8_t wscale = 7;                   // window scale offered in SYN
  sim::TimePs rto_min_ps = 200 * sim::kPsPerMs;   // TCP_RTO_MIN (Linux)
  sim::TimePs rto_init_ps = 1000 * sim::kPsPerMs; // TCP_TIMEOUT_INIT (RFC 6298)
  sim::TimePs rto_max_ps = 120000 * sim::kPsPerMs;
  uint32_t delack_segs = 2;             // ACK every second full segment (RFC 1122/5681)
  sim::TimePs delack_ps = 40 * sim::kPsPerMs;     // TCP_DELACK_MIN (Linux)
  uint32_t dupack_threshold = 3;        // fast retransmit after 3 duplicate ACKs (RFC 5681)
  uint32_t isn = 0;                     // initial sequence number (the glue seeds it)
  // Added by host/tcp: offset of the RFC 7323 TSval clock (Linux randomises it per connection;
  // the glue may seed it). TSval = now in ms + ts_offset; nonzero so a TSecr of 0 never
  // looks like "no echo".
  uint32_t ts_offset = 1;
};

struct TcpStats {
  uint64_t segs_out = 0, bytes_out = 0, data_segs_out = 0;
  uint64_t retrans_segs = 0, retrans_bytes = 0, fast_retransmits = 0, rto_expirations = 0;
  uint64_t segs_in = 0, bytes_in = 0, dup_acks_in = 0, ooo_segs_in = 0, dup_segs_in = 0;
  uint64_t acks_out = 0;
  uint32_t cwnd_bytes = 0, ssthresh_bytes = 0, srtt_us = 0;
};

class TcpEndpoint {
 public:
  TcpEndpoint(sim::EventQueue& q, HostMemory& mem, TcpConfig cfg, std::string name);
  ~TcpEndpoint();

  // --- device side ---
  // Hands a segment to the device. Returns false when the device queue is full: TCP then
  // waits for tx_wake() (netif_wake_queue) and tries again.
  void set_xmit(std::function<bool(const Segment&)> xmit);
  void tx_wake();
  void on_receive(const RxSegment& s);

  // --- socket side ---
  void listen();
  void connect();  // sends SYN
  bool established() const;
  uint32_t write_seq() const;     // seq of the next byte the application will queue
  uint32_t snd_una() const;
  size_t send_space() const;      // bytes that may still be queued (sndbuf - queued)
  size_t write(const uint8_t* data, size_t n);  // copies; returns bytes taken (≤ send_space)
  void push_pages(uint64_t addr, uint32_t len, bool decrypted);  // references; always takes all
  void mark_eor();                // the next queued byte starts a new skb
  void shutdown_write();          // FIN once everything queued has been sent
  bool all_acked() const;         // everything queued (and the FIN, if any) is ACKed

  // --- callbacks ---
  std::function<void()> on_established;
  std::function<void(const uint8_t*, size_t)> on_data;  // in-order payload as it arrives
  std::function<void(uint32_t snd_una)> on_acked;       // snd_una advanced (clean_acked hook)
  std::function<void()> on_send_space;                   // send_space() grew
  std::function<void()> on_fin;                          // the peer's FIN arrived in order

  const TcpStats& stats() const;
  const std::string& name() const;

  // --- introspection (added by host/tcp; for tests, stats and the glue) ---
  uint32_t snd_nxt() const;          // next new seq to send (go-back-N rewinds it after RTO)
  uint32_t snd_max() const;          // highest seq sent + 1 (Linux's snd_nxt)
  uint32_t rcv_nxt() const;          // next in-order seq expected from the peer
  uint32_t cwnd_bytes() const;
  uint32_t ssthresh_bytes() const;   // UINT32_MAX until the first loss
  uint32_t snd_wnd() const;          // the peer's receive window, scaled, in bytes
  uint32_t mss() const;              // effective send MSS after the handshake
  sim::TimePs rto_ps() const;        // current RTO including back-off
  sim::TimePs srtt_ps() const;       // 0 before the first sample
  bool in_fast_recovery() const;
  size_t ooo_bytes() const;          // out-of-order bytes buffered by the receiver
  bool fin_received() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace nicsim::host::tcp
