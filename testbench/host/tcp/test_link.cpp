// host/tcp Link: serialisation timing, loss models, reordering, determinism.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "host/tcp/link.h"

using nicsim::host::tcp::Link;
using nicsim::host::tcp::LinkConfig;
namespace sim = nicsim::sim;
using sim::TimePs;

namespace {

// A frame whose first 4 bytes carry an id, padded to len bytes.
std::vector<uint8_t> frame(uint32_t id, size_t len) {
  std::vector<uint8_t> f(std::max<size_t>(len, 4));
  std::memcpy(f.data(), &id, 4);
  f.resize(len);
  return f;
}
uint32_t id_of(const std::vector<uint8_t>& f) {
  uint32_t id;
  std::memcpy(&id, f.data(), 4);
  return id;
}

struct Arrival {
  uint32_t id;
  TimePs t;
  size_t len;
};

// Sends n frames 1 µs apart (serialize off) and records what arrives.
std::vector<Arrival> run_stream(LinkConfig cfg, uint32_t n, bool has_payload = true) {
  sim::EventQueue q;
  Link link(q, cfg);
  std::vector<Arrival> got;
  link.set_deliver([&](std::vector<uint8_t>&& f) { got.push_back({id_of(f), q.now_ps(), f.size()}); });
  for (uint32_t i = 0; i < n; ++i) {
    q.run_until(TimePs(i) * sim::kPsPerUs);
    link.send(frame(i, 100), q.now_ps(), has_payload);
  }
  q.run_until(UINT64_MAX / 2);
  return got;
}

}  // namespace

TEST_CASE("link: serialisation at line rate is exact to the picosecond") {
  sim::EventQueue q;
  LinkConfig c;
  c.rate_gbps = 10.0;  // 800 ps per byte
  c.delay_ps = 1 * sim::kPsPerUs;
  Link link(q, c);
  std::vector<Arrival> got;
  link.set_deliver([&](std::vector<uint8_t>&& f) { got.push_back({id_of(f), q.now_ps(), f.size()}); });
  // Three frames handed over at once queue behind each other; a short frame is padded to 60
  // bytes; (len + 4 FCS + 8 preamble + 12 IFG) * 8 bits.
  link.send(frame(1, 1000), 0, true);
  link.send(frame(2, 40), 0, true);
  link.send(frame(3, 1500), 0, true);
  // One handed over after the link went idle starts at its own time.
  link.send(frame(4, 100), 10 * sim::kPsPerUs, true);
  q.run_until(1 * sim::kPsPerMs);
  REQUIRE(got.size() == 4);
  CHECK(got[0].t == 1024 * 800 + 1000000);
  CHECK(got[1].t == (1024 + 84) * 800 + 1000000);
  CHECK(got[2].t == (1024 + 84 + 1524) * 800 + 1000000);
  CHECK(got[3].t == 10000000 + 124 * 800 + 1000000);
  CHECK(got[1].len == 40);  // padding is timing only; the bytes are delivered as sent
  CHECK(link.stats().frames_delivered == 4);
  CHECK(link.stats().bytes_in == 1000 + 40 + 1500 + 100);

  // 25 Gb/s: 320 ps per byte; 100 Gb/s: 80 ps per byte.
  for (double rate : {25.0, 100.0}) {
    sim::EventQueue q2;
    LinkConfig c2;
    c2.rate_gbps = rate;
    c2.delay_ps = 0;
    Link l2(q2, c2);
    std::vector<TimePs> ts;
    l2.set_deliver([&](std::vector<uint8_t>&&) { ts.push_back(q2.now_ps()); });
    l2.send(frame(1, 1514), 0, true);
    l2.send(frame(2, 1514), 0, true);
    q2.run_until(1 * sim::kPsPerMs);
    TimePs per_byte = TimePs(std::llround(8000.0 / rate));
    REQUIRE(ts.size() == 2);
    CHECK(ts[0] == 1538 * per_byte);
    CHECK(ts[1] == 2 * 1538 * per_byte);
  }
}

TEST_CASE("link: without serialisation a frame arrives delay_ps after it departs") {
  sim::EventQueue q;
  LinkConfig c;
  c.serialize = false;
  c.delay_ps = 7 * sim::kPsPerUs;
  Link link(q, c);
  std::vector<Arrival> got;
  link.set_deliver([&](std::vector<uint8_t>&& f) { got.push_back({id_of(f), q.now_ps(), f.size()}); });
  link.send(frame(1, 9000), 100, true);
  link.send(frame(2, 9000), 100, true);  // no queueing: the sender already paced them
  link.send(frame(3, 64), 5000, true);
  q.run_until(1 * sim::kPsPerMs);
  REQUIRE(got.size() == 3);
  CHECK(got[0].t == 100 + 7000000);
  CHECK(got[1].t == 100 + 7000000);
  CHECK(got[2].t == 5000 + 7000000);
  CHECK(got[0].id == 1);
  CHECK(got[1].id == 2);
}

TEST_CASE("link: independent loss is within binomial bounds and repeatable by seed") {
  LinkConfig c;
  c.serialize = false;
  c.loss = 0.05;
  c.seed = 2024;
  const uint32_t n = 100000;
  auto got = run_stream(c, n);
  double expect = n * c.loss, sd = std::sqrt(n * c.loss * (1 - c.loss));
  double lost = n - double(got.size());
  CHECK(std::fabs(lost - expect) < 5 * sd);
  // Same seed: the same frames are lost; another seed: a different set.
  auto again = run_stream(c, n);
  REQUIRE(again.size() == got.size());
  bool same = true;
  for (size_t i = 0; i < got.size(); ++i) same = same && got[i].id == again[i].id;
  CHECK(same);
  c.seed = 2025;
  auto other = run_stream(c, n);
  bool differs = other.size() != got.size();
  for (size_t i = 0; !differs && i < got.size(); ++i) differs = got[i].id != other[i].id;
  CHECK(differs);
  // Order is preserved without reordering.
  for (size_t i = 1; i < got.size(); ++i) REQUIRE(got[i].id > got[i - 1].id);
}

