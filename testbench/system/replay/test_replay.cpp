// `nicsim replay` end to end: committed real captures, nicsim's own synthetic captures, the
// illustrated-tls13 loopback capture, the same traffic re-framed (Linux cooked SLL/SLL2, IPv6,
// frames merged beyond the MSS), 1,000 concurrent connections, and each kind of bad input.
// Oracles: the input capture itself (every replayed byte and header field is checked against
// it by replay_check), tshark decrypting input and output with the same key log, and the
// driver's out-of-order count recomputed from the capture's own sequence numbers.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "host/trace/capture.h"
#include "host/trace/packet.h"
#include "host/trace/tls_keys.h"
#include "model/crypto/tls_record.h"
#include "replay_check.h"
#include "testbench/common/run_cmd.h"

using namespace nicsim::testbench;
using nicsim::host::trace::CaptureFrame;
using nicsim::host::trace::CaptureWriter;
using nicsim::host::trace::LinkType;
using nicsim::host::trace::ParsedFrame;
using nlohmann::json;
namespace trace = nicsim::host::trace;

namespace {

const std::string kTraces = NICSIM_TRACES_DIR;

struct Replay {
  CmdResult r;
  json stats;
  std::string out;
};

Replay replay(const std::string& pcap, const std::string& keys, const std::string& tag, const std::string& extra = "",
              const std::string& ext = ".pcapng") {
  Replay x;
  x.out = scratch_dir() + "/" + tag + ".out" + ext;
  std::string st = scratch_dir() + "/" + tag + ".json";
  x.r = run_cmd(nicsim_bin() + " replay --quiet --pcap '" + pcap + "' --keylog '" + keys + "' --out '" + x.out +
                "' --stats '" + st + "' " + extra);
  if (file_exists(st)) x.stats = read_json(st);
  return x;
}

uint64_t u(const json& j) { return j.get<uint64_t>(); }

// tshark's decryption of TLS stream `stream`, both directions, as text.
std::string tshark_follow(const std::string& pcap, const std::string& keys, int stream) {
  CmdResult r = run_cmd("tshark -r '" + pcap + "' -o tls.keylog_file:'" + keys + "'" + kTsharkTlsOptions +
                        " -q -z follow,tls,raw," + std::to_string(stream));
  return r.exit_code == 0 ? r.out : "";
}
// Hex digits of decrypted data in a follow,tls,raw output (lines after the Node lines).
size_t follow_bytes(const std::string& s) {
  std::istringstream in(s);
  std::string line;
  size_t n = 0;
  bool body = false;
  while (std::getline(in, line)) {
    if (line.rfind("Node 1:", 0) == 0) {
      body = true;
      continue;
    }
    if (body && !line.empty() && line[0] != '=') n += (line.size() - (line[0] == '\t')) / 2;
  }
  return n;
}

// Everything a good replay must satisfy; returns the check for more specific assertions.
ReplayCheck check_good(const Replay& x, const std::string& in, const std::string& keys, const std::string& host,
                       uint16_t host_port, int tshark_streams) {
  INFO(x.r.err);
  REQUIRE(x.r.exit_code == 0);
  REQUIRE(x.stats.is_object());
  ReplayCheck c = check_replay(in, x.out, host, host_port);
  INFO(c.error);
  CHECK(c.error.empty());
  CHECK(c.payload_bytes_checked > 0);
  const json& s = x.stats;
  CHECK(u(s["summary"]["frames_in"]) == c.frames_in);
  CHECK(u(s["summary"]["frames_out"]) == c.frames_out);
  CHECK(u(s["summary"]["nic_frames_unmatched"]) == 0);
  CHECK(u(s["summary"]["nic_frames_missing"]) == 0);
  CHECK(u(s["nic"]["completions"]["cqe_errors"]) == 0);
  CHECK(u(s["nic"]["aes_gcm"]["errors"]) == 0);
  const json& e = s["ethtool"];
  CHECK(u(e["tx_tls_drop_no_sync_data"]) == 0);
  CHECK(e["tx_tls_dump_bytes"] == e["model"]["tls_resync_prefix_bytes"]);
  CHECK(e["tx_tls_dump_bytes"] == s["nic"]["aes_gcm"]["dump_bytes"]);
  CHECK(s["nic"]["aes_gcm"]["tls_bytes"] == e["tx_tls_encrypted_bytes"]);
  // The driver's out-of-order count is what the capture's own sequence numbers imply.
  uint64_t want_ooo = 0;
  for (const auto& conn : s["connections"]) {
    if (!conn.contains("offload_start_seq")) continue;
    std::string key = conn["host"].get<std::string>();
    key = key.substr(key.rfind(':') + 1) + " " + conn["peer"].get<std::string>();
    uint64_t w = expected_ooo(c.data_frames[key], conn["offload_start_seq"].get<uint32_t>());
    INFO(key);
    CHECK(u(conn["ethtool"]["tx_tls_ooo"]) == w);
    want_ooo += w;
  }
  CHECK(u(e["tx_tls_ooo"]) == want_ooo);
  if (have_tshark()) {
    for (int i = 0; i < tshark_streams; i++) {
      std::string a = tshark_follow(in, keys, i), b = tshark_follow(x.out, keys, i);
      INFO("tshark stream " << i);
      CHECK(follow_bytes(a) > 0);
      CHECK(a == b);
    }
  } else {
    WARN("tshark not installed: decryption comparison skipped");
  }
  return c;
}

// Rewrites a capture frame by frame (f returns false to drop a frame).
template <class F>
void rewrite(const std::string& in, const std::string& out, LinkType out_lt, F f) {
  LinkType lt;
  std::string err;
  auto frames = read_capture(in, &lt, &err);
  REQUIRE(err.empty());
  CaptureWriter w;
  REQUIRE(w.open(out, out_lt));
  for (auto& fr : frames) {
    std::vector<uint8_t> b = fr.bytes;
    if (f(b)) w.write(fr.t_ns, b.data(), b.size());
  }
  REQUIRE(w.commit());
}

std::string real_trace(const std::string& name) { return kTraces + "/captures/" + name; }

// MANIFEST.md's recorded traces: rows "| `captures/NAME` | TLS | ... | server re-sent |".
std::vector<std::pair<std::string, uint64_t>> manifest_traces() {
  std::vector<std::pair<std::string, uint64_t>> v;
  std::ifstream f(kTraces + "/captures/MANIFEST.md");
  std::string line;
  std::regex row(R"(^\|\s*`captures/([^`/]+)`\s*\|.*\|\s*([0-9]+)\s*\|\s*$)"), file(R"(.*\.(pcapng|pcap|keys)$)");
  std::smatch m;
  while (std::getline(f, line))
    if (std::regex_match(line, m, row) && !std::regex_match(m[1].str(), file)) v.emplace_back(m[1], std::stoull(m[2]));
  return v;
}

void replay_committed(const std::string& name, uint64_t resent) {
  INFO(name);
  std::string in = real_trace(name + ".pcapng"), keys = real_trace(name + ".keys");
  REQUIRE(file_exists(in));
  Replay x = replay(in, keys, "trace-" + name);
  ReplayCheck c = check_good(x, in, keys, "10.99.0.1", 0, 1);
  const json& e = x.stats["ethtool"];
  CHECK(u(x.stats["summary"]["connections_offloaded"]) == 1);
  CHECK(c.retransmitted_frames == resent);  // the manifest's count, found again in the capture
  if (resent > 0) {
    CHECK(u(e["tx_tls_ooo"]) > 0);
    CHECK(u(e["tx_tls_dump_bytes"]) > 0);
  } else {
    CHECK(u(e["tx_tls_ooo"]) == 0);
    CHECK(u(e["tx_tls_dump_bytes"]) == 0);
  }
  // The sender-side capture has correct checksums and MSS-sized frames: the NIC's output is the
  // input, byte for byte.
  LinkType lt;
  std::string err;
  auto a = read_capture(in, &lt, &err), b = read_capture(x.out, &lt, &err);
  REQUIRE(a.size() == b.size());
  size_t same = 0;
  for (size_t i = 0; i < a.size(); i++) same += a[i].bytes == b[i].bytes;
  CHECK(same == a.size());
}

}  // namespace

