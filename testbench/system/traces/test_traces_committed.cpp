// The committed captures: traces/captures/MANIFEST.md lists every file with its SHA-256 (and
// the recorded traces with their TLS version and suite). A recording is never edited in place:
// re-recording gives new keys and new timing, so a changed file means someone overwrote a
// trace that other tests and documents describe. Here: the files exist, their SHA-256 is the
// recorded one, every capture on disk is listed, and each key log is the one for its capture
// (its client randoms appear in the capture, its secrets have the suite's hash length).
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::string kTracesDir = NICSIM_TRACES_DIR;
const std::string kManifest = kTracesDir + "/captures/MANIFEST.md";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* const kDigits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 0xf];
  }
  return s;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// SHA-256 through OpenSSL's EVP interface, as lower-case hex.
std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), md, &md_len, EVP_sha256(), nullptr) == 1);
  return to_hex(md, md_len);
}

struct ListedFile {
  std::string path;  // relative to traces/
  std::string sha256;
};

struct RecordedTrace {
  std::string prefix;  // relative to traces/, without .pcapng / .keys
  std::string tls;     // "1.2" or "1.3"
  std::string suite;   // e.g. TLS_AES_128_GCM_SHA256
};

// Rows "| `path` | <64 hex> |" of the checksum table.
std::vector<ListedFile> listed_files() {
  std::vector<ListedFile> v;
  std::istringstream in(read_file(kManifest));
  const std::regex row(R"(^\|\s*`([^`]+)`\s*\|\s*([0-9a-f]{64})\s*\|\s*$)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, row)) v.push_back({m[1], m[2]});
  }
  return v;
}

// Rows "| `captures/x` | 1.2 | SUITE (0x....) | ..." of the recorded-traces table.
std::vector<RecordedTrace> recorded_traces() {
  std::vector<RecordedTrace> v;
  std::istringstream in(read_file(kManifest));
  const std::regex row(R"(^\|\s*`(captures/[^`.]+[^`]*)`\s*\|\s*(1\.[23])\s*\|\s*([A-Z0-9_-]+) \(0x[0-9a-f]{4}\)\s*\|.*)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, row)) v.push_back({m[1], m[2], m[3]});
  }
  return v;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("sha256_hex is SHA-256 (FIPS 180-2 examples)", "[traces]") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("every file in MANIFEST.md exists and has its recorded sha256", "[traces]") {
  const std::vector<ListedFile> files = listed_files();
  // 4 recorded traces x (pcapng + keys) + illustrated-tls13's capture.pcap and keylog.txt; a
  // parser that found nothing must not pass.
  REQUIRE(files.size() >= 10);
  std::set<std::string> seen;
  for (const ListedFile& f : files) {
    INFO(f.path);
    CHECK(seen.insert(f.path).second);  // listed once
    const std::string full = kTracesDir + "/" + f.path;
    REQUIRE(fs::is_regular_file(full));
    CHECK(fs::file_size(full) > 0);
    CHECK(sha256_hex(read_file(full)) == f.sha256);
  }
  CHECK(seen.count("vectors/illustrated-tls13/captures/capture.pcap") == 1);
  CHECK(seen.count("vectors/illustrated-tls13/captures/keylog.txt") == 1);
}

TEST_CASE("every capture and key log under traces/captures is listed, each capture with its key log",
          "[traces]") {
  std::set<std::string> listed;
  for (const ListedFile& f : listed_files()) listed.insert(f.path);
  size_t captures = 0;
  for (const auto& e : fs::directory_iterator(kTracesDir + "/captures")) {
    const std::string name = e.path().filename().string();
    if (!ends_with(name, ".pcapng") && !ends_with(name, ".pcap") && !ends_with(name, ".keys")) continue;
    INFO(name);
    CHECK(listed.count("captures/" + name) == 1);
    if (ends_with(name, ".pcapng")) {
      ++captures;
      const std::string keys = "captures/" + name.substr(0, name.size() - 7) + ".keys";
      CHECK(listed.count(keys) == 1);
    }
  }
  CHECK(captures >= 4);
}

TEST_CASE("recorded traces are pcapng whose key logs belong to them", "[traces]") {
  const std::vector<RecordedTrace> traces = recorded_traces();
  REQUIRE(traces.size() >= 4);
  std::set<std::string> kinds;  // TLS version x key size actually covered
  for (const RecordedTrace& t : traces) {
    INFO(t.prefix << " TLS " << t.tls << " " << t.suite);
    kinds.insert(t.tls + (t.suite.find("AES128") != std::string::npos || t.suite.find("AES_128") != std::string::npos
                              ? "/128"
                              : "/256"));
    const std::string pcap = read_file(kTracesDir + "/" + t.prefix + ".pcapng");
    const std::string keys = read_file(kTracesDir + "/" + t.prefix + ".keys");
    REQUIRE(pcap.size() > 28);
    // Section Header Block type 0x0A0D0D0A, byte-order magic 0x1A2B3C4D (either order).
    CHECK(pcap.compare(0, 4, "\x0a\x0d\x0d\x0a") == 0);
    const std::string bom = pcap.substr(8, 4);
    CHECK((bom == "\x4d\x3c\x2b\x1a" || bom == "\x1a\x2b\x3c\x4d"));

    // NSS key log: LABEL <32-byte client random> <secret>. TLS 1.2: CLIENT_RANDOM with the
    // 48-byte master secret; TLS 1.3: traffic secrets as long as the suite's hash.
    const size_t secret_bytes =
        t.tls == "1.2" ? 48 : (ends_with(t.suite, "SHA384") ? 48 : 32);
    const std::regex line_re(R"(^([A-Z_0-9]+) ([0-9a-fA-F]{64}) ([0-9a-fA-F]+)$)");
    std::istringstream in(keys);
    std::set<std::string> labels, randoms;
    size_t lines = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      ++lines;
      std::smatch m;
      INFO(line);
      REQUIRE(std::regex_match(line, m, line_re));
      labels.insert(m[1]);
      randoms.insert(m[2]);
      CHECK(m[3].length() == static_cast<long>(2 * secret_bytes));
    }
    CHECK(lines >= 1);
    if (t.tls == "1.2") {
      CHECK(labels == std::set<std::string>{"CLIENT_RANDOM"});
    } else {
      for (const char* need : {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                               "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}) {
        CHECK(labels.count(need) == 1);
      }
    }
    // One connection per trace, and its ClientHello random is in the capture: the key log
    // was written for this capture, not another recording's.
    REQUIRE(randoms.size() == 1);
    CHECK(pcap.find(from_hex(*randoms.begin())) != std::string::npos);
  }
  CHECK(kinds == std::set<std::string>{"1.2/128", "1.2/256", "1.3/128", "1.3/256"});
}
