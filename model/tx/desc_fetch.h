// desc_fetch: reads the send queue's WQEs from host memory (prefetching up to the doorbell in
// reads of desc_prefetch_wqebbs basic blocks) and decodes each WQE into a TxWork.
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

#include "model/abi/wqe.h"
#include "model/tx/nic_config.h"
#include "model/tx/timing.h"
#include "model/tx/tx_work.h"

namespace nicsim::model::tx {

struct DescFetchStats : StageStats {
  uint64_t doorbells = 0, dma_reads = 0, wqebbs = 0, nops = 0, errors = 0;
};

// One send queue as the NIC tracks it.
struct SqState {
  uint16_t sqn = 0;
  uint64_t ring_addr = 0;        // bus address of WQEBB 0
  uint32_t size_wqebbs = 0;      // power of two
  uint16_t ci = 0;               // consumer counter: next WQEBB to decode
  uint16_t pc = 0;               // producer counter from the last doorbell
  uint16_t fetched = 0;          // WQEBBs [ci, fetched) are on the NIC (or on their way)
  std::vector<uint8_t> cache;    // on-NIC copy of the ring, size_wqebbs * 64
  struct Chunk {
    uint16_t end;                // counter one past the chunk's last WQEBB
    TimePs arrival_ps;           // when its bytes are on the NIC
  };
  std::deque<Chunk> chunks;
  bool pending() const { return ci != pc; }
};

struct DescRead {
  uint64_t addr;
  uint32_t len_bytes;
  uint16_t start;  // first WQEBB counter
  uint16_t end;    // one past the last
};

class DescFetch {
 public:
  explicit DescFetch(const NicConfig& cfg) : cfg_(cfg) {}

  // Doorbell with producer counter pc: the reads to issue for the newly posted WQEBBs (never
  // crossing the ring's end, at most desc_prefetch_wqebbs each).
  std::vector<DescRead> on_doorbell(SqState& sq, uint16_t pc);
  // When the WQEBB range up to `end` is available (the arrival of the chunk holding it).
  static TimePs available_at(const SqState& sq, uint16_t end);

  // Decodes the WQE at sq.ci from the on-NIC copy into w, advances ci, and returns the cycles
  // spent. A malformed WQE sets w->error = local_length and consumes the WQEBBs its ds_count
  // covers, or one WQEBB when ds_count itself is unusable (0, past the ring end or the doorbell).
  uint64_t decode(SqState& sq, TxWork* w);

  DescFetchStats& stats() { return stats_; }
  const DescFetchStats& stats() const { return stats_; }

 private:
  NicConfig cfg_;
  DescFetchStats stats_;
};

}  // namespace nicsim::model::tx