// Run once per MANIFEST entry by ctest (see CMakeLists.txt: NICSIM_REPLAY_TRACE names it).
TEST_CASE("replay of a committed trace", "[.trace]") {
  const char* name = std::getenv("NICSIM_REPLAY_TRACE");
  REQUIRE(name != nullptr);
  uint64_t resent = UINT64_MAX;
  for (const auto& [n, r] : manifest_traces())
    if (n == name) resent = r;
  REQUIRE(resent != UINT64_MAX);
  replay_committed(name, resent);
}

TEST_CASE("the manifest lists the committed captures", "[system]") {
  auto v = manifest_traces();
  CHECK(v.size() >= 4);
  for (const auto& t : v) {
    INFO(t.first);
    CHECK(file_exists(real_trace(t.first + ".pcapng")));
    CHECK(file_exists(real_trace(t.first + ".keys")));
  }
}

TEST_CASE("synthetic captures replay bit for bit - lossy ones resync and lossless ones do not", "[system]") {
  struct Case {
    const char* args;
    bool lossy;
  };
  for (const Case& k : {Case{"--tls 1.2 --cipher aes128gcm", false}, Case{"--tls 1.3 --cipher aes256gcm", false},
                        Case{"--tls 1.2 --cipher aes256gcm --loss 0.02 --seed 5", true},
                        Case{"--tls 1.3 --cipher aes128gcm --loss 0.02 --reorder 0.01 --seed 6", true}}) {
    INFO(k.args);
    std::string tag = "syn" + std::to_string(std::hash<std::string>()(k.args));
    std::string pcap = scratch_dir() + "/" + tag + ".pcap", keys = scratch_dir() + "/" + tag + ".keys";
    CmdResult g = run_cmd(nicsim_bin() + " run --quiet --bytes 400K --flows 2 " + k.args + " --pcap " + pcap +
                          " --keylog " + keys);
    REQUIRE(g.exit_code == 0);
    Replay x = replay(pcap, keys, tag, "", ".pcap");
    ReplayCheck c = check_good(x, pcap, keys, "10.0.0.1", 0, 2);
    const json& e = x.stats["ethtool"];
    CHECK(u(x.stats["summary"]["connections_offloaded"]) == 2);
    CHECK(u(x.stats["summary"]["records_offloaded"]) == 2 * ((400u * 1024 + 16383) / 16384 + 1));
    CHECK(u(e["tx_tls_ctx"]) == 2);
    if (k.lossy) {
      CHECK(c.retransmitted_frames > 0);
      CHECK(u(e["tx_tls_ooo"]) > 0);
      CHECK(u(e["tx_tls_dump_bytes"]) > 0);
    } else {
      CHECK(c.retransmitted_frames == 0);
      CHECK(u(e["tx_tls_ooo"]) == 0);
      CHECK(u(e["tx_tls_dump_bytes"]) == 0);
    }
  }
}

