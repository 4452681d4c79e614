// The AES-GCM engine of a run (`--crypto behavioural|rtl`): the NIC's own behavioural engine,
// or the Verilated RTL engine behind the co-simulation bridge (model/cosim), with an optional
// waveform of a window of engine cycles (`--wave FILE.fst --wave-window START:END`).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "app/config.h"

namespace nicsim::model::tx {
class GcmEngine;
}

namespace nicsim::app {

struct WaveOptions {
  std::string path;                 // empty: no waveform
  uint64_t start_cycle = 0;         // engine cycles [start, end)
  uint64_t end_cycle = 1'000'000;   // default window: the first million engine cycles
};

// "START:END" (engine cycles, END > START; either may be empty: 0 / no end). False on a bad
// window.
bool parse_wave_window(const std::string& s, WaveOptions* w);

// Whether this binary has the RTL engine (verilator was found when it was built).
bool rtl_engine_built();

// The engine cfg.run.crypto_engine names: nullptr for "behavioural" (the NIC builds its own),
// else the RTL bridge. nullptr with *err set when it cannot be made (not built, a configuration
// the verilated engine does not match, an unwritable waveform file). The engine must outlive
// the run.
std::unique_ptr<model::tx::GcmEngine> make_crypto_engine(const Config& cfg, const WaveOptions& w, std::string* err);

// One line about the RTL engine's run (cycles stepped, wall speed, pieces); "" otherwise.
std::string crypto_engine_summary(const model::tx::GcmEngine* e);

}  // namespace nicsim::app
