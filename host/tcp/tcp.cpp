// TCP endpoint: RFC 9293 connection handling, RFC 7323 options (window scale, timestamps),
// RFC 5681 + RFC 6582 (NewReno) congestion control, RFC 6298 retransmission timer with Linux's
// bounds, RFC 5681 §4.2 / RFC 1122 §4.2.3.2 delayed ACKs. The structure follows Linux
// (tcp_output.c tcp_write_xmit / tcp_input.c tcp_ack / tcp_data_queue) where Linux and the RFCs
// agree; every place where this model chooses between them says so.
//
// Choices that differ from Linux, on purpose:
//  * Loss recovery is RFC 6582 NewReno with cwnd inflation and RFC 3042 limited transmit, not
//    Linux's SACK/RACK-TLP + PRR (no SACK option is negotiated, no tail loss probe): a lost tail
//    segment waits for the RTO (≥ 200 ms) where Linux would probe after about 2 RTTs.
//  * After an RTO the sender goes back to snd_una and resends everything (go-back-N), re-cutting
//    skbs from the chunk queue; Linux marks lost skbs and resends those.
//  * No Nagle (RFC 896) and no cork: a sub-MSS tail is sent as soon as nothing more is queued.
//    write()/push_pages() defer the actual send to an event at the current time (Linux's
//    tcp_push at the end of sendmsg), so writes made in the same event are segmented together.
//  * Linux's receive-side quick-ACK mode at connection start is not modelled: every ACK follows
//    the delayed-ACK rules below from the first segment.
//  * RST is neither sent nor acted upon; there is no TIME_WAIT/close state machine beyond FIN
//    exchange (the endpoint stays "established" with fin flags).
#include "host/tcp/tcp.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

namespace nicsim::host::tcp {

namespace {

using sim::TimePs;

constexpr uint32_t kWriteBufBytes = 64 * 1024;  // host buffer size for write() copies
constexpr uint32_t kDefaultMss = 536;           // RFC 9293 §3.7.1: no MSS option received
constexpr uint8_t kMaxWscale = 14;              // RFC 7323 §2.3
constexpr TimePs kNoEvent = std::numeric_limits<TimePs>::max();
constexpr TimePs kSynFallbackRtoPs = 3000 * sim::kPsPerMs;  // RFC 6298 §5.7 (TCP_TIMEOUT_FALLBACK)
constexpr uint32_t kCwndClampBytes = 1u << 30;

enum class State { kClosed, kListen, kSynSent, kSynRcvd, kEstablished };

// One piece of the send queue: a contiguous seq range backed by one host-memory region.
struct Chunk {
  uint32_t seq = 0;
  uint32_t len = 0;
  uint64_t addr = 0;       // host address of the chunk's first byte
  uint32_t cap = 0;        // owned chunks: bytes available at addr (write() appends up to it)
  bool decrypted = false;  // skb->decrypted of the bytes (MSG_SENDPAGE_DECRYPTED)
  bool eor_before = false; // tcp_write_collapse_fence: no skb may join this chunk to the previous
  bool owned = false;      // TCP allocated the region (write path) vs. retained the caller's
};

// A one-shot timer on the event queue that never cancels events: it keeps one event scheduled
// and, when that event fires early (the deadline moved later), re-schedules itself. Restarting
// the RTO on every ACK therefore costs no event.
struct Timer {
  bool armed = false;
  TimePs deadline = 0;
  TimePs scheduled = kNoEvent;  // time of the live event, kNoEvent when none
};

}  // namespace

struct TcpEndpoint::Impl {
  Impl(TcpEndpoint& ep, sim::EventQueue& q, HostMemory& mem, TcpConfig cfg, std::string name)
      : ep(ep), q(q), mem(mem), cfg(cfg), name(std::move(name)) {
    if (cfg.mss_bytes == 0) throw std::invalid_argument("tcp: mss_bytes must be > 0");
    iss = cfg.isn;
    snd_una = snd_nxt = snd_max = iss;
    write_seq = iss + 1;  // the SYN takes iss
    recover = iss;
    snd_wl1 = 0;
    mss = cfg.mss_bytes;
    cwnd = cfg.init_cwnd_segs * mss;
    ssthresh = std::numeric_limits<uint32_t>::max();  // RFC 5681 §3.1: arbitrarily high
    rto_base = cfg.rto_init_ps;
  }

  ~Impl() {
    // Drop every reference the send queue still holds (socket destruction frees the skbs).
    for (const Chunk& c : chunks) mem.release(c.addr);
  }

  TcpEndpoint& ep;
  sim::EventQueue& q;
  HostMemory& mem;
  TcpConfig cfg;
  std::string name;
  std::shared_ptr<int> alive = std::make_shared<int>(0);  // events hold a weak_ptr to it
  std::function<bool(const Segment&)> xmit;
  State state = State::kClosed;
  TcpStats stats;

  // --- negotiated options ---
  uint32_t mss = 0;             // effective MSS (send and receive: min of both offers)
  uint8_t snd_wscale = 0;       // shift applied to the peer's window field
  uint8_t rcv_wscale = 0;       // shift applied to our window field
  bool ts_ok = false;           // both sides sent the timestamps option
  bool wscale_offered_by_peer = false;
  uint32_t ts_recent = 0;       // RFC 7323 §4.3 TS.Recent
  uint32_t last_ack_sent = 0;   // RFC 7323 Last.ACK.sent