TEST_CASE("application data that rides on the FIN segment finds the host without --host", "[system]") {
  // A short response: the server's one data segment carries its record, its close_notify and its
  // FIN (nicsim sends it so, as Linux does when the application closes right after writing).
  // The pre-pass that picks the offloading host used to skip FIN segments whole, found no
  // endpoint sending application data and asked for --host.
  for (const char* v : {"--tls 1.2", "--tls 1.3 --cipher aes256gcm"}) {
    INFO(v);
    std::string tag = "fin" + std::to_string(std::hash<std::string>()(v));
    std::string payload = scratch_dir() + "/" + tag + ".bin", pcap = scratch_dir() + "/" + tag + ".pcapng",
                keys = scratch_dir() + "/" + tag + ".keys";
    std::ofstream(payload, std::ios::binary) << std::string(1000, 'x');
    CmdResult g = run_cmd(nicsim_bin() + " run --quiet " + v + " --payload " + payload + " --pcap " + pcap +
                          " --keylog " + keys);
    REQUIRE(g.exit_code == 0);
    Replay x = replay(pcap, keys, tag, "", ".pcapng");
    check_good(x, pcap, keys, "10.0.0.1", 0, 1);
    CHECK(u(x.stats["summary"]["connections_offloaded"]) == 1);
    CHECK(u(x.stats["summary"]["records_offloaded"]) == 2);  // the data record and the close_notify
  }
}

TEST_CASE("illustrated-tls13 loopback capture: the server's records are offloaded", "[system]") {
  std::string in = kTraces + "/vectors/illustrated-tls13/captures/capture.pcap";
  std::string keys = kTraces + "/vectors/illustrated-tls13/captures/keylog.txt";
  Replay x = replay(in, keys, "illustrated", "", ".pcap");
  // One address talks to itself: the host is found as address + port.
  CHECK(x.stats["host"] == "127.0.0.1:8400");
  check_good(x, in, keys, "127.0.0.1", 8400, 1);
  // Two NewSessionTickets and "pong" under the application keys.
  CHECK(u(x.stats["summary"]["records_offloaded"]) == 3);
  CHECK(x.stats["connections"][0]["tls"] == "1.3");
  CHECK(x.stats["connections"][0]["host_role"] == "server");
}

