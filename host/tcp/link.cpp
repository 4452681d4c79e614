// One direction of a link. Timing when serialize is on:
//   wire bytes  = max(len, 60) + 4 FCS + 8 preamble/SFD + 12 inter-frame gap
//                 (IEEE 802.3: frames shorter than the 64-byte minimum incl. FCS are padded;
//                  `frame` holds the bytes from the destination MAC to the end of the payload)
//   frame time  = wire bytes * 8 / rate_gbps ns, rounded to the nearest ps (exact for the
//                 usual 1/10/25/40/50/100/200/400 Gb/s rates: 8000/rate is an integer)
//   start       = max(depart_ps, end of the previous frame on this link)
//   arrival     = start + frame time + delay_ps (+ reorder_delay_ps for a held-back frame)
// A dropped frame still occupies the wire (it is lost after serialisation, in the network).
// Loss and reordering draw from one splitmix64 stream seeded by cfg.seed, in send order, so the
// same seed and the same sequence of sends give the same drops.
#include "host/tcp/link.h"

#include <algorithm>
#include <cmath>

namespace nicsim::host::tcp {

namespace {
constexpr size_t kMinFrameBytes = 60;  // 64-byte minimum Ethernet frame without the FCS
constexpr size_t kWireOverheadBytes = 4 + 8 + 12;  // FCS + preamble/SFD + IFG

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

Link::Link(sim::EventQueue& q, LinkConfig cfg) : q_(q), cfg_(cfg), lane_(q.new_lane()), rng_(cfg.seed) {}

void Link::set_deliver(std::function<void(std::vector<uint8_t>&& frame)> deliver) {
  deliver_ = std::move(deliver);
}

double Link::uniform() {
  // 53 random bits → [0, 1)
  return double(splitmix64(rng_) >> 11) * (1.0 / 9007199254740992.0);
}

void Link::send(std::vector<uint8_t>&& frame, sim::TimePs depart_ps, bool has_payload) {
  stats_.frames_in++;
  stats_.bytes_in += frame.size();
  sim::TimePs t = std::max(depart_ps, q_.now_ps());
  if (cfg_.serialize) {
    size_t wire_bytes = std::max(frame.size(), kMinFrameBytes) + kWireOverheadBytes;
    auto frame_ps = sim::TimePs(std::llround(double(wire_bytes) * 8000.0 / cfg_.rate_gbps));
    sim::TimePs start = std::max(t, busy_until_ps_);
    busy_until_ps_ = start + frame_ps;
    t = busy_until_ps_;
  }
  bool eligible = !(cfg_.lose_data_only && !has_payload);
  if (eligible) {
    bool drop = false;
    if (cfg_.burst_p_gb > 0.0) {
      // Gilbert-Elliott: the current state decides this frame's fate, then the chain moves.
      if (bad_state_ && uniform() < cfg_.burst_loss_bad) drop = true;
      if (bad_state_) {
        if (uniform() < cfg_.burst_p_bg) bad_state_ = false;
      } else {
        if (uniform() < cfg_.burst_p_gb) bad_state_ = true;
      }
    }
    if (cfg_.loss > 0.0 && uniform() < cfg_.loss) drop = true;
    if (drop) {
      stats_.frames_dropped++;
      return;
    }
  }
  sim::TimePs arrive = t + cfg_.delay_ps;
  if (cfg_.reorder > 0.0 && uniform() < cfg_.reorder) {
    arrive += cfg_.reorder_delay_ps;
    stats_.frames_reordered++;
  }
  const uint32_t slot = in_flight_.put(std::move(frame));
  const bool laned = q_.at_lane(lane_, arrive, [this, slot] {
    stats_.frames_delivered++;
    if (!lane_slots_.empty() && lane_slots_.front() == slot) {
      lane_slots_.pop_front();
      if (!lane_slots_.empty()) {
        const uint8_t* next = in_flight_.peek(lane_slots_.front()).data();
        __builtin_prefetch(next);
        __builtin_prefetch(next + 64);
      }
    }
    std::vector<uint8_t> f = in_flight_.take(slot);
    if (deliver_) deliver_(std::move(f));
  });
  if (laned) lane_slots_.push_back(slot);
}

}  // namespace nicsim::host::tcp
