// A plain C++ discrete-event queue: the host side's notion of time and its only scheduler.
// Host components (TCP timers, links, the peer) never see SystemC; the application runs this
// queue inside a SystemC process (app/host_bridge) so host and NIC share one time base.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <vector>

#include "host/sim/slot_pool.h"

namespace nicsim::sim {

using TimePs = uint64_t;  // picoseconds, the one time unit of the whole simulator
constexpr TimePs kPsPerNs = 1000;
constexpr TimePs kPsPerUs = 1000 * kPsPerNs;
constexpr TimePs kPsPerMs = 1000 * kPsPerUs;

class EventQueue {
 public:
  using Fn = std::function<void()>;

  TimePs now_ps() const { return now_ps_; }

  // Runs fn at absolute time t (never earlier than now: a past time runs now). Events at the
  // same time run in the order they were scheduled, so runs are deterministic.
  void at(TimePs t, Fn fn) {
    if (t < now_ps_) t = now_ps_;
    heap_.push(Key{t, next_order_++, fns_.put(std::move(fn)), 0});
    if (on_schedule_) on_schedule_(t);
  }
  void after(TimePs delay, Fn fn) { at(now_ps_ + delay, std::move(fn)); }

  // A FIFO lane: for a source whose events mostly come in time order (a link's deliveries).
  // Events scheduled through a lane run exactly when and in exactly the order they would
  // through at() (same time, then scheduling order): the lane's events keep their keys, and
  // since a lane only holds keys in increasing order, only its head needs to sit in the heap.
  // What it saves is heap work: a link keeps a few hundred frames in flight, and sifting a
  // heap of that size per event was a visible share of a run (perf). An event earlier than the
  // lane's last one (a reordered frame) simply goes to the heap; at_lane returns false then.
  uint32_t new_lane() {
    lanes_.emplace_back();
    return uint32_t(lanes_.size());  // 0 means "no lane" in Key
  }
  bool at_lane(uint32_t lane, TimePs t, Fn fn) {
    if (t < now_ps_) t = now_ps_;
    std::deque<Key>& l = lanes_[lane - 1];
    if (!l.empty() && t < l.back().t) {
      at(t, std::move(fn));
      return false;
    }
    const Key k{t, next_order_++, fns_.put(std::move(fn)), lane};
    l.push_back(k);
    if (l.size() == 1) heap_.push(k);
    if (on_schedule_) on_schedule_(t);
    return true;
  }

  bool empty() const { return heap_.empty(); }
  TimePs next_time_ps() const { return heap_.empty() ? UINT64_MAX : heap_.top().t; }

  // Pops and runs the earliest event, advancing now to its time. False when empty.
  bool run_one() {
    if (heap_.empty()) return false;
    Key k = heap_.top();
    heap_.pop();
    if (k.lane) {
      std::deque<Key>& l = lanes_[k.lane - 1];
      l.pop_front();  // k was its head
      if (!l.empty()) heap_.push(l.front());
    }
    now_ps_ = k.t;
    Fn fn = fns_.take(k.slot);
    fn();
    return true;
  }
  // Runs every event due at or before t, then sets now to t.
  void run_until(TimePs t) {
    while (!heap_.empty() && heap_.top().t <= t) run_one();
    if (t > now_ps_) now_ps_ = t;
  }
  // Lets an embedding kernel (SystemC) advance host time without running events.
  void set_now(TimePs t) { if (t > now_ps_) now_ps_ = t; }
  // Called with the event's time whenever something is scheduled (the SystemC bridge uses it
  // to wake up early).
  void set_on_schedule(std::function<void(TimePs)> cb) { on_schedule_ = std::move(cb); }

 private:
  // The heap orders small keys; the callables stay put in a slot pool (moving std::function
  // objects through every heap sift was a visible share of a run).
  struct Key {
    TimePs t;
    uint64_t order;
    uint32_t slot;
    uint32_t lane;  // 1 + index in lanes_, or 0
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const {
      return a.t != b.t ? a.t > b.t : a.order > b.order;
    }
  };
  std::priority_queue<Key, std::vector<Key>, Later> heap_;
  SlotPool<Fn> fns_;
  std::deque<std::deque<Key>> lanes_;  // deque: lane references stay valid as lanes are added
  TimePs now_ps_ = 0;
  uint64_t next_order_ = 0;
  std::function<void(TimePs)> on_schedule_;
};

}  // namespace nicsim::sim