TEST_CASE("Linux cooked captures (SLL and SLL2) replay in their own link type", "[system]") {
  const std::string name = "tls13-aes128gcm-loss2.5";
  for (LinkType lt : {LinkType::linux_sll, LinkType::linux_sll2}) {
    INFO(int(lt));
    std::string in = scratch_dir() + "/sll" + std::to_string(int(lt)) + ".pcapng";
    rewrite(real_trace(name + ".pcapng"), in, lt, [&](std::vector<uint8_t>& b) {
      std::vector<uint8_t> h;
      uint8_t pkttype = 4;  // PACKET_OUTGOING: every frame was captured on the sender
      if (lt == LinkType::linux_sll) {
        h = {0, pkttype, 0, 1, 0, 6};
        h.insert(h.end(), b.begin() + 6, b.begin() + 12);
        h.insert(h.end(), {0, 0, b[12], b[13]});
      } else {
        h = {b[12], b[13], 0, 0, 0, 0, 0, 1, 0, 1, pkttype, 6};
        h.insert(h.end(), b.begin() + 6, b.begin() + 12);
        h.insert(h.end(), {0, 0});
      }
      b.erase(b.begin(), b.begin() + 14);
      b.insert(b.begin(), h.begin(), h.end());
      return true;
    });
    Replay x = replay(in, real_trace(name + ".keys"), "sll" + std::to_string(int(lt)));
    check_good(x, in, real_trace(name + ".keys"), "10.99.0.1", 0, 1);
    CHECK(u(x.stats["summary"]["connections_offloaded"]) == 1);
    CHECK(x.stats["input"]["link_type"] == (lt == LinkType::linux_sll ? 113 : 276));
  }
}

TEST_CASE("IPv6 replays like IPv4", "[system]") {
  const std::string name = "tls12-aes256gcm-loss2.5";
  std::string in = scratch_dir() + "/v6.pcapng";
  // 10.99.0.x becomes 2001:db8::a63:x; TOS and TTL carry over; TCP checksum recomputed.
  rewrite(real_trace(name + ".pcapng"), in, LinkType::ethernet, [](std::vector<uint8_t>& b) {
    ParsedFrame p = trace::parse_frame(b.data(), b.size());
    if (!p.ok || !p.is_tcp || p.v6) return true;
    std::vector<uint8_t> v(b.begin(), b.begin() + 12);
    v.insert(v.end(), {0x86, 0xdd});
    const uint8_t* ip = b.data() + p.l3_off;
    uint16_t plen = uint16_t((ip[2] << 8 | ip[3]) - (p.l4_off - p.l3_off));
    v.insert(v.end(), {uint8_t(0x60 | ip[1] >> 4), uint8_t(ip[1] << 4), 0, 0, uint8_t(plen >> 8), uint8_t(plen), 6, ip[8]});
    for (int a = 0; a < 2; a++) {
      v.insert(v.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0});
      v.insert(v.end(), ip + 12 + 4 * a, ip + 16 + 4 * a);
    }
    v.insert(v.end(), b.begin() + int64_t(p.l4_off), b.begin() + int64_t(p.l4_off + plen));
    REQUIRE(trace::fill_checksums(v.data(), v.size()));
    b = v;
    return true;
  });
  std::string keys = real_trace(name + ".keys");
  Replay x = replay(in, keys, "v6");
  CHECK(x.stats["host"] == "2001:db8::a63:1");
  check_good(x, in, keys, "2001:db8::a63:1", 0, 1);
  CHECK(u(x.stats["summary"]["connections_offloaded"]) == 1);
  CHECK(u(x.stats["ethtool"]["tx_tls_ooo"]) > 0);
}

