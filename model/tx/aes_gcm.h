// aes_gcm: the inline TLS record engine. For each WQE that carries a TIS number it walks the
// TCP payload as a TLS byte stream, using the context's record tracker: header bytes (and the
// TLS 1.2 explicit nonce) pass through and are parsed, AEAD payload bytes are encrypted in
// place, and the tag placeholder is overwritten with the record's tag. A DUMP WQE drives the
// same walk but its output is discarded (the driver replays a record prefix so the context
// can continue mid-record; kernel-ktls-offload.md §4.3). The hardware learns record length,
// type and explicit nonce only by parsing the stream (START state), as ConnectX does.
#pragma once
#include <cstdint>
#include <vector>

#include "model/tx/gcm_engine.h"
#include "model/tx/nic_config.h"
#include "model/tx/timing.h"
#include "model/tx/tls_ctx.h"

namespace nicsim::model::tx {

struct AesGcmStats : StageStats {
  uint64_t tls_pkts = 0, tls_bytes = 0;          // encrypted WQEs and their payload bytes
  uint64_t dump_pkts = 0, dump_bytes = 0;        // DUMP WQEs and bytes consumed
  uint64_t records_completed = 0;                // tags written (or, for DUMP, computed)
  uint64_t bypass_pkts = 0, bypass_bytes = 0;    // plain WQEs streamed through
  uint64_t errors = 0;                           // record parse failures (packet dropped)
};

// A WQE's payload where it lies: one piece per data segment (n bytes in all).
struct PayloadGather {
  const uint8_t* const* ptr = nullptr;
  const uint32_t* len = nullptr;
  uint32_t count = 0;
};

class AesGcmStage {
 public:
  AesGcmStage(const NicConfig& cfg, GcmEngine* engine);

  // Processes the payload of one WQE. Returns the cycles the stage is occupied and sets
  // *latency_cycles (first byte in to last byte out). On a parse error returns the syndrome
  // through *err and the payload must not be transmitted.
  uint64_t process(TisContext* ctx, uint8_t* data, uint32_t n, bool dump,
                   uint64_t* latency_cycles, abi::CqeSyndrome* err);
  // The same, reading the payload from `in` (the data segments' bytes in host memory, seen
  // through zero-copy DMA views) and writing the wire bytes to out[0..n). Functionally and in
  // cycles identical to gathering first and processing in place; it saves the simulator a
  // copy of every payload byte.
  uint64_t process(TisContext* ctx, const PayloadGather& in, uint8_t* out, uint32_t n, bool dump,
                   uint64_t* latency_cycles, abi::CqeSyndrome* err);
  // A plain (non-TLS) payload streams through the datapath.
  uint64_t bypass(uint32_t n, uint64_t* latency_cycles);

  AesGcmStats& stats() { return stats_; }
  const AesGcmStats& stats() const { return stats_; }
  GcmEngine* engine() { return engine_; }

 private:
  bool start_record(TisContext& c);
  // Input bytes [pos, pos + n) as one contiguous run: a pointer into a segment, or a copy in
  // scratch_ when they span segments. Calls must come with non-decreasing pos.
  struct Cursor {
    const PayloadGather* g;
    uint32_t seg = 0, seg_start = 0;
  };
  const uint8_t* input(Cursor& c, uint32_t pos, uint32_t n);
  std::vector<uint8_t> scratch_;
  NicConfig cfg_;
  GcmEngine* engine_;
  AesGcmStats stats_;
};

}  // namespace nicsim::model::tx
