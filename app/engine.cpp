#include "app/engine.h"

#include <cstdio>
#include <cstdlib>

#include "host/trace/output_file.h"
#include "model/tx/gcm_engine.h"
#if NICSIM_HAVE_COSIM
#include "model/cosim/rtl_gcm_engine.h"
#endif

namespace nicsim::app {

namespace {

bool parse_u64(const std::string& s, uint64_t* v) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19) return false;
  *v = std::strtoull(s.c_str(), nullptr, 10);
  return true;
}

}  // namespace

bool parse_wave_window(const std::string& s, WaveOptions* w) {
  const auto colon = s.find(':');
  if (colon == std::string::npos) return false;
  const std::string a = s.substr(0, colon), b = s.substr(colon + 1);
  uint64_t start = 0, end = UINT64_MAX;
  if (!a.empty() && !parse_u64(a, &start)) return false;
  if (!b.empty() && !parse_u64(b, &end)) return false;
  if (end <= start) return false;
  w->start_cycle = start;
  w->end_cycle = end;
  return true;
}

bool rtl_engine_built() { return NICSIM_HAVE_COSIM != 0; }

std::unique_ptr<model::tx::GcmEngine> make_crypto_engine(const Config& cfg, const WaveOptions& w, std::string* err) {
  if (cfg.run.crypto_engine != "rtl") {
    if (!w.path.empty()) *err = "--wave: the waveform is of the RTL engine; add --crypto rtl";
    return nullptr;
  }
#if NICSIM_HAVE_COSIM
  using model::cosim::RtlGcmEngine;
  if (cfg.nic.crypto_lanes != RtlGcmEngine::lanes()) {
    *err = "--crypto rtl: nic.crypto_lanes is " + std::to_string(cfg.nic.crypto_lanes) +
           " but the verilated engine has LANES=" + std::to_string(RtlGcmEngine::lanes()) +
           " (rebuild with -DNICSIM_RTL_LANES=" + std::to_string(cfg.nic.crypto_lanes) + ")";
    return nullptr;
  }
  if (cfg.nic.crypto_flow_slots != RtlGcmEngine::flows()) {
    *err = "--crypto rtl: nic.crypto_flow_slots is " + std::to_string(cfg.nic.crypto_flow_slots) +
           " but the verilated engine has FLOWS=" + std::to_string(RtlGcmEngine::flows()) +
           " (rebuild with -DNICSIM_RTL_FLOWS=" + std::to_string(cfg.nic.crypto_flow_slots) + ")";
    return nullptr;
  }
  model::cosim::RtlGcmEngineOptions o;
  o.cmd_lead_cycles = cfg.nic.crypto_cmd_lead_cycles;
  o.wave_path = w.path;
  if (!w.path.empty()) {
    // The FST writer seeks in its file and replaces it when it closes: a device or pipe would
    // be replaced by a regular file (as root, --wave /dev/null did that to /dev/null), and a
    // symbolic link by the file. A link is followed; anything but a regular file is refused.
    const host::trace::OutputFile out(w.path);
    if (out.in_place) {
      *err = "--wave " + w.path + ": not a regular file (the waveform writer seeks and replaces its file); give a file path";
      return nullptr;
    }
    o.wave_path = out.final_path;
  }
  o.wave_start_cycle = w.start_cycle;
  o.wave_end_cycle = w.end_cycle;
  try {
    return std::make_unique<RtlGcmEngine>(o);
  } catch (const std::exception& e) {
    *err = e.what();
    return nullptr;
  }
#else
  *err = "--crypto rtl: this nicsim was built without the RTL engine (verilator not found, or NICSIM_RTL=OFF)";
  return nullptr;
#endif
}

std::string crypto_engine_summary(const model::tx::GcmEngine* e) {
#if NICSIM_HAVE_COSIM
  const auto* r = dynamic_cast<const model::cosim::RtlGcmEngine*>(e);
  if (!r) return "";
  const auto& s = r->stats();
  char b[400];
  std::snprintf(b, sizeof b,
                "  RTL engine        LANES=%u FLOWS=%u: %llu cycles stepped (input busy %llu, %.1f b/cycle of it), "
                "%llu pieces (%llu DUMP), %llu tags; %.3f s wall, %.0f cycles/s",
                model::cosim::RtlGcmEngine::lanes(), model::cosim::RtlGcmEngine::flows(),
                (unsigned long long)s.cycles, (unsigned long long)s.busy_in_cycles,
                s.busy_in_cycles ? 8.0 * double(s.bytes_in) / double(s.busy_in_cycles) : 0.0,
                (unsigned long long)s.pieces, (unsigned long long)s.dump_pieces, (unsigned long long)s.tags,
                s.wall_s, s.wall_s > 0 ? double(s.cycles) / s.wall_s : 0.0);
  return b;
#else
  (void)e;
  return "";
#endif
}

}  // namespace nicsim::app