TEST_CASE("frames larger than the MSS are cut by the NIC's TSO at the connection's MSS", "[system]") {
  const std::string name = "tls12-aes128gcm-lossless";
  std::string in = scratch_dir() + "/gso.pcapng";
  // Merge runs of up to four back-to-back in-order data frames of the server into one frame
  // (what a capture on the sender shows with GSO on).
  {
    LinkType lt;
    std::string err;
    auto fr = read_capture(real_trace(name + ".pcapng"), &lt, &err);
    REQUIRE(err.empty());
    CaptureWriter w;
    REQUIRE(w.open(in, lt));
    size_t merged_frames = 0;
    for (size_t i = 0; i < fr.size();) {
      ParsedFrame p = trace::parse_frame(fr[i].bytes.data(), fr[i].bytes.size());
      std::vector<uint8_t> b = fr[i].bytes;
      size_t j = i + 1;
      // As GSO builds them: every segment but the last is a full MSS (1448) without PSH.
      if (p.ok && p.is_tcp && p.src_port == 4433 && p.payload_len == 1448 && !(p.tcp.flags & 0x08)) {
        b.resize(p.payload_off + p.payload_len);
        uint32_t next = p.tcp.seq + p.payload_len;
        uint32_t last_len = p.payload_len;
        uint8_t last_flags = p.tcp.flags;
        while (j < fr.size() && j < i + 4 && last_len == 1448 && !(last_flags & 0x08)) {
          ParsedFrame q = trace::parse_frame(fr[j].bytes.data(), fr[j].bytes.size());
          if (!q.ok || !q.is_tcp || q.src_port != 4433 || q.payload_len == 0 || q.tcp.seq != next) break;
          last_len = q.payload_len;
          last_flags = q.tcp.flags;
          b.insert(b.end(), fr[j].bytes.begin() + int64_t(q.payload_off),
                   fr[j].bytes.begin() + int64_t(q.payload_off + q.payload_len));
          b[p.l4_off + 13] |= q.tcp.flags & 0x08;  // PSH of the last
          next += q.payload_len;
          j++;
        }
        if (j > i + 1) {
          merged_frames++;
          uint16_t tot = uint16_t(b.size() - p.l3_off);
          b[p.l3_off + 2] = uint8_t(tot >> 8);
          b[p.l3_off + 3] = uint8_t(tot);
          REQUIRE(trace::fill_checksums(b.data(), b.size()));
        }
      }
      w.write(fr[i].t_ns, b.data(), b.size());
      i = j;
    }
    REQUIRE(w.commit());
    REQUIRE(merged_frames > 5);
  }
  std::string keys = real_trace(name + ".keys");
  Replay x = replay(in, keys, "gso");
  ReplayCheck c = check_good(x, in, keys, "10.99.0.1", 0, 1);
  CHECK(c.split_frames > 5);
  CHECK(c.frames_out > c.frames_in);
  CHECK(u(x.stats["ethtool"]["tx_tso_packets"]) == c.split_frames);
  // Cut at MSS 1448 (the peer's MSS option 1460 less 12 bytes of timestamps): the NIC's frames
  // are exactly the frames of the original capture.
  LinkType lt;
  std::string err;
  auto a = read_capture(real_trace(name + ".pcapng"), &lt, &err), b = read_capture(x.out, &lt, &err);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); i++) CHECK(a[i].bytes == b[i].bytes);
}

TEST_CASE("1000 concurrent connections replay within 256 MiB", "[system]") {
  std::string pcap = scratch_dir() + "/f1000.pcap", keys = scratch_dir() + "/f1000.keys";
  CmdResult g = run_cmd(nicsim_bin() + " run --quiet --flows 1000 --bytes 20K --tls 1.3 --pcap " + pcap +
                        " --keylog " + keys);
  REQUIRE(g.exit_code == 0);
  Replay x = replay(pcap, keys, "f1000", "", ".pcap");
  check_good(x, pcap, keys, "10.0.0.1", 0, 2);
  CHECK(u(x.stats["summary"]["connections_offloaded"]) == 1000);
  CHECK(u(x.stats["tls_stat"]["TlsTxDevice"]) == 1000);
  CHECK(u(x.stats["wall"]["max_rss_bytes"]) < 256u << 20);
  // The look-ahead holds about one record per connection, not the file.
  CHECK(u(x.stats["summary"]["lookahead_peak_bytes"]) < u(x.stats["input"]["captured_bytes"]) / 4);
  WARN("1000 connections: max RSS " << u(x.stats["wall"]["max_rss_bytes"]) / 1048576.0 << " MiB, "
                                    << x.stats["wall"]["captured_bytes_per_second"].get<double>() / 1e6
                                    << " MB/s of captured bytes");
}

// ------------------------------------------------------------------------------- bad input

