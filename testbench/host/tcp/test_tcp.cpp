// host/tcp TcpEndpoint: handshake, bulk transfer (lossless and lossy), NewReno recovery, RTO,
// TSO skb shapes, decrypted/eor separation, page references, device back-pressure, FIN,
// receive window, delayed and duplicate ACKs, out-of-order reassembly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "testbench/host/tcp/tcp_harness.h"

using namespace nicsim::testbench::tcp;
using nicsim::host::tcp::kAck;
using nicsim::host::tcp::kFin;
using nicsim::host::tcp::kPsh;
using nicsim::host::tcp::kSyn;
using nicsim::host::tcp::seq_after;
using nicsim::host::tcp::seq_before;
namespace sim = nicsim::sim;

namespace {

constexpr TimePs kMs = sim::kPsPerMs;
constexpr TimePs kUs = sim::kPsPerUs;

// Wire time of one frame of n payload bytes on a 10 Gb/s link (see link.cpp): 800 ps per byte.
constexpr TimePs frame_ps_10g(size_t payload) {
  size_t b = kHdrBytes + payload;
  if (b < 60) b = 60;
  return TimePs(b + 24) * 800;
}

struct BulkResult {
  bool done = false;
  TimePs finish_ps = 0;
};

// A sends `data` to B and closes; runs until both directions are finished.
BulkResult bulk(Pair& p, Writer& w, const std::vector<uint8_t>& data, TimePs limit) {
  w.ep = &p.a.ep;
  w.data = data;
  w.fin = true;
  p.a.ep.on_send_space = [&w] { w.pump(); };
  p.a.ep.on_established = [&w] { w.pump(); };
  p.open();
  BulkResult r;
  r.done = p.run([&] { return p.b.fin && p.a.ep.all_acked(); }, limit);
  r.finish_ps = p.q.now_ps();
  return r;
}

void require_no_violations(const Side& s) {
  std::string all;
  for (const auto& v : s.violations) all += v + "\n";
  INFO(all);
  REQUIRE(s.violations.empty());
}

}  // namespace

TEST_CASE("handshake negotiates MSS, window scale and timestamps; RTT from the SYN") {
  TcpConfig ca = cfg_with_isn(1000), cb = cfg_with_isn(5000);
  cb.mss_bytes = 1400;
  cb.wscale = 5;
  Pair p(ca, cb);
  bool est_a = false, est_b = false;
  p.a.ep.on_established = [&] { est_a = true; };
  p.b.ep.on_established = [&] { est_b = true; };
  p.open();
  REQUIRE(p.run([&] { return est_a && est_b; }, 10 * kMs));

  REQUIRE(p.a.skbs.size() >= 2);
  REQUIRE(p.b.skbs.size() >= 1);
  const Segment& syn = p.a.skbs[0].seg;
  CHECK(syn.flags == kSyn);
  CHECK(syn.seq == 1000);
  CHECK(syn.mss_opt == 1448);
  CHECK(syn.wscale_opt == 7);
  CHECK(syn.has_ts);
  CHECK(syn.tsecr == 0);
  CHECK(syn.window == 65535);  // unscaled in a SYN (RFC 7323 §2.2)
  CHECK(syn.tsval == 1);       // t = 0 ms + ts_offset

  const Segment& synack = p.b.skbs[0].seg;
  CHECK(synack.flags == (kSyn | kAck));
  CHECK(synack.seq == 5000);
  CHECK(synack.ack == 1001);
  CHECK(synack.mss_opt == 1400);
  CHECK(synack.wscale_opt == 5);
  CHECK(synack.has_ts);
  CHECK(synack.tsecr == syn.tsval);
  CHECK(synack.window == 65535);

  const Segment& ack3 = p.a.skbs[1].seg;
  CHECK(ack3.flags == kAck);
  CHECK(ack3.seq == 1001);
  CHECK(ack3.ack == 5001);
  CHECK(ack3.payload_len == 0);
  CHECK(ack3.window == (6u << 20) >> 7);  // rcvbuf scaled by A's own shift 7

  CHECK(p.a.ep.mss() == 1400);
  CHECK(p.b.ep.mss() == 1400);
  CHECK(p.b.ep.snd_wnd() == (6u << 20));  // 49152 << 7
  CHECK(p.a.ep.snd_wnd() == 65535);       // from the SYN-ACK, unscaled
  CHECK(p.a.ep.cwnd_bytes() == 10 * 1400);
  CHECK(p.a.ep.write_seq() == 1001);
  CHECK(p.b.ep.write_seq() == 5001);

  // RTT = two link crossings of a 66-byte frame, exact to the ps.
  TimePs rtt = 2 * (10 * kUs + frame_ps_10g(0));
  CHECK(p.a.ep.srtt_ps() == rtt);
  CHECK(p.b.ep.srtt_ps() == rtt);
  // Linux: RTO = srtt + max(4*rttvar, rto_min) = srtt + 200 ms here (rttvar = rtt/2).
  CHECK(p.a.ep.rto_ps() == rtt + 200 * kMs);
}