  // --- send side ---
  uint32_t iss = 0, snd_una = 0, snd_nxt = 0, snd_max = 0, write_seq = 0;
  uint32_t snd_wnd = 0, snd_wl1 = 0;
  uint32_t max_snd_wnd = 0;     // largest window the peer offered (RFC 9293 §3.8.6.2.1)
  bool fin_queued = false;
  uint32_t fin_seq = 0;         // seq the FIN occupies (= write_seq at shutdown)
  bool eor_pending = false;
  std::deque<Chunk> chunks;
  uint32_t cwnd = 0, ssthresh = 0, bytes_acked_ca = 0;
  bool cwnd_limited = false;    // the last send pass stopped on cwnd (RFC 7661 / Linux)
  uint32_t dupacks = 0;
  uint32_t lt_bytes = 0;        // sent by limited transmit in the current duplicate-ACK run
  bool in_recovery = false;
  uint32_t recover = 0;         // RFC 6582 "recover", kept exclusive (highest seq sent + 1)
  bool partial_ack_seen = false;
  bool syn_retransmitted = false;
  TimePs syn_sent_ps = 0;
  uint32_t syn_tsval = 0;

  // RTT: one timed segment at a time (RFC 6298 §3 Karn: never time a retransmission).
  bool rtt_timing = false;
  uint32_t rtt_seq = 0;
  TimePs rtt_start_ps = 0;
  bool have_srtt = false;
  TimePs srtt = 0, rttvar = 0, rto_base = 0;
  uint32_t backoff = 0, persist_backoff = 0;
  Timer rto_timer, delack_timer, persist_timer;

  // --- output gating ---
  bool xmit_blocked = false;
  bool need_ack = false, need_syn = false, need_fast_retx = false;
  bool flush_scheduled = false, in_flush = false, reflush = false;

  // --- receive side ---
  uint32_t irs = 0, rcv_nxt = 0, rcv_wnd_end = 0;
  uint64_t rcv_nxt64 = 0;  // rcv_nxt as a 64-bit stream offset (ooo map keys never wrap)
  std::map<uint64_t, std::vector<uint8_t>> ooo;
  size_t ooo_bytes = 0;
  bool fin_rcvd = false, peer_fin_known = false;
  uint32_t peer_fin_seq = 0;
  uint32_t rcv_unacked_bytes = 0;

  // ======================= helpers =======================
  TimePs now() const { return q.now_ps(); }
  uint32_t tsval_now() const { return uint32_t(now() / sim::kPsPerMs) + cfg.ts_offset; }
  uint32_t data_end() const { return write_seq; }
  uint32_t flight() const { return snd_max - snd_una; }
  uint32_t seq_end_goal() const { return fin_queued ? fin_seq + 1 : write_seq; }
  bool fin_sent() const { return fin_queued && seq_after(snd_max, fin_seq); }

  TimePs rto_current() const {
    TimePs r = rto_base;
    for (uint32_t i = 0; i < backoff && r < cfg.rto_max_ps; ++i) r *= 2;  // RFC 6298 §5.5
    return std::min(r, cfg.rto_max_ps);
  }

  // ---- timers ----
  void arm_timer(Timer& t, TimePs when, void (Impl::*fire)()) {
    t.armed = true;
    t.deadline = when;
    if (t.scheduled != kNoEvent && t.scheduled <= when) return;
    schedule_timer(t, when, fire);
  }
  void schedule_timer(Timer& t, TimePs when, void (Impl::*fire)()) {
    t.scheduled = when;
    std::weak_ptr<int> w = alive;
    Timer* tp = &t;
    q.at(when, [this, w, tp, fire, when] {
      if (w.expired()) return;
      timer_event(*tp, fire, when);
    });
  }
  void timer_event(Timer& t, void (Impl::*fire)(), TimePs when) {
    if (t.scheduled != when) return;  // superseded by an earlier event
    t.scheduled = kNoEvent;
    if (!t.armed) return;
    if (now() < t.deadline) {
      schedule_timer(t, t.deadline, fire);
      return;
    }
    t.armed = false;
    (this->*fire)();
  }
  void restart_rto() { arm_timer(rto_timer, now() + rto_current(), &Impl::on_rto); }

  void schedule_flush() {
    if (flush_scheduled) return;
    flush_scheduled = true;
    std::weak_ptr<int> w = alive;
    q.at(now(), [this, w] {
      if (w.expired()) return;
      flush_scheduled = false;
      flush();
    });
  }

  // ---- RTT estimation: RFC 6298 §2, with Linux's bound (tcp_rtt_estimator/tcp_set_rto):
  // RTO = SRTT + max(4*RTTVAR, rto_min), at most rto_max. Linux applies rto_min to the variance
  // term, so for a 20 µs RTT the RTO is 200.02 ms, not max(…, 1 s) as RFC 6298 §2.4 says.
  void rtt_sample(TimePs r) {
    if (!have_srtt) {
      srtt = r;  // RFC 6298 §2.2
      rttvar = r / 2;
      have_srtt = true;
    } else {  // RFC 6298 §2.3, beta = 1/4, alpha = 1/8
      TimePs err = srtt > r ? srtt - r : r - srtt;
      rttvar = (3 * rttvar + err) / 4;
      srtt = (7 * srtt + r) / 8;
    }
    rto_base = std::min(srtt + std::max(4 * rttvar, cfg.rto_min_ps), cfg.rto_max_ps);
    backoff = 0;  // Linux tcp_ack_update_rtt: "only reset backoff on valid RTT measurement"
  }

  // ---- send queue ----
  // Index of the chunk holding seq (seq must be in [chunks.front().seq, write_seq)).
  size_t chunk_index(uint32_t seq) const {
    uint32_t base = chunks.front().seq;
    uint32_t off = seq - base;
    size_t lo = 0, hi = chunks.size();
    while (hi - lo > 1) {  // chunks are contiguous in seq, so offsets from the front are sorted
      size_t mid = (lo + hi) / 2;
      if (chunks[mid].seq - base <= off) lo = mid; else hi = mid;
    }
    return lo;
  }

