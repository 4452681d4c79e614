// Bad input gets one clear line naming the flag or file, the place and the problem, a non-zero
// exit, and no output file that looks like a result.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "testbench/common/run_cmd.h"

using namespace nicsim::testbench;

namespace {
CmdResult run_nicsim(const std::string& args) { return run_cmd(nicsim_bin() + " " + args); }
size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}
}  // namespace

TEST_CASE("a flag value that makes no sense: one line, exit 2", "[cli]") {
  struct Case {
    const char* args;
    const char* must_mention;
  } cases[] = {
      {"run --tls 1.4", "--tls 1.4"},
      {"run --cipher chacha20", "--cipher chacha20"},
      {"run --loss 1.5", "--loss"},
      // Values that once passed for "flag not given": negative, and NaN (fails every comparison).
      {"run --loss -0.5", "--loss"},
      {"run --loss nan", "--loss"},
      {"run --reorder inf", "--reorder"},
      {"run --burst-loss -1", "--burst-loss"},
      {"run --flows -3", "--flows"},
      {"run --mss -1", "--mss"},
      {"run --record-size -100", "--record-size"},
      {"run --bytes lots", "--bytes lots"},
      {"run --record-size 20000", "record_size"},
      {"run --mss 9000", "mss_bytes"},
      {"run --flows 0 --bytes 1K", ""},
      {"run --payload /nonexistent/file.bin", "/nonexistent/file.bin"},
      {"run --config /nonexistent/cfg.json", "/nonexistent/cfg.json"},
      {"run --pcap /nonexistent-dir/x.pcap --bytes 1K", "/nonexistent-dir/x.pcap"},
      {"run --crypto magic", "crypto_engine"},
      {"run --no-such-flag", "--no-such-flag"},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    CmdResult r = run_nicsim(c.args);
    CHECK(r.exit_code == 2);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.rfind("nicsim: ", 0) == 0);
    CHECK(r.err.find(c.must_mention) != std::string::npos);
    CHECK(r.out.empty());
  }
}

TEST_CASE("configuration files: unknown keys, wrong types and broken JSON are named", "[cli]") {
  std::string d = scratch_dir();
  struct Case {
    const char* body;
    const char* must_mention;
  } cases[] = {
      {R"({"nic": {"clock_mhzz": 300}})", "nic: unknown parameter \"clock_mhzz\""},
      {R"({"tcp": {"mss_bytes": "big"}})", "tcp.mss_bytes: expected a number"},
      {R"({"link": {"loss": -0.5}})", "link.loss"},
      {R"({"nic": {"crypto_lanes": 2.5}})", "nic.crypto_lanes: must be a whole number"},
      {R"({"bogus": {}})", "unknown section \"bogus\""},
      {"{\n  \"nic\": {\n    \"clock_mhz\": 250,\n  }\n}", "line 4"},
      {R"({"run": {"tls": "1.1"}})", "run.tls"},
      // Values that crashed (division by a zero clock period), hung (a context DMA of 2 GiB, a
      // zero RTO re-firing at one instant), failed to allocate or overflowed the congestion
      // window before they were bounded.
      {R"({"nic": {"clock_mhz": 2147483648}})", "nic.clock_mhz"},
      {R"({"nic": {"tls_ctx_bytes": 2147483648}})", "nic.tls_ctx_bytes"},
      {R"({"nic": {"crypto_flow_slots": 2147483648}})", "nic.crypto_flow_slots"},
      {R"({"driver": {"cq_size": 2147483648}})", "driver.cq_size"},
      {R"({"driver": {"num_sqs": 2147483648}})", "driver.num_sqs"},
      {R"({"tcp": {"init_cwnd_segs": 0}})", "tcp.init_cwnd_segs"},
      {R"({"tcp": {"init_cwnd_segs": 2147483648}})", "tcp.init_cwnd_segs"},
      {R"({"tcp": {"rto_init_ms": 0}})", "tcp.rto_init_ms"},
      {R"({"tcp": {"rto_max_ms": 0}})", "tcp.rto_max_ms"},
  };
  int i = 0;
  for (const auto& c : cases) {
    std::string f = d + "/cfg" + std::to_string(i++) + ".json";
    std::ofstream(f) << c.body;
    INFO(c.body);
    CmdResult r = run_nicsim("run --bytes 1K --config " + f);
    CHECK(r.exit_code == 2);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.find(f) != std::string::npos);
    CHECK(r.err.find(c.must_mention) != std::string::npos);
  }
}