TEST_CASE("a lost SYN is retransmitted after rto_init and the connection starts with cwnd 1 MSS") {
  Pair p(cfg_with_isn(7), cfg_with_isn(9));
  p.a.drop = [](const WirePiece& w) { return (w.flags & kSyn) && w.tx_count == 1; };
  bool est = false;
  p.a.ep.on_established = [&] { est = true; };
  p.open();
  REQUIRE(p.run([&] { return est && p.b.ep.established(); }, 5000 * kMs));
  REQUIRE(p.a.skbs.size() >= 2);
  CHECK(p.a.skbs[0].seg.flags == kSyn);
  CHECK(p.a.skbs[1].seg.flags == kSyn);
  CHECK(p.a.skbs[1].t == 1000 * kMs);  // TCP_TIMEOUT_INIT
  CHECK(p.a.skbs[1].seg.retransmit);
  CHECK(p.a.ep.cwnd_bytes() == p.a.ep.mss());  // RFC 5681 §3.1
  // TSecr echoes the retransmitted SYN's TSval, so the RTT sample is still taken (RFC 7323 §4).
  CHECK(p.a.ep.srtt_ps() == 2 * (10 * kUs + frame_ps_10g(0)));
}

TEST_CASE("1 MiB lossless: byte-exact, TSO skbs at MSS multiples, ACK every second segment") {
  Pair p(cfg_with_isn(0xfffff000u), cfg_with_isn(42));  // A's sequence space wraps mid-transfer
  Writer w;
  auto data = random_bytes(1 << 20, 11);
  BulkResult r = bulk(p, w, data, 10000 * kMs);
  REQUIRE(r.done);
  REQUIRE(p.b.received == data);
  require_no_violations(p.a);
  require_no_violations(p.b);
  const auto& sa = p.a.ep.stats();
  const auto& sb = p.b.ep.stats();
  CHECK(sa.retrans_segs == 0);
  CHECK(sa.rto_expirations == 0);
  CHECK(sa.fast_retransmits == 0);
  CHECK(p.a.mem.live_regions() == 0);  // every write() buffer released once ACKed
  CHECK(p.a.ep.snd_una() == p.a.ep.write_seq() + 1);  // the FIN took one sequence number

  // TSO: data skbs larger than an MSS exist, carry gso_size = mss, and every data skb except
  // the one that ends the stream is a whole number of MSS.
  uint32_t mss = p.a.ep.mss();
  uint32_t end_seq = 0xfffff000u + 1 + (1u << 20);
  size_t tso = 0, data_skbs = 0;
  for (const auto& s : p.a.skbs) {
    if (!s.seg.payload_len) continue;
    data_skbs++;
    if (s.seg.payload_len > mss) {
      tso++;
      CHECK(s.seg.gso_size == mss);
    }
    if (s.seg.seq + s.seg.payload_len != end_seq) CHECK(s.seg.payload_len % mss == 0);
    else CHECK((s.seg.flags & (kFin | kPsh)) == (kFin | kPsh));
  }
  CHECK(tso > 0);
  CHECK(data_skbs < 200);  // far fewer skbs than the 725 wire segments

  // Delayed ACK: B answers every second full segment (plus a few timer ACKs at burst ends).
  uint64_t data_in = 0;
  for (const auto& [t, rx] : p.b.rx) data_in += rx.payload_len > 0;
  CHECK(data_in == (data.size() + mss - 1) / mss);
  CHECK(sb.acks_out >= data_in / 2 - 2);
  CHECK(sb.acks_out <= data_in / 2 + data_in / 20 + 3);
  CHECK(sb.dup_segs_in == 0);
  CHECK(sb.ooo_segs_in == 0);
}

TEST_CASE("1 MiB byte-exact under random loss in both directions, several seeds") {
  auto data = random_bytes(1 << 20, 99);
  for (double loss : {0.01, 0.05}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      LinkConfig la = default_link(seed * 17), lb = default_link(seed * 31 + 5);
      la.loss = loss;
      lb.loss = loss;
      Pair p(cfg_with_isn(uint32_t(seed * 1000003)), cfg_with_isn(77), la, lb);
      Writer w;
      BulkResult r = bulk(p, w, data, 600000 * kMs);
      INFO("loss " << loss << " seed " << seed);
      REQUIRE(r.done);
      REQUIRE(p.b.received == data);
      require_no_violations(p.a);
      CHECK(p.a.ep.stats().retrans_segs > 0);
      CHECK(p.a.link.stats().frames_dropped > 0);
      CHECK(p.a.mem.live_regions() == 0);
      CHECK(p.b.ep.ooo_bytes() == 0);
      const auto& st = p.a.ep.stats();
      WARN("loss " << loss << " seed " << seed << " t_ms " << r.finish_ps / kMs << " segs " << st.segs_out
           << " retx " << st.retrans_segs << " frx " << st.fast_retransmits << " rto " << st.rto_expirations
           << " dropped " << p.a.link.stats().frames_dropped << "/" << p.a.link.stats().frames_in
           << " ackdrop " << p.b.link.stats().frames_dropped << " srtt_us " << st.srtt_us << " cwnd " << st.cwnd_bytes);
    }
  }
}

