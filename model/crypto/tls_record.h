// TLS record protection with AES-GCM (RFC 5288 for TLS 1.2, RFC 8446 §5.2-5.3 for TLS 1.3):
// the nonce and AAD constructions the kernel, the NIC and the peer must agree on byte for byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/crypto/aes_gcm.h"

namespace nicsim::crypto {

enum class TlsVersion : uint16_t { tls12 = 0x0303, tls13 = 0x0304 };

constexpr size_t kTlsHeaderBytes = 5;
constexpr size_t kTls12ExplicitNonceBytes = 8;
constexpr size_t kTlsSaltBytes = 4;
constexpr size_t kTlsMaxPayload = 16384;  // TLS_MAX_PAYLOAD_SIZE, 2^14
constexpr uint8_t kTlsContentAppData = 0x17;
constexpr uint8_t kTlsContentAlert = 0x15;
constexpr uint8_t kTlsContentHandshake = 0x16;

// prepend_size of init_prot_info: header + explicit nonce (1.2) or header only (1.3).
inline constexpr size_t tls_prepend_bytes(TlsVersion v) {
  return v == TlsVersion::tls12 ? kTlsHeaderBytes + kTls12ExplicitNonceBytes : kTlsHeaderBytes;
}
// tail_size: TLS 1.3 carries the real content type as the last plaintext byte.
inline constexpr size_t tls_tail_bytes(TlsVersion v) { return v == TlsVersion::tls13 ? 1 : 0; }
// prepend + tail + tag: 29 (1.2) or 22 (1.3).
inline constexpr size_t tls_overhead_bytes(TlsVersion v) {
  return tls_prepend_bytes(v) + tls_tail_bytes(v) + kGcmTagBytes;
}

// TLS 1.2: nonce = salt(4) || explicit_nonce(8).
void tls12_nonce(const uint8_t salt[4], const uint8_t explicit_nonce[8], uint8_t nonce[12]);
// TLS 1.3: nonce = (salt || iv) XOR (0^4 || seq BE64).
void tls13_nonce(const uint8_t salt[4], const uint8_t iv[8], uint64_t seq, uint8_t nonce[12]);
// TLS 1.2 AAD (13 B): seq BE64 || type || 0x03 0x03 || plaintext_len BE16.
void tls12_aad(uint64_t seq, uint8_t type, uint16_t plaintext_len, uint8_t aad[13]);

struct TlsKeys {
  TlsVersion version = TlsVersion::tls12;
  Cipher cipher = Cipher::aes128gcm;
  uint8_t key[32] = {};
  uint8_t salt[4] = {};  // implicit IV (1.2) / first 4 bytes of the static IV (1.3)
  uint8_t iv[8] = {};    // 1.2: explicit nonce of record rec_seq0; 1.3: last 8 bytes of static IV
  // TLS 1.2 only: the record number whose explicit nonce is iv (crypto_info.rec_seq of the
  // kernel, the first record the key was installed for). Ignored by TLS 1.3.
  uint64_t rec_seq0 = 0;
};

// TLS 1.2 explicit nonce of record seq when the caller gives none, the kernel's rule
// (tls_device.c advances tx.iv together with tx.rec_seq, one per record, control records
// included): BE64(iv) + (seq - rec_seq0), modulo 2^64, written big-endian.
// With rec_seq0 = 0 (the default) this is simply BE64(iv) + seq.
void tls12_explicit_nonce(const TlsKeys& k, uint64_t seq, uint8_t explicit_nonce[8]);

// Reference whole-record protection, as a TLS library does it (the oracle for the NIC's
// streaming path and the software fallback). For TLS 1.2 explicit_nonce is the 8 bytes put on
// the wire; nullptr means tls12_explicit_nonce(k, seq) (BE64(k.iv) + seq - k.rec_seq0).
// Ignored for TLS 1.3 (nonce = (salt||iv) XOR seq). type is the real content type (1.3 hides
// it inside, with no padding, as kTLS does). Returns header..tag: n + 29 bytes (1.2) or
// n + 22 (1.3). Throws std::invalid_argument when n > kTlsMaxPayload or (1.3) type == 0.
std::vector<uint8_t> tls_seal_record(const TlsKeys& k, uint64_t seq, uint8_t type,
                                     const uint8_t* pt, size_t n,
                                     const uint8_t explicit_nonce[8] = nullptr);
// Inverse: checks the tag; on success writes the content type and the plaintext (1.3: without
// the inner type byte, padding zeros stripped). False on any malformation or tag failure:
// rec_len != 5 + header length, version bytes not 03 03, 1.3 outer type not 0x17, length below
// the minimum (1.2: 8 + 16, 1.3: 1 + 16) or above RFC limits (ciphertext 2^14 + 2048 (1.2) /
// 2^14 + 256 (1.3); content 2^14), 1.3 inner plaintext all zeros. The 1.2 explicit nonce is
// taken from the record, not checked against k.iv. On false, pt is left empty and *type
// untouched. type and pt may be nullptr when the caller only wants the verdict.
bool tls_open_record(const TlsKeys& k, uint64_t seq, const uint8_t* rec, size_t rec_len,
                     uint8_t* type, std::vector<uint8_t>* pt);

}  // namespace nicsim::crypto
