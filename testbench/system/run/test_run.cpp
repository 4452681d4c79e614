// System tests: whole runs through kernel-offload emulator, TCP, driver, NIC model and link,
// with the peer's OpenSSL as the oracle (a wrong byte or a bad tag fails the run) and counters
// cross-checked between layers that count independently.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "testbench/common/run_cmd.h"

using namespace nicsim::testbench;
using nlohmann::json;

namespace {

struct Run {
  CmdResult r;
  json stats;
};

Run run_nicsim(const std::string& args, const std::string& tag) {
  Run x;
  std::string stats = scratch_dir() + "/" + tag + ".json";
  x.r = run_cmd(nicsim_bin() + " run --quiet " + args + " --stats " + stats);
  if (file_exists(stats)) x.stats = read_json(stats);
  return x;
}

uint64_t u(const json& j, const char* a, const char* b) { return j.at(a).at(b).get<uint64_t>(); }

// What must hold for every successful run.
void check_invariants(const Run& x, uint32_t flows) {
  INFO(x.r.err);
  REQUIRE(x.r.exit_code == 0);
  const json& s = x.stats;
  REQUIRE(s.is_object());
  CHECK(s["result"]["ok"].get<bool>());
  CHECK(u(s, "summary", "app_bytes_verified") == u(s, "summary", "app_bytes"));
  CHECK(u(s, "summary", "peer_bad_checksums") == 0);
  const json& e = s["ethtool"];
  // DUMP bytes counted by the driver at completion = the record prefixes it posted = the bytes
  // the NIC's engine consumed in DUMP mode.
  CHECK(e["tx_tls_dump_bytes"] == e["model"]["tls_resync_prefix_bytes"]);
  CHECK(e["tx_tls_dump_bytes"] == s["nic"]["aes_gcm"]["dump_bytes"]);
  CHECK(e["tx_tls_dump_packets"] == s["nic"]["aes_gcm"]["dump_pkts"]);
  CHECK(e["tx_tls_ctx"].get<uint64_t>() == flows);
  CHECK(e["tx_tls_drop_no_sync_data"].get<uint64_t>() + e["tx_tls_skip_no_sync_data"].get<uint64_t>() +
            e["model"]["tls_resyncs"].get<uint64_t>() ==
        e["tx_tls_ooo"].get<uint64_t>());
  CHECK(e["tx_tls_resync_bytes"] == 0);  // ConnectX kTLS never increments it
  CHECK(s["tls_stat"]["TlsTxDevice"].get<uint64_t>() == flows);
  CHECK(s["tls_stat"]["TlsTxSw"].get<uint64_t>() == 0);
  CHECK(s["nic"]["completions"]["cqe_errors"] == 0);
  CHECK(s["nic"]["aes_gcm"]["errors"] == 0);
  // Every encrypted byte the driver handed to the NIC went through the engine.
  CHECK(s["nic"]["aes_gcm"]["tls_bytes"] == e["tx_tls_encrypted_bytes"]);
  // Records: every application byte in records of record_size, plus one close_notify each.
  uint64_t records = 0;
  for (const auto& f : s["flows"]) records += f["ktls"]["records_pushed"].get<uint64_t>();
  CHECK(records == u(s, "summary", "records"));
  CHECK(u(s, "host_memory", "bytes_live_at_end") < 8u << 20);  // no record leaked past its ACK
}

}  // namespace

TEST_CASE("lossless runs: TLS 1.2/1.3 x AES-128/256 decrypt exactly, no resync", "[system]") {
  for (const char* tls : {"1.2", "1.3"}) {
    for (const char* c : {"aes128gcm", "aes256gcm"}) {
      std::string tag = std::string("lossless-") + tls + c;
      Run x = run_nicsim(std::string("--bytes 3M --tls ") + tls + " --cipher " + c + " --seed 11", tag);
      check_invariants(x, 1);
      const json& e = x.stats["ethtool"];
      CHECK(e["tx_tls_dump_bytes"] == 0);
      CHECK(e["model"]["tls_resyncs"] == 0);
      // No loss: the only out-of-order packet possible is a pre-offload handshake byte sent after
      // offload was installed (skipped, sent as is).
      CHECK(e["tx_tls_ooo"] == e["tx_tls_skip_no_sync_data"]);
      CHECK(x.stats["flows"][0]["ktls"]["records_pushed"] == (3u * 1024 * 1024 + 16383) / 16384 + 1);
      CHECK(x.stats["flows"][0]["tcp_host"]["retrans_segs"] == 0);
    }
  }
}