TEST_CASE("same seeds give the same run") {
  auto data = random_bytes(300000, 5);
  auto once = [&] {
    LinkConfig la = default_link(123), lb = default_link(456);
    la.loss = 0.03;
    lb.loss = 0.03;
    Pair p(cfg_with_isn(1), cfg_with_isn(2), la, lb);
    Writer w;
    BulkResult r = bulk(p, w, data, 600000 * kMs);
    REQUIRE(r.done);
    std::vector<uint64_t> sig{r.finish_ps, p.a.ep.stats().segs_out, p.a.ep.stats().retrans_segs,
                              p.b.ep.stats().acks_out, p.a.link.stats().frames_dropped};
    for (const auto& s : p.a.skbs) sig.push_back(uint64_t(s.seg.seq) << 32 | s.seg.payload_len);
    return sig;
  };
  CHECK(once() == once());
}

TEST_CASE("one lost segment is repaired by fast retransmit; ssthresh = flight/2") {
  Pair p(cfg_with_isn(100), cfg_with_isn(200));
  const uint32_t mss = 1448;
  const uint32_t lost_seq = 101 + 20 * mss;
  p.a.drop = [&](const WirePiece& w) { return w.seq == lost_seq && w.tx_count == 1; };
  uint32_t ssthresh_at_frx = 0, cwnd_at_frx = 0, flight_at_frx = 0;
  int frx_skbs = 0;
  p.a.on_skb = [&](const Segment& s) {
    if (s.retransmit && s.seq == lost_seq) {
      frx_skbs++;
      ssthresh_at_frx = p.a.ep.ssthresh_bytes();
      cwnd_at_frx = p.a.ep.cwnd_bytes();
      flight_at_frx = p.a.ep.snd_max() - p.a.ep.snd_una();
      CHECK(s.payload_len == mss);  // fast retransmit re-cuts exactly one MSS
      CHECK(s.gso_size == 0);
    }
  };
  Writer w;
  auto data = random_bytes(400000, 3);
  BulkResult r = bulk(p, w, data, 10000 * kMs);
  REQUIRE(r.done);
  REQUIRE(p.b.received == data);
  const auto& sa = p.a.ep.stats();
  CHECK(sa.fast_retransmits == 1);
  CHECK(sa.rto_expirations == 0);
  CHECK(sa.retrans_segs == 1);
  CHECK(sa.dup_acks_in >= 3);
  CHECK(frx_skbs == 1);
  // RFC 5681 eq. (4), without what RFC 3042 limited transmit sent on the first two duplicate
  // ACKs: the bytes of skbs sent at this snd_una beyond snd_una + cwnd.
  uint32_t lt = 0;
  for (const auto& k : p.a.skbs) {
    uint32_t edge = k.snd_una + k.cwnd, end = k.seg.seq + k.seg.payload_len;
    if (k.snd_una == lost_seq && !k.seg.retransmit && seq_after(end, edge))
      lt += end - (seq_after(k.seg.seq, edge) ? k.seg.seq : edge);
  }
  CHECK(lt > 0);
  CHECK(lt <= 2 * mss);
  CHECK(ssthresh_at_frx == std::max((flight_at_frx - lt) / 2, 2 * mss));
  CHECK(cwnd_at_frx == ssthresh_at_frx + 3 * mss);                 // RFC 5681 §3.2 step 3
  CHECK(p.a.ep.ssthresh_bytes() == ssthresh_at_frx);
  CHECK(p.b.ep.stats().ooo_segs_in >= 3);
  CHECK(!p.a.ep.in_fast_recovery());
  require_no_violations(p.a);
}

TEST_CASE("a lost tail segment (no duplicate ACKs) is repaired by the RTO, with back-off") {
  Pair p(cfg_with_isn(100), cfg_with_isn(200));
  const uint32_t mss = 1448;
  const uint32_t tail_seq = 101 + 2 * mss;
  int drops_left = 0;
  SECTION("one loss") { drops_left = 1; }
  SECTION("three losses: back-off doubles the RTO") { drops_left = 3; }
  const int drops = drops_left;
  p.a.drop = [&](const WirePiece& w) {
    if (w.seq == tail_seq && w.len && drops_left > 0) {
      drops_left--;
      return true;
    }
    return false;
  };
  TimePs rto_deadline = 0, rto_at_ack = 0;
  p.a.ep.on_acked = [&](uint32_t una) {
    if (una == tail_seq) {
      rto_at_ack = p.a.ep.rto_ps();
      rto_deadline = p.q.now_ps() + rto_at_ack;
    }
  };
  std::vector<TimePs> tail_tx;
  std::vector<uint32_t> cwnd_at_tx;
  p.a.on_skb = [&](const Segment& s) {
    if (s.seq + s.payload_len > tail_seq && s.payload_len) {
      tail_tx.push_back(p.q.now_ps());
      cwnd_at_tx.push_back(p.a.ep.cwnd_bytes());
    }
  };
  bool est = false;
  p.a.ep.on_established = [&] { est = true; };
  p.open();
  REQUIRE(p.run([&] { return est; }, 10 * kMs));
  auto data = random_bytes(2 * mss + 500, 8);
  REQUIRE(p.a.ep.write(data.data(), data.size()) == data.size());
  REQUIRE(p.run([&] { return p.a.ep.all_acked(); }, 20000 * kMs));
  REQUIRE(p.b.received == data);
  const auto& sa = p.a.ep.stats();
  CHECK(sa.fast_retransmits == 0);
  CHECK(sa.rto_expirations == uint64_t(drops));
  REQUIRE(tail_tx.size() == size_t(drops + 1));
  CHECK(p.a.skbs[2].seg.payload_len == data.size());  // SYN, ACK, then one TSO skb of 3 pieces
  // B ACKs the two full segments at once, which restarts the timer (RFC 6298 §5.3): the RTO
  // fires exactly rto after that ACK, i.e. rto_min + a few RTTs after the lost copy left.
  REQUIRE(rto_deadline != 0);
  CHECK(tail_tx[1] == rto_deadline);
  CHECK(tail_tx[1] - tail_tx[0] >= 200 * kMs);
  CHECK(tail_tx[1] - tail_tx[0] <= 201 * kMs);
  CHECK(rto_at_ack > 200 * kMs);
  CHECK(rto_at_ack < 201 * kMs);
  CHECK(cwnd_at_tx[1] == mss);  // loss window (RFC 5681 §3.1)
  // RFC 6298 §5.5: every further expiry doubles the timer.
  for (int i = 2; i <= drops; ++i) CHECK(tail_tx[i] - tail_tx[i - 1] == (TimePs(1) << (i - 1)) * rto_at_ack);
}

