// Issue 4 acceptance: whole `nicsim run`s with the co-simulated RTL engine (`--crypto rtl`) write
// the same capture as with the behavioural engine: the same frames, byte for byte, in the same
// order, and timestamps that differ at most by the engines' timing tolerance.
//
// The bound on timestamps: the behavioural engine reproduces the RTL's cycles per record piece
// within ±2 (test_cosim_engine checks it; on its stimuli the difference is 0). A frame's
// departure depends on the aes_gcm stage's latency for its WQE, which holds at most two record
// pieces with 16 KiB records (the end of one record, the start of the next): 2 × 2 cycles of
// 4 ns at 250 MHz = 16 ns. A larger difference, or any byte that differs, means the engines
// disagree (and TCP would then also diverge: different ACK times, different frames).
// Both runs also pass the peer's own check (its OpenSSL decrypts every record).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "host/trace/capture.h"
#include "testbench/common/run_cmd.h"

using namespace nicsim::testbench;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxSkewNs = 16;

struct Capture {
  std::vector<nicsim::host::trace::CaptureFrame> frames;
};

Capture read_capture(const std::string& path) {
  Capture c;
  nicsim::host::trace::CaptureReader r;
  REQUIRE(r.open(path));
  nicsim::host::trace::CaptureFrame f;
  while (r.next(&f)) c.frames.push_back(f);
  INFO(r.error());
  REQUIRE(r.error().empty());
  return c;
}

struct Run {
  CmdResult r;
  json stats;
  Capture cap;
};

// The configuration that matches the verilated engine (a -DNICSIM_RTL_LANES/FLOWS build other
// than 4/16), merged with a scenario's own settings; both engines run with it.
std::string engine_config(const std::string& tag, const json& extra = json::object()) {
  json j = extra;
  j["nic"]["crypto_lanes"] = NICSIM_RTL_LANES;
  j["nic"]["crypto_flow_slots"] = NICSIM_RTL_FLOWS;
  const std::string path = scratch_dir() + "/" + tag + "-engine.json";
  std::ofstream(path) << j.dump();
  return path;
}

Run run(std::string args, const std::string& engine, const std::string& tag) {
  Run x;
  const std::string base = scratch_dir() + "/" + tag + "-" + engine;
  if (args.find("--config") == std::string::npos) args += " --config " + engine_config(tag);
  x.r = run_cmd(nicsim_bin() + " run --quiet " + args + " --crypto " + engine + " --pcap " + base + ".pcap --stats " +
                base + ".json");
  INFO(nicsim_bin() << " run " << args << " --crypto " << engine << "\n" << x.r.out << x.r.err);
  REQUIRE(x.r.exit_code == 0);
  x.stats = read_json(base + ".json");
  REQUIRE(x.stats["result"]["ok"].get<bool>());
  CHECK(x.stats["summary"]["app_bytes_verified"] == x.stats["summary"]["app_bytes"]);
  CHECK(x.stats["nic"]["aes_gcm"]["engine"] == (engine == "rtl" ? "rtl" : "behavioural"));
  CHECK(x.stats["nic"]["aes_gcm"]["errors"] == 0);
  x.cap = read_capture(base + ".pcap");
  return x;
}

void compare(const std::string& args, const std::string& tag, bool expect_resync) {
  const Run b = run(args, "behavioural", tag);
  const Run r = run(args, "rtl", tag);
  INFO(args);
  REQUIRE(b.cap.frames.size() > 100);
  REQUIRE(r.cap.frames.size() == b.cap.frames.size());
  size_t bad_bytes = 0, skewed = 0;
  uint64_t max_skew = 0;
  for (size_t i = 0; i < b.cap.frames.size(); ++i) {
    const auto& fb = b.cap.frames[i];
    const auto& fr = r.cap.frames[i];
    if (fr.bytes != fb.bytes || fr.orig_len != fb.orig_len) {
      if (bad_bytes++ == 0) {
        INFO("first differing frame " << fb.index << " (" << fb.bytes.size() << " / " << fr.bytes.size() << " bytes)");
        CHECK(fr.bytes == fb.bytes);
      }
    }
    const uint64_t skew = fr.t_ns > fb.t_ns ? fr.t_ns - fb.t_ns : fb.t_ns - fr.t_ns;
    max_skew = std::max(max_skew, skew);
    if (skew > kMaxSkewNs) skewed++;
  }
  std::printf("%s: %zu frames, %zu differ in bytes, max timestamp difference %llu ns; %s\n", args.c_str(),
              b.cap.frames.size(), bad_bytes, (unsigned long long)max_skew,
              r.stats["ethtool"]["model"]["tls_resyncs"].dump().c_str());
  CHECK(bad_bytes == 0);
  CHECK(skewed == 0);
  CHECK(max_skew <= kMaxSkewNs);
  // The engines saw the same work.
  for (const char* k : {"tls_pkts", "tls_bytes", "dump_pkts", "dump_bytes", "records_completed"})
    CHECK(r.stats["nic"]["aes_gcm"][k] == b.stats["nic"]["aes_gcm"][k]);
  if (expect_resync) CHECK(r.stats["nic"]["aes_gcm"]["dump_bytes"].get<uint64_t>() > 0);
}

}  // namespace

