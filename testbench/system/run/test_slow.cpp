// Longer runs (label slow): more data, more flows, heavier loss.
#include <catch2/catch.hpp>

#include "testbench/common/run_cmd.h"

using namespace nicsim::testbench;

TEST_CASE("32 flows, 2 % loss, TLS 1.3 AES-256: every byte decrypts", "[slow]") {
  std::string st = scratch_dir() + "/slow32.json";
  CmdResult r = run_cmd(nicsim_bin() + " run --quiet --flows 32 --bytes 2M --loss 0.02 --tls 1.3 --cipher aes256gcm --seed 17 --stats " + st);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = read_json(st);
  CHECK(j["summary"]["app_bytes_verified"] == 32ull * 2 * 1024 * 1024);
  CHECK(j["ethtool"]["tx_tls_dump_bytes"] == j["ethtool"]["model"]["tls_resync_prefix_bytes"]);
  CHECK(j["ethtool"]["tx_tls_dump_bytes"].get<uint64_t>() > 0);
}

TEST_CASE("256 MiB on one lossless flow stays near line rate", "[slow]") {
  std::string st = scratch_dir() + "/big.json";
  CmdResult r = run_cmd(nicsim_bin() + " run --quiet --bytes 256M --stats " + st);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = read_json(st);
  // 100 GbE, 1448-byte segments: TCP payload is at most 1448/1538 of the line (94.1 %).
  double g = j["summary"]["goodput_gbps"];
  CHECK(g < 100.0 * 1448 / 1538);
  CHECK(g > 80.0);
}
