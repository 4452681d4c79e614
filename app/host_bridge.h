// Runs the host side's event queue inside SystemC so host and NIC share one time base. A
// method process (no thread, no context switch) wakes at the earliest host event, runs every
// event due, and re-arms; scheduling an earlier event re-arms it through a notify.
#pragma once
#include <systemc>

#include "host/sim/event_queue.h"

namespace nicsim::app {

class HostBridge : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(HostBridge);
  HostBridge(sc_core::sc_module_name n, sim::EventQueue& q) : sc_module(n), q_(q) {
    q_.set_on_schedule([this](sim::TimePs t) {
      if (!in_run_ && t < armed_ps_) arm();
    });
    SC_METHOD(run);
    sensitive << wake_;
    dont_initialize();
    wake_.notify(sc_core::SC_ZERO_TIME);
  }
  uint64_t events_run() const { return events_; }

 private:
  // The time resolution is SystemC's default 1 ps (checked by the NIC top): value() is ps.
  static sim::TimePs now_ps() { return sim::TimePs(sc_core::sc_time_stamp().value()); }
  void arm() {
    sim::TimePs next = q_.next_time_ps();
    armed_ps_ = next;
    if (next == UINT64_MAX) return;
    sim::TimePs now = now_ps();
    wake_.cancel();
    wake_.notify(next > now ? sc_core::sc_time::from_value(next - now) : sc_core::SC_ZERO_TIME);
  }
  void run() {
    in_run_ = true;
    sim::TimePs now = now_ps();
    q_.set_now(now);
    while (!q_.empty() && q_.next_time_ps() <= now) {
      q_.run_one();
      events_++;
    }
    in_run_ = false;
    arm();
  }
  sim::EventQueue& q_;
  sc_core::sc_event wake_;
  sim::TimePs armed_ps_ = UINT64_MAX;
  bool in_run_ = false;
  uint64_t events_ = 0;
};

}  // namespace nicsim::app