TEST_CASE("a good configuration file is applied and echoed into the stats", "[cli]") {
  std::string d = scratch_dir();
  std::string f = d + "/good.json", st = d + "/good-stats.json";
  std::ofstream(f) << R"({"nic": {"line_rate_gbps": 25}, "run": {"tls": "1.3", "bytes": 65536}, "link": {"delay_us": 50}})";
  CmdResult r = run_nicsim("run --quiet --config " + f + " --stats " + st);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = read_json(st);
  CHECK(j["config"]["nic"]["line_rate_gbps"] == 25.0);
  CHECK(j["config"]["run"]["tls"] == "1.3");
  CHECK(j["config"]["run"]["bytes"] == 65536);
  CHECK(j["config"]["link"]["delay_us"] == 50.0);
  // 25 Gb/s: goodput can't beat the line.
  CHECK(j["summary"]["goodput_gbps"].get<double>() < 25.0);
  CHECK(j["summary"]["goodput_gbps"].get<double>() > 1.0);
}

TEST_CASE("nicsim config lists every parameter with unit and reason", "[cli]") {
  CmdResult r = run_nicsim("config");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  for (const char* sec : {"run", "nic", "tcp", "link", "reverse", "driver"}) {
    INFO(sec);
    REQUIRE(j.contains(sec));
    for (auto it = j[sec].begin(); it != j[sec].end(); ++it) {
      if (!it.value().is_object()) continue;  // run.tls / run.cipher are plain values
      CHECK(it.value().contains("unit"));
      CHECK(!it.value()["reason"].get<std::string>().empty());
    }
  }
  CHECK(j["nic"]["clock_mhz"]["value"] == 250.0);
}

TEST_CASE("a failed run leaves no output file", "[cli]") {
  std::string d = scratch_dir();
  std::string pcap = d + "/fail.pcap", st = d + "/fail.json";
  // 1 ms of simulated time is not enough for 64 MiB: the run fails on its time limit.
  std::string f = d + "/short.json";
  std::ofstream(f) << R"({"run": {"max_sim_ms": 1}})";
  CmdResult r = run_nicsim("run --quiet --bytes 64M --config " + f + " --pcap " + pcap + " --stats " + st);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("time limit") != std::string::npos);
  CHECK(!file_exists(pcap));
  CHECK(!file_exists(pcap + ".part"));
  CHECK(!file_exists(st));
}

TEST_CASE("a run that hits its time limit says where each flow stood, with the peer caught up", "[cli]") {
  // Heavy loss on 4 flows: three finish within the default 60 s of simulated time, flow 0 is
  // still in RTO back-off. The message gives per flow what the application wrote and what the
  // peer verified; the count is read after the peer's thread has processed everything received
  // (read at the limit it lagged by up to a 1 MiB batch: a finished flow showed 2,080,768 of
  // 2,495,285 bytes with all its data acked).
  CmdResult r = run_nicsim("run --quiet --record-size 16384 --mss 700 --bytes 2495285 --loss 0.08 "
                           "--burst-loss 0.01 --reorder 0.05 --flows 4 --seed 221209");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  REQUIRE(lines(r.err) == 1);
  REQUIRE(r.err.find("time limit") != std::string::npos);
  int flows = 0, done = 0, stuck = 0;
  for (size_t at = r.err.find("; flow "); at != std::string::npos; at = r.err.find("; flow ", at + 1)) {
    const size_t end = std::min(r.err.find("; flow ", at + 1), r.err.size());
    const std::string part = r.err.substr(at, end - at);
    unsigned id = 0;
    unsigned long long wrote = 0, total = 0, verified = 0;
    REQUIRE(std::sscanf(part.c_str(), "; flow %u: application wrote %llu/%llu bytes, peer verified %llu", &id, &wrote,
                        &total, &verified) == 4);
    flows++;
    CHECK(verified <= wrote);
    const bool closed = part.find("close_notify seen") != std::string::npos;
    const bool all_acked = part.find("host data acked") != std::string::npos &&
                           part.find("no FIN") == std::string::npos;
    // Everything acked and both FINs seen: the peer has every byte, and has checked it.
    if (all_acked) CHECK(verified == wrote);
    if (closed) CHECK(verified == total);
    done += closed;
    stuck += !all_acked;
  }
  CHECK(flows == 4);
  CHECK(done == 3);
  CHECK(stuck == 1);
}

