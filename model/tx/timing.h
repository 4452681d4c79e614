// Cycle accounting shared by the stage cores. Stage cores count integer cycles of their clock;
// only the SystemC shells turn them into time. A stage is one server: it accepts a unit of work
// when both the work is ready and the stage is free (resource reservation), so a pipeline of
// stages yields both throughput (the slowest stage's occupancy) and latency (the sum of the
// stages' latencies) without a per-cycle process.
#pragma once
#include <algorithm>
#include <cstdint>

namespace nicsim::model::tx {

using TimePs = uint64_t;

struct Clock {
  TimePs period_ps = 4000;  // 250 MHz
  static Clock from_mhz(double mhz) { return Clock{TimePs(1e6 / mhz + 0.5)}; }
  TimePs cycles(uint64_t n) const { return n * period_ps; }
  // Cycles (rounded up) covering a span of time.
  uint64_t to_cycles_ceil(TimePs t) const { return (t + period_ps - 1) / period_ps; }
};

// Per-stage counters, named as in the stats JSON.
struct StageStats {
  uint64_t pkts = 0;          // units of work (WQEs or frames) the stage handled
  uint64_t bytes = 0;         // payload bytes the stage moved
  uint64_t busy_cycles = 0;   // cycles the stage was occupied
  uint64_t stall_cycles = 0;  // cycles work waited because the stage was still busy
};

// One server with an initiation time (occupancy) and a latency.
class Server {
 public:
  explicit Server(Clock clk = {}) : clk_(clk) {}
  void set_clock(Clock clk) { clk_ = clk; }
  const Clock& clock() const { return clk_; }
  // Work ready at ready_ps occupies the stage for occupancy_cycles; returns the start time.
  // Start is aligned to a clock edge.
  TimePs reserve(TimePs ready_ps, uint64_t occupancy_cycles, StageStats& st) {
    TimePs ready_edge = align(ready_ps);
    TimePs start = std::max(ready_edge, free_at_ps_);
    if (start > ready_edge) st.stall_cycles += (start - ready_edge) / clk_.period_ps;
    free_at_ps_ = start + clk_.cycles(occupancy_cycles);
    st.busy_cycles += occupancy_cycles;
    return start;
  }
  TimePs free_at_ps() const { return free_at_ps_; }
  TimePs align(TimePs t) const { return (t + clk_.period_ps - 1) / clk_.period_ps * clk_.period_ps; }

 private:
  Clock clk_;
  TimePs free_at_ps_ = 0;
};

inline uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace nicsim::model::tx