TEST_CASE("lossy runs: retransmissions cost resyncs whose DUMP bytes add up", "[system]") {
  int runs_with_resync = 0;
  for (const char* tls : {"1.2", "1.3"}) {
    for (const char* c : {"aes128gcm", "aes256gcm"}) {
      for (double loss : {0.005, 0.02}) {
        for (int seed : {1, 2}) {
          std::string args = std::string("--bytes 2M --tls ") + tls + " --cipher " + c + " --loss " +
                             std::to_string(loss) + " --seed " + std::to_string(seed);
          INFO(args);
          Run x = run_nicsim(args, "lossy" + std::to_string(runs_with_resync) + tls + c + std::to_string(seed) + std::to_string(loss));
          check_invariants(x, 1);
          const json& f = x.stats["flows"][0];
          uint64_t retrans = f["tcp_host"]["retrans_segs"];
          uint64_t dropped = x.stats["link"]["forward"]["frames_dropped"];
          if (dropped > 0) {
            // A lost data frame is retransmitted, and a retransmission is out of order at the
            // driver: it costs a resync unless it starts a record exactly.
            CHECK(retrans > 0);
            CHECK(x.stats["ethtool"]["tx_tls_ooo"].get<uint64_t>() > 0);
          }
          if (x.stats["ethtool"]["tx_tls_dump_bytes"].get<uint64_t>() > 0) runs_with_resync++;
        }
      }
    }
  }
  CHECK(runs_with_resync >= 12);  // 16 lossy runs of 2 MiB: nearly all resync at least once
}

TEST_CASE("several flows, burst loss and reordering", "[system]") {
  Run x = run_nicsim("--bytes 1M --flows 4 --loss 0.01 --seed 5", "flows4");
  check_invariants(x, 4);
  REQUIRE(x.stats["flows"].size() == 4);
  for (const auto& f : x.stats["flows"]) CHECK(f["app_bytes_verified"] == 1048576);
  Run b = run_nicsim("--bytes 1M --burst-loss 0.005 --seed 3", "burst");
  check_invariants(b, 1);
  Run r = run_nicsim("--bytes 1M --reorder 0.01 --seed 4", "reorder");
  check_invariants(r, 1);
  CHECK(r.stats["link"]["forward"]["frames_reordered"].get<uint64_t>() > 0);
}

TEST_CASE("record sizes and MSS other than the defaults", "[system]") {
  for (const char* a : {"--record-size 64 --bytes 200K", "--record-size 1000 --mss 536 --bytes 500K --loss 0.01",
                        "--record-size 4096 --tls 1.3 --bytes 1M --loss 0.01 --seed 9"}) {
    INFO(a);
    Run x = run_nicsim(a, "rs" + std::to_string(std::hash<std::string>()(a)));
    check_invariants(x, 1);
  }
}

namespace {
// A payload file of n xorshift64 bytes from x: bytes nobody here generates on the fly.
std::string xorshift_payload(const std::string& name, uint64_t x, int n) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream p(path, std::ios::binary);
  for (int i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    p.put(char(x));
  }
  return path;
}
// Runs nicsim with the payload and each variant's flags, writing capture and key log, and
// requires tshark's decryption of the server's stream to be the payload, byte for byte.
void check_tshark_follows(const std::string& payload, std::initializer_list<const char*> variants,
                          const std::string& prefix) {
  const std::string want = read_file(payload);
  for (const char* v : variants) {
    INFO(v);
    std::string tag = std::to_string(std::hash<std::string>()(v));
    std::string pcap = scratch_dir() + "/" + prefix + tag + ".pcapng", keys = scratch_dir() + "/" + prefix + tag + ".keys";
    CmdResult r = run_cmd(nicsim_bin() + " run --quiet --payload " + payload + " " + v + " --pcap " + pcap +
                          " --keylog " + keys);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::string got;
    REQUIRE(tshark_follow_tls(pcap, keys, 0, &got));
    CHECK(got.size() == want.size());
    // First differing offset (not the bytes themselves: binary in a failure message is noise).
    size_t diff = 0;
    while (diff < got.size() && diff < want.size() && got[diff] == want[diff]) diff++;
    CHECK(diff == want.size());
  }
}
}  // namespace

