// TLS traffic-key derivation from SSLKEYLOGFILE secrets: the host installs offload keys from
// them (as an application would from its TLS library) and replay derives the same keys.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nicsim::host::trace {

enum class PrfHash { sha256, sha384 };
size_t hash_len(PrfHash h);  // 32 or 48

// All functions return false / an empty vector on bad arguments (a secret whose length is not
// the hash length for TLS 1.3, a zero or oversize output length) or an OpenSSL failure.

// RFC 8446 §7.1 HKDF-Expand-Label(secret, label, context, length): HKDF-Expand (RFC 5869) of
// the HkdfLabel {uint16 length; opaque label<7..255> = "tls13 " + label; opaque
// context<0..255>}. secret is used as the PRK as it is (any length).
std::vector<uint8_t> hkdf_expand_label(PrfHash h, const std::vector<uint8_t>& secret,
                                       const std::string& label,
                                       const std::vector<uint8_t>& context, size_t length);
// RFC 5246 §5: PRF(secret, label, seed) = P_<hash>(secret, label + seed), out_len bytes.
bool tls12_prf(PrfHash h, const uint8_t* secret, size_t secret_len, const std::string& label,
               const uint8_t* seed, size_t seed_len, uint8_t* out, size_t out_len);

// TLS 1.3 (RFC 8446 §7.1, §7.3): key = HKDF-Expand-Label(secret, "key", "", key_len),
// iv = HKDF-Expand-Label(secret, "iv", "", 12). secret length = hash length.
bool tls13_traffic_keys(PrfHash h, const std::vector<uint8_t>& secret, size_t key_len,
                        uint8_t* key, uint8_t iv[12]);
// TLS 1.3 KeyUpdate (§7.2): next secret = HKDF-Expand-Label(secret, "traffic upd", "", Hash.length).
std::vector<uint8_t> tls13_next_secret(PrfHash h, const std::vector<uint8_t>& secret);
// TLS 1.2 AES-GCM (RFC 5246 §6.3, RFC 5288): key_block = PRF(master_secret, "key expansion",
// server_random || client_random) = client_write_key, server_write_key, client_write_IV(4),
// server_write_IV(4). No MAC keys for AEAD suites.
bool tls12_gcm_keys(PrfHash h, const uint8_t master[48], const uint8_t client_random[32],
                    const uint8_t server_random[32], size_t key_len, uint8_t* client_key,
                    uint8_t* server_key, uint8_t client_salt[4], uint8_t server_salt[4]);

}  // namespace nicsim::host::trace
