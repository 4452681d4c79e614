// Capture files: the real illustrated-tls13 capture through CaptureReader and parse_frame, and
// pcap / pcapng written by CaptureWriter checked by tshark (when installed) and read back.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "host/trace/capture.h"

using namespace nicsim::host::trace;
namespace fs = std::filesystem;

namespace {

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// A private directory per test process (catch_discover_tests runs each case in its own).
struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("nicsim_test_trace_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write_file(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

// tshark's view of a file, one line per frame.
std::vector<std::string> tshark_lines(const std::string& file, const std::string& fields,
                                      const std::string& options = "") {
  std::string cmd = "tshark -r '" + file + "' " + options + " -T fields " + fields + " 2>/dev/null";
  std::vector<std::string> lines;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return lines;
  char buf[4096];
  std::string cur;
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    cur += buf;
    if (!cur.empty() && cur.back() == '\n') {
      cur.pop_back();
      lines.push_back(cur);
      cur.clear();
    }
  }
  ::pclose(p);
  return lines;
}

// Expected values for traces/vectors/illustrated-tls13/captures/capture.pcap, obtained with
//   tshark -r capture.pcap -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields
//     -e frame.number -e frame.time_epoch -e frame.len -e tcp.len
//     -e ip.checksum_calculated -e tcp.checksum_calculated -e tcp.flags
// (TShark 4.0.17). The capture is macOS lo0 (LINKTYPE_NULL, family 2 little-endian) with
// checksum offload: tshark reports every IPv4 header checksum as 0x0000 and every TCP checksum
// as incorrect ("TCP CHECKSUM INCORRECT", status Bad); the stored TCP checksum is the folded
// pseudo-header sum (CHECKSUM_PARTIAL). The calculated values are what fill_checksums must
// produce.
struct ExpectedFrame {
  int number;
  uint64_t t_ns;
  uint32_t len;
  uint32_t tcp_len;
  uint16_t ip_csum, tcp_csum;
  uint8_t flags;
};
const ExpectedFrame kIllustratedTls13[] = {
    {1, 1648774116286233000ULL, 68, 0, 0x3cb6, 0x9268, 0x02},
    {2, 1648774116286308000ULL, 68, 0, 0x3cb6, 0xc165, 0x12},
    {3, 1648774116286319000ULL, 56, 0, 0x3cc2, 0x226f, 0x10},
    {4, 1648774116286327000ULL, 56, 0, 0x3cc2, 0x226f, 0x10},
    {5, 1648774116287068000ULL, 309, 253, 0x3bc5, 0x3622, 0x18},
    {6, 1648774116287091000ULL, 56, 0, 0x3cc2, 0x2176, 0x10},
    {7, 1648774116343971000ULL, 1417, 1361, 0x3771, 0x15da, 0x18},
    {8, 1648774116344028000ULL, 56, 0, 0x3cc2, 0x1bc4, 0x10},
    {9, 1648774116348430000ULL, 136, 80, 0x3c72, 0xea93, 0x18},
    {10, 1648774116348454000ULL, 56, 0, 0x3cc2, 0x1b5c, 0x10},
    {11, 1648774116348730000ULL, 82, 26, 0x3ca8, 0x872f, 0x18},
    {12, 1648774116348750000ULL, 56, 0, 0x3cc2, 0x1b42, 0x10},
    {13, 1648774116349747000ULL, 295, 239, 0x3bd3, 0x43d8, 0x18},
    {14, 1648774116349795000ULL, 56, 0, 0x3cc2, 0x1a63, 0x10},
    {15, 1648774116350053000ULL, 295, 239, 0x3bd3, 0x9426, 0x18},
    {16, 1648774116350106000ULL, 56, 0, 0x3cc2, 0x1978, 0x10},
    {17, 1648774116350132000ULL, 82, 26, 0x3ca8, 0xc31b, 0x18},
    {18, 1648774116350145000ULL, 56, 0, 0x3cc2, 0x195e, 0x10},
    {19, 1648774116350173000ULL, 56, 0, 0x3cc2, 0x1945, 0x11},
    {20, 1648774116350184000ULL, 56, 0, 0x3cc2, 0x195d, 0x10},
    {21, 1648774116350424000ULL, 56, 0, 0x3cc2, 0x195c, 0x11},
    {22, 1648774116350462000ULL, 56, 0, 0x3cc2, 0x1944, 0x10},
};

std::vector<uint8_t> test_frame(std::mt19937& rng, size_t payload, uint32_t seq) {
  FlowAddr a;
  a.src_mac = {2, 0, 0, 0, 0, 1};
  a.dst_mac = {2, 0, 0, 0, 0, 2};
  a.src_ip = IpAddr::v4(10, 0, 0, 1);
  a.dst_ip = IpAddr::v4(10, 0, 0, 2);
  a.src_port = 40000;
  a.dst_port = 443;
  TcpHeaderFields h;
  h.seq = seq;
  h.flags = 0x18;
  h.has_ts = true;
  std::vector<uint8_t> pl(payload);
  for (auto& b : pl) b = uint8_t(rng());
  return build_frame(a, h, pl.data(), pl.size(), true);
}

}  // namespace