TEST_CASE("link: Gilbert-Elliott loss comes in bursts") {
  auto runs = [](const std::vector<Arrival>& got, uint32_t n, double* mean_run, uint32_t* lost) {
    std::vector<bool> arrived(n, false);
    for (const auto& a : got) arrived[a.id] = true;
    uint32_t nruns = 0, in_run = 0;
    *lost = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (!arrived[i]) {
        (*lost)++;
        if (i == 0 || arrived[i - 1]) nruns++;
      }
    }
    (void)in_run;
    *mean_run = nruns ? double(*lost) / nruns : 0;
  };
  const uint32_t n = 100000;
  LinkConfig c;
  c.serialize = false;
  c.burst_p_gb = 0.01;
  c.burst_p_bg = 0.25;
  c.burst_loss_bad = 1.0;
  c.seed = 9;
  double mean_run;
  uint32_t lost;
  runs(run_stream(c, n), n, &mean_run, &lost);
  // Bad periods last 1/p_bg = 4 frames on average; stationary loss p_gb/(p_gb+p_bg) ≈ 3.85 %.
  CHECK(mean_run > 3.5);
  CHECK(mean_run < 4.5);
  CHECK(lost > 0.030 * n);
  CHECK(lost < 0.047 * n);
  // Independent loss at the same rate: runs of about one frame.
  LinkConfig b;
  b.serialize = false;
  b.loss = 0.0385;
  b.seed = 9;
  runs(run_stream(b, n), n, &mean_run, &lost);
  CHECK(mean_run < 1.1);
}

TEST_CASE("link: reordering holds frames back - lose_data_only spares frames without payload") {
  LinkConfig c;
  c.serialize = false;
  c.reorder = 0.1;
  c.reorder_delay_ps = 20 * sim::kPsPerUs;  // 20 frame slots at 1 µs spacing
  c.seed = 3;
  const uint32_t n = 20000;
  auto got = run_stream(c, n);
  REQUIRE(got.size() == n);
  uint32_t late = 0, max_id = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (i && got[i].id < max_id) late++;
    max_id = std::max(max_id, got[i].id);
  }
  double sd = std::sqrt(n * 0.1 * 0.9);
  CHECK(late > 0.1 * n - 5 * sd);
  CHECK(late < 0.1 * n + 5 * sd);
  size_t odd_delay = 0, held = 0;
  for (const auto& a : got) {
    TimePs d = a.t - TimePs(a.id) * sim::kPsPerUs;
    if (d == c.delay_ps + c.reorder_delay_ps) held++;
    else if (d != c.delay_ps) odd_delay++;
  }
  CHECK(odd_delay == 0);  // a frame is either on time or held back by exactly reorder_delay
  CHECK(held >= late);    // every late arrival was a held-back frame

  LinkConfig l;
  l.serialize = false;
  l.loss = 0.5;
  l.lose_data_only = true;
  CHECK(run_stream(l, 2000, false).size() == 2000);
  auto data = run_stream(l, 2000, true);
  CHECK(data.size() > 800);
  CHECK(data.size() < 1200);
}

TEST_CASE("event queue: events through lanes run exactly as through at() - same times, same order") {
  // The link schedules its arrivals through a lane; that must change nothing: a random mix of
  // plain events and lane events (mostly in time order per lane, some earlier than the lane's
  // last: those fall back to the heap), with many equal times, scheduled both up front and
  // from inside running events, must run in the same order and at the same times as the same
  // schedule made with at() only.
  for (uint64_t seed = 1; seed <= 20; seed++) {
    struct Log {
      std::vector<std::pair<TimePs, int>> ran;
    };
    auto drive = [seed](bool use_lanes) {
      sim::EventQueue q;
      Log log;
      uint32_t lanes[3] = {q.new_lane(), q.new_lane(), q.new_lane()};
      uint64_t x = seed * 0x9E3779B97F4A7C15ull;
      auto rnd = [&x](uint64_t n) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x % n;
      };
      TimePs lane_t[3] = {0, 0, 0};
      int next_id = 0;
      std::function<void(int)> schedule;
      schedule = [&](int depth) {
        const int id = next_id++;
        const int kind = int(rnd(4));  // 0: plain, 1..3: lane kind-1
        TimePs t;
        if (kind == 0) {
          t = q.now_ps() + rnd(50);
        } else {
          TimePs& lt = lane_t[kind - 1];
          // Mostly non-decreasing per lane, equal times often, sometimes earlier (reordered).
          t = rnd(8) == 0 ? q.now_ps() + rnd(20) : std::max(lt, q.now_ps()) + rnd(3) * 5;
          lt = std::max(lt, t);
        }
        auto fn = [&, id, depth] {
          log.ran.emplace_back(q.now_ps(), id);
          if (depth < 3 && rnd(3) == 0) schedule(depth + 1);
        };
        if (kind > 0 && use_lanes)
          q.at_lane(lanes[kind - 1], t, fn);
        else
          q.at(t, fn);
      };
      for (int i = 0; i < 400; i++) schedule(0);
      while (q.run_one()) {
      }
      return log.ran;
    };
    // The random stream is consumed identically by both drives (same calls in the same order),
    // so the schedules are the same; only the queue's mechanism differs.
    const auto a = drive(false), b = drive(true);
    INFO("seed " << seed);
    REQUIRE(a.size() == b.size());
    REQUIRE(a.size() > 400);
    CHECK(a == b);
  }
}