TEST_CASE("slow start doubles cwnd per RTT; a loss halves it; congestion avoidance adds 1 MSS/RTT") {
  LinkConfig la = default_link(1), lb = default_link(2);
  la.rate_gbps = lb.rate_gbps = 100.0;
  la.delay_ps = lb.delay_ps = 50 * kUs;  // RTT 100 µs ≫ serialisation
  Pair p(cfg_with_isn(1), cfg_with_isn(2), la, lb);
  const uint32_t mss = 1448;
  // Lose one segment well into slow start (the 5th round starts at segment 150).
  const uint32_t lost_seq = 2 + 200 * mss;
  p.a.drop = [&](const WirePiece& w) { return w.seq == lost_seq && w.tx_count == 1; };
  // Rounds: a round ends when the ACK covers what had been sent when it began.
  std::vector<uint32_t> round_cwnd;
  std::vector<bool> round_recovery;
  uint32_t round_end = 0;
  bool started = false;
  p.a.ep.on_acked = [&](uint32_t una) {
    if (!started) {
      started = true;
      round_end = p.a.ep.snd_max();
      return;
    }
    if (!seq_before(una, round_end)) {
      round_cwnd.push_back(p.a.ep.cwnd_bytes());
      round_recovery.push_back(p.a.ep.in_fast_recovery() ||
                               p.a.ep.ssthresh_bytes() != UINT32_MAX);
      round_end = p.a.ep.snd_max();
    }
  };
  Writer w;
  auto data = random_bytes(6 << 20, 4);
  BulkResult r = bulk(p, w, data, 10000 * kMs);
  REQUIRE(r.done);
  REQUIRE(p.b.received == data);
  CHECK(p.a.ep.stats().fast_retransmits == 1);
  CHECK(p.a.ep.stats().rto_expirations == 0);
  REQUIRE(round_cwnd.size() > 20);
  // Slow start: the first rounds (before the loss) double, within delayed-ACK rounding.
  size_t ss_rounds = 0;
  for (size_t i = 1; i < round_cwnd.size() && !round_recovery[i]; ++i) {
    double ratio = double(round_cwnd[i]) / round_cwnd[i - 1];
    INFO("round " << i << " cwnd " << round_cwnd[i - 1] << " -> " << round_cwnd[i]);
    CHECK(ratio >= 1.7);
    CHECK(ratio <= 2.1);
    ss_rounds++;
  }
  CHECK(ss_rounds >= 3);
  // The loss: ssthresh about half the flight at the time, well below the slow-start peak.
  uint32_t peak = *std::max_element(round_cwnd.begin(), round_cwnd.end());
  uint32_t ssthresh = p.a.ep.ssthresh_bytes();
  CHECK(ssthresh < peak);
  CHECK(ssthresh >= 100 * mss);
  // Congestion avoidance (after recovery): +1 MSS per round, give or take rounding of rounds.
  size_t first_ca = 0;
  for (size_t i = 0; i < round_cwnd.size(); ++i)
    if (round_recovery[i] && round_cwnd[i] <= ssthresh) { first_ca = i + 2; break; }
  REQUIRE(first_ca + 6 < round_cwnd.size());
  uint32_t grown = round_cwnd[first_ca + 6] - round_cwnd[first_ca];
  CHECK(grown >= 5 * mss);
  CHECK(grown <= 7 * mss);
}

