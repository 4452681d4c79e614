// AES-GCM for the functional model: OpenSSL EVP underneath, streaming so that one record's
// GCM state carries across the packets (and DUMP segments) that make it up. The hardware
// never re-encrypts a prefix except where the driver replays it (DUMP) or the kernel falls back
// to software, so neither does this model.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nicsim::crypto {

enum class Cipher : uint8_t { aes128gcm, aes256gcm };
constexpr size_t kGcmIvBytes = 12;   // 96-bit nonce: the only size TLS uses
constexpr size_t kGcmTagBytes = 16;  // 128-bit tag: the only size TLS uses
inline constexpr size_t key_bytes(Cipher c) { return c == Cipher::aes128gcm ? 16 : 32; }
const char* cipher_name(Cipher c);                  // "aes128gcm" / "aes256gcm"
bool parse_cipher(const std::string& s, Cipher* c);  // inverse of cipher_name

// One GCM operation (one TLS record) at a time, re-keyable without reallocating. Not copyable.
// Typical use: set_key once per flow; per record: start(iv, aad), update() any number of times
// with any lengths (partial blocks carry over), finish_tag().
// Cost model: the OpenSSL context is allocated once (constructor); set_key expands the key
// (and allocates OpenSSL's provider context only when the cipher changes); start/update/finish
// never allocate. Any sequence of encryptions and decryptions may follow one set_key.
// Misuse (start before set_key, update outside start..finish, finish in the wrong direction)
// throws std::logic_error; an OpenSSL internal failure throws std::runtime_error. A moved-from
// stream is unkeyed and becomes usable again after set_key.
class AesGcmStream {
 public:
  AesGcmStream();
  ~AesGcmStream();
  AesGcmStream(const AesGcmStream&) = delete;
  AesGcmStream& operator=(const AesGcmStream&) = delete;
  AesGcmStream(AesGcmStream&&) noexcept;
  AesGcmStream& operator=(AesGcmStream&&) noexcept;

  // Installs the key (expands it once; later start() calls reuse the schedule).
  void set_key(Cipher c, const uint8_t* key);
  bool has_key() const { return keyed_; }
  Cipher cipher() const { return cipher_; }

  // Begins an encryption (or, with decrypt=true, a decryption) with a 12-byte IV and the AAD.
  void start(const uint8_t iv[kGcmIvBytes], const uint8_t* aad, size_t aad_len, bool decrypt = false);
  // Processes n bytes. out may equal in (in place). n may be 0.
  void update(const uint8_t* in, uint8_t* out, size_t n);
  // Encryption: writes the 16-byte tag. Ends the operation.
  void finish_tag(uint8_t tag[kGcmTagBytes]);
  // Decryption: true iff the tag matches (constant-time compare). Ends the operation. The bytes
  // update() wrote are unauthenticated until this returns true.
  bool finish_check(const uint8_t tag[kGcmTagBytes]);
  bool active() const { return active_; }

 private:
  void* ctx_ = nullptr;  // EVP_CIPHER_CTX*
  Cipher cipher_ = Cipher::aes128gcm;
  bool keyed_ = false;
  bool active_ = false;
  bool decrypt_ = false;
};

// One-shot helpers (tests, the software fallback, the peer's checks). They reuse one stream per
// thread and re-expand the key only when it differs from the previous call's. pt/ct may alias
// (in place). gcm_decrypt zeroes pt when the tag does not match.
void gcm_encrypt(Cipher c, const uint8_t* key, const uint8_t iv[kGcmIvBytes], const uint8_t* aad,
                 size_t aad_len, const uint8_t* pt, size_t n, uint8_t* ct,
                 uint8_t tag[kGcmTagBytes]);
bool gcm_decrypt(Cipher c, const uint8_t* key, const uint8_t iv[kGcmIvBytes], const uint8_t* aad,
                 size_t aad_len, const uint8_t* ct, size_t n, uint8_t* pt,
                 const uint8_t tag[kGcmTagBytes]);

}  // namespace nicsim::crypto