TEST_CASE("tshark decrypts the written capture with the written key log", "[system]") {
  if (!have_tshark()) {
    WARN("tshark not installed: scripts/test installs it; skipping");
    return;
  }
  check_tshark_follows(xorshift_payload("payload.bin", 0x1234567, 400000),
                       {"--tls 1.2 --cipher aes128gcm", "--tls 1.3 --cipher aes256gcm --loss 0.01",
                        "--tls 1.2 --cipher aes256gcm --loss 0.01"},
                       "t");
}

TEST_CASE("tshark follows small-record streams of binary data completely", "[system]") {
  // Records of 64 and 100 bytes put several records in a segment and split others; with binary
  // application data tshark's HTTP dissector (port 443) used to cut the decrypted stream short
  // (this payload and the first variant: 2,800 of 4,000 bytes), hence kTsharkTlsOptions.
  if (!have_tshark()) {
    WARN("tshark not installed: scripts/test installs it; skipping");
    return;
  }
  check_tshark_follows(xorshift_payload("small_records.bin", 0x1234568, 4000),
                       {"--tls 1.3 --record-size 100", "--tls 1.2 --cipher aes256gcm --record-size 64 --loss 0.02 --seed 5",
                        "--tls 1.3 --cipher aes256gcm --record-size 100 --mss 700 --reorder 0.05 --seed 9"},
                       "sr");
}

TEST_CASE("same seed gives the same capture and stats and another seed another capture", "[system]") {
  auto once = [](const std::string& tag, int seed) {
    std::string pcap = scratch_dir() + "/d" + tag + ".pcap", st = scratch_dir() + "/d" + tag + ".json";
    CmdResult r = run_cmd(nicsim_bin() + " run --quiet --bytes 1M --loss 0.01 --seed " + std::to_string(seed) +
                          " --pcap " + pcap + " --stats " + st);
    REQUIRE(r.exit_code == 0);
    json j = read_json(st);
    j.erase("wall");
    return std::make_pair(read_file(pcap), j.dump());
  };
  auto a = once("a", 21), b = once("b", 21), c = once("c", 22);
  CHECK(a.first.size() > 100000);
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  CHECK(a.first != c.first);
}

TEST_CASE("device down: the software fallback encrypts what the NIC no longer does", "[system]") {
  std::string cfg = scratch_dir() + "/down.json";
  std::ofstream(cfg) << R"({"run": {"device_down_after_bytes": 1048576}})";
  Run x = run_nicsim("--bytes 2M --loss 0.01 --seed 3 --config " + cfg, "down");
  INFO(x.r.err);
  REQUIRE(x.r.exit_code == 0);
  CHECK(x.stats["summary"]["app_bytes_verified"] == 2u << 20);
  CHECK(x.stats["flows"][0]["ktls"]["fallback_skbs"].get<uint64_t>() > 0);
  CHECK(x.stats["flows"][0]["ktls"]["fallback_bytes"].get<uint64_t>() >= 1u << 20);
}

TEST_CASE("a wrong TCP checksum from the NIC fails the run, in the handshake and in the data phase", "[system]") {
  // Fault injection (nic.fault_bad_csum_frame): tx_checksum flips one bit of the N-th frame's
  // TCP checksum. Frame 2 is part of the handshake (checked before the peer's TCP takes it),
  // frame 300 carries application data (checked on the peer's worker thread). Either way the
  // run must fail with the reason, and write no stats.
  for (uint64_t frame : {uint64_t(2), uint64_t(300)}) {
    INFO("bad checksum in frame " << frame);
    std::string cfg = scratch_dir() + "/badcsum" + std::to_string(frame) + ".json";
    std::ofstream(cfg) << R"({"nic": {"fault_bad_csum_frame": )" << frame << "}}";
    std::string stats = scratch_dir() + "/badcsum" + std::to_string(frame) + "_stats.json";
    std::remove(stats.c_str());
    CmdResult r = run_cmd(nicsim_bin() + " run --quiet --bytes 1M --seed 5 --config " + cfg + " --stats " + stats);
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("bad IP or TCP checksum") != std::string::npos);
    CHECK_FALSE(file_exists(stats));
  }
  // The same runs without the fault pass (the flag, not the seed, made them fail).
  Run ok = run_nicsim("--bytes 1M --seed 5", "badcsum_none");
  INFO(ok.r.err);
  CHECK(ok.r.exit_code == 0);
  CHECK(u(ok.stats, "summary", "peer_bad_checksums") == 0);
}
