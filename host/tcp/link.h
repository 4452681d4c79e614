// One direction of a network link: serialisation at a rate (optional: the NIC model's mac_tx
// already serialises the forward direction), propagation delay, seeded loss (independent, and
// bursty as a Gilbert-Elliott chain) and seeded reordering (a frame held back by an extra
// delay). Frames are raw Ethernet bytes.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "host/sim/event_queue.h"

namespace nicsim::host::tcp {

struct LinkConfig {
  double rate_gbps = 100.0;         // used only when serialize = true
  bool serialize = true;            // false: the sender already paced frames at line rate
  sim::TimePs delay_ps = 10 * sim::kPsPerUs;  // one-way propagation + switching
  double loss = 0.0;                // independent drop probability per frame
  // Gilbert-Elliott burst loss: per frame, good->bad with p_gb, bad->good with p_bg; frames
  // in the bad state are lost with loss_bad. Disabled when p_gb == 0.
  double burst_p_gb = 0.0, burst_p_bg = 0.5, burst_loss_bad = 1.0;
  double reorder = 0.0;             // probability a frame is held back by reorder_delay_ps
  sim::TimePs reorder_delay_ps = 20 * sim::kPsPerUs;
  uint64_t seed = 1;
  // Frames whose payload is too short to carry data (pure ACKs, SYNs) can be spared from loss
  // so a test can aim losses at data only.
  bool lose_data_only = false;
};

struct LinkStats {
  uint64_t frames_in = 0, bytes_in = 0, frames_dropped = 0, frames_reordered = 0;
  uint64_t frames_delivered = 0;
};

class Link {
 public:
  Link(sim::EventQueue& q, LinkConfig cfg);
  void set_deliver(std::function<void(std::vector<uint8_t>&& frame)> deliver);
  // Sends a frame whose last bit leaves the sender at depart_ps (≥ now; when serialize is on,
  // the link queues it behind earlier frames). has_payload marks frames lose_data_only may drop.
  void send(std::vector<uint8_t>&& frame, sim::TimePs depart_ps, bool has_payload);
  const LinkStats& stats() const { return stats_; }

 private:
  sim::EventQueue& q_;
  LinkConfig cfg_;
  std::function<void(std::vector<uint8_t>&&)> deliver_;
  // Frames on the wire wait in slots; the arrival event carries only the slot number, which
  // keeps the event's closure inside std::function's small buffer (no allocation per frame).
  sim::SlotPool<std::vector<uint8_t>> in_flight_;
  // Arrivals in time order go through one event-queue lane (see EventQueue::at_lane); their
  // slots, in that order, tell which frame arrives next, so its headers can be prefetched
  // while the current one is handled: the receiver's first touch of a frame was a cache miss
  // that made parse_frame a visible share of a run (perf annotate).
  uint32_t lane_;
  std::deque<uint32_t> lane_slots_;
  LinkStats stats_;
  uint64_t rng_;
  bool bad_state_ = false;
  sim::TimePs busy_until_ps_ = 0;
  double uniform();
};

}  // namespace nicsim::host::tcp
