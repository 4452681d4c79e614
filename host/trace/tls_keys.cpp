// TLS key schedules through OpenSSL 3's EVP_KDF: "HKDF" in expand-only mode for TLS 1.3 and
// "TLS1-PRF" for TLS 1.2.
#include "host/trace/tls_keys.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>

namespace nicsim::host::trace {

namespace {

const char* digest_name(PrfHash h) { return h == PrfHash::sha384 ? "SHA384" : "SHA256"; }

// Fetched once per process: fetching walks the provider tables and is slow next to a derive.
// EVP_KDF objects are reference counted and safe to share between threads.
EVP_KDF* fetch_kdf(const char* name) {
  return EVP_KDF_fetch(nullptr, name, nullptr);
}
EVP_KDF* hkdf() {
  static EVP_KDF* k = fetch_kdf("HKDF");
  return k;
}
EVP_KDF* tls1_prf() {
  static EVP_KDF* k = fetch_kdf("TLS1-PRF");
  return k;
}

bool derive(EVP_KDF* kdf, OSSL_PARAM* params, uint8_t* out, size_t out_len) {
  if (kdf == nullptr) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == nullptr) return false;
  bool ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

}  // namespace

size_t hash_len(PrfHash h) { return h == PrfHash::sha384 ? 48 : 32; }

std::vector<uint8_t> hkdf_expand_label(PrfHash h, const std::vector<uint8_t>& secret,
                                       const std::string& label,
                                       const std::vector<uint8_t>& context, size_t length) {
  const std::string full_label = "tls13 " + label;
  // RFC 8446 §7.1 bounds: label<7..255>, context<0..255>, and HKDF-Expand's L <= 255*HashLen.
  if (label.empty() || full_label.size() > 255 || context.size() > 255 || length == 0 ||
      length > 255 * hash_len(h) || length > 0xffff || secret.empty())
    return {};
  std::vector<uint8_t> info;
  info.reserve(2 + 1 + full_label.size() + 1 + context.size());
  info.push_back(uint8_t(length >> 8));
  info.push_back(uint8_t(length));
  info.push_back(uint8_t(full_label.size()));
  info.insert(info.end(), full_label.begin(), full_label.end());
  info.push_back(uint8_t(context.size()));
  info.insert(info.end(), context.begin(), context.end());

  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest_name(h)),
                                       0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  std::vector<uint8_t> out(length);
  if (!derive(hkdf(), params, out.data(), out.size())) return {};
  return out;
}

bool tls12_prf(PrfHash h, const uint8_t* secret, size_t secret_len, const std::string& label,
               const uint8_t* seed, size_t seed_len, uint8_t* out, size_t out_len) {
  if (out_len == 0 || secret_len == 0) return false;
  // The PRF's seed is label || seed (RFC 5246 §5); OpenSSL takes it as one SEED parameter.
  std::vector<uint8_t> full_seed(label.begin(), label.end());
  full_seed.insert(full_seed.end(), seed, seed + seed_len);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest_name(h)),
                                       0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, const_cast<uint8_t*>(secret),
                                        secret_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, full_seed.data(), full_seed.size()),
      OSSL_PARAM_construct_end()};
  return derive(tls1_prf(), params, out, out_len);
}

bool tls13_traffic_keys(PrfHash h, const std::vector<uint8_t>& secret, size_t key_len,
                        uint8_t* key, uint8_t iv[12]) {
  if (secret.size() != hash_len(h) || key_len == 0) return false;
  std::vector<uint8_t> k = hkdf_expand_label(h, secret, "key", {}, key_len);
  std::vector<uint8_t> v = hkdf_expand_label(h, secret, "iv", {}, 12);
  if (k.size() != key_len || v.size() != 12) return false;
  std::memcpy(key, k.data(), key_len);
  std::memcpy(iv, v.data(), 12);
  return true;
}

std::vector<uint8_t> tls13_next_secret(PrfHash h, const std::vector<uint8_t>& secret) {
  if (secret.size() != hash_len(h)) return {};
  return hkdf_expand_label(h, secret, "traffic upd", {}, hash_len(h));
}

bool tls12_gcm_keys(PrfHash h, const uint8_t master[48], const uint8_t client_random[32],
                    const uint8_t server_random[32], size_t key_len, uint8_t* client_key,
                    uint8_t* server_key, uint8_t client_salt[4], uint8_t server_salt[4]) {
  if (key_len == 0 || key_len > 32) return false;
  // RFC 5246 §6.3: the key expansion seed is server_random + client_random (the reverse of
  // the master secret's).
  uint8_t seed[64];
  std::memcpy(seed, server_random, 32);
  std::memcpy(seed + 32, client_random, 32);
  uint8_t block[2 * 32 + 2 * 4];
  const size_t block_len = 2 * key_len + 2 * 4;
  if (!tls12_prf(h, master, 48, "key expansion", seed, sizeof seed, block, block_len))
    return false;
  std::memcpy(client_key, block, key_len);
  std::memcpy(server_key, block + key_len, key_len);
  std::memcpy(client_salt, block + 2 * key_len, 4);
  std::memcpy(server_salt, block + 2 * key_len + 4, 4);
  return true;
}

}  // namespace nicsim::host::trace