// The scenarios of testbench/system/run/test_run.cpp (each well under a minute), with the same
// arguments, so "the system runs" and "the system runs on the RTL" are the same runs.
TEST_CASE("cosim system: lossless TLS 1.2/1.3 x AES-128/256: rtl capture = behavioural capture", "[rtl]") {
  for (const char* tls : {"1.2", "1.3"})
    for (const char* c : {"aes128gcm", "aes256gcm"})
      compare(std::string("--bytes 3M --tls ") + tls + " --cipher " + c + " --seed 11",
              std::string("lossless") + tls + c, false);
}

// The lossy runs of test_run.cpp: 2 ciphers x 2 loss rates x 2 seeds per TLS version.
void lossy(const char* tls) {
  for (const char* c : {"aes128gcm", "aes256gcm"})
    for (const char* loss : {"0.005", "0.02"})
      for (const char* seed : {"1", "2"})
        compare(std::string("--bytes 2M --tls ") + tls + " --cipher " + c + " --loss " + loss + " --seed " + seed,
                std::string("lossy") + tls + c + loss + seed, std::string(loss) == "0.02");
}

TEST_CASE("cosim system: lossy TLS 1.2 x AES-128/256: rtl capture = behavioural capture", "[rtl]") { lossy("1.2"); }

TEST_CASE("cosim system: lossy TLS 1.3 x AES-128/256: rtl capture = behavioural capture", "[rtl]") { lossy("1.3"); }

TEST_CASE("cosim system: 4 flows + burst loss + reordering + other record sizes and MSS + device down", "[rtl]") {
  compare("--bytes 1M --flows 4 --loss 0.01 --seed 5", "flows4", true);
  compare("--bytes 1M --burst-loss 0.005 --seed 3", "burst", false);
  compare("--bytes 1M --reorder 0.01 --seed 4", "reorder", false);
  compare("--record-size 64 --bytes 200K", "rs64", false);
  compare("--record-size 1000 --mss 536 --bytes 500K --loss 0.01", "rs1000", true);
  compare("--record-size 4096 --tls 1.3 --bytes 1M --loss 0.01 --seed 9", "rs4096", true);
  const std::string cfg = engine_config("down", json::parse(R"({"run": {"device_down_after_bytes": 1048576}})"));
  compare("--bytes 2M --loss 0.01 --seed 3 --config " + cfg, "down", false);
}

