// The seam between the aes_gcm stage's record tracker and the AES-GCM datapath. The tracker
// (aes_gcm.h) parses the TLS byte stream and turns each packet's share of a record into one
// GcmSegment; an engine encrypts it. BehaviouralGcmEngine does it with OpenSSL and derives its
// cycle cost from the RTL's parameters; the co-simulation bridge (model/cosim) drives the
// Verilated RTL through the same interface and reports the cycles the RTL really took.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/crypto/aes_gcm.h"

namespace nicsim::model::tx {

// One contiguous piece of one record's AEAD payload (the bytes between the record's prepend
// and its tag), as one packet (or DUMP) carries it.
struct GcmSegment {
  uint32_t flow = 0;                 // engine context slot (the TIS number)
  crypto::Cipher cipher = crypto::Cipher::aes128gcm;
  const uint8_t* key = nullptr;      // 16 or 32 bytes
  uint8_t nonce[12] = {};
  uint8_t aad[13] = {};
  uint8_t aad_len = 0;
  uint32_t rec_offset = 0;           // payload offset of the first byte of this segment
  uint32_t rec_len = 0;              // the record's whole AEAD payload length
  bool first = false;                // rec_offset == 0: (re)start the record's GCM state
  bool last = false;                 // segment ends at rec_len: produce the tag
  bool dump = false;                 // DUMP: advance state, emit nothing
};

struct GcmTiming {
  uint64_t occupancy_cycles = 0;     // cycles the engine input was busy
  uint64_t latency_cycles = 0;       // first byte in to last byte (or tag) out
};

class GcmEngine {
 public:
  virtual ~GcmEngine() = default;
  // Encrypts n bytes (in may equal out). When seg.last, writes the tag into tag[16].
  // Returns false on an engine error (state lost: a segment that does not continue the flow's
  // record).
  virtual bool process(const GcmSegment& seg, const uint8_t* in, uint8_t* out, uint32_t n,
                       uint8_t* tag, GcmTiming* t) = 0;
  // Forgets a flow's in-flight record (progress params reset the tracker to START).
  virtual void reset_flow(uint32_t flow) = 0;
  virtual const char* name() const = 0;
};

// Timing parameters shared by the behavioural engine and the RTL. The defaults are the RTL's
// (rtl/README.md, measured at LANES = 4 and checked by testbench/model/cosim): the behavioural
// engine's timing_for reproduces the Verilated engine's cycles within ±2 per segment.
struct GcmEngineParams {
  uint32_t lanes = 4;                  // 128-bit blocks per beat: a beat carries 16·lanes bytes
  uint32_t aes128_latency_cycles = 15; // AES-CTR pipeline depth: input stage + 14 round stages
  uint32_t aes256_latency_cycles = 15; // (AES-128 rides through the last 4: same depth)
  uint32_t tag_latency_cycles = 5;     // last data beat in -> tag out through an idle GHASH
  uint32_t cmd_lead_cycles = 20;       // cycles the segment's command precedes its data
  uint32_t flow_slots = 16;            // record contexts in the engine (RTL FLOWS)
};

// OpenSSL-backed engine: keeps one streaming GCM state per flow.
class BehaviouralGcmEngine final : public GcmEngine {
 public:
  explicit BehaviouralGcmEngine(GcmEngineParams p) : p_(p), slots_(std::max<uint32_t>(1, p.flow_slots)) {}
  bool process(const GcmSegment& seg, const uint8_t* in, uint8_t* out, uint32_t n, uint8_t* tag,
               GcmTiming* t) override;
  void reset_flow(uint32_t flow) override;
  const char* name() const override { return "behavioural"; }
  // Cycle cost of a segment as the RTL spends it (used by tests to correlate with the RTL).
  // new_key: a record's first segment in an engine slot that does not hold this key's powers
  // of H (first use of the slot, a new key, or a slot last used by a context with another key):
  // the RTL computes them then.
  static GcmTiming timing_for(const GcmEngineParams& p, const GcmSegment& seg, uint32_t n,
                              bool new_key = false);

 private:
  struct Flow {
    crypto::AesGcmStream gcm;
    uint8_t key[32] = {};
    crypto::Cipher cipher = crypto::Cipher::aes128gcm;
    uint32_t next_offset = 0;   // payload offset the next segment must start at
    bool active = false;
    int32_t slot = -1;          // engine slot held (-1: none)
  };
  // The RTL's record slots, assigned as the co-simulation bridge assigns them (model/cosim):
  // a context keeps its slot; a record start without one takes a free slot, else the least
  // recently used one with no record in flight (else, where the RTL bridge stops with an
  // error, the least recently used one). A slot keeps the powers of H of the last key it ran.
  struct Slot {
    bool owned = false, h_valid = false;
    uint32_t flow = 0;
    uint64_t last_use = 0;
    crypto::Cipher cipher = crypto::Cipher::aes128gcm;
    uint8_t key[32] = {};
  };
  Flow& flow(uint32_t id);
  bool take_slot(uint32_t id, Flow& f, const GcmSegment& seg);  // true: H powers computed
  GcmEngineParams p_;
  std::vector<std::unique_ptr<Flow>> flows_;  // indexed by flow id (dense TIS numbers)
  std::vector<Slot> slots_;
  uint64_t use_clock_ = 0;
};

}  // namespace nicsim::model::tx
