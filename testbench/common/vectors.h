// Readers for the committed AES-GCM known-answer vectors (traces/vectors/): NIST CAVP GCMVS
// response files and Project Wycheproof JSON. Shared by the model's and the RTL's tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nicsim::testbench {

struct GcmVector {
  std::string source;        // "gcmEncryptExtIV128.rsp:123" or "wycheproof tcId 17"
  std::vector<uint8_t> key, iv, aad, pt, ct, tag;
  bool valid = true;         // false: decryption must reject (NIST FAIL, Wycheproof invalid)
  std::vector<std::string> flags;  // Wycheproof flags
};

// Directory holding the committed vectors (NICSIM_TRACES_DIR "/vectors").
std::string vectors_dir();
// All records of a NIST .rsp file with the given IV and tag lengths (bits). Throws
// std::runtime_error naming file and line on a malformed record.
std::vector<GcmVector> load_nist_rsp(const std::string& path, unsigned iv_bits = 96,
                                     unsigned tag_bits = 128);
// Wycheproof aes_gcm_test.json tests with the given IV size (bits) and key sizes 128/256 only.
std::vector<GcmVector> load_wycheproof(const std::string& path, unsigned iv_bits = 96);
std::vector<uint8_t> from_hex(const std::string& hex);  // throws on odd length / bad digit
std::string to_hex(const uint8_t* p, size_t n);

}  // namespace nicsim::testbench