TEST_CASE("bad input: a truncated capture is replayed up to its last whole frame", "[system]") {
  std::string src = read_file(real_trace("tls13-aes256gcm-lossless.pcapng"));
  std::string in = scratch_dir() + "/trunc.pcapng";
  std::ofstream(in, std::ios::binary) << src.substr(0, src.size() * 2 / 3 + 7);
  Replay x = replay(in, real_trace("tls13-aes256gcm-lossless.keys"), "trunc");
  INFO(x.r.err);
  CHECK(x.r.exit_code == 0);
  CHECK(x.r.err.find(in + ": frame ") != std::string::npos);
  CHECK(x.stats["input"]["truncated"] == true);
  REQUIRE(file_exists(x.out));
  ReplayCheck c = check_replay(in, x.out, "10.99.0.1");
  INFO(c.error);
  CHECK(c.error.empty());
  CHECK(c.frames_in > 40);
  CHECK(u(x.stats["summary"]["records_offloaded"]) > 0);
}

TEST_CASE("bad input: an unknown link type stops with the file named", "[system]") {
  std::string in = scratch_dir() + "/usr0.pcap";
  {
    std::ofstream f(in, std::ios::binary);
    const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 147};  // DLT_USER0
    f.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    const uint32_t rec[4] = {1, 0, 4, 4};
    f.write(reinterpret_cast<const char*>(rec), sizeof rec);
    f.write("abcd", 4);
  }
  Replay x = replay(in, real_trace("tls13-aes256gcm-lossless.keys"), "usr0");
  CHECK(x.r.exit_code == 1);
  CHECK(x.r.err.find(in) != std::string::npos);
  CHECK(x.r.err.find("link type") != std::string::npos);
  CHECK_FALSE(file_exists(x.out));
}

TEST_CASE("bad input: a key log line that does not parse is named and skipped", "[system]") {
  std::string keys = scratch_dir() + "/bad.keys";
  std::ofstream(keys) << "# comment\nCLIENT_RANDOM 1234 zz\n" << read_file(real_trace("tls12-aes128gcm-lossless.keys"));
  std::string in = real_trace("tls12-aes128gcm-lossless.pcapng");
  Replay x = replay(in, keys, "badkeys");
  CHECK(x.r.err.find(keys + ": line 2:") != std::string::npos);
  check_good(x, in, keys, "10.99.0.1", 0, 1);
  CHECK(u(x.stats["summary"]["connections_offloaded"]) == 1);
  CHECK(u(x.stats["summary"]["warnings_by_kind"]["keylog_line"]) == 1);
  // A key log with no usable line is unusable.
  std::string none = scratch_dir() + "/none.keys";
  std::ofstream(none) << "garbage\n";
  Replay y = replay(in, none, "nokeys");
  CHECK(y.r.exit_code == 1);
  CHECK(y.r.err.find(none) != std::string::npos);
}

TEST_CASE("bad input: a connection whose start was not captured passes through", "[system]") {
  std::string in = scratch_dir() + "/nostart.pcapng";
  int n = 0;
  rewrite(real_trace("tls12-aes256gcm-loss2.5.pcapng"), in, LinkType::ethernet,
          [&](std::vector<uint8_t>&) { return ++n > 3; });  // no SYN, SYN-ACK, ACK
  Replay x = replay(in, real_trace("tls12-aes256gcm-loss2.5.keys"), "nostart", "--host 10.99.0.1");
  INFO(x.r.err);
  CHECK(x.r.exit_code == 0);
  CHECK(x.r.err.find(in + ": frame 1:") != std::string::npos);
  CHECK(x.r.err.find("SYN") != std::string::npos);
  CHECK(u(x.stats["summary"]["connections_passthrough"]) == 1);
  CHECK(u(x.stats["summary"]["passthrough_reasons"]["start_not_captured"]) == 1);
  CHECK(u(x.stats["summary"]["host_frames_via_nic"]) == 0);
  LinkType lt;
  std::string err;
  auto a = read_capture(in, &lt, &err), b = read_capture(x.out, &lt, &err);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); i++) CHECK(a[i].bytes == b[i].bytes);
}

