// SSLKEYLOGFILE lines in the NSS key log format: "<label> <client_random hex> <secret hex>".
#include <cstring>
#include <string>
#include <vector>

#include "host/trace/capture.h"

namespace nicsim::host::trace {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes hex; false with *err naming the field and the first bad digit.
bool decode_hex(const std::string& s, const char* field, std::vector<uint8_t>* out,
                std::string* err) {
  if (s.size() % 2 != 0) {
    *err = std::string(field) + ": odd number of hex digits (" + std::to_string(s.size()) + ")";
    return false;
  }
  out->assign(s.size() / 2, 0);
  for (size_t i = 0; i < s.size(); ++i) {
    int v = hex_val(s[i]);
    if (v < 0) {
      *err = std::string(field) + ": '" + s[i] + "' at position " + std::to_string(i + 1) +
             " is not a hex digit";
      return false;
    }
    (*out)[i / 2] = uint8_t((*out)[i / 2] << 4 | v);
  }
  return true;
}

bool is_tls13_label(const std::string& l) {
  static const char* const kFixed[] = {
      "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "EXPORTER_SECRET",
      "EARLY_EXPORTER_SECRET", "CLIENT_EARLY_TRAFFIC_SECRET"};
  for (const char* k : kFixed)
    if (l == k) return true;
  // CLIENT_TRAFFIC_SECRET_N / SERVER_TRAFFIC_SECRET_N: N is the KeyUpdate generation, decimal.
  for (const char* prefix : {"CLIENT_TRAFFIC_SECRET_", "SERVER_TRAFFIC_SECRET_"}) {
    size_t pl = std::strlen(prefix);
    if (l.size() > pl && l.compare(0, pl, prefix) == 0 &&
        l.find_first_not_of("0123456789", pl) == std::string::npos)
      return true;
  }
  return false;
}

}  // namespace

bool is_known_keylog_label(const std::string& label) {
  return label == "CLIENT_RANDOM" || label == "RSA" || is_tls13_label(label);
}

bool parse_keylog_line(const std::string& line, KeyLogLine* out, std::string* err) {
  err->clear();
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i >= line.size()) break;
    size_t j = i;
    while (j < line.size() && !is_blank(line[j])) ++j;
    fields.push_back(line.substr(i, j - i));
    i = j;
  }
  if (fields.empty() || fields[0][0] == '#') return false;  // blank or comment: not an error
  if (fields.size() != 3) {
    *err = "expected 3 fields (label client_random secret), got " + std::to_string(fields.size());
    return false;
  }
  KeyLogLine r;
  r.label = fields[0];
  if (!decode_hex(fields[1], "field 2", &r.client_random, err)) return false;
  // NSS's RSA lines carry the first 8 bytes of the encrypted pre-master secret instead.
  const size_t want_random = r.label == "RSA" ? 8 : 32;
  if (r.client_random.size() != want_random) {
    *err = std::string("field 2: ") +
           (r.label == "RSA" ? "encrypted pre-master prefix" : "client_random") + " must be " +
           std::to_string(want_random) + " bytes (" + std::to_string(2 * want_random) +
           " hex digits), got " + std::to_string(fields[1].size()) + " hex digits";
    return false;
  }
  if (!decode_hex(fields[2], "field 3", &r.secret, err)) return false;
  const size_t len = r.secret.size();
  if (len == 0) {
    *err = "field 3: secret is empty";
    return false;
  }
  if ((r.label == "CLIENT_RANDOM" || r.label == "RSA") && len != 48) {
    *err = "field 3: " + r.label + " secret must be 48 bytes (96 hex digits), got " +
           std::to_string(len) + " bytes";
    return false;
  }
  if (is_tls13_label(r.label) && len != 32 && len != 48) {
    // TLS 1.3 secrets are Hash.length: SHA-256 (32) or SHA-384 (48).
    *err = "field 3: " + r.label + " secret must be 32 or 48 bytes (SHA-256 / SHA-384), got " +
           std::to_string(len) + " bytes";
    return false;
  }
  *out = std::move(r);
  return true;
}

}  // namespace nicsim::host::trace
