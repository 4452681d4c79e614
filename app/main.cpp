// nicsim command line: the composition root. `nicsim` alone runs the default scenario.
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <systemc>

#include "app/config.h"
#include "app/engine.h"
#include "app/replay.h"
#include "app/scenario.h"
#include "model/crypto/aes_gcm.h"
#include "model/tx/gcm_engine.h"

using namespace nicsim;

namespace {

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "nicsim: %s\n", msg.c_str());
  return 2;
}

// "64M", "1G", "1500", "1.5e6": bytes with an optional K/M/G (binary) suffix.
bool parse_bytes(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0) return false;
  double mul = 1;
  std::string suf(end);
  if (suf == "K" || suf == "k" || suf == "KiB") mul = 1024;
  else if (suf == "M" || suf == "MiB") mul = 1024.0 * 1024;
  else if (suf == "G" || suf == "GiB") mul = 1024.0 * 1024 * 1024;
  else if (!suf.empty()) return false;
  double r = v * mul;
  if (r > 1e15 || r != r) return false;
  *out = uint64_t(r);
  return true;
}

bool readable_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && std::ifstream(p).good();
}

bool writable_dir_of(const std::string& path) {
  std::string dir = ".";
  auto k = path.find_last_of('/');
  if (k != std::string::npos) dir = k == 0 ? "/" : path.substr(0, k);
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

struct RunFlags {
  std::string tls, cipher, bytes, payload, config, pcap, keylog, stats, crypto, wave, wave_window;
  int64_t record_size = 0, mss = 0, flows = 0;
  double loss = 0, reorder = 0, burst = 0;
  uint64_t seed = 0;
  // Whether each numeric flag was given (a sentinel value would let "--loss -1" or "--loss nan"
  // pass as "not given").
  bool record_size_set = false, mss_set = false, flows_set = false, loss_set = false, reorder_set = false,
       burst_set = false, seed_set = false, quiet = false;
};

void add_run_flags(CLI::App* c, RunFlags& f) {
  c->add_option("--tls", f.tls, "TLS version: 1.2 or 1.3");
  c->add_option("--cipher", f.cipher, "aes128gcm or aes256gcm");
  c->add_option("--bytes", f.bytes, "application bytes per flow (e.g. 4M)");
  c->add_option("--payload", f.payload, "application bytes from FILE");
  auto given = [](bool* b) { return [b](const std::string&) { *b = true; }; };
  c->add_option("--record-size", f.record_size, "TLS record payload limit, 64..16384")->each(given(&f.record_size_set));
  c->add_option("--mss", f.mss, "TCP MSS in bytes")->each(given(&f.mss_set));
  c->add_option("--loss", f.loss, "independent frame loss probability on the data link, 0..1")->each(given(&f.loss_set));
  c->add_option("--burst-loss", f.burst, "Gilbert-Elliott good->bad probability (burst loss), 0..1")
      ->each(given(&f.burst_set));
  c->add_option("--reorder", f.reorder, "probability a data frame is reordered, 0..1")->each(given(&f.reorder_set));
  c->add_option("--seed", f.seed, "seed of every generator")->each(given(&f.seed_set));
  c->add_option("--flows", f.flows, "concurrent TLS connections")->each(given(&f.flows_set));
  c->add_option("--config", f.config, "configuration file (JSON)");
  c->add_option("--pcap", f.pcap, "write the wire to OUT (.pcap or .pcapng, ns timestamps)");
  c->add_option("--keylog", f.keylog, "write the SSLKEYLOGFILE for OUT");
  c->add_option("--stats", f.stats, "write statistics JSON");
  c->add_option("--crypto", f.crypto, "AES-GCM engine: behavioural or rtl (the Verilated engine, co-simulated)");
  c->add_option("--wave", f.wave, "with --crypto rtl: write the engine's waveform to FILE (FST)");
  c->add_option("--wave-window", f.wave_window,
                "engine cycles START:END of the waveform (default 0:1000000; either side may be empty)");
  c->add_flag("--quiet", f.quiet, "no summary on stdout");
}

// Applies flags over the configuration; returns an error line or "".
std::string apply_flags(const RunFlags& f, app::Config& cfg) {
  std::string err;
  if (!f.config.empty()) {
    if (!readable_file(f.config)) return f.config + ": cannot open configuration file";
    if (!cfg.load_file(f.config, &err)) return err;
  }
  if (!f.tls.empty()) {
    if (f.tls == "1.2") cfg.run.tls = crypto::TlsVersion::tls12;
    else if (f.tls == "1.3") cfg.run.tls = crypto::TlsVersion::tls13;
    else return "--tls " + f.tls + ": expected 1.2 or 1.3";
  }
  if (!f.cipher.empty() && !crypto::parse_cipher(f.cipher, &cfg.run.cipher))
    return "--cipher " + f.cipher + ": expected aes128gcm or aes256gcm";
  if (!f.bytes.empty()) {
    uint64_t b;
    if (!parse_bytes(f.bytes, &b)) return "--bytes " + f.bytes + ": expected a byte count such as 1048576, 64K, 4M or 1G";
    cfg.run.bytes = b;
  }
  if (!f.payload.empty()) {
    if (!readable_file(f.payload)) return f.payload + ": cannot read payload file";
    cfg.run.payload_file = f.payload;
  }
  // Counts: negative is no count (the configuration's own checks bound the rest).
  for (auto [set, v, name] : {std::tuple{f.record_size_set, f.record_size, "--record-size"}, std::tuple{f.mss_set, f.mss, "--mss"},
                              std::tuple{f.flows_set, f.flows, "--flows"}})
    if (set && v < 0) return std::string(name) + " " + std::to_string(v) + ": must not be negative";
  if (f.record_size_set) cfg.run.record_size = uint32_t(std::min<int64_t>(f.record_size, UINT32_MAX));
  if (f.mss_set) cfg.tcp.mss_bytes = uint32_t(std::min<int64_t>(f.mss, UINT32_MAX));
  // Probabilities: written so that NaN fails too.
  for (auto [set, v, name] : {std::tuple{f.loss_set, f.loss, "--loss"}, std::tuple{f.burst_set, f.burst, "--burst-loss"},
                              std::tuple{f.reorder_set, f.reorder, "--reorder"}})
    if (set && !(v >= 0 && v <= 1)) return std::string(name) + " " + std::to_string(v) + ": a probability must be in [0, 1]";
  if (f.loss_set) cfg.link.loss = f.loss;
  if (f.burst_set) cfg.link.burst_p_gb = f.burst;
  if (f.reorder_set) cfg.link.reorder = f.reorder;
  if (f.seed_set) {
    cfg.run.seed = f.seed;
    cfg.link.seed = f.seed * 2 + 1;
    cfg.reverse.seed = f.seed * 2 + 2;
  }
  if (f.flows_set) cfg.run.flows = uint32_t(std::min<int64_t>(f.flows, UINT32_MAX));
  if (!f.crypto.empty()) cfg.run.crypto_engine = f.crypto;
  for (const std::string* o : {&f.pcap, &f.keylog, &f.stats, &f.wave})
    if (!o->empty() && !writable_dir_of(*o)) return *o + ": the folder does not exist";
  std::string v = cfg.validate();
  if (!v.empty()) return app::invalid_configuration(f.config, v);
  return "";
}

int do_run(const RunFlags& f) {
  app::Config cfg;
  std::string err = apply_flags(f, cfg);
  if (!err.empty()) return usage_error(err);
  app::WaveOptions wave;
  wave.path = f.wave;
  if (!f.wave_window.empty() && !app::parse_wave_window(f.wave_window, &wave))
    return usage_error("--wave-window " + f.wave_window + ": expected START:END engine cycles with END > START");
  if (!f.wave_window.empty() && f.wave.empty()) return usage_error("--wave-window: give the waveform file with --wave");
  std::unique_ptr<model::tx::GcmEngine> engine = app::make_crypto_engine(cfg, wave, &err);
  if (!err.empty()) return usage_error(err);
  app::Outputs out{f.pcap, f.keylog, f.stats, f.quiet, true};
  app::RunSummary s = app::run_scenario(cfg, out, engine.get());
  if (!f.quiet || !s.ok) app::print_summary(s, cfg);
  const std::string rtl_line = app::crypto_engine_summary(engine.get());
  if (!rtl_line.empty() && (!f.quiet || !s.ok)) std::printf("%s\n", rtl_line.c_str());
  if (!s.ok) {
    std::fprintf(stderr, "nicsim: run failed: %s\n", s.error.c_str());
    return 1;
  }
  return 0;
}

// Raw OpenSSL AES-128-GCM on 16 KiB records vs the whole simulator on one lossless flow.
int do_bench(const std::string& bytes_s, bool quiet_run) {
  uint64_t sim_bytes = 64u << 20;
  if (!bytes_s.empty() && !parse_bytes(bytes_s, &sim_bytes)) return usage_error("--bytes " + bytes_s + ": expected a byte count");
  // 1. Raw OpenSSL: seal 16 KiB records back to back for at least 0.5 s. Measured before and
  // after the simulation and averaged: on a shared machine one 0.5 s sample varies by +-20 %.
  auto openssl_rate = [] {
    std::vector<uint8_t> buf(16384, 0x5a), tag(16);
    uint8_t key[16] = {1, 2, 3}, iv[12] = {4, 5, 6}, aad[13] = {7};
    crypto::AesGcmStream g;
    g.set_key(crypto::Cipher::aes128gcm, key);
    uint64_t done = 0;
    auto t0 = std::chrono::steady_clock::now();
    double el = 0;
    while (el < 0.5) {
      for (int i = 0; i < 64; i++) {
        iv[11]++;
        g.start(iv, aad, sizeof aad);
        g.update(buf.data(), buf.data(), buf.size());
        g.finish_tag(tag.data());
        done += buf.size();
      }
      el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return double(done) / el;
  };
  const double openssl_before = openssl_rate();
  // 2. The simulator: one lossless flow, 16 KiB records, MSS 1448, TLS 1.2 AES-128-GCM.
  app::Config cfg;
  cfg.run.bytes = sim_bytes;
  cfg.run.record_size = 16384;
  cfg.tcp.mss_bytes = 1448;
  cfg.run.flows = 1;
  app::Outputs out;
  out.progress = false;
  app::RunSummary s = app::run_scenario(cfg, out);
  if (!s.ok) {
    std::fprintf(stderr, "nicsim bench: simulation failed: %s\n", s.error.c_str());
    return 1;
  }
  const double openssl_after = openssl_rate();
  const double openssl_bps = (openssl_before + openssl_after) / 2;
  double sim_bps = double(s.app_bytes_verified) / s.wall_s;
  if (!quiet_run) app::print_summary(s, cfg);
  std::printf("bench: openssl aes-128-gcm 16 KiB records: %.1f MB/s (mean of %.1f before and %.1f after the simulation)\n",
              openssl_bps / 1e6, openssl_before / 1e6, openssl_after / 1e6);
  std::printf("bench: simulator (1 flow, 16 KiB records, MSS 1448, lossless): %.1f MB/s of application bytes\n", sim_bps / 1e6);
  std::printf("bench: ratio simulator/openssl = %.3f\n", sim_bps / openssl_bps);
  // Not the figure of merit (that is wall time, above), but robust on a busy machine: the
  // simulating thread's CPU time, and the ratio it would give on an idle one.
  std::printf("bench: simulating thread CPU %.3f s, peer thread CPU %.3f s, for %.3f s wall (%.1f MB/s per CPU second of the simulating thread, ratio %.3f)\n",
              s.main_cpu_s, s.peer_cpu_s, s.wall_s, double(s.app_bytes_verified) / 1e6 / std::max(s.main_cpu_s, 1e-9),
              double(s.app_bytes_verified) / std::max(s.main_cpu_s, 1e-9) / openssl_bps);
  // The fixed part of that wall time, for a reader who simulates long runs: the ratio above is
  // the figure of merit; this line says how much of it a longer --bytes would amortise.
  const double data_wall = s.wall_s - s.startup_wall_s;
  if (data_wall > 0)
    std::printf("bench: of the %.2f ms wall, %.2f ms is start-up before the first application byte (NIC, driver, TLS endpoints, handshake); after it %.1f MB/s (ratio %.3f)\n",
                s.wall_s * 1e3, s.startup_wall_s * 1e3, double(s.app_bytes_verified) / 1e6 / data_wall,
                double(s.app_bytes_verified) / data_wall / openssl_bps);
  return 0;
}

}  // namespace

int sc_main(int argc, char** argv) {
  CLI::App cli{"nicsim: cycle-level simulator of a NIC that offloads kernel TLS transmit crypto"};
  cli.require_subcommand(0, 1);
  RunFlags rf;
  add_run_flags(&cli, rf);  // `nicsim [flags]` = `nicsim run [flags]`
  auto* run = cli.add_subcommand("run", "simulate synthetic TLS connections through the NIC");
  RunFlags rf2;
  add_run_flags(run, rf2);
  auto* bench = cli.add_subcommand("bench", "simulator throughput against raw OpenSSL AES-GCM, in one process");
  std::string bench_bytes;
  bool bench_quiet = false;
  bench->add_option("--bytes", bench_bytes, "application bytes to simulate (default 64M)");
  bench->add_flag("--quiet", bench_quiet, "print only the bench lines");
  // ---- replay (app/replay.h, owned by the replay issue) ----
  app::ReplayFlags replay_flags;
  auto* replay = app::add_replay_command(cli, replay_flags);
  // ---- end replay ----
  auto* cfgcmd = cli.add_subcommand("config", "print every parameter with its unit, default and reason (JSON)");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);
    return usage_error(std::string(e.what()) + " (see nicsim --help)");
  }
  if (*run) return do_run(rf2);
  if (*bench) return do_bench(bench_bytes, bench_quiet);
  if (*replay) return app::do_replay(replay_flags);  // replay block
  if (*cfgcmd) {
    app::Config c;
    std::printf("%s\n", c.describe().dump(2).c_str());
    return 0;
  }
  return do_run(rf);
}

