// Co-simulation bridge: the Verilated RTL engine (rtl/tls_gcm_engine.sv, library
// nicsim_rtl_engine) behind the same GcmEngine seam as the behavioural (OpenSSL) engine, so the
// NIC model swaps one for the other with `--crypto rtl`.
//
// How it runs (design.md "RTL"): no SystemC process and no sc_clock. The aes_gcm stage calls
// process() once per record piece; the bridge turns the piece into one engine command and its
// data beats and steps the Verilated model, cycle by cycle in one batch, until the piece's
// ciphertext beats and (on the record's last piece) its tag have come out. The engine's clock
// runs on across calls (cycle() only grows); pieces arrive back to back as the NIC feeds them.
// The GcmTiming it returns is what the RTL really took.
//
// Command lead: in the NIC the command is known from the descriptor and the TLS context long
// before the payload arrives from host memory (the stage starts only once dma_read has the
// whole payload on chip), so the engine's keystream generator has run ahead. The bridge
// reproduces that: it hands the command over, steps `cmd_lead_cycles` cycles, then offers the
// data. Those lead cycles are engine cycles (they count in cycle()) but not in the piece's
// occupancy or latency, exactly as the DMA time they stand for is not.
//
// Flow slots: the engine holds FLOWS record contexts (NICSIM_RTL_FLOWS, default 16). The NIC's
// TLS contexts (TIS numbers, up to tls_ctx_entries) map onto them: a TIS keeps its slot while a
// record is in flight; at a record start (`first`) it takes a free slot, or the least recently
// used slot with no record in flight. When every slot holds a record in flight and another TIS
// starts one, process() throws CosimError: the engine as built cannot hold that many
// concurrent records (rebuild with -DNICSIM_RTL_FLOWS=32 or more).
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "model/tx/gcm_engine.h"

namespace nicsim::model::cosim {

// A condition the engine as built cannot handle, or an RTL misbehaviour (err_o set, a hang,
// output for the wrong flow). Never a property of the NIC's input.
class CosimError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RtlGcmEngineOptions {
  // Cycles between the command's hand-over and the first data beat. 20 covers the cold path at
  // every LANES (command FIFO and generator 2, 15 AES stages, the E_K(0)/E_K(J0) beat(s), the
  // second keystream beat: 19 at LANES >= 2, 20 at LANES = 1) so the first beat finds its
  // keystream waiting, as in the NIC; more changes nothing but the cycles stepped; 0 gives
  // the cold figures.
  uint32_t cmd_lead_cycles = 20;
  // A piece that has not completed after this many cycles is an RTL hang.
  uint64_t timeout_cycles = 1'000'000;
  // Waveform of the engine (FST when the file name ends in .fst, else VCD) for engine cycles
  // [wave_start_cycle, wave_end_cycle). Empty: none. Needs the bridge built with tracing
  // (RtlGcmEngine::tracing_available()).
  std::string wave_path;
  uint64_t wave_start_cycle = 0;
  uint64_t wave_end_cycle = UINT64_MAX;
};

struct RtlGcmEngineStats {
  uint64_t cycles = 0;           // engine cycles stepped (= cycle())
  uint64_t busy_in_cycles = 0;   // sum of the pieces' occupancy (input busy)
  uint64_t pieces = 0, dump_pieces = 0, records = 0;
  uint64_t bytes_in = 0, beats_in = 0, beats_out = 0, tags = 0;
  uint64_t slot_assignments = 0;   // a TIS took a slot it did not hold
  uint32_t max_slots_in_flight = 0;
  double wall_s = 0;             // wall time spent stepping the model
};

class RtlGcmEngine final : public tx::GcmEngine {
 public:
  explicit RtlGcmEngine(const RtlGcmEngineOptions& o = {});
  ~RtlGcmEngine() override;
  RtlGcmEngine(const RtlGcmEngine&) = delete;
  RtlGcmEngine& operator=(const RtlGcmEngine&) = delete;

  bool process(const tx::GcmSegment& seg, const uint8_t* in, uint8_t* out, uint32_t n,
               uint8_t* tag, tx::GcmTiming* t) override;
  void reset_flow(uint32_t flow) override;
  const char* name() const override { return "rtl"; }

  uint64_t cycle() const;
  const RtlGcmEngineStats& stats() const;
  // Closes the waveform file (also done by the destructor).
  void close_wave();

  // What the verilated model was built with.
  static uint32_t lanes();
  static uint32_t flows();
  static bool tracing_available();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nicsim::model::cosim