  // Length of the skb-able run starting at seq, at most cap: stops where `decrypted` changes or
  // at an eor fence (tcp_skb_can_collapse). natural_end: the run ended at such a boundary or at
  // the end of queued data, rather than at cap.
  uint32_t run_len(uint32_t seq, uint32_t cap, bool* natural_end) const {
    *natural_end = true;
    uint32_t avail = data_end() - seq;
    if (cap >= avail) cap = avail; else *natural_end = false;
    if (cap == 0) return 0;
    size_t i = chunk_index(seq);
    bool dec = chunks[i].decrypted;
    uint32_t got = 0;
    uint32_t cur = seq;
    for (; i < chunks.size() && got < cap; ++i) {
      const Chunk& c = chunks[i];
      if (got > 0 && (c.eor_before || c.decrypted != dec)) {
        *natural_end = true;
        return got;
      }
      uint32_t take = std::min(c.seq + c.len - cur, cap - got);
      got += take;
      cur += take;
    }
    if (got == cap && *natural_end == false) {
      // Cut by cap; if a boundary sits exactly at cap, that is a natural end too.
      if (i < chunks.size() && cur == chunks[i].seq &&
          (chunks[i].eor_before || chunks[i].decrypted != dec))
        *natural_end = true;
    }
    return got;
  }

  // Fills s.frags/payload_len/decrypted with [seq, seq+len) (len ≤ run_len(seq)).
  void fill_payload(Segment& s, uint32_t seq, uint32_t len) const {
    s.payload_len = len;
    if (len == 0) return;
    size_t i = chunk_index(seq);
    s.decrypted = chunks[i].decrypted;
    uint32_t cur = seq, left = len;
    for (; left > 0; ++i) {
      const Chunk& c = chunks[i];
      uint32_t off = cur - c.seq;
      uint32_t take = std::min(c.len - off, left);
      // Adjacent chunks are never merged into one frag: regions from the bump allocator may be
      // adjacent in address, but a DMA crossing regions faults.
      s.frags.push_back(Frag{c.addr + off, take});
      cur += take;
      left -= take;
    }
  }

  // Releases chunks fully covered by snd_una. Returns bytes freed.
  size_t release_acked() {
    uint32_t acked_end = seq_after(snd_una, write_seq) ? write_seq : snd_una;
    size_t freed = 0;
    while (!chunks.empty()) {
      const Chunk& c = chunks.front();
      if (seq_after(c.seq + c.len, acked_end)) break;
      freed += c.len;
      mem.release(c.addr);
      chunks.pop_front();
    }
    return freed;
  }

  // ---- window we advertise: rcvbuf minus out-of-order bytes, never shrinking the right edge
  // (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4; Linux tcp_select_window rounds up to the scale unit).
  uint16_t select_window() {
    uint32_t space = cfg.rcvbuf_bytes > ooo_bytes ? uint32_t(cfg.rcvbuf_bytes - ooo_bytes) : 0;
    uint32_t max_win = uint32_t(65535) << rcv_wscale;
    uint32_t win = std::min(space, max_win);
    uint32_t unit = 1u << rcv_wscale;
    win &= ~(unit - 1);
    uint32_t cur = seq_after(rcv_wnd_end, rcv_nxt) ? rcv_wnd_end - rcv_nxt : 0;
    if (win < cur) win = std::min((cur + unit - 1) & ~(unit - 1), max_win);
    rcv_wnd_end = rcv_nxt + win;
    return uint16_t(win >> rcv_wscale);
  }

  // ======================= output =======================
  // Every segment leaves through here. False: the device queue is full; nothing was sent.
  bool transmit(Segment& s) {
    if (!xmit) throw std::logic_error("tcp " + name + ": set_xmit() before sending");
    if (s.flags & kAck) {
      s.ack = rcv_nxt;
      s.window = select_window();
    }
    s.has_ts = ts_ok;
    if (ts_ok) {
      s.tsval = tsval_now();
      s.tsecr = ts_recent;
    }
    if (!xmit(s)) {
      xmit_blocked = true;
      return false;
    }
    stats.segs_out++;
    stats.bytes_out += s.payload_len;
    if (s.payload_len) stats.data_segs_out++;
    if (s.retransmit) {
      stats.retrans_segs++;
      stats.retrans_bytes += s.payload_len;
    }
    if (s.flags & kAck) {
      // Any segment carrying the ACK satisfies a pending/delayed ACK (Linux tcp_event_ack_sent).
      need_ack = false;
      rcv_unacked_bytes = 0;
      delack_timer.armed = false;
      last_ack_sent = rcv_nxt;
    }
    return true;
  }

  void flush() {
    if (in_flush) {  // re-entered from a callback inside xmit: let the outer loop redo it
      reflush = true;
      return;
    }
    in_flush = true;
    do {
      reflush = false;
      flush_once();
    } while (reflush && !xmit_blocked);
    in_flush = false;
  }

  void flush_once() {
    if (xmit_blocked) return;
    if (need_syn && !send_syn()) return;
    if (state != State::kEstablished) return;
    if (need_fast_retx && !retransmit_head()) return;
    if (!send_data()) return;
    if (need_ack) send_pure_ack();
  }

  bool send_syn() {
    Segment s;
    s.seq = iss;
    s.mss_opt = uint16_t(std::min<uint32_t>(cfg.mss_bytes, 65535));
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    s.window = uint16_t(std::min<uint32_t>(cfg.rcvbuf_bytes, 65535));
    if (state == State::kSynSent) {
      s.flags = kSyn;
      s.wscale_opt = int8_t(std::min(cfg.wscale, kMaxWscale));
      ts_ok = true;  // offer timestamps; the SYN-ACK decides
      s.has_ts = true;
      s.tsval = tsval_now();
      s.tsecr = 0;
    } else if (state == State::kSynRcvd) {
      s.flags = kSyn | kAck;
      s.ack = rcv_nxt;
      // RFC 7323 §2.2/§3.2: options in a SYN-ACK only when the SYN carried them.
      if (wscale_offered_by_peer) s.wscale_opt = int8_t(rcv_wscale);
      s.has_ts = ts_ok;
      if (ts_ok) {
        s.tsval = tsval_now();
        s.tsecr = ts_recent;
      }
    } else {
      need_syn = false;
      return true;
    }
    s.retransmit = syn_retransmitted;
    if (!xmit) throw std::logic_error("tcp " + name + ": set_xmit() before connect/listen");
    if (!xmit(s)) {
      xmit_blocked = true;
      return false;
    }
    stats.segs_out++;
    if (s.retransmit) stats.retrans_segs++;
    syn_tsval = s.tsval;
    syn_sent_ps = now();
    need_syn = false;
    if (state == State::kSynRcvd) last_ack_sent = rcv_nxt;
    return true;
  }
  void send_pure_ack() {
    Segment s;
    // Linux tcp_acceptable_seq: its snd_nxt, i.e. our snd_max (go-back-N rewinds our snd_nxt,
    // but an ACK's seq must not look old to the peer, or it answers with an ACK of its own).
    s.seq = snd_max;
    s.flags = kAck;
    if (transmit(s)) stats.acks_out++;
  }

