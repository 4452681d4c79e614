// The NIC's view of host memory: what a PCIe DMA read or write can reach.
// The host side implements it (host/mem); the model reaches it only through this interface.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nicsim::abi {

class DmaTarget {
 public:
  virtual ~DmaTarget() = default;
  // Copies n bytes at bus address addr into dst. False when any byte is not mapped: the model
  // turns that into a completion error, as an IOMMU fault would be.
  virtual bool dma_read(uint64_t addr, uint8_t* dst, size_t n) const = 0;
  virtual bool dma_write(uint64_t addr, const uint8_t* src, size_t n) = 0;
  // The n bytes at addr in place, for a read whose bytes the model consumes at once (before
  // the host can run again): saves the simulator a copy; the read's timing is unchanged.
  // nullptr when not mapped, or when the target cannot lend a view (then use dma_read).
  virtual const uint8_t* dma_view(uint64_t, size_t) const { return nullptr; }
};

}  // namespace nicsim::abi
