// Values parked under a small integer while something refers to them by number (an event in
// the queue, a frame on the wire); freed numbers are reused, so the storage stops growing once
// a run reaches its steady state and nothing is allocated per item.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace nicsim::sim {

template <class T>
class SlotPool {
 public:
  // Parks v; the returned slot stays valid until take().
  uint32_t put(T&& v) {
    if (!free_.empty()) {
      const uint32_t s = free_.back();
      free_.pop_back();
      items_[s] = std::move(v);
      return s;
    }
    items_.push_back(std::move(v));
    return uint32_t(items_.size() - 1);
  }
  // The value parked under a live slot.
  const T& peek(uint32_t slot) const { return items_[slot]; }
  // Moves the value out and frees its slot.
  T take(uint32_t slot) {
    T v = std::move(items_[slot]);
    free_.push_back(slot);
    return v;
  }

 private:
  std::vector<T> items_;
  std::vector<uint32_t> free_;
};

}  // namespace nicsim::sim