  // Fast retransmit / NewReno partial-ACK retransmit: one MSS from snd_una, re-cut from the
  // chunk queue (RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 3). Not limited by cwnd.
  bool retransmit_head() {
    if (!seq_before(snd_una, snd_max)) {
      need_fast_retx = false;
      return true;
    }
    Segment s;
    s.seq = snd_una;
    s.flags = kAck;
    s.retransmit = true;
    uint32_t end = snd_una;
    if (seq_before(snd_una, write_seq)) {
      bool nat;
      uint32_t cap = std::min(mss, snd_max - snd_una);
      uint32_t len = run_len(snd_una, cap, &nat);
      fill_payload(s, snd_una, len);
      end = snd_una + len;
    }
    if (fin_sent() && end == fin_seq) {
      s.flags |= kFin;
      end = fin_seq + 1;
    }
    if (s.payload_len == 0 && !(s.flags & kFin)) {  // nothing retransmittable
      need_fast_retx = false;
      return true;
    }
    if (!transmit(s)) return false;
    need_fast_retx = false;
    rtt_timing = false;  // Karn: the timed segment's ACK may now be caused by this copy
    if (seq_before(snd_nxt, end)) snd_nxt = end;
    if (!rto_timer.armed) restart_rto();
    return true;
  }

  // tcp_write_xmit: send new data (or data from snd_nxt after an RTO rewind) while the
  // congestion and receive windows allow. False when the device refused a segment.
  bool send_data() {
    cwnd_limited = false;
    for (;;) {
      if (!seq_before(snd_nxt, data_end())) {
        // Only the FIN may be left. It takes a cwnd slot (Linux counts it as a packet) but is
        // not limited by the peer's window (a zero-length FIN at RCV.NXT is always acceptable).
        if (fin_queued && snd_nxt == fin_seq) {
          if (snd_nxt - snd_una >= cwnd) {
            cwnd_limited = true;
            break;
          }
          Segment s;
          s.seq = fin_seq;
          s.flags = kAck | kFin;
          s.retransmit = seq_before(fin_seq, snd_max);
          if (!transmit(s)) return false;
          sent_advance(fin_seq + 1, s.retransmit);
        }
        break;
      }
      // RFC 5681 §2/§3.1 + RFC 9293 §3.8.6: never beyond snd_una + min(cwnd, rwnd).
      // RFC 3042 Limited Transmit: on the first two duplicate ACKs, one more segment of new
      // data each beyond cwnd (cwnd itself unchanged). Linux's Reno mode counts duplicate ACKs
      // as sacked_out, which has the same effect.
      uint32_t lt_allow = 0;
      if (!in_recovery && dupacks > 0 && dupacks < cfg.dupack_threshold &&
          !seq_before(snd_nxt, snd_max))
        lt_allow = std::min(dupacks, 2u) * mss;
      uint32_t cwnd_end = snd_una + cwnd + lt_allow;
      uint32_t rwnd_end = snd_una + snd_wnd;
      uint32_t wnd_end = seq_before(cwnd_end, rwnd_end) ? cwnd_end : rwnd_end;
      uint32_t room = seq_after(wnd_end, snd_nxt) ? wnd_end - snd_nxt : 0;
      bool retx = seq_before(snd_nxt, snd_max);
      uint32_t cap = cfg.tso_max_bytes;
      if (retx) cap = std::min(cap, snd_max - snd_nxt);  // keep resent and new data apart
      bool natural;
      uint32_t run = run_len(snd_nxt, cap, &natural);
      // Linux tcp_snd_wnd_test / tcp_cwnd_test: the first MSS of the skb must fit. Sender SWS
      // avoidance (RFC 9293 §3.8.6.2.1) also allows a smaller segment when it fills at least
      // half the largest window the peer ever offered, so a window below one MSS still moves.
      uint32_t first = std::min(run, mss);
      if (room < first && room > 0 && room >= max_snd_wnd / 2) first = room;
      if (room < first) {
        bool by_cwnd = !seq_after(cwnd_end, rwnd_end);  // cwnd is the tighter limit
        cwnd_limited = by_cwnd;
        if (!by_cwnd && snd_una == snd_max) arm_persist();
        break;
      }
      uint32_t len = std::min(run, room);
      // tcp_mss_split_point: cut at an MSS multiple unless the skb ends at a natural boundary
      // (end of queued data, eor fence, decrypted change), whose sub-MSS tail goes out now.
      if (len > mss && (len < run || !natural)) len -= len % mss;
      Segment s;
      s.seq = snd_nxt;
      s.flags = kAck;
      s.retransmit = retx;
      fill_payload(s, snd_nxt, len);
      if (len > mss) s.gso_size = uint16_t(mss);  // TSO: the NIC cuts gso_size pieces
      uint32_t end = snd_nxt + len;
      if (end == data_end()) {
        s.flags |= kPsh;  // tcp_mark_push on the last skb of a write burst
        if (fin_queued) {  // FIN rides on the last data segment (tcp_send_fin)
          s.flags |= kFin;
          end = fin_seq + 1;
        }
      }
      if (!transmit(s)) return false;
      uint32_t cwnd_edge = snd_una + cwnd;
      if (lt_allow && seq_after(snd_nxt + len, cwnd_edge))
        lt_bytes += snd_nxt + len - (seq_after(snd_nxt, cwnd_edge) ? snd_nxt : cwnd_edge);
      sent_advance(end, retx);
    }
    return true;
  }

