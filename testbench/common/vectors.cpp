// Readers for NIST CAVP GCMVS .rsp files and Wycheproof aes_gcm_test.json. Strict on purpose:
// a record whose field lengths disagree with its group header is a parse error, not a vector,
// so a silently mis-parsed file cannot turn into a passing test.
#include "testbench/common/vectors.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#ifndef NICSIM_TRACES_DIR
#error "NICSIM_TRACES_DIR must be defined by the build"
#endif

namespace nicsim::testbench {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return s.substr(b, e - b);
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void parse_error(const std::string& file, size_t line, const std::string& what) {
  throw std::runtime_error(file + ":" + std::to_string(line) + ": " + what);
}

// One NIST record being assembled.
struct NistRecord {
  size_t line = 0;  // of its Count line
  std::map<std::string, std::string> fields;
  bool fail = false;
};

}  // namespace

std::string vectors_dir() { return std::string(NICSIM_TRACES_DIR) + "/vectors"; }

std::vector<uint8_t> from_hex(const std::string& hex) {
  if (hex.size() % 2 != 0) throw std::runtime_error("from_hex: odd length: " + hex);
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit(hex[2 * i]);
    const int lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw std::runtime_error("from_hex: bad digit: " + hex);
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

std::vector<GcmVector> load_nist_rsp(const std::string& path, unsigned iv_bits,
                                     unsigned tag_bits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  const std::string file = base_name(path);
  // Group header values in bits, from "[Name = value]" lines.
  std::map<std::string, unsigned> group;
  std::vector<GcmVector> out;
  NistRecord rec;
  bool in_record = false;

  auto header = [&](const char* name, size_t line) -> unsigned {
    auto it = group.find(name);
    if (it == group.end()) parse_error(file, line, std::string("record before [") + name + "]");
    return it->second;
  };
  auto flush = [&]() {
    if (!in_record) return;
    in_record = false;
    const size_t line = rec.line;
    const unsigned key_bits = header("Keylen", line), ivlen = header("IVlen", line);
    const unsigned pt_bits = header("PTlen", line), aad_bits = header("AADlen", line);
    const unsigned taglen = header("Taglen", line);
    if (ivlen != iv_bits || taglen != tag_bits) return;
    GcmVector v;
    v.source = file + ":" + std::to_string(line);
    auto field = [&](const char* name, unsigned bits, std::vector<uint8_t>* dst) {
      auto it = rec.fields.find(name);
      if (it == rec.fields.end()) parse_error(file, line, std::string("record lacks ") + name);
      *dst = from_hex(it->second);
      if (dst->size() * 8 != bits) {
        parse_error(file, line, std::string(name) + " is " + std::to_string(dst->size() * 8) +
                                    " bits, group header says " + std::to_string(bits));
      }
    };
    field("Key", key_bits, &v.key);
    field("IV", ivlen, &v.iv);
    field("AAD", aad_bits, &v.aad);
    field("CT", pt_bits, &v.ct);
    field("Tag", taglen, &v.tag);
    const bool has_pt = rec.fields.count("PT") != 0;
    if (rec.fail == has_pt) parse_error(file, line, "record needs exactly one of PT and FAIL");
    if (has_pt) field("PT", pt_bits, &v.pt);
    v.valid = !rec.fail;
    out.push_back(std::move(v));
  };

  std::string raw;
  size_t line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string s = trim(raw);
    if (s.empty()) {
      flush();
      continue;
    }
    if (s[0] == '#') continue;
    if (s[0] == '[') {
      flush();
      const size_t eq = s.find('=');
      if (s.back() != ']' || eq == std::string::npos) parse_error(file, line_no, "bad header: " + s);
      const std::string name = trim(s.substr(1, eq - 1));
      const std::string val = trim(s.substr(eq + 1, s.size() - eq - 2));
      try {
        size_t used = 0;
        const unsigned long bits = std::stoul(val, &used);
        if (used != val.size()) throw std::invalid_argument(val);
        group[name] = static_cast<unsigned>(bits);
      } catch (const std::exception&) {
        parse_error(file, line_no, "bad header value: " + s);
      }
      continue;
    }
    if (s == "FAIL") {
      if (!in_record) parse_error(file, line_no, "FAIL outside a record");
      rec.fail = true;
      continue;
    }
    const size_t eq = s.find('=');
    if (eq == std::string::npos) parse_error(file, line_no, "unrecognised line: " + s);
    const std::string name = trim(s.substr(0, eq));
    const std::string val = trim(s.substr(eq + 1));
    if (name == "Count") {
      flush();
      rec = NistRecord{};
      rec.line = line_no;
      in_record = true;
      continue;
    }
    if (!in_record) parse_error(file, line_no, "field outside a record: " + s);
    if (name != "Key" && name != "IV" && name != "PT" && name != "AAD" && name != "CT" &&
        name != "Tag") {
      parse_error(file, line_no, "unknown field: " + name);
    }
    if (!rec.fields.emplace(name, val).second) parse_error(file, line_no, "duplicate " + name);
  }
  flush();
  return out;
}

std::vector<GcmVector> load_wycheproof(const std::string& path, unsigned iv_bits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  nlohmann::json doc;
  try {
    in >> doc;
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  std::vector<GcmVector> out;
  try {
    if (doc.at("algorithm").get<std::string>() != "AES-GCM") {
      throw std::runtime_error("algorithm is not AES-GCM");
    }
    for (const auto& g : doc.at("testGroups")) {
      const unsigned iv_size = g.at("ivSize").get<unsigned>();
      const unsigned key_size = g.at("keySize").get<unsigned>();
      const unsigned tag_size = g.at("tagSize").get<unsigned>();
      if (iv_size != iv_bits || (key_size != 128 && key_size != 256)) continue;
      for (const auto& t : g.at("tests")) {
        GcmVector v;
        const int id = t.at("tcId").get<int>();
        v.source = "wycheproof tcId " + std::to_string(id);
        v.key = from_hex(t.at("key").get<std::string>());
        v.iv = from_hex(t.at("iv").get<std::string>());
        v.aad = from_hex(t.at("aad").get<std::string>());
        v.pt = from_hex(t.at("msg").get<std::string>());
        v.ct = from_hex(t.at("ct").get<std::string>());
        v.tag = from_hex(t.at("tag").get<std::string>());
        const std::string result = t.at("result").get<std::string>();
        // "acceptable" would mean "either verdict is fine"; AES-GCM has none, so refuse it
        // rather than guess.
        if (result != "valid" && result != "invalid") {
          throw std::runtime_error(v.source + ": unexpected result " + result);
        }
        v.valid = result == "valid";
        for (const auto& f : t.at("flags")) v.flags.push_back(f.get<std::string>());
        // Invalid tests may carry malformed lengths on purpose (e.g. a truncated tag); valid
        // ones must agree with their group.
        if (v.key.size() * 8 != key_size || v.iv.size() * 8 != iv_size ||
            (v.valid && (v.tag.size() * 8 != tag_size || v.ct.size() != v.pt.size()))) {
          throw std::runtime_error(v.source + ": field sizes disagree with its group");
        }
        out.push_back(std::move(v));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  return out;
}

}  // namespace nicsim::testbench