TEST_CASE("bad input: a record that fails to decrypt cuts the connection there", "[system]") {
  for (const char* name : {"tls12-aes128gcm-lossless", "tls13-aes256gcm-lossless"}) {
    INFO(name);
    // Flip one hex digit of the host's application secret (TLS 1.2: the master secret).
    std::string k = read_file(real_trace(std::string(name) + ".keys")), out;
    std::istringstream ks(k);
    std::string line;
    while (std::getline(ks, line)) {
      if (line.rfind("CLIENT_RANDOM ", 0) == 0 || line.rfind("SERVER_TRAFFIC_SECRET_0 ", 0) == 0)
        line.back() = line.back() == '0' ? '1' : '0';
      out += line + "\n";
    }
    std::string keys = scratch_dir() + "/" + name + ".wrong.keys";
    std::ofstream(keys) << out;
    std::string in = real_trace(std::string(name) + ".pcapng");
    Replay x = replay(in, keys, std::string("wrong-") + name);
    INFO(x.r.err);
    CHECK(x.r.exit_code == 0);
    CHECK(x.r.err.find(in + ": frame ") != std::string::npos);
    CHECK(x.r.err.find("decrypt") != std::string::npos);
    CHECK(u(x.stats["summary"]["warnings_by_kind"]["decrypt_failed"]) == 1);
    CHECK(u(x.stats["summary"]["connections_offloaded"]) == 0);
    CHECK(x.stats["connections"][0]["outcome"] == "not_offloaded");
    CHECK(x.stats["connections"][0]["reason"] == "decrypt_failed");
    CHECK(u(x.stats["connections"][0]["frames"]["unchanged"]) > 60);
    // Nothing was encrypted by the NIC, and the output still has every frame as it should.
    CHECK(u(x.stats["ethtool"]["tx_tls_encrypted_bytes"]) == 0);
    ReplayCheck c = check_replay(in, x.out, "10.99.0.1");
    INFO(c.error);
    CHECK(c.error.empty());
  }
}

TEST_CASE("connections that are not TLS or have no keys pass through unchanged and are counted", "[system]") {
  const std::string name = "tls13-aes128gcm-loss2.5";
  // The client's first byte says "G" (an HTTP GET) instead of a TLS handshake record.
  std::string in = scratch_dir() + "/nottls.pcapng";
  bool done = false;
  rewrite(real_trace(name + ".pcapng"), in, LinkType::ethernet, [&](std::vector<uint8_t>& b) {
    ParsedFrame p = trace::parse_frame(b.data(), b.size());
    if (!done && p.ok && p.is_tcp && p.dst_port == 4433 && p.payload_len > 0) {
      b[p.payload_off] = 'G';
      REQUIRE(trace::fill_checksums(b.data(), b.size()));
      done = true;
    }
    return true;
  });
  struct Case {
    std::string pcap, keys, reason;
  };
  for (const Case& k : {Case{in, real_trace(name + ".keys"), "not_tls"},
                        Case{real_trace(name + ".pcapng"), real_trace("tls12-aes128gcm-lossless.keys"), "no_keys"}}) {
    INFO(k.reason);
    Replay x = replay(k.pcap, k.keys, "pt-" + k.reason, "--host 10.99.0.1");
    INFO(x.r.err);
    CHECK(x.r.exit_code == 0);
    CHECK(x.r.err.find(k.pcap + ": frame ") != std::string::npos);
    CHECK(u(x.stats["summary"]["connections_passthrough"]) == 1);
    CHECK(u(x.stats["summary"]["passthrough_reasons"][k.reason]) == 1);
    CHECK(u(x.stats["summary"]["records_offloaded"]) == 0);
    CHECK(u(x.stats["summary"]["frames_unchanged_by_reason"]["conn_" + k.reason]) > 50);
    // Only the payload-less frames before the decision (SYN-ACK) went through the NIC, as plain
    // sends: the output is the input, byte for byte (the capture's checksums are right).
    CHECK(u(x.stats["summary"]["host_frames_via_nic"]) <= 2);
    LinkType lt;
    std::string err;
    auto a = read_capture(k.pcap, &lt, &err), b = read_capture(x.out, &lt, &err);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); i++) CHECK(a[i].bytes == b[i].bytes);
  }
}