  void sent_advance(uint32_t end, bool retx) {
    if (retx) {
      rtt_timing = false;  // Karn
    } else if (!rtt_timing) {
      rtt_timing = true;
      rtt_seq = end;
      rtt_start_ps = now();
    }
    snd_nxt = end;
    if (seq_after(snd_nxt, snd_max)) snd_max = snd_nxt;
    persist_timer.armed = false;
    persist_backoff = 0;
    if (!rto_timer.armed) restart_rto();  // RFC 6298 §5.1
  }

  // ---- zero-window probing (RFC 9293 §3.8.6.1; Linux tcp_probe_timer sends an old-seq ACK)
  void arm_persist() {
    if (persist_timer.armed) return;
    TimePs t = rto_current();
    for (uint32_t i = 0; i < persist_backoff && t < cfg.rto_max_ps; ++i) t *= 2;
    arm_timer(persist_timer, now() + std::min(t, cfg.rto_max_ps), &Impl::on_persist);
  }
  void on_persist() {
    if (state != State::kEstablished || snd_una != snd_max || !seq_before(snd_nxt, data_end()))
      return;
    Segment s;
    s.seq = snd_una - 1;  // already acknowledged: the peer must answer with its window
    s.flags = kAck;
    transmit(s);
    persist_backoff++;
    arm_persist();
  }

  // ======================= RTO =======================
  void on_rto() {
    if (state == State::kSynSent || state == State::kSynRcvd) {
      // RFC 6298 §5.5–5.6 applied to the SYN (Linux tcp_retransmit_timer for SYN_SENT/RECV).
      backoff++;
      syn_retransmitted = true;
      need_syn = true;
      restart_rto();
      flush();
      return;
    }
    if (state != State::kEstablished || !seq_before(snd_una, snd_max)) return;
    stats.rto_expirations++;
    // RFC 5681 §3.1 eq. (4), only on the first timeout of an episode and not when fast recovery
    // already cut it (Linux tcp_enter_loss).
    if (backoff == 0 && !in_recovery) ssthresh = std::max(flight() / 2, 2 * mss);
    cwnd = mss;  // loss window, RFC 5681 §3.1
    bytes_acked_ca = 0;
    in_recovery = false;
    dupacks = 0;
    lt_bytes = 0;
    recover = snd_max;  // RFC 6582 §3.2 step 4: no fast retransmit for the go-back-N duplicates
    snd_nxt = snd_una;  // go-back-N
    rtt_timing = false;
    need_fast_retx = false;
    backoff++;  // RFC 6298 §5.5
    restart_rto();  // RFC 6298 §5.6
    flush();
  }

  void on_delack() {
    if (state != State::kEstablished) return;
    need_ack = true;
    flush();
  }

  // ======================= input =======================
  void take_syn_options(const RxSegment& s) {
    // RFC 9293 §3.7.1 / RFC 6691: both ends use min(own MSS, peer's MSS option).
    mss = std::min(cfg.mss_bytes, s.mss_opt ? uint32_t(s.mss_opt) : kDefaultMss);
    // RFC 7323 §2.2: scaling only when both SYNs carry the option.
    wscale_offered_by_peer = s.wscale_opt >= 0;
    if (wscale_offered_by_peer) {
      snd_wscale = uint8_t(std::min<int>(s.wscale_opt, kMaxWscale));
      rcv_wscale = std::min(cfg.wscale, kMaxWscale);
    } else {
      snd_wscale = rcv_wscale = 0;
    }
    ts_ok = s.has_ts;  // RFC 7323 §3.2
    if (ts_ok) ts_recent = s.tsval;
  }

  void become_established() {
    state = State::kEstablished;
    // RFC 5681 §3.1: one segment after a lost SYN or SYN-ACK, else the RFC 6928 window.
    cwnd = syn_retransmitted ? mss : cfg.init_cwnd_segs * mss;
    backoff = 0;
    rto_timer.armed = false;
    if (ep.on_established) ep.on_established();
  }

  // The handshake RTT: valid when the SYN was sent once, or when TSecr proves the answer is to
  // the latest copy (RFC 7323 §4 lifts Karn's restriction).
  void handshake_rtt(const RxSegment& s) {
    if (!syn_retransmitted || (ts_ok && s.has_ts && s.tsecr == syn_tsval)) {
      rtt_sample(now() - syn_sent_ps);
    } else {
      rto_base = std::max(rto_base, kSynFallbackRtoPs);  // RFC 6298 §5.7
    }
  }

  void on_receive(const RxSegment& s) {
    stats.segs_in++;
    stats.bytes_in += s.payload_len;
    switch (state) {
      case State::kClosed:
        return;
      case State::kListen:
        if ((s.flags & kSyn) && !(s.flags & (kAck | kRst))) {
          irs = s.seq;
          rcv_nxt = irs + 1;
          take_syn_options(s);
          snd_wnd = max_snd_wnd = s.window;  // unscaled in a SYN
          snd_wl1 = s.seq;
          state = State::kSynRcvd;
          snd_nxt = snd_max = iss + 1;
          rcv_wnd_end = rcv_nxt + std::min<uint32_t>(cfg.rcvbuf_bytes, 65535);
          need_syn = true;
          restart_rto();
          flush();
        }
        return;
      case State::kSynSent:
        if ((s.flags & (kSyn | kAck)) == (kSyn | kAck) && s.ack == iss + 1) {
          irs = s.seq;
          rcv_nxt = irs + 1;
          take_syn_options(s);
          snd_una = iss + 1;
          snd_wnd = max_snd_wnd = s.window;  // unscaled in a SYN-ACK
          snd_wl1 = s.seq;
          rcv_wnd_end = rcv_nxt + std::min<uint32_t>(cfg.rcvbuf_bytes, 65535);
          handshake_rtt(s);
          need_ack = true;  // the third segment of the handshake
          become_established();
          flush();
        }
        return;
      case State::kSynRcvd:
        if ((s.flags & kSyn) && !(s.flags & kAck) && s.seq == irs) {
          need_syn = true;  // the SYN again: our SYN-ACK was lost
          flush();
          return;
        }
        if (!(s.flags & kAck) || s.ack != iss + 1) return;
        snd_una = iss + 1;
        snd_wnd = uint32_t(s.window) << snd_wscale;
        max_snd_wnd = std::max(max_snd_wnd, snd_wnd);
        snd_wl1 = s.seq;
        handshake_rtt(s);
        become_established();
        break;  // the ACK may carry data: process it as established
      case State::kEstablished:
        break;
    }
    established_input(s);
    flush();
  }