// Asks for transparent huge pages under the next `bytes` of the malloc heap (what glibc's
// glibc.malloc.hugetlb=1 tunable does, which a program cannot set for itself). Why: host
// memory records, frame buffers and peer batches are touched page by page as a run warms up,
// and on this kind of virtual machine a 4 KiB page fault is expensive (measured: ~20 ms of
// a 1 MiB run's ~45 ms in-run time went to first-touch faults); 2 MiB pages also cut TLB
// misses for the whole run. The block is carved from the heap (below M_MMAP_THRESHOLD) and
// freed at once: it stays as the heap's top (M_TRIM_THRESHOLD), so later allocations land in
// the advised range. Advice only: where THP is off nothing changes.
static void heap_on_huge_pages(size_t bytes) {
  void* p = std::malloc(bytes);
  if (!p) return;
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  std::free(p);
#ifdef MADV_HUGEPAGE
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#endif
}

// Our own main: SystemC's would print its banner before sc_main could silence it; the banner
// is noise in a tool whose stdout users parse.
int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  // Keep freed heap memory instead of returning it to the kernel and faulting it back in:
  // records, frames and TLS buffers churn through the same sizes all run long.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  heap_on_huge_pages(48u << 20);
  return sc_core::sc_elab_and_sim(argc, argv);
}
