// TLS record nonces, AAD and whole-record seal/open (RFC 5288 / RFC 8446 §5.2-5.3, the
// kernel's tls_make_aad / tls_xor_iv_with_seq constructions).
#include "model/crypto/tls_record.h"

#include <cstring>
#include <stdexcept>

namespace nicsim::crypto {

namespace {

void put_be64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

uint64_t get_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void put_header(uint8_t type, size_t len, uint8_t* p) {
  p[0] = type;
  p[1] = 0x03;  // legacy_record_version 0x0303 for both 1.2 and 1.3
  p[2] = 0x03;
  p[3] = static_cast<uint8_t>(len >> 8);
  p[4] = static_cast<uint8_t>(len);
}

// RFC 5246 §6.2.3 (plus RFC 5288's 8-byte explicit nonce) and RFC 8446 §5.2.
constexpr size_t kTls12MaxCiphertext = kTlsMaxPayload + 2048;
constexpr size_t kTls13MaxCiphertext = kTlsMaxPayload + 256;

}  // namespace

void tls12_nonce(const uint8_t salt[4], const uint8_t explicit_nonce[8], uint8_t nonce[12]) {
  std::memcpy(nonce, salt, kTlsSaltBytes);
  std::memcpy(nonce + kTlsSaltBytes, explicit_nonce, kTls12ExplicitNonceBytes);
}

void tls13_nonce(const uint8_t salt[4], const uint8_t iv[8], uint64_t seq, uint8_t nonce[12]) {
  std::memcpy(nonce, salt, kTlsSaltBytes);
  uint8_t seq_be[8];
  put_be64(seq, seq_be);
  for (size_t i = 0; i < 8; ++i) nonce[kTlsSaltBytes + i] = iv[i] ^ seq_be[i];
}

void tls12_aad(uint64_t seq, uint8_t type, uint16_t plaintext_len, uint8_t aad[13]) {
  put_be64(seq, aad);
  aad[8] = type;
  aad[9] = 0x03;
  aad[10] = 0x03;
  aad[11] = static_cast<uint8_t>(plaintext_len >> 8);
  aad[12] = static_cast<uint8_t>(plaintext_len);
}

void tls12_explicit_nonce(const TlsKeys& k, uint64_t seq, uint8_t explicit_nonce[8]) {
  // Unsigned arithmetic wraps modulo 2^64, as the kernel's tls_bigint_increment does.
  put_be64(get_be64(k.iv) + (seq - k.rec_seq0), explicit_nonce);
}

std::vector<uint8_t> tls_seal_record(const TlsKeys& k, uint64_t seq, uint8_t type,
                                     const uint8_t* pt, size_t n,
                                     const uint8_t explicit_nonce[8]) {
  if (n > kTlsMaxPayload) throw std::invalid_argument("tls_seal_record: plaintext over 2^14");
  uint8_t nonce[kGcmIvBytes];
  uint8_t tag[kGcmTagBytes];
  if (k.version == TlsVersion::tls12) {
    std::vector<uint8_t> rec(tls_overhead_bytes(TlsVersion::tls12) + n);
    uint8_t* p = rec.data();
    put_header(type, kTls12ExplicitNonceBytes + n + kGcmTagBytes, p);
    if (explicit_nonce != nullptr) {
      std::memcpy(p + kTlsHeaderBytes, explicit_nonce, kTls12ExplicitNonceBytes);
    } else {
      tls12_explicit_nonce(k, seq, p + kTlsHeaderBytes);
    }
    tls12_nonce(k.salt, p + kTlsHeaderBytes, nonce);
    uint8_t aad[13];
    tls12_aad(seq, type, static_cast<uint16_t>(n), aad);
    uint8_t* ct = p + tls_prepend_bytes(TlsVersion::tls12);
    gcm_encrypt(k.cipher, k.key, nonce, aad, sizeof aad, pt, n, ct, tag);
    std::memcpy(ct + n, tag, kGcmTagBytes);
    return rec;
  }
  if (type == 0) throw std::invalid_argument("tls_seal_record: TLS 1.3 content type 0");
  std::vector<uint8_t> rec(tls_overhead_bytes(TlsVersion::tls13) + n);
  uint8_t* p = rec.data();
  // The header is the AAD: it must be final before encryption starts.
  put_header(kTlsContentAppData, n + 1 + kGcmTagBytes, p);
  tls13_nonce(k.salt, k.iv, seq, nonce);
  uint8_t* ct = p + kTlsHeaderBytes;
  // Inner plaintext = content || type: copy it into place and encrypt in one pass.
  if (n > 0) std::memcpy(ct, pt, n);
  ct[n] = type;
  gcm_encrypt(k.cipher, k.key, nonce, p, kTlsHeaderBytes, ct, n + 1, ct, tag);
  std::memcpy(ct + n + 1, tag, kGcmTagBytes);
  return rec;
}

bool tls_open_record(const TlsKeys& k, uint64_t seq, const uint8_t* rec, size_t rec_len,
                     uint8_t* type, std::vector<uint8_t>* pt) {
  if (pt != nullptr) pt->clear();
  if (rec == nullptr || rec_len < kTlsHeaderBytes) return false;
  if (rec[1] != 0x03 || rec[2] != 0x03) return false;
  const size_t len = (static_cast<size_t>(rec[3]) << 8) | rec[4];
  if (rec_len != kTlsHeaderBytes + len) return false;
  std::vector<uint8_t> local;
  std::vector<uint8_t>& out = pt != nullptr ? *pt : local;
  uint8_t nonce[kGcmIvBytes];

  if (k.version == TlsVersion::tls12) {
    if (len < kTls12ExplicitNonceBytes + kGcmTagBytes || len > kTls12MaxCiphertext) return false;
    const size_t n = len - kTls12ExplicitNonceBytes - kGcmTagBytes;
    if (n > kTlsMaxPayload) return false;
    const uint8_t* ct = rec + tls_prepend_bytes(TlsVersion::tls12);
    tls12_nonce(k.salt, rec + kTlsHeaderBytes, nonce);
    uint8_t aad[13];
    tls12_aad(seq, rec[0], static_cast<uint16_t>(n), aad);
    out.resize(n);
    if (!gcm_decrypt(k.cipher, k.key, nonce, aad, sizeof aad, ct, n, out.data(), ct + n)) {
      out.clear();
      return false;
    }
    if (type != nullptr) *type = rec[0];
    return true;
  }

  if (rec[0] != kTlsContentAppData) return false;
  if (len < 1 + kGcmTagBytes || len > kTls13MaxCiphertext) return false;
  const size_t inner = len - kGcmTagBytes;
  const uint8_t* ct = rec + kTlsHeaderBytes;
  tls13_nonce(k.salt, k.iv, seq, nonce);
  out.resize(inner);
  if (!gcm_decrypt(k.cipher, k.key, nonce, rec, kTlsHeaderBytes, ct, inner, out.data(),
                   ct + inner)) {
    out.clear();
    return false;
  }
  // RFC 8446 §5.4: the content type is the last non-zero byte; zeros after it are padding.
  size_t end = inner;
  while (end > 0 && out[end - 1] == 0) --end;
  if (end == 0 || end - 1 > kTlsMaxPayload) {  // no type byte / record_overflow
    out.clear();
    return false;
  }
  const uint8_t inner_type = out[end - 1];
  out.resize(end - 1);
  if (type != nullptr) *type = inner_type;
  return true;
}

}  // namespace nicsim::crypto
