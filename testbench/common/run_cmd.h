// Running the nicsim binary (and tshark) from system tests: the real command line, exit code,
// stdout and stderr, and the stats JSON it wrote.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace nicsim::testbench {

struct CmdResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline bool file_exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

// A fresh scratch folder per test process.
inline std::string scratch_dir() {
  static std::string d;
  if (d.empty()) {
    char tmpl[] = "/tmp/nicsim-test-XXXXXX";
    d = ::mkdtemp(tmpl);
  }
  return d;
}

// Runs `cmd` through /bin/sh; stdout and stderr captured via files.
inline CmdResult run_cmd(const std::string& cmd) {
  static int n = 0;
  std::string base = scratch_dir() + "/cmd" + std::to_string(++n);
  std::string full = cmd + " >" + base + ".out 2>" + base + ".err";
  int rc = std::system(full.c_str());
  CmdResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_file(base + ".out");
  r.err = read_file(base + ".err");
  return r;
}

inline std::string nicsim_bin() { return std::string(NICSIM_BIN_DIR) + "/nicsim"; }

inline nlohmann::json read_json(const std::string& p) {
  return nlohmann::json::parse(read_file(p), nullptr, false);
}

inline bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

// tshark options for following decrypted TLS: the HTTP dissector off. tshark hands the data
// of TLS on port 443 to its HTTP dissector, which calls binary application data malformed, and
// then "follow,tls" shows only part of the stream, or none of it: with 100-byte records and
// random payloads, ~80 % of captures (tshark 4.0; the same captures follow completely with
// HTTP off). It changes nothing in the TLS layer, which is what the tests check.
inline const char* kTsharkTlsOptions = " --disable-protocol http";

// Decrypted TLS application data that the endpoint with TCP port `server_port` sent in TCP
// stream `stream`, as tshark's "follow,tls,raw" shows it (node 0's lines start at column 0,
// node 1's with a tab; which node is which depends on who spoke first).
inline bool tshark_follow_tls(const std::string& pcap, const std::string& keylog, int stream,
                              std::string* server_to_client, int server_port = 443) {
  CmdResult r = run_cmd("tshark -r '" + pcap + "' -o tls.keylog_file:'" + keylog + "'" + kTsharkTlsOptions +
                        " -q -z follow,tls,raw," + std::to_string(stream));
  if (r.exit_code != 0) return false;
  std::istringstream in(r.out);
  std::string line, hex;
  bool body = false, server_is_node0 = false;
  const std::string port = ":" + std::to_string(server_port);
  while (std::getline(in, line)) {
    if (line.rfind("Node 0:", 0) == 0) {
      server_is_node0 = line.size() >= port.size() && line.compare(line.size() - port.size(), port.size(), port) == 0;
      continue;
    }
    if (line.rfind("Node 1:", 0) == 0) { body = true; continue; }
    if (!body || line.empty() || line[0] == '=') continue;
    bool node1 = line[0] == '\t';
    if (node1 == server_is_node0) continue;  // the other direction
    hex += line.substr(node1 ? 1 : 0);
  }
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
  *server_to_client = bytes;
  return true;
}

}  // namespace nicsim::testbench