TEST_CASE("cosim replay: the committed captures replay to the same frames through the RTL engine", "[rtl]") {
  const std::string dir = std::string(NICSIM_TRACES_DIR) + "/captures/";
  for (const char* t : {"tls12-aes128gcm-lossless", "tls12-aes256gcm-loss2.5", "tls13-aes128gcm-loss2.5",
                        "tls13-aes256gcm-lossless"}) {
    INFO(t);
    std::vector<Capture> caps;
    std::vector<json> stats;
    for (const char* engine : {"behavioural", "rtl"}) {
      const std::string out = scratch_dir() + "/replay-" + t + "-" + engine + ".pcapng";
      const std::string st = scratch_dir() + "/replay-" + t + "-" + engine + ".json";
      CmdResult r = run_cmd(nicsim_bin() + " replay --quiet --pcap " + dir + t + ".pcapng --keylog " + dir + t +
                            ".keys --out " + out + " --stats " + st + " --crypto " + engine + " --config " +
                            engine_config("replay"));
      INFO(engine << ": " << r.out << r.err);
      REQUIRE(r.exit_code == 0);
      caps.push_back(read_capture(out));
      stats.push_back(read_json(st));
    }
    REQUIRE(caps[0].frames.size() > 20);
    REQUIRE(caps[1].frames.size() == caps[0].frames.size());
    size_t bad = 0;
    uint64_t max_skew = 0;
    for (size_t i = 0; i < caps[0].frames.size(); ++i) {
      const auto& a = caps[0].frames[i];
      const auto& b = caps[1].frames[i];
      bad += a.bytes != b.bytes;
      max_skew = std::max(max_skew, a.t_ns > b.t_ns ? a.t_ns - b.t_ns : b.t_ns - a.t_ns);
    }
    std::printf("replay %s: %zu frames, %zu differ in bytes, max timestamp difference %llu ns\n", t,
                caps[0].frames.size(), bad, (unsigned long long)max_skew);
    CHECK(bad == 0);
    CHECK(max_skew <= kMaxSkewNs);
    CHECK(stats[1]["nic"]["aes_gcm"]["engine"] == "rtl");
    CHECK(stats[1]["nic"]["aes_gcm"]["records_completed"] == stats[0]["nic"]["aes_gcm"]["records_completed"]);
    CHECK(stats[1]["nic"]["aes_gcm"]["records_completed"].get<uint64_t>() > 0);
  }
}

TEST_CASE("cosim system: --wave writes an FST of the chosen engine window - bad uses are refused", "[rtl]") {
  const std::string wave = scratch_dir() + "/run.fst";
  const std::string cfg = " --config " + engine_config("wave");
  CmdResult r = run_cmd(nicsim_bin() + " run --quiet --bytes 64K --crypto rtl --wave " + wave +
                        " --wave-window 1000:3000" + cfg);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string f = read_file(wave);
  REQUIRE(f.size() > 100);
  CHECK(f[0] == 0);  // FST block type 0: the header block
  // Refused cleanly, with the flag named: a waveform without the RTL engine, a bad window.
  r = run_cmd(nicsim_bin() + " run --quiet --bytes 64K --wave " + wave);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--crypto rtl") != std::string::npos);
  r = run_cmd(nicsim_bin() + " run --quiet --bytes 64K --crypto rtl --wave " + wave + " --wave-window 5:5" + cfg);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--wave-window") != std::string::npos);
  r = run_cmd(nicsim_bin() + " run --quiet --bytes 64K --crypto rtl --wave /nonexistent-dir/x.fst" + cfg);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("/nonexistent-dir/x.fst") != std::string::npos);
  // The writer replaces its file when it closes: onto a FIFO (or a device: as root,
  // --wave /dev/null turned /dev/null into a regular file) it is refused up front, the node
  // untouched; through a symbolic link it writes the file the link points to, the link stays.
  const std::string fifo = scratch_dir() + "/wave.fifo", real = scratch_dir() + "/real.fst",
                    link = scratch_dir() + "/link.fst";
  std::remove(fifo.c_str());
  std::remove(link.c_str());
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  r = run_cmd(nicsim_bin() + " run --quiet --bytes 64K --crypto rtl --wave " + fifo + cfg);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(fifo + ": not a regular file") != std::string::npos);
  struct stat st {};
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  std::ofstream(real) << "old";
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  r = run_cmd(nicsim_bin() + " run --quiet --bytes 64K --crypto rtl --wave " + link + " --wave-window 0:2000" + cfg);
  CHECK(r.exit_code == 0);
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  const std::string g = read_file(real);
  CHECK(g.size() > 100);
  CHECK((!g.empty() && g[0] == 0));
}

TEST_CASE("cosim system: more connections with records in flight than engine slots fail with one clear line",
          "[rtl]") {
  // 40 connections sending at once keep more than 16 records in flight: the verilated engine
  // (FLOWS=16) cannot hold them and the run says so instead of producing a wrong capture.
  // (2.5 x FLOWS connections: 40 with the default 16.)
  CmdResult r = run_cmd(nicsim_bin() + " run --quiet --flows " + std::to_string(NICSIM_RTL_FLOWS * 5 / 2) +
                        " --bytes 256K --crypto rtl --config " + engine_config("flows40"));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("FLOWS=") != std::string::npos);
  CHECK(r.err.find("records in flight") != std::string::npos);
}