TEST_CASE("illustrated-tls13 capture: frames, timestamps, parse, checksums", "[capture]") {
  const std::string path =
      std::string(NICSIM_TRACES_DIR) + "/vectors/illustrated-tls13/captures/capture.pcap";
  CaptureReader r;
  REQUIRE(r.open(path));
  CHECK(r.error().empty());
  CHECK(r.link_type() == LinkType::null_loopback);
  CHECK(r.raw_link_type() == 0);
  CaptureFrame f;
  size_t count = 0;
  uint64_t payload_total = 0;
  while (r.next(&f)) {
    REQUIRE(count < std::size(kIllustratedTls13));
    const ExpectedFrame& e = kIllustratedTls13[count++];
    INFO("frame " << e.number);
    CHECK(f.index == uint64_t(e.number));
    CHECK(f.t_ns == e.t_ns);
    CHECK(f.orig_len == e.len);
    REQUIRE(f.bytes.size() == e.len);
    ParsedFrame p = parse_frame(f.bytes.data(), f.bytes.size(), r.link_type());
    INFO(p.error);
    REQUIRE(p.ok);
    REQUIRE(p.is_tcp);
    CHECK_FALSE(p.v6);
    CHECK(p.l3_off == 4);
    CHECK(p.src_ip.str() == "127.0.0.1");
    CHECK(p.payload_len == e.tcp_len);
    CHECK(p.tcp.flags == e.flags);
    CHECK(p.tcp.has_ts);
    CHECK(((p.src_port == 59219 && p.dst_port == 8400) ||
           (p.src_port == 8400 && p.dst_port == 59219)));
    payload_total += p.payload_len;
    // As captured: IPv4 checksum 0, TCP checksum = pseudo-header sum; neither verifies.
    CHECK(be16(&f.bytes[p.l3_off + 10]) == 0);
    uint32_t tcp_len = uint32_t(p.payload_off + p.payload_len - p.l4_off);
    CHECK(be16(&f.bytes[p.l4_off + 16]) == tcp_pseudo_sum(p.src_ip, p.dst_ip, tcp_len));
    CHECK_FALSE(verify_checksums(f.bytes.data(), f.bytes.size(), r.link_type()));
    // Completed, they are tshark's calculated values and verify.
    std::vector<uint8_t> fixed = f.bytes;
    REQUIRE(fill_checksums(fixed.data(), fixed.size(), r.link_type()));
    CHECK(be16(&fixed[p.l3_off + 10]) == e.ip_csum);
    CHECK(be16(&fixed[p.l4_off + 16]) == e.tcp_csum);
    CHECK(verify_checksums(fixed.data(), fixed.size(), r.link_type()));
    if (e.number == 1) {
      // tshark: MSS=16344 WS=64 TSval=3127281625 TSecr=0 SACK_PERM
      CHECK(p.tcp.mss_opt == 16344);
      CHECK(p.tcp.wscale_opt == 6);
      CHECK(p.tcp.tsval == 3127281625u);
      CHECK(p.tcp.tsecr == 0);
      CHECK(p.tcp.seq == 2035198138u);  // tshark "Sequence Number (raw)"
    }
  }
  CHECK(r.error().empty());
  CHECK(count == 22);  // tshark / capinfos: 22 packets
  CHECK(payload_total == 253 + 1361 + 80 + 26 + 239 + 239 + 26);
}