TEST_CASE("push_pages: references released exactly when ACKed; no skb mixes decrypted or crosses eor") {
  LinkConfig la = default_link(7), lb = default_link(8);
  la.loss = 0.02;  // retransmissions re-cut skbs too
  Pair p(cfg_with_isn(0x7ffff000u), cfg_with_isn(3), la, lb);
  struct Rec {
    uint32_t start, end;
    uint64_t addr;
    bool decrypted;
    bool fence_before;
  };
  std::vector<Rec> recs;
  std::vector<uint8_t> stream;
  auto push = [&](uint32_t len, bool decrypted, uint64_t seed) {
    auto bytes = random_bytes(len, seed);
    uint64_t addr = p.a.mem.alloc(len);
    p.a.mem.write(addr, bytes.data(), len);
    uint32_t start = p.a.ep.write_seq();
    p.a.ep.push_pages(addr, len, decrypted);
    p.a.mem.release(addr);  // TCP's reference is now the only one
    recs.push_back(Rec{start, start + len, addr, decrypted, false});
    stream.insert(stream.end(), bytes.begin(), bytes.end());
  };
  bool est = false;
  p.a.ep.on_established = [&] { est = true; };
  p.open();
  REQUIRE(p.run([&] { return est; }, 10 * kMs));
  // The kTLS pattern: plaintext written before the offload starts, a fence, then records.
  auto hello = random_bytes(700, 1);
  uint32_t hello_start = p.a.ep.write_seq();
  REQUIRE(p.a.ep.write(hello.data(), hello.size()) == hello.size());
  stream.insert(stream.end(), hello.begin(), hello.end());
  p.a.ep.mark_eor();
  uint32_t fence1 = p.a.ep.write_seq();
  for (int i = 0; i < 40; ++i) push(16413, true, 100 + i);
  uint32_t r2_boundary = recs[0].end;
  push(3000, false, 200);  // a non-offloaded piece between offloaded ones
  p.a.ep.mark_eor();
  uint32_t fence2 = p.a.ep.write_seq();
  for (int i = 0; i < 20; ++i) push(9000 + 37 * i, true, 300 + i);
  // Classes of bytes no skb may straddle: [hello] [records…] [3000 plain] | [records…]
  std::vector<std::pair<uint32_t, bool>> class_start{
      {hello_start, false}, {fence1, true}, {recs[40].start, false}, {fence2, true}};
  uint32_t end_seq = p.a.ep.write_seq();
  p.a.ep.shutdown_write();

  size_t live_errors = 0;
  p.a.ep.on_acked = [&](uint32_t una) {
    for (const auto& r : recs) {
      bool alive = p.a.mem.lookup(r.addr, 1) != nullptr;
      bool unacked = seq_after(r.end, una);
      if (alive != unacked) live_errors++;
    }
  };
  size_t crossing_r1_r2 = 0, bad_class = 0;
  p.a.on_skb = [&](const Segment& s) {
    if (!s.payload_len) return;
    // Which class holds the first byte; the last byte must be in the same class.
    auto cls = [&](uint32_t seq) {
      size_t c = 0;
      for (size_t i = 0; i < class_start.size(); ++i)
        if (!seq_before(seq, class_start[i].first)) c = i;
      return c;
    };
    size_t c0 = cls(s.seq), c1 = cls(s.seq + s.payload_len - 1);
    if (c0 != c1 || s.decrypted != class_start[c0].second) bad_class++;
    if (seq_before(s.seq, r2_boundary) && seq_after(s.seq + s.payload_len, r2_boundary))
      crossing_r1_r2++;
  };
  REQUIRE(p.run([&] { return p.a.ep.all_acked() && p.b.fin; }, 600000 * kMs));
  REQUIRE(p.b.received == stream);
  CHECK(p.a.ep.snd_una() == end_seq + 1);
  CHECK(bad_class == 0);
  CHECK(crossing_r1_r2 > 0);  // records without a fence between them do share skbs
  CHECK(live_errors == 0);
  CHECK(p.a.ep.stats().retrans_segs > 0);
  CHECK(p.a.mem.live_regions() == 0);
  require_no_violations(p.a);
}

TEST_CASE("xmit returning false stalls TCP until tx_wake, then the same segment is offered again") {
  Pair p(cfg_with_isn(10), cfg_with_isn(20));
  // A device queue of 3 skbs, drained one per 5 µs; tx_wake when it drains below full.
  size_t queued = 0, refusals = 0, calls_while_stopped = 0, resumed_mismatch = 0;
  bool stopped = false, drain_scheduled = false;
  uint32_t refused_seq = 0;
  bool check_resume = false;
  std::function<void()> drain = [&] {
    drain_scheduled = false;
    if (queued) queued--;
    if (queued) {
      drain_scheduled = true;
      p.q.after(5 * kUs, drain);
    }
    if (stopped && queued < 3) {
      stopped = false;
      p.a.ep.tx_wake();
    }
  };
  p.a.gate = [&](const Segment& s) {
    if (stopped) calls_while_stopped++;
    if (check_resume) {
      check_resume = false;
      if (s.seq != refused_seq) resumed_mismatch++;
    }
    if (queued >= 3) {
      refusals++;
      stopped = true;
      refused_seq = s.seq;
      check_resume = s.payload_len > 0;
      return false;
    }
    queued++;
    if (!drain_scheduled) {
      drain_scheduled = true;
      p.q.after(5 * kUs, drain);
    }
    return true;
  };
  Writer w;
  auto data = random_bytes(500000, 21);
  BulkResult r = bulk(p, w, data, 10000 * kMs);
  REQUIRE(r.done);
  REQUIRE(p.b.received == data);
  CHECK(refusals > 10);
  CHECK(calls_while_stopped == 0);
  CHECK(resumed_mismatch == 0);
  CHECK(p.a.ep.stats().retrans_segs == 0);
}

