// AES-GCM over OpenSSL 3 EVP. The hot path (start/update/finish per record) never allocates:
// the EVP_CIPHER_CTX lives as long as the stream, the key schedule is built once in set_key,
// and start() hands OpenSSL only the new IV.
#include "model/crypto/aes_gcm.h"

#include <openssl/evp.h>

#include <climits>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

namespace nicsim::crypto {

namespace {

EVP_CIPHER_CTX* as_ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

const EVP_CIPHER* evp_cipher(Cipher c) {
  return c == Cipher::aes128gcm ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
}

// OpenSSL failures here mean a broken library or memory exhaustion, never bad data (tag
// mismatches are reported through finish_check's return value), so they throw.
[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("AesGcmStream: OpenSSL failed in ") + what);
}

}  // namespace

const char* cipher_name(Cipher c) { return c == Cipher::aes128gcm ? "aes128gcm" : "aes256gcm"; }

bool parse_cipher(const std::string& s, Cipher* c) {
  if (s == "aes128gcm") {
    *c = Cipher::aes128gcm;
    return true;
  }
  if (s == "aes256gcm") {
    *c = Cipher::aes256gcm;
    return true;
  }
  return false;
}

AesGcmStream::AesGcmStream() : ctx_(EVP_CIPHER_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
}

AesGcmStream::~AesGcmStream() { EVP_CIPHER_CTX_free(as_ctx(ctx_)); }

AesGcmStream::AesGcmStream(AesGcmStream&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)),
      cipher_(o.cipher_),
      keyed_(std::exchange(o.keyed_, false)),
      active_(std::exchange(o.active_, false)),
      decrypt_(o.decrypt_) {}

AesGcmStream& AesGcmStream::operator=(AesGcmStream&& o) noexcept {
  if (this != &o) {
    EVP_CIPHER_CTX_free(as_ctx(ctx_));
    ctx_ = std::exchange(o.ctx_, nullptr);
    cipher_ = o.cipher_;
    keyed_ = std::exchange(o.keyed_, false);
    active_ = std::exchange(o.active_, false);
    decrypt_ = o.decrypt_;
  }
  return *this;
}

void AesGcmStream::set_key(Cipher c, const uint8_t* key) {
  if (ctx_ == nullptr) {  // a moved-from stream becomes usable again
    ctx_ = EVP_CIPHER_CTX_new();
    if (ctx_ == nullptr) throw std::bad_alloc();
    keyed_ = false;
  }
  EVP_CIPHER_CTX* ctx = as_ctx(ctx_);
  // Passing a cipher makes OpenSSL reset the context and allocate a new provider context, so
  // only do that when the cipher changes; a re-key with the same cipher passes key alone.
  // GCM uses the block cipher forward only, so one schedule serves both directions.
  const EVP_CIPHER* cipher_arg = (keyed_ && cipher_ == c) ? nullptr : evp_cipher(c);
  keyed_ = false;
  active_ = false;
  if (EVP_CipherInit_ex(ctx, cipher_arg, nullptr, key, nullptr, 1) != 1) fail("set_key");
  // 12 is OpenSSL's default GCM IV length; state it so a different default cannot slip in.
  if (cipher_arg != nullptr &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kGcmIvBytes), nullptr) !=
          1) {
    fail("SET_IVLEN");
  }
  cipher_ = c;
  keyed_ = true;
}

void AesGcmStream::start(const uint8_t iv[kGcmIvBytes], const uint8_t* aad, size_t aad_len,
                         bool decrypt) {
  if (!keyed_) throw std::logic_error("AesGcmStream::start before set_key");
  EVP_CIPHER_CTX* ctx = as_ctx(ctx_);
  // cipher and key NULL: keep the schedule, load the IV (resets the GHASH and counter state).
  // enc chooses the direction; OpenSSL's GCM accepts a direction change here without a re-key.
  active_ = false;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv, decrypt ? 0 : 1) != 1) fail("start");
  if (aad_len > 0) {
    int outl = 0;
    while (aad_len > 0) {
      const int chunk = aad_len > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(aad_len);
      if (EVP_CipherUpdate(ctx, nullptr, &outl, aad, chunk) != 1) fail("AAD update");
      aad += chunk;
      aad_len -= static_cast<size_t>(chunk);
    }
  }
  decrypt_ = decrypt;
  active_ = true;
}