TEST_CASE("CaptureWriter pcap and pcapng: tshark and CaptureReader read back", "[capture]") {
  TempDir tmp;
  std::mt19937 rng(7);
  struct W {
    uint64_t t_ns;
    std::vector<uint8_t> frame;
    uint32_t orig_len;
  };
  std::vector<W> ws = {{1700000000123456789ULL, test_frame(rng, 0, 1), 0},
                       {1700000000123456790ULL, test_frame(rng, 1, 2), 0},
                       {1700000001000000001ULL, test_frame(rng, 1448, 3), 0},
                       {1700000002999999999ULL, test_frame(rng, 77, 4), 9000}};  // cut frame
  for (const char* name : {"out.pcap", "out.pcapng"}) {
    const std::string path = tmp / name;
    const bool ng = std::string(name).find("pcapng") != std::string::npos;
    INFO(path);
    {
      CaptureWriter w;
      REQUIRE(w.open(path));
      CHECK(w.is_open());
      CHECK(fs::exists(path + ".part"));
      CHECK_FALSE(fs::exists(path));
      for (size_t i = 0; i < ws.size(); ++i)
        w.write(ws[i].t_ns, ws[i].frame.data(), ws[i].frame.size(), ws[i].orig_len,
                i == 2 ? "third frame" : "");
      CHECK(w.frames() == ws.size());
      REQUIRE(w.commit());
      CHECK(w.error().empty());
      CHECK_FALSE(w.is_open());
    }
    CHECK(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".part"));

    std::vector<uint8_t> bytes = read_file(path);
    if (!ng) {
      // Global header: magic a1b23c4d (nanosecond) little-endian, 2.4, snaplen 262144, EN10MB.
      const uint8_t hdr[24] = {0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                               0,    0,    0,    0,    0, 0, 4, 0, 1, 0, 0, 0};
      REQUIRE(bytes.size() > 24);
      CHECK(std::memcmp(bytes.data(), hdr, 24) == 0);
      size_t expect = 24;
      for (const W& w : ws) expect += 16 + w.frame.size();
      CHECK(bytes.size() == expect);
    } else {
      REQUIRE(bytes.size() > 60);
      const uint8_t shb_type[4] = {0x0a, 0x0d, 0x0d, 0x0a};
      CHECK(std::memcmp(bytes.data(), shb_type, 4) == 0);
      // IDB after the 28-byte SHB: if_tsresol option (code 9, length 1, value 9).
      CHECK(bytes[28] == 1);
      const uint8_t tsresol[8] = {9, 0, 1, 0, 9, 0, 0, 0};
      CHECK(std::memcmp(&bytes[28 + 16], tsresol, 8) == 0);
      CHECK(bytes.size() % 4 == 0);
    }

    if (have_tshark()) {
      // One tshark run per file (each costs ~0.7 s): timestamps to the nanosecond, lengths,
      // TCP checksum status (1 = Good) and raw sequence number, and the pcapng comment.
      auto lines = tshark_lines(path,
                                "-e frame.time_epoch -e frame.len -e frame.cap_len "
                                "-e tcp.checksum.status -e tcp.seq_raw -e frame.comment",
                                "-o tcp.check_checksum:TRUE");
      REQUIRE(lines.size() == ws.size());
      for (size_t i = 0; i < ws.size(); ++i) {
        std::ostringstream want;
        char frac[16];
        std::snprintf(frac, sizeof frac, "%09llu",
                      static_cast<unsigned long long>(ws[i].t_ns % 1000000000u));
        uint32_t orig = ws[i].orig_len ? ws[i].orig_len : uint32_t(ws[i].frame.size());
        want << ws[i].t_ns / 1000000000u << '.' << frac << '\t' << orig << '\t'
             << ws[i].frame.size() << "\t1\t" << i + 1 << '\t'
             << (ng && i == 2 ? "third frame" : "");
        CHECK(lines[i] == want.str());
      }
    } else {
      WARN("tshark not on PATH: written capture not checked by tshark");
    }

    CaptureReader r;
    REQUIRE(r.open(path));
    CHECK(r.link_type() == LinkType::ethernet);
    CaptureFrame f;
    for (size_t i = 0; i < ws.size(); ++i) {
      REQUIRE(r.next(&f));
      CHECK(f.index == i + 1);
      CHECK(f.t_ns == ws[i].t_ns);
      CHECK(f.bytes == ws[i].frame);
      CHECK(f.orig_len == (ws[i].orig_len ? ws[i].orig_len : ws[i].frame.size()));
      CHECK(verify_checksums(f.bytes.data(), f.bytes.size()));
    }
    CHECK_FALSE(r.next(&f));
    CHECK(r.error().empty());
  }
}