  void established_input(const RxSegment& s) {
    if (s.flags & kRst) return;  // not modelled
    if (s.flags & kSyn) {
      // A retransmitted SYN or SYN-ACK: our handshake ACK was lost. Answer with an ACK
      // (RFC 9293 §3.10.7.4 / RFC 5961 §4.2).
      need_ack = true;
      return;
    }
    if (!(s.flags & kAck)) return;  // RFC 9293 §3.10.7.4: no ACK bit, drop
    // RFC 7323 §4.3: TS.Recent from a segment that does not start beyond Last.ACK.sent.
    if (ts_ok && s.has_ts && !seq_after(s.seq, last_ack_sent) && !seq_before(s.tsval, ts_recent))
      ts_recent = s.tsval;
    if (!process_ack(s)) return;
    process_data(s);
  }

  // ---- ACK processing (tcp_ack) ----
  bool process_ack(const RxSegment& s) {
    uint32_t ack = s.ack;
    if (seq_after(ack, snd_max)) {  // ACKs something not yet sent: drop, answer with an ACK
      need_ack = true;
      return false;
    }
    uint32_t nwin = uint32_t(s.window) << snd_wscale;
    if (seq_before(ack, snd_una)) return true;  // old ACK: nothing for the sender
    if (ack == snd_una) {
      // RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT": outstanding data, no payload, no SYN/FIN, same
      // ack and same window.
      bool dup = seq_before(snd_una, snd_max) && s.payload_len == 0 &&
                 !(s.flags & (kSyn | kFin)) && nwin == snd_wnd;
      update_window(s, nwin);
      if (dup) on_dupack();
      return true;
    }
    update_window(s, nwin);
    on_new_ack(ack);
    return true;
  }

  // Linux tcp_may_update_window (RFC 9293 §3.10.7.4 SND.WL1/SND.WL2 rule).
  void update_window(const RxSegment& s, uint32_t nwin) {
    if (seq_after(s.ack, snd_una) || seq_after(s.seq, snd_wl1) ||
        (s.seq == snd_wl1 && (nwin > snd_wnd || nwin == 0))) {
      snd_wnd = nwin;
      snd_wl1 = s.seq;
      max_snd_wnd = std::max(max_snd_wnd, nwin);
    }
  }

  void on_dupack() {
    stats.dup_acks_in++;
    dupacks++;
    if (in_recovery) {
      cwnd += mss;  // RFC 5681 §3.2 step 4: inflate by one segment per duplicate ACK
      return;
    }
    if (dupacks != cfg.dupack_threshold) return;
    // RFC 6582 §3.2 step 2: enter fast recovery only if the ACK covers more than recover.
    if (seq_before(snd_una, recover)) return;
    // RFC 5681 §3.2 step 2, eq. (4); data sent by limited transmit is not counted.
    ssthresh = std::max((flight() - std::min(lt_bytes, flight())) / 2, 2 * mss);
    lt_bytes = 0;
    recover = snd_max;
    in_recovery = true;
    partial_ack_seen = false;
    cwnd = ssthresh + 3 * mss;  // RFC 5681 §3.2 step 3
    stats.fast_retransmits++;
    need_fast_retx = true;
  }

  void on_new_ack(uint32_t ack) {
    uint32_t acked = ack - snd_una;
    uint32_t flight_before = flight();
    snd_una = ack;
    if (seq_before(snd_nxt, snd_una)) snd_nxt = snd_una;  // after go-back-N the peer had it
    if (rtt_timing && !seq_before(ack, rtt_seq)) {
      rtt_sample(now() - rtt_start_ps);
      rtt_timing = false;
    }
    size_t freed = release_acked();
    bool restart_timer = true;
    if (in_recovery) {
      if (!seq_before(ack, recover)) {
        // RFC 6582 §3.2 step 3, full ACK, option (1): cwnd = min(ssthresh, max(FlightSize,
        // SMSS) + SMSS). Leaves fast recovery.
        cwnd = std::min(ssthresh, std::max(flight(), mss) + mss);
        in_recovery = false;
        dupacks = 0;
        bytes_acked_ca = 0;
      } else {
        // Partial ACK: retransmit the next hole, deflate by the amount acked, add back one SMSS
        // if at least one SMSS was acked; restart the timer only on the first one (impatient).
        need_fast_retx = true;
        cwnd = (acked < cwnd ? cwnd - acked : 0) + (acked >= mss ? mss : 0);
        if (cwnd < mss) cwnd = mss;
        restart_timer = !partial_ack_seen;
        partial_ack_seen = true;
      }
    } else {
      dupacks = 0;
      lt_bytes = 0;
      grow_cwnd(acked, flight_before);
    }
    if (snd_una == snd_max) {
      rto_timer.armed = false;  // RFC 6298 §5.2
    } else if (restart_timer) {
      restart_rto();  // RFC 6298 §5.3
    }
    if (ep.on_acked) ep.on_acked(snd_una);
    if (freed && ep.on_send_space) ep.on_send_space();
  }