void AesGcmStream::update(const uint8_t* in, uint8_t* out, size_t n) {
  if (!active_) throw std::logic_error("AesGcmStream::update outside start/finish");
  EVP_CIPHER_CTX* ctx = as_ctx(ctx_);
  while (n > 0) {
    const int chunk = n > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
    int outl = 0;
    // GCM is a stream mode: OpenSSL carries a partial block internally and returns every byte.
    if (EVP_CipherUpdate(ctx, out, &outl, in, chunk) != 1 || outl != chunk) fail("update");
    in += chunk;
    out += chunk;
    n -= static_cast<size_t>(chunk);
  }
}

void AesGcmStream::finish_tag(uint8_t tag[kGcmTagBytes]) {
  if (!active_ || decrypt_) throw std::logic_error("AesGcmStream::finish_tag without encryption");
  EVP_CIPHER_CTX* ctx = as_ctx(ctx_);
  active_ = false;
  int outl = 0;
  uint8_t none[1];
  if (EVP_CipherFinal_ex(ctx, none, &outl) != 1 || outl != 0) fail("final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes), tag) != 1) {
    fail("GET_TAG");
  }
}

bool AesGcmStream::finish_check(const uint8_t tag[kGcmTagBytes]) {
  if (!active_ || !decrypt_) throw std::logic_error("AesGcmStream::finish_check without decryption");
  EVP_CIPHER_CTX* ctx = as_ctx(ctx_);
  active_ = false;
  // OpenSSL takes a non-const pointer but only copies the tag.
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes),
                          const_cast<uint8_t*>(tag)) != 1) {
    fail("SET_TAG");
  }
  int outl = 0;
  uint8_t none[1];
  // Final compares in constant time; <= 0 is a tag mismatch.
  return EVP_CipherFinal_ex(ctx, none, &outl) == 1;
}

namespace {

// The one-shot helpers reuse one stream per thread and skip the key expansion when the key is
// the one used last (the usual case for the fallback and the peer: many records, one key).
// Each call runs start..finish without yielding, so SystemC coroutines sharing the OS thread
// cannot interleave on it.
AesGcmStream& cached_stream(Cipher c, const uint8_t* key) {
  thread_local AesGcmStream stream;
  thread_local uint8_t last_key[32];
  const size_t kb = key_bytes(c);
  if (!stream.has_key() || stream.cipher() != c || std::memcmp(last_key, key, kb) != 0) {
    stream.set_key(c, key);
    std::memcpy(last_key, key, kb);
  }
  return stream;
}

}  // namespace

void gcm_encrypt(Cipher c, const uint8_t* key, const uint8_t iv[kGcmIvBytes], const uint8_t* aad,
                 size_t aad_len, const uint8_t* pt, size_t n, uint8_t* ct,
                 uint8_t tag[kGcmTagBytes]) {
  AesGcmStream& s = cached_stream(c, key);
  s.start(iv, aad, aad_len, false);
  s.update(pt, ct, n);
  s.finish_tag(tag);
}

bool gcm_decrypt(Cipher c, const uint8_t* key, const uint8_t iv[kGcmIvBytes], const uint8_t* aad,
                 size_t aad_len, const uint8_t* ct, size_t n, uint8_t* pt,
                 const uint8_t tag[kGcmTagBytes]) {
  AesGcmStream& s = cached_stream(c, key);
  s.start(iv, aad, aad_len, true);
  s.update(ct, pt, n);
  if (s.finish_check(tag)) return true;
  // Never hand out unauthenticated plaintext.
  if (n > 0) std::memset(pt, 0, n);
  return false;
}

}  // namespace nicsim::crypto