TEST_CASE("FIN exchange in both directions") {
  Pair p(cfg_with_isn(1u << 31), cfg_with_isn(12345));
  auto da = random_bytes(10000, 1), db = random_bytes(5000, 2);
  p.a.ep.on_established = [&] {
    p.a.ep.write(da.data(), da.size());
    p.a.ep.shutdown_write();
  };
  bool b_closed = false;
  p.b.ep.on_fin = [&] {
    p.b.fin = true;
    REQUIRE(p.b.received == da);  // the FIN comes after all data, in order
    p.b.ep.write(db.data(), db.size());
    p.b.ep.shutdown_write();
    b_closed = true;
  };
  p.open();
  REQUIRE(p.run([&] { return p.a.fin && p.a.ep.all_acked() && p.b.ep.all_acked(); }, 10000 * kMs));
  CHECK(b_closed);
  CHECK(p.a.received == db);
  CHECK(p.a.ep.fin_received());
  CHECK(p.b.ep.fin_received());
  CHECK(p.a.ep.snd_una() == p.a.ep.write_seq() + 1);
  CHECK(p.b.ep.snd_una() == p.b.ep.write_seq() + 1);
  CHECK(p.b.ep.rcv_nxt() == p.a.ep.write_seq() + 1);
  CHECK(p.a.ep.rcv_nxt() == p.b.ep.write_seq() + 1);
  // Exactly one FIN from each side, at write_seq.
  auto fins = [](const Side& s) {
    int n = 0;
    for (const auto& k : s.skbs)
      if (k.seg.flags & kFin) {
        n++;
        CHECK(k.seg.seq + k.seg.payload_len == s.ep.write_seq());
      }
    return n;
  };
  CHECK(fins(p.a) == 1);
  CHECK(fins(p.b) == 1);
  CHECK(p.a.ep.send_space() == TcpConfig{}.sndbuf_bytes);
  CHECK(p.a.ep.write(da.data(), 10) == 0);  // no writes after shutdown
}

TEST_CASE("the receive window limits the sender") {
  LinkConfig la = default_link(1), lb = default_link(2);
  la.delay_ps = lb.delay_ps = 50 * kUs;
  TcpConfig cb = cfg_with_isn(2);
  cb.rcvbuf_bytes = 32 * 1024;
  Pair p(cfg_with_isn(1), cb, la, lb);
  size_t over = 0;
  uint32_t max_flight = 0;
  p.a.on_skb = [&](const Segment& s) {
    uint32_t end = s.seq + s.payload_len;
    uint32_t flight = end - p.a.ep.snd_una();
    max_flight = std::max(max_flight, flight);
    if (s.payload_len && flight > 32 * 1024) over++;
  };
  Writer w;
  auto data = random_bytes(1 << 20, 6);
  BulkResult r = bulk(p, w, data, 10000 * kMs);
  REQUIRE(r.done);
  REQUIRE(p.b.received == data);
  CHECK(over == 0);
  CHECK(max_flight > 24 * 1024);  // the window is used, not just respected
  // B's window field: 32 KiB >> 7 = 256 on every ACK (no reordering here, so no ooo bytes).
  for (const auto& k : p.b.skbs)
    if ((k.seg.flags & kAck) && !(k.seg.flags & kSyn)) CHECK(k.seg.window == 256);
  // Throughput is window-bound: at most 32 KiB per 100 µs round trip.
  TimePs min_time = TimePs((data.size() / (32 * 1024)) - 1) * 100 * kUs;
  CHECK(r.finish_ps > min_time);
  require_no_violations(p.a);
}

TEST_CASE("a lone segment is ACKed after delack_ps") {
  Pair p(cfg_with_isn(1), cfg_with_isn(2));
  bool est = false;
  p.a.ep.on_established = [&] { est = true; };
  p.open();
  REQUIRE(p.run([&] { return est && p.b.ep.established(); }, 10 * kMs));
  p.q.run_until(p.q.now_ps() + 1 * kMs);
  size_t b_before = p.b.skbs.size();
  auto d = random_bytes(100, 1);
  REQUIRE(p.a.ep.write(d.data(), d.size()) == 100);
  REQUIRE(p.run([&] { return p.a.ep.all_acked(); }, 1000 * kMs));
  REQUIRE(p.b.skbs.size() == b_before + 1);
  TimePs arrived = 0;
  for (const auto& [t, rx] : p.b.rx)
    if (rx.payload_len == 100) arrived = t;
  REQUIRE(arrived != 0);
  CHECK(p.b.skbs.back().t - arrived == 40 * kMs);  // TCP_DELACK_MIN
  CHECK(p.b.skbs.back().seg.ack == p.a.ep.write_seq());
  CHECK(p.b.received == d);
}

