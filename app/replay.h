// `nicsim replay`: a real (or synthetic) TLS capture and its key log drive the NIC model frame
// by frame. For each TLS connection of the offloading host the transmitted byte stream is
// reassembled, its records are decrypted with the key log's keys to the plaintext the kernel
// held, and the kernel-offload emulator gets the same records with the same record numbers;
// then every frame the host sent becomes, at its capture time, one send of that sequence range
// through the mlx5-like driver and the NIC model, whose wire output replaces the frame in the
// output capture. Everything else passes through unchanged. See app/replay.cpp for the design.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "app/config.h"

namespace CLI {
class App;
}
namespace nicsim::model::tx {
class GcmEngine;
}

namespace nicsim::app {

struct ReplayOptions {
  std::string pcap;     // input capture (pcap or pcapng)
  std::string keylog;   // SSLKEYLOGFILE
  std::string out;      // output capture (.pcapng → pcapng, else pcap), ns timestamps
  std::string host;     // offloading host's IP; empty: the endpoint sending the most TLS app data
  std::string stats;    // stats JSON (optional)
  bool quiet = false;   // no summary on stdout
  bool progress = true; // progress line on stderr when it is a terminal
  // Lookahead bound: a frame waits until the records covering its bytes are complete in the
  // capture. Past this many buffered bytes the waiting connection is given up (passes through).
  uint64_t lookahead_limit_bytes = 64u << 20;
  // The AES-GCM engine (app/engine.h); nullptr: the NIC's behavioural engine.
  model::tx::GcmEngine* engine = nullptr;
};

struct ReplaySummary {
  bool ok = false;        // outputs written
  bool unusable = false;  // the input could not be used at all (non-zero exit)
  std::string error;
  uint64_t frames_in = 0, frames_out = 0, captured_bytes = 0;
  uint64_t host_frames = 0, host_frames_nic = 0, frames_unchanged = 0;
  uint64_t connections = 0, connections_offloaded = 0, connections_passthrough = 0;
  uint64_t records = 0, warnings = 0;
  uint64_t ooo = 0, dump_bytes = 0, resyncs = 0;
  double wall_s = 0, sim_s = 0;
  uint64_t max_rss_bytes = 0;
  std::string host;
  nlohmann::json stats;
};

// Runs one replay in this process (SystemC elaborates once per process).
ReplaySummary run_replay(const Config& cfg, const ReplayOptions& o);
void print_replay_summary(const ReplaySummary& s);

// The command line of `nicsim replay` (kept here so main.cpp only wires it in).
struct ReplayFlags {
  std::string pcap, keylog, out, host, config, stats, crypto, wave, wave_window;
  bool quiet = false;
};
CLI::App* add_replay_command(CLI::App& cli, ReplayFlags& f);
int do_replay(const ReplayFlags& f);  // exit code: 0 ok, 1 unusable input / failure, 2 usage

}  // namespace nicsim::app