  void grow_cwnd(uint32_t acked, uint32_t flight_before) {
    if (cwnd < ssthresh) {
      // Slow start, RFC 5681 §3.1 with RFC 3465 appropriate byte counting, L = 2*SMSS (so an
      // ACK for two segments under delayed ACK still doubles cwnd per RTT). Only grow while the
      // window is used (Linux tcp_is_cwnd_limited: in slow start, cwnd < 2 * flight).
      if (uint64_t(flight_before) * 2 <= cwnd) return;
      cwnd += std::min(acked, 2 * mss);
      if (cwnd > ssthresh) cwnd = ssthresh;
    } else {
      // Congestion avoidance, RFC 5681 §3.1 byte counting: +SMSS per cwnd of bytes ACKed.
      if (!cwnd_limited) return;
      bytes_acked_ca += acked;
      if (bytes_acked_ca >= cwnd) {
        bytes_acked_ca -= cwnd;
        cwnd += mss;
      }
    }
    if (cwnd > kCwndClampBytes) cwnd = kCwndClampBytes;
  }

  // ---- data (tcp_data_queue) ----
  void process_data(const RxSegment& s) {
    uint32_t seq = s.seq;
    uint32_t len = s.payload_len;
    const uint8_t* p = s.payload;
    bool fin = (s.flags & kFin) != 0;
    if (len == 0 && !fin) {
      // A pure ACK. One whose seq is already acknowledged is a window probe (or otherwise
      // unacceptable): answer with an ACK (RFC 9293 §3.10.7.4).
      if (seq_before(seq, rcv_nxt)) need_ack = true;
      return;
    }
    if (fin_rcvd) {  // everything is old after the peer's FIN
      stats.dup_segs_in++;
      need_ack = true;
      return;
    }
    uint32_t end = seq + len;
    if (seq_before(end, rcv_nxt) || (end == rcv_nxt && !fin)) {
      // Entirely old data: a spurious retransmission. Immediate ACK (RFC 5681 §4.2 note / Linux
      // tcp_send_dupack).
      stats.dup_segs_in++;
      need_ack = true;
      return;
    }
    if (seq_before(seq, rcv_nxt)) {  // trim the already-received head
      uint32_t d = rcv_nxt - seq;
      p += d;
      len -= d;
      seq = rcv_nxt;
    }
    // RFC 9293 §3.10.7.4: trim to the window we advertised.
    if (len > 0 && !seq_before(seq, rcv_wnd_end)) {
      need_ack = true;
      return;
    }
    if (seq_after(seq + len, rcv_wnd_end)) {
      len = rcv_wnd_end - seq;
      fin = false;
    }
    if (fin) {
      peer_fin_known = true;
      peer_fin_seq = seq + len;
    }
    if (seq == rcv_nxt) {
      bool had_hole = !ooo.empty();
      if (len) deliver(p, len);
      drain_ooo();
      if (had_hole) {
        need_ack = true;  // RFC 5681 §4.2: immediate ACK for a segment that fills a gap
      } else if (rcv_unacked_bytes >= uint64_t(cfg.delack_segs) * mss) {
        need_ack = true;  // RFC 1122 §4.2.3.2 / RFC 5681 §4.2: every delack_segs full segments
      } else if (rcv_unacked_bytes > 0 && !delack_timer.armed) {
        arm_timer(delack_timer, now() + cfg.delack_ps, &Impl::on_delack);
      }
      check_fin();
    } else {
      stats.ooo_segs_in++;
      if (len) insert_ooo(seq, p, len);
      need_ack = true;  // RFC 5681 §4.2: immediate duplicate ACK for an out-of-order segment
    }
  }

  void deliver(const uint8_t* p, uint32_t len) {
    rcv_nxt += len;
    rcv_nxt64 += len;
    rcv_unacked_bytes += len;
    if (ep.on_data) ep.on_data(p, len);
  }

  void insert_ooo(uint32_t seq, const uint8_t* p, uint32_t len) {
    uint64_t a = rcv_nxt64 + (seq - rcv_nxt);
    uint64_t b = a + len;
    auto it = ooo.upper_bound(a);
    if (it != ooo.begin()) {
      auto prev = std::prev(it);
      uint64_t pend = prev->first + prev->second.size();
      if (pend >= b) {
        stats.dup_segs_in++;
        return;
      }
      if (pend > a) {
        p += pend - a;
        a = pend;
      }
    }
    while (it != ooo.end() && it->first < b) {
      uint64_t iend = it->first + it->second.size();
      if (iend <= b) {  // fully covered by the new piece
        ooo_bytes -= it->second.size();
        it = ooo.erase(it);
        continue;
      }
      b = it->first;  // keep the existing bytes after b
      break;
    }
    if (a < b) {
      ooo.emplace(a, std::vector<uint8_t>(p, p + (b - a)));
      ooo_bytes += b - a;
    }
  }

  void drain_ooo() {
    while (!ooo.empty()) {
      auto it = ooo.begin();
      if (it->first > rcv_nxt64) break;
      uint64_t iend = it->first + it->second.size();
      size_t sz = it->second.size();
      if (iend > rcv_nxt64) {
        std::vector<uint8_t> bytes = std::move(it->second);
        ooo.erase(it);
        ooo_bytes -= sz;
        size_t off = size_t(rcv_nxt64 - (iend - sz));
        deliver(bytes.data() + off, uint32_t(sz - off));
      } else {
        ooo_bytes -= sz;
        ooo.erase(it);
      }
    }
  }

  void check_fin() {
    if (peer_fin_known && !fin_rcvd && rcv_nxt == peer_fin_seq) {
      rcv_nxt += 1;  // the FIN takes one sequence number
      fin_rcvd = true;
      need_ack = true;  // ACK a FIN at once (Linux tcp_fin → inet_csk_schedule_ack + quick ack)
      if (ep.on_fin) ep.on_fin();
    }
  }