TEST_CASE("an explicit nonce the kernel could not have produced cuts the connection there", "[system]") {
  // TLS 1.2 lossless trace (suite 0xc02b: AES-128-GCM, SHA-256 PRF): the server's record 4 is
  // sealed again with another explicit nonce (tshark still decrypts it: the nonce travels in
  // the record), which the offload, counting iv + index, cannot reproduce.
  const std::string name = "tls12-aes128gcm-lossless";
  LinkType lt;
  std::string err;
  auto fr = read_capture(real_trace(name + ".pcapng"), &lt, &err);
  REQUIRE(err.empty());
  // The host's stream, in order (a lossless trace).
  std::string stream;
  uint32_t base = 0;
  std::vector<std::pair<size_t, ParsedFrame>> host_frames;
  for (size_t i = 0; i < fr.size(); i++) {
    ParsedFrame p = trace::parse_frame(fr[i].bytes.data(), fr[i].bytes.size());
    if (!p.ok || !p.is_tcp || p.src_port != 4433 || p.payload_len == 0) continue;
    if (stream.empty()) base = p.tcp.seq;
    REQUIRE(p.tcp.seq - base == stream.size());
    stream.append(reinterpret_cast<const char*>(fr[i].bytes.data() + p.payload_off), p.payload_len);
    host_frames.emplace_back(i, p);
  }
  uint8_t server_random[32];
  std::memcpy(server_random, stream.data() + 11, 32);
  std::string kl = read_file(real_trace(name + ".keys"));
  std::istringstream ks(kl);
  std::string label, cr_hex, ms_hex;
  ks >> label >> cr_hex >> ms_hex;
  REQUIRE(label == "CLIENT_RANDOM");
  auto unhex = [](const std::string& h) {
    std::vector<uint8_t> v;
    for (size_t i = 0; i + 1 < h.size(); i += 2) v.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
    return v;
  };
  std::vector<uint8_t> cr = unhex(cr_hex), ms = unhex(ms_hex);
  nicsim::crypto::TlsKeys k;
  k.version = nicsim::crypto::TlsVersion::tls12;
  k.cipher = nicsim::crypto::Cipher::aes128gcm;
  uint8_t ck[16], sk[16], cs[4], ss[4];
  REQUIRE(trace::tls12_gcm_keys(trace::PrfHash::sha256, ms.data(), cr.data(), server_random, 16, ck, sk, cs, ss));
  std::memcpy(k.key, sk, 16);
  std::memcpy(k.salt, ss, 4);
  // Walk the records: after the ChangeCipherSpec, record 0 is the Finished.
  size_t off = 0, target_off = 0, target_len = 0;
  int64_t sn = -1;
  while (off + 5 <= stream.size()) {
    size_t len = 5 + (uint8_t(stream[off + 3]) << 8 | uint8_t(stream[off + 4]));
    if (sn >= 0) {
      if (sn == 4) {
        target_off = off;
        target_len = len;
        break;
      }
      sn++;
    }
    if (stream[off] == 20) sn = 0;
    off += len;
  }
  REQUIRE(target_len > 100);
  const uint8_t* rec = reinterpret_cast<const uint8_t*>(stream.data() + target_off);
  uint8_t type = 0;
  std::vector<uint8_t> pt;
  REQUIRE(nicsim::crypto::tls_open_record(k, 4, rec, target_len, &type, &pt));
  uint8_t nonce[8];
  std::memcpy(nonce, rec + 5, 8);
  nonce[7] ^= 0x5a;
  std::vector<uint8_t> resealed = nicsim::crypto::tls_seal_record(k, 4, type, pt.data(), pt.size(), nonce);
  REQUIRE(resealed.size() == target_len);
  stream.replace(target_off, target_len, reinterpret_cast<const char*>(resealed.data()), resealed.size());
  for (auto& [i, p] : host_frames) {
    std::memcpy(fr[i].bytes.data() + p.payload_off, stream.data() + (p.tcp.seq - base), p.payload_len);
    REQUIRE(trace::fill_checksums(fr[i].bytes.data(), fr[i].bytes.size()));
  }
  std::string in = scratch_dir() + "/nonce.pcapng";
  {
    CaptureWriter w;
    REQUIRE(w.open(in, lt));
    for (const auto& f : fr) w.write(f.t_ns, f.bytes.data(), f.bytes.size());
    REQUIRE(w.commit());
  }
  std::string keys = real_trace(name + ".keys");
  Replay x = replay(in, keys, "nonce");
  INFO(x.r.err);
  CHECK(x.r.err.find("explicit nonce") != std::string::npos);
  CHECK(u(x.stats["summary"]["warnings_by_kind"]["explicit_nonce"]) == 1);
  const json& c = x.stats["connections"][0];
  CHECK(c["outcome"] == "offloaded_then_cut");
  CHECK(u(c["cut_seq"]) == uint32_t(base + target_off));
  CHECK(u(c["records"]["offloaded"]) == 3);  // records 1..3
  check_good(x, in, keys, "10.99.0.1", 0, 1);
  CHECK(u(c["frames"]["unchanged"]) > 40);
}