TEST_CASE("statistics into a FIFO and a key log through a symbolic link: written in place, nodes kept", "[cli]") {
  // Outputs go through "<path>.part" and a rename; onto a device or pipe that rename replaced
  // the node with a regular file (as root, `--pcap /dev/full` turned /dev/full into one).
  std::string d = scratch_dir();
  const std::string fifo = d + "/stats.fifo", real = d + "/real.keys", link = d + "/link.keys";
  std::remove(fifo.c_str());
  std::remove(real.c_str());
  std::remove(link.c_str());
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::ofstream(real) << "old";
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  // Read end open (non-blocking) first; the statistics (~8 KB) fit the pipe's buffer.
  const int rd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(rd >= 0);
  CmdResult r = run_nicsim("run --quiet --bytes 1K --stats " + fifo + " --keylog " + link);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(rd, buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  ::close(rd);
  struct stat st {};
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(nlohmann::json::parse(got, nullptr, false).contains("summary"));
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(read_file(real).find("CLIENT_RANDOM") != std::string::npos);  // TLS 1.2 key log lines
  CHECK(!file_exists(fifo + ".part"));
  CHECK(!file_exists(link + ".part"));
}

TEST_CASE("nicsim bench prints both rates, their ratio and the start-up share of the wall time", "[cli]") {
  CmdResult r = run_nicsim("bench --bytes 4M --quiet");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  double openssl_mbs = 0, before = 0, after = 0, sim_mbs = 0, ratio = 0;
  double wall = 0, startup = 0, data_mbs = 0, data_ratio = 0;
  std::istringstream in(r.out);
  std::string line;
  int seen = 0;
  while (std::getline(in, line)) {
    if (std::sscanf(line.c_str(), "bench: openssl aes-128-gcm 16 KiB records: %lf MB/s (mean of %lf before and %lf after",
                    &openssl_mbs, &before, &after) == 3)
      seen |= 1;
    if (std::sscanf(line.c_str(), "bench: simulator (1 flow, 16 KiB records, MSS 1448, lossless): %lf MB/s", &sim_mbs) == 1)
      seen |= 2;
    if (std::sscanf(line.c_str(), "bench: ratio simulator/openssl = %lf", &ratio) == 1) seen |= 4;
    if (std::sscanf(line.c_str(), "bench: of the %lf ms wall, %lf ms is start-up before the first application byte (NIC, driver, TLS endpoints, handshake); after it %lf MB/s (ratio %lf)",
                    &wall, &startup, &data_mbs, &data_ratio) == 4)
      seen |= 8;
  }
  REQUIRE(seen == 15);
  CHECK(openssl_mbs > 0);
  CHECK(openssl_mbs == Approx((before + after) / 2).epsilon(0.001));
  CHECK(sim_mbs > 0);
  CHECK(ratio == Approx(sim_mbs / openssl_mbs).margin(0.0006));  // printed with 3 decimals
  // The start-up is part of the wall time, and the rate after it is the same bytes over less time.
  CHECK(startup > 0);
  CHECK(startup < wall);
  CHECK(data_mbs > sim_mbs);
  CHECK(data_mbs == Approx(sim_mbs * wall / (wall - startup)).epsilon(0.01));
  CHECK(data_ratio == Approx(data_mbs / openssl_mbs).margin(0.0006));
  // A size that makes no sense: one line, exit 2.
  CmdResult bad = run_nicsim("bench --bytes lots");
  CHECK(bad.exit_code == 2);
  CHECK(lines(bad.err) == 1);
}