  // ======================= socket calls =======================
  size_t send_space() const {
    uint32_t queued = write_seq - snd_una - (state == State::kEstablished ? 0 : 1);
    if (seq_before(write_seq, snd_una)) queued = 0;
    return cfg.sndbuf_bytes > queued ? cfg.sndbuf_bytes - queued : 0;
  }

  size_t write(const uint8_t* data, size_t n) {
    if (fin_queued) return 0;
    n = std::min(n, send_space());
    size_t done = 0;
    while (done < n) {
      Chunk* tail = chunks.empty() ? nullptr : &chunks.back();
      // tcp_sendmsg appends to the tail skb when it may (same decrypted, no fence).
      if (tail && tail->owned && !tail->decrypted && !eor_pending && tail->len < tail->cap) {
        uint32_t take = uint32_t(std::min<size_t>(n - done, tail->cap - tail->len));
        mem.write(tail->addr + tail->len, data + done, take);
        tail->len += take;
        write_seq += take;
        done += take;
        continue;
      }
      Chunk c;
      c.seq = write_seq;
      c.cap = kWriteBufBytes;
      // Not zero-filled: only [addr, addr + len) is ever read, and every byte of it is written
      // first. Zeroing 64 KiB per write() buffer (two per connection's handshake) was most of a
      // connection's memory: 250 KB per flow, 1.2 GB for 5000 flows of 2 KB each.
      c.addr = mem.alloc(c.cap, 64, /*zero=*/false);
      c.owned = true;
      c.decrypted = false;
      c.eor_before = eor_pending;
      eor_pending = false;
      chunks.push_back(c);
    }
    if (done) schedule_flush();
    return done;
  }

  void push_pages(uint64_t addr, uint32_t len, bool decrypted) {
    if (fin_queued) throw std::logic_error("tcp " + name + ": push_pages after shutdown_write");
    if (len == 0) return;
    mem.ptr(addr, len);  // throws unless [addr, addr+len) is one live region
    mem.retain(addr);    // MSG_SPLICE_PAGES: the skb holds a page reference
    Chunk c;
    c.seq = write_seq;
    c.len = len;
    c.addr = addr;
    c.decrypted = decrypted;
    c.eor_before = eor_pending;
    c.owned = false;
    eor_pending = false;
    chunks.push_back(c);
    write_seq += len;
    schedule_flush();
  }
};

// ======================= public API =======================

TcpEndpoint::TcpEndpoint(sim::EventQueue& q, HostMemory& mem, TcpConfig cfg, std::string name)
    : impl_(new Impl(*this, q, mem, cfg, std::move(name))) {}

TcpEndpoint::~TcpEndpoint() { delete impl_; }

void TcpEndpoint::set_xmit(std::function<bool(const Segment&)> xmit) { impl_->xmit = std::move(xmit); }

void TcpEndpoint::tx_wake() {
  impl_->xmit_blocked = false;
  impl_->flush();
}

void TcpEndpoint::on_receive(const RxSegment& s) { impl_->on_receive(s); }

void TcpEndpoint::listen() {
  if (impl_->state != State::kClosed) throw std::logic_error("tcp: listen on a used endpoint");
  impl_->state = State::kListen;
}

void TcpEndpoint::connect() {
  Impl& m = *impl_;
  if (m.state != State::kClosed) throw std::logic_error("tcp: connect on a used endpoint");
  m.state = State::kSynSent;
  m.snd_nxt = m.snd_max = m.iss + 1;
  m.need_syn = true;
  m.restart_rto();  // rto_init (RFC 6298 §2.1)
  m.flush();
}

bool TcpEndpoint::established() const { return impl_->state == State::kEstablished; }
uint32_t TcpEndpoint::write_seq() const { return impl_->write_seq; }
uint32_t TcpEndpoint::snd_una() const { return impl_->snd_una; }
size_t TcpEndpoint::send_space() const { return impl_->send_space(); }
size_t TcpEndpoint::write(const uint8_t* data, size_t n) { return impl_->write(data, n); }
void TcpEndpoint::push_pages(uint64_t addr, uint32_t len, bool decrypted) {
  impl_->push_pages(addr, len, decrypted);
}
void TcpEndpoint::mark_eor() { impl_->eor_pending = true; }

void TcpEndpoint::shutdown_write() {
  Impl& m = *impl_;
  if (m.fin_queued) return;
  m.fin_queued = true;
  m.fin_seq = m.write_seq;
  m.schedule_flush();
}

bool TcpEndpoint::all_acked() const {
  const Impl& m = *impl_;
  return m.state == State::kEstablished && m.snd_una == m.seq_end_goal();
}

const TcpStats& TcpEndpoint::stats() const {
  Impl& m = *impl_;
  m.stats.cwnd_bytes = m.cwnd;
  m.stats.ssthresh_bytes = m.ssthresh;
  m.stats.srtt_us = uint32_t(m.srtt / sim::kPsPerUs);
  return m.stats;
}
const std::string& TcpEndpoint::name() const { return impl_->name; }

uint32_t TcpEndpoint::snd_nxt() const { return impl_->snd_nxt; }
uint32_t TcpEndpoint::snd_max() const { return impl_->snd_max; }
uint32_t TcpEndpoint::rcv_nxt() const { return impl_->rcv_nxt; }
uint32_t TcpEndpoint::cwnd_bytes() const { return impl_->cwnd; }
uint32_t TcpEndpoint::ssthresh_bytes() const { return impl_->ssthresh; }
uint32_t TcpEndpoint::snd_wnd() const { return impl_->snd_wnd; }
uint32_t TcpEndpoint::mss() const { return impl_->mss; }
sim::TimePs TcpEndpoint::rto_ps() const { return impl_->rto_current(); }
sim::TimePs TcpEndpoint::srtt_ps() const { return impl_->srtt; }
bool TcpEndpoint::in_fast_recovery() const { return impl_->in_recovery; }
size_t TcpEndpoint::ooo_bytes() const { return impl_->ooo_bytes; }
bool TcpEndpoint::fin_received() const { return impl_->fin_rcvd; }

}  // namespace nicsim::host::tcp
