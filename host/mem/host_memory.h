// Host DRAM as the NIC sees it over PCIe: regions at bus addresses, each a contiguous buffer.
// The driver places rings, WQEs, contexts and payload buffers here; the NIC model reads them
// through abi::DmaTarget. Addresses are handed out by a bump allocator and never reused, so a
// stale address faults instead of silently reading someone else's bytes, and runs are
// deterministic (no real pointers leak into any output).
//
// Regions are reference counted like pages under an skb: alloc() gives one reference; a WQE
// in flight takes another (retain) so a record freed by clean_acked stays readable until the
// NIC has completed every descriptor that points into it.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "model/abi/dma.h"

namespace nicsim::host {

class HostMemory final : public abi::DmaTarget {
 public:
  explicit HostMemory(uint64_t base = 0x1000'0000ull) : next_(base) {}

  // Allocates n bytes (n may be 0: a 1-byte region is made so the address is unique),
  // aligned to `align` (a power of two). Contents are zero unless zero = false, for buffers the
  // caller overwrites before anyone reads them (record images, bounce buffers): zeroing 16 KiB
  // per record was a measurable share of the simulator's time.
  uint64_t alloc(size_t n, size_t align = 64, bool zero = true) {
    uint64_t a = (next_ + align - 1) & ~uint64_t(align - 1);
    size_t sz = n ? n : 1;
    Region r;
    r.size = sz;
    r.bytes.reset(zero ? new uint8_t[sz]() : new uint8_t[sz]);
    r.refs = 1;
    regions_.emplace(a, std::move(r));
    next_ = a + sz;
    bytes_live_ += sz;
    if (bytes_live_ > bytes_peak_) bytes_peak_ = bytes_live_;
    return a;
  }
  void retain(uint64_t addr) { find(addr, 1).first->second.refs++; }
  // Drops one reference to the region holding addr; the region goes away at zero.
  void release(uint64_t addr) {
    auto it = find(addr, 1).first;
    if (--it->second.refs == 0) {
      bytes_live_ -= it->second.size;
      regions_.erase(it);
    }
  }

  // Host-side direct access (the CPU's view). Throws std::out_of_range when [addr, addr+n) is
  // not inside one live region: a host bug, not a modelled fault.
  uint8_t* ptr(uint64_t addr, size_t n = 1) {
    auto [it, off] = find(addr, n);
    return it->second.bytes.get() + off;
  }
  const uint8_t* ptr(uint64_t addr, size_t n = 1) const {
    auto [it, off] = const_cast<HostMemory*>(this)->find(addr, n);
    return it->second.bytes.get() + off;
  }
  void write(uint64_t addr, const void* src, size_t n) {
    if (n) std::memcpy(ptr(addr, n), src, n);
  }
  void read(uint64_t addr, void* dst, size_t n) const {
    if (n) std::memcpy(dst, ptr(addr, n), n);
  }

  // abi::DmaTarget: a DMA may cross region boundaries only if the regions are adjacent; our
  // allocator never promises that, so a crossing access is reported as a fault.
  bool dma_read(uint64_t addr, uint8_t* dst, size_t n) const override {
    const uint8_t* p = lookup(addr, n);
    if (!p) return false;
    if (n) std::memcpy(dst, p, n);
    return true;
  }
  bool dma_write(uint64_t addr, const uint8_t* src, size_t n) override {
    uint8_t* p = const_cast<uint8_t*>(lookup(addr, n));
    if (!p) return false;
    if (n) std::memcpy(p, src, n);
    return true;
  }
  const uint8_t* dma_view(uint64_t addr, size_t n) const override { return lookup(addr, n); }
  // Zero-copy view for the NIC's functional path; nullptr on a fault.
  const uint8_t* lookup(uint64_t addr, size_t n) const {
    auto it = regions_.upper_bound(addr);
    if (it == regions_.begin()) return nullptr;
    --it;
    uint64_t off = addr - it->first;
    if (off + n > it->second.size) return nullptr;
    return it->second.bytes.get() + off;
  }

  size_t live_regions() const { return regions_.size(); }
  uint64_t bytes_live() const { return bytes_live_; }
  uint64_t bytes_peak() const { return bytes_peak_; }

 private:
  struct Region {
    size_t size = 0;
    std::unique_ptr<uint8_t[]> bytes;
    uint32_t refs = 0;
  };
  std::pair<std::map<uint64_t, Region>::iterator, size_t> find(uint64_t addr, size_t n) {
    auto it = regions_.upper_bound(addr);
    if (it != regions_.begin()) {
      --it;
      uint64_t off = addr - it->first;
      if (off + n <= it->second.size) return {it, size_t(off)};
    }
    throw std::out_of_range("host memory: no region holds [0x" + hex(addr) + ", +" +
                            std::to_string(n) + ")");
  }
  static std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%llx", (unsigned long long)v);
    return b;
  }
  std::map<uint64_t, Region> regions_;
  uint64_t next_;
  uint64_t bytes_live_ = 0, bytes_peak_ = 0;
};

}  // namespace nicsim::host