// Drives one endpoint directly with hand-made segments.
struct RawPeer {
  sim::EventQueue q;
  HostMemory mem;
  TcpEndpoint ep;
  std::vector<Segment> out;
  std::vector<uint8_t> got;
  bool fin = false;
  explicit RawPeer(TcpConfig c) : ep(q, mem, c, "raw") {
    ep.set_xmit([this](const Segment& s) {
      out.push_back(s);
      return true;
    });
    ep.on_data = [this](const uint8_t* p, size_t n) { got.insert(got.end(), p, p + n); };
    ep.on_fin = [this] { fin = true; };
  }
  void feed(uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t* data, uint32_t len) {
    RxSegment r;
    r.seq = seq;
    r.ack = ack;
    r.flags = flags;
    r.window = 1000;
    r.has_ts = true;
    r.tsval = 77;
    r.tsecr = 1;
    r.payload = data;
    r.payload_len = len;
    ep.on_receive(r);
  }
};

TEST_CASE("receiver: out-of-order buffering, duplicate ACKs, hole fill, duplicates, window, FIN") {
  TcpConfig c = cfg_with_isn(9000);
  c.rcvbuf_bytes = 64 * 1024;
  RawPeer r(c);
  r.ep.listen();
  RxSegment syn;
  syn.seq = 100;
  syn.flags = kSyn;
  syn.window = 65535;
  syn.mss_opt = 1000;
  syn.wscale_opt = 2;
  syn.has_ts = true;
  syn.tsval = 50;
  r.ep.on_receive(syn);
  REQUIRE(r.out.size() == 1);
  CHECK(r.out[0].flags == (kSyn | kAck));
  CHECK(r.out[0].ack == 101);
  CHECK(r.out[0].tsecr == 50);
  CHECK(r.out[0].mss_opt == 1448);
  CHECK(r.ep.mss() == 1000);
  r.feed(101, 9001, kAck, nullptr, 0);
  REQUIRE(r.ep.established());
  CHECK(r.out.size() == 1);  // nothing to answer to the handshake ACK
  CHECK(r.ep.snd_wnd() == 4000);  // 1000 << 2

  auto data = random_bytes(6000, 9);
  const uint8_t* d = data.data();
  auto last = [&] { return r.out.back(); };
  // Out of order: immediate duplicate ACKs for 101, bytes buffered.
  r.feed(101 + 1000, 9001, kAck, d + 1000, 1000);
  REQUIRE(r.out.size() == 2);
  CHECK(last().ack == 101);
  CHECK(last().payload_len == 0);
  CHECK(r.ep.ooo_bytes() == 1000);
  r.feed(101 + 2000, 9001, kAck, d + 2000, 1000);
  REQUIRE(r.out.size() == 3);
  CHECK(last().ack == 101);
  CHECK(r.ep.ooo_bytes() == 2000);
  // The window does not shrink while the hole is open (right edge kept).
  CHECK(r.out[1].window == r.out[2].window);
  CHECK(uint32_t(r.out[2].window) << 7 == 64 * 1024);
  // An overlapping piece already held: nothing new buffered, still a duplicate ACK.
  r.feed(101 + 1500, 9001, kAck, d + 1500, 1000);
  REQUIRE(r.out.size() == 4);
  CHECK(r.ep.ooo_bytes() == 2000);
  // A piece overlapping the start of the held data extends it backwards.
  r.feed(101 + 600, 9001, kAck, d + 600, 600);
  CHECK(r.ep.ooo_bytes() == 2400);
  CHECK(r.got.empty());
  // Hole filled: immediate ACK of everything, bytes delivered in order.
  r.feed(101, 9001, kAck, d, 700);  // overlaps the held piece at 600
  REQUIRE(r.out.size() == 6);
  CHECK(last().ack == 101 + 3000);
  CHECK(r.ep.ooo_bytes() == 0);
  REQUIRE(r.got.size() == 3000);
  CHECK(std::equal(r.got.begin(), r.got.end(), d));
  CHECK(r.ep.stats().ooo_segs_in == 4);
  // An old duplicate: immediate ACK.
  r.feed(101, 9001, kAck, d, 1000);
  REQUIRE(r.out.size() == 7);
  CHECK(last().ack == 101 + 3000);
  CHECK(r.ep.stats().dup_segs_in >= 1);
  // In order, below the delayed-ACK threshold: no ACK now, one after 40 ms.
  r.feed(101 + 3000, 9001, kAck, d + 3000, 500);
  CHECK(r.out.size() == 7);
  r.q.run_until(r.q.now_ps() + 39 * kMs);
  CHECK(r.out.size() == 7);
  r.q.run_until(r.q.now_ps() + 1 * kMs);
  REQUIRE(r.out.size() == 8);
  CHECK(last().ack == 101 + 3500);
  // Two full segments in order: ACK at once on the second (delack_segs = 2).
  r.feed(101 + 3500, 9001, kAck, d + 3500, 1000);
  CHECK(r.out.size() == 8);
  r.feed(101 + 4500, 9001, kAck, d + 4500, 1000);
  REQUIRE(r.out.size() == 9);
  CHECK(last().ack == 101 + 5500);
  // Beyond the window: not accepted, ACKed.
  r.feed(101 + 5500 + 70000, 9001, kAck, d, 100);
  REQUIRE(r.out.size() == 10);
  CHECK(r.ep.ooo_bytes() == 0);
  // FIN out of order, then the data before it: on_fin, FIN ACKed (rcv_nxt + 1).
  r.feed(101 + 5800, 9001, kAck | kFin, d + 5800, 200);
  CHECK(!r.fin);
  CHECK(last().ack == 101 + 5500);
  r.feed(101 + 5500, 9001, kAck, d + 5500, 300);
  CHECK(r.fin);
  CHECK(last().ack == 101 + 6000 + 1);
  CHECK(r.got == data);
  // A retransmitted FIN: ACKed again, nothing delivered twice.
  size_t n = r.out.size();
  r.feed(101 + 5800, 9001, kAck | kFin, d + 5800, 200);
  CHECK(r.out.size() == n + 1);
  CHECK(r.got == data);
  // A window probe (seq already acknowledged, no data) is answered.
  n = r.out.size();
  r.feed(101 + 6000, 9001, kAck, nullptr, 0);
  CHECK(r.out.size() == n + 1);
}

