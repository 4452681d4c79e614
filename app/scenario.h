// A synthetic run (`nicsim run`): N TLS connections from the host (server) to a peer (client).
// Each starts with a TCP handshake and a real OpenSSL TLS handshake carried by the simulated
// TCP; the host then installs kTLS device offload with the keys of its key log and the
// application writes its bytes through the kernel-offload emulator → TCP → mlx5-like driver
// → NIC model → link; the peer reassembles the stream and its OpenSSL client decrypts every
// record. A tag failure or any byte that differs from what the application wrote fails the run.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/config.h"

namespace nicsim::model::tx {
class GcmEngine;
}

namespace nicsim::app {

struct Outputs {
  std::string pcap, keylog, stats;
  bool quiet = false;        // no summary on stdout
  bool progress = true;      // progress line on stderr (only when it is a terminal)
};

struct RunSummary {
  bool ok = false;
  std::string error;
  uint64_t app_bytes = 0, app_bytes_verified = 0, records = 0, frames = 0, data_frames = 0;
  uint64_t resyncs = 0, dump_bytes = 0, dump_packets = 0, ooo = 0, retrans_segs = 0;
  double sim_s = 0, data_s = 0, gbps = 0, wall_s = 0;
  // CPU time of the simulating (main) thread: the critical path of a run; next to wall_s it
  // shows how much a loaded machine stretched the wall time.
  double main_cpu_s = 0;
  double peer_cpu_s = 0;  // the peer's decrypting thread (runs alongside; see app/scenario.cpp)
  // Wall time from the start of the run to the first application byte handed to the kTLS
  // socket: building the NIC, driver and hosts, the TLS endpoints (certificate, contexts) and
  // the handshake. A fixed cost per run, included in wall_s.
  double startup_wall_s = 0;
  nlohmann::json stats;
};

// Runs one simulation in this process (SystemC elaborates once per process). engine: the
// AES-GCM datapath to use (nullptr: behavioural). Returns the summary; outputs are written only
// for a successful run (nothing half-written otherwise).
RunSummary run_scenario(const Config& cfg, const Outputs& out, model::tx::GcmEngine* engine = nullptr);

// Prints the human summary.
void print_summary(const RunSummary& s, const Config& cfg);

}  // namespace nicsim::app