TEST_CASE("CaptureWriter: other link types, oversize frames, open errors", "[capture]") {
  TempDir tmp;
  std::mt19937 rng(8);
  // Raw IP link type is stored as LINKTYPE_RAW (101) and read back as raw_ip.
  std::vector<uint8_t> eth = test_frame(rng, 10, 5);
  std::vector<uint8_t> ip(eth.begin() + 14, eth.end());
  for (const char* name : {"raw.pcap", "raw.pcapng"}) {
    CaptureWriter w;
    REQUIRE(w.open(tmp / name, LinkType::raw_ip));
    w.write(5, ip.data(), ip.size());
    REQUIRE(w.commit());
    CaptureReader r;
    REQUIRE(r.open(tmp / name));
    CHECK(r.link_type() == LinkType::raw_ip);
    CaptureFrame f;
    REQUIRE(r.next(&f));
    CHECK(f.t_ns == 5);
    ParsedFrame p = parse_frame(f.bytes.data(), f.bytes.size(), r.link_type());
    REQUIRE(p.ok);
    CHECK(p.payload_len == 10);
  }
  std::vector<uint8_t> raw = read_file(tmp / "raw.pcap");
  CHECK(raw[20] == 101);
  // A frame longer than the snaplen is stored cut, with its original length.
  {
    std::vector<uint8_t> big(262144 + 100, 0xab);
    CaptureWriter w;
    REQUIRE(w.open(tmp / "big.pcap"));
    w.write(1, big.data(), big.size());
    REQUIRE(w.commit());
    CaptureReader r;
    REQUIRE(r.open(tmp / "big.pcap"));
    CaptureFrame f;
    REQUIRE(r.next(&f));
    CHECK(f.bytes.size() == 262144);
    CHECK(f.orig_len == 262144 + 100);
  }
  // Cannot create: the error names the file.
  CaptureWriter w;
  CHECK_FALSE(w.open(tmp / "no/such/dir/x.pcap"));
  CHECK(w.error().find("no/such/dir/x.pcap") != std::string::npos);
  CHECK_FALSE(w.is_open());
  CHECK_FALSE(w.commit());
  // Opening twice is refused.
  CaptureWriter w2;
  REQUIRE(w2.open(tmp / "a.pcap"));
  CHECK_FALSE(w2.open(tmp / "b.pcap"));
  CHECK_FALSE(w2.error().empty());
}

TEST_CASE("CaptureWriter destroyed without commit leaves no file", "[capture]") {
  TempDir tmp;
  std::mt19937 rng(1);
  std::vector<uint8_t> f = test_frame(rng, 100, 1);
  for (const char* name : {"x.pcap", "x.pcapng"}) {
    const std::string path = tmp / name;
    {
      CaptureWriter w;
      REQUIRE(w.open(path));
      for (int i = 0; i < 1000; ++i) w.write(uint64_t(i), f.data(), f.size());
      CHECK(fs::exists(path + ".part"));
    }
    CHECK_FALSE(fs::exists(path + ".part"));
    CHECK_FALSE(fs::exists(path));
  }
  CHECK(fs::is_empty(tmp.dir));
}

TEST_CASE("CaptureReader: truncated files fail naming the frame", "[capture]") {
  TempDir tmp;
  std::mt19937 rng(2);
  for (const char* name : {"t.pcap", "t.pcapng"}) {
    const std::string path = tmp / name;
    CaptureWriter w;
    REQUIRE(w.open(path));
    for (uint32_t i = 0; i < 3; ++i) {
      std::vector<uint8_t> f = test_frame(rng, 200, i);
      w.write(1000 + i, f.data(), f.size());
    }
    REQUIRE(w.commit());
    std::vector<uint8_t> all = read_file(path);
    // Cut inside the third frame's data, and 8 bytes into its record / block header.
    const size_t frame_len = 14 + 20 + 32 + 200;
    // pcap: 24-byte file header, 16-byte record headers. pcapng: the last block is the third
    // EPB: 28-byte header, data padded to 4, 4-byte trailing length.
    const size_t third = std::string(name) == "t.pcap"
                             ? 24 + 2 * (16 + frame_len)
                             : all.size() - (28 + (frame_len + 3) / 4 * 4 + 4);
    for (size_t cut : {third + 28 + 50, third + 8}) {
      std::vector<uint8_t> part(all.begin(), all.begin() + long(cut));
      const std::string cut_path = tmp / ("cut_" + std::to_string(cut) + "_" + name);
      write_file(cut_path, part);
      INFO(cut_path);
      CaptureReader r;
      REQUIRE(r.open(cut_path));
      CaptureFrame f;
      REQUIRE(r.next(&f));
      REQUIRE(r.next(&f));
      CHECK(f.index == 2);
      CHECK_FALSE(r.next(&f));
      INFO(r.error());
      CHECK(r.error().find(cut_path + ": frame 3: ") == 0);
      CHECK(r.error().find("truncated") != std::string::npos);
    }
  }
}