TEST_CASE("sender: duplicate ACK counting, NewReno partial ACKs and the peer's window") {
  TcpConfig c = cfg_with_isn(0);
  RawPeer r(c);
  r.ep.connect();
  REQUIRE(r.out.size() == 1);
  RxSegment sa;
  sa.seq = 500;
  sa.ack = 1;
  sa.flags = kSyn | kAck;
  sa.window = 60000;
  sa.mss_opt = 1000;
  sa.wscale_opt = 0;
  sa.has_ts = true;
  sa.tsval = 5;
  sa.tsecr = r.out[0].tsval;
  r.ep.on_receive(sa);
  REQUIRE(r.ep.established());
  CHECK(r.ep.snd_wnd() == 60000);
  auto data = random_bytes(30000, 4);
  REQUIRE(r.ep.write(data.data(), data.size()) == 30000);
  r.q.run_until(r.q.now_ps());  // the deferred push
  // cwnd 10 MSS: one TSO skb of 10000 bytes.
  REQUIRE(r.out.size() == 3);
  CHECK(r.out[2].seq == 1);
  CHECK(r.out[2].payload_len == 10000);
  CHECK(r.out[2].gso_size == 1000);
  auto ack = [&](uint32_t a, uint16_t win = 60000) {
    RxSegment s;
    s.seq = 501;
    s.ack = a;
    s.flags = kAck;
    s.window = win;
    s.has_ts = true;
    s.tsval = 6;
    r.ep.on_receive(s);
  };
  // Segment 2 lost (1001..2000): ACK for 1 MSS, then three duplicates.
  ack(1001);
  size_t n = r.out.size();
  CHECK(r.out.back().seq == 10001);  // slow start: 2 more MSS allowed, sent at once
  CHECK(r.out.back().payload_len == 2000);
  CHECK(r.ep.cwnd_bytes() == 11000);  // + min(acked, 2 MSS)
  // RFC 3042 limited transmit: one new MSS on each of the first two duplicates.
  ack(1001);
  REQUIRE(r.out.size() == n + 1);
  CHECK(r.out.back().seq == 12001);
  CHECK(r.out.back().payload_len == 1000);
  ack(1001);
  REQUIRE(r.out.size() == n + 2);
  CHECK(r.out.back().seq == 13001);
  CHECK(r.ep.stats().fast_retransmits == 0);
  CHECK(r.ep.cwnd_bytes() == 11000);  // cwnd itself unchanged
  n = r.out.size();
  ack(1001);
  CHECK(r.ep.stats().fast_retransmits == 1);
  REQUIRE(r.out.size() == n + 1);
  CHECK(r.out.back().seq == 1001);
  CHECK(r.out.back().payload_len == 1000);
  CHECK(r.out.back().retransmit);
  CHECK(r.ep.in_fast_recovery());
  // FlightSize 13000 (snd_max 14001 - snd_una 1001) less 2000 of limited transmit.
  CHECK(r.ep.ssthresh_bytes() == 5500);
  CHECK(r.ep.cwnd_bytes() == 5500 + 3000);
  // A duplicate ACK with a different window is a window update, not a duplicate.
  uint64_t dup_before = r.ep.stats().dup_acks_in;
  ack(1001, 59000);
  CHECK(r.ep.stats().dup_acks_in == dup_before);
  // Partial ACK (another hole at 5001): retransmit it at once, stay in recovery.
  n = r.out.size();
  ack(5001, 59000);
  REQUIRE(r.out.size() >= n + 1);
  CHECK(r.out[n].seq == 5001);
  CHECK(r.out[n].retransmit);
  CHECK(r.out[n].payload_len == 1000);
  CHECK(r.ep.in_fast_recovery());
  CHECK(r.ep.stats().fast_retransmits == 1);  // partial-ACK retransmits are not new episodes
  // Full ACK: leave recovery with cwnd ≤ ssthresh.
  ack(r.ep.snd_max(), 59000);
  CHECK(!r.ep.in_fast_recovery());
  CHECK(r.ep.cwnd_bytes() <= r.ep.ssthresh_bytes());
  // Never beyond the peer's window: shrink it to 3000 and check what goes out.
  n = r.out.size();
  uint32_t una = r.ep.snd_una();
  ack(una, 3000);
  for (size_t i = n; i < r.out.size(); ++i)
    CHECK(!seq_after(r.out[i].seq + r.out[i].payload_len, una + 3000));
}