TEST_CASE("CaptureReader: unsupported link type and missing file are rejected", "[capture]") {
  TempDir tmp;
  // LINKTYPE_IEEE802_11 (105) and LINKTYPE_USER0 (147, which libpcap has no name for),
  // written through the enum's underlying value.
  for (int lt : {105, 147}) {
    const std::string path = tmp / ("lt" + std::to_string(lt) + ".pcap");
    {
      CaptureWriter w;
      REQUIRE(w.open(path, static_cast<LinkType>(lt)));
      const uint8_t b[4] = {1, 2, 3, 4};
      w.write(0, b, 4);
      REQUIRE(w.commit());
    }
    CaptureReader r;
    CHECK_FALSE(r.open(path));
    CHECK(r.error() == path + ": unsupported link type " + std::to_string(lt) +
                           (lt == 105 ? " (IEEE802_11)" : " (unknown)"));
    CaptureFrame f;
    CHECK_FALSE(r.next(&f));
  }

  CaptureReader m;
  CHECK_FALSE(m.open(tmp / "missing.pcap"));
  CHECK(m.error().find(tmp / "missing.pcap") == 0);
  CHECK(m.error().size() > (tmp / "missing.pcap").size() + 2);

  // Not a capture at all.
  write_file(tmp / "junk.pcap", std::vector<uint8_t>(100, 'x'));
  CaptureReader j;
  CHECK_FALSE(j.open(tmp / "junk.pcap"));
  CHECK(j.error().find(tmp / "junk.pcap") == 0);
}

// Outputs go through "<path>.part" and a rename, except where a rename would be wrong: onto a
// device or pipe it would replace the node with a regular file (as root, /dev/full became one
// that way), onto a symbolic link it would replace the link.
TEST_CASE("CaptureWriter into a FIFO writes in place and leaves the FIFO", "[capture]") {
  TempDir tmp;
  const std::string fifo = tmp / "cap.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::mt19937 rng(3);
  std::vector<uint8_t> f = test_frame(rng, 200, 1);
  // The read end is open (non-blocking) before the writer opens the FIFO, and everything
  // written fits the pipe's buffer: no thread, and a writer that renamed instead of writing
  // in place leaves the pipe empty rather than blocking the test.
  const int rd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(rd >= 0);
  {
    CaptureWriter w;
    REQUIRE(w.open(fifo));
    for (int i = 0; i < 10; ++i) w.write(uint64_t(i), f.data(), f.size());
    CHECK(w.commit());
  }
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(rd, buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  ::close(rd);
  CHECK(fs::is_fifo(fifo));
  CHECK_FALSE(fs::exists(fifo + ".part"));
  // pcap global header (24) + 10 records of 16 + the frame.
  CHECK(got.size() == 24 + 10 * (16 + f.size()));
}

TEST_CASE("CaptureWriter onto a symbolic link replaces the file it points to", "[capture]") {
  TempDir tmp;
  const std::string real = tmp / "real.pcap", link = tmp / "link.pcap";
  std::ofstream(real) << "old";
  fs::create_symlink(real, link);
  std::mt19937 rng(4);
  std::vector<uint8_t> f = test_frame(rng, 100, 1);
  CaptureWriter w;
  REQUIRE(w.open(link));
  w.write(1, f.data(), f.size());
  REQUIRE(w.commit());
  CHECK(fs::is_symlink(link));
  CHECK(fs::file_size(real) == 24 + 16 + f.size());
  CHECK_FALSE(fs::exists(real + ".part"));
  CHECK_FALSE(fs::exists(link + ".part"));
}

TEST_CASE("OutputFile: new and regular paths get a .part, devices none", "[capture]") {
  TempDir tmp;
  const std::string p = tmp / "new.json";
  OutputFile a(p);
  CHECK_FALSE(a.in_place);
  CHECK(a.write_path == p + ".part");
  CHECK(a.final_path == p);
  OutputFile d("/dev/null");  // classified only: nothing is written
  CHECK(d.in_place);
  CHECK(d.write_path == "/dev/null");
  std::string err;
  CHECK(d.commit(&err));
  CHECK(fs::is_character_file("/dev/null"));
  // commit of a .part that is not there: an error naming the path, nothing left behind.
  CHECK_FALSE(a.commit(&err));
  CHECK(err.find(p) != std::string::npos);
}
