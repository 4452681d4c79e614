#include "host/peer/deterministic_rand.h"

#include <openssl/rand.h>

#include <cstring>
#include <mutex>

namespace nicsim::host::peer {

namespace detail {

namespace {
inline uint32_t rotl32(uint32_t v, int c) { return (v << c) | (v >> (32 - c)); }
inline void quarter_round(uint32_t* x, int a, int b, int c, int d) {
  x[a] += x[b]; x[d] ^= x[a]; x[d] = rotl32(x[d], 16);
  x[c] += x[d]; x[b] ^= x[c]; x[b] = rotl32(x[b], 12);
  x[a] += x[b]; x[d] ^= x[a]; x[d] = rotl32(x[d], 8);
  x[c] += x[d]; x[b] ^= x[c]; x[b] = rotl32(x[b], 7);
}
}  // namespace

void chacha20_block(const uint32_t state[16], uint8_t out[64]) {
  uint32_t x[16];
  std::memcpy(x, state, sizeof x);
  for (int i = 0; i < 10; ++i) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 1, 5, 9, 13);
    quarter_round(x, 2, 6, 10, 14);
    quarter_round(x, 3, 7, 11, 15);
    quarter_round(x, 0, 5, 10, 15);
    quarter_round(x, 1, 6, 11, 12);
    quarter_round(x, 2, 7, 8, 13);
    quarter_round(x, 3, 4, 9, 14);
  }
  for (int i = 0; i < 16; ++i) {
    const uint32_t v = x[i] + state[i];
    out[4 * i + 0] = static_cast<uint8_t>(v);
    out[4 * i + 1] = static_cast<uint8_t>(v >> 8);
    out[4 * i + 2] = static_cast<uint8_t>(v >> 16);
    out[4 * i + 3] = static_cast<uint8_t>(v >> 24);
  }
}

}  // namespace detail

namespace {

// One ChaCha20 keystream position. Trivially destructible on purpose: OpenSSL's atexit cleanup
// may still run after static destructors, and nothing here needs tearing down.
struct Stream {
  uint32_t state[16] = {};
  uint8_t block[64] = {};
  size_t used = 64;  // bytes of `block` already served; 64 = need a new block

  void init(uint64_t seed, uint64_t stream_id) {
    // "expand 32-byte k" (RFC 8439 §2.3)
    state[0] = 0x61707865;
    state[1] = 0x3320646e;
    state[2] = 0x79622d32;
    state[3] = 0x6b206574;
    // Key words 0..1: the seed, little-endian.
    state[4] = static_cast<uint32_t>(seed);
    state[5] = static_cast<uint32_t>(seed >> 32);
    // 24 label bytes fill key words 2..7 (little-endian words, as ChaCha20 loads its key).
    static const char kLabel[] = "nicsim-deterministic-rnd";
    static_assert(sizeof(kLabel) == 24 + 1, "label must fill 6 key words");
    for (int i = 0; i < 6; ++i) {
      uint32_t w = 0;
      for (int b = 3; b >= 0; --b) w = (w << 8) | static_cast<uint8_t>(kLabel[4 * i + b]);
      state[6 + i] = w;
    }
    state[12] = 0;
    state[13] = 0;
    state[14] = static_cast<uint32_t>(stream_id);
    state[15] = static_cast<uint32_t>(stream_id >> 32);
    used = 64;
  }

  void fill(uint8_t* out, size_t n) {
    while (n > 0) {
      if (used == 64) {
        detail::chacha20_block(state, block);
        // 64-bit block counter in words 12..13.
        if (++state[12] == 0) ++state[13];
        used = 0;
      }
      const size_t take = n < 64 - used ? n : 64 - used;
      std::memcpy(out, block + used, take);
      used += take;
      out += take;
      n -= take;
    }
  }
};

struct Generator {
  std::mutex mu;
  bool installed = false;
  uint64_t seed = 0;
  Stream main;
  Stream sub;
  bool in_sub = false;
  uint64_t drawn = 0;
};

Generator& generator() {
  // Never destroyed: OpenSSL may call the RAND method from its own atexit handler.
  static Generator* g = new Generator();
  return *g;
}

int rand_bytes(unsigned char* buf, int num) {
  if (num <= 0) return 1;
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.in_sub) {
    g.sub.fill(buf, static_cast<size_t>(num));
  } else {
    g.main.fill(buf, static_cast<size_t>(num));
    g.drawn += static_cast<uint64_t>(num);
  }
  return 1;
}

// Seeding input from OpenSSL (RAND_seed/RAND_add) is ignored on purpose: it would carry
// wall-clock or entropy-pool data into the stream and break determinism.
int rand_seed(const void*, int) { return 1; }
int rand_add(const void*, int, double) { return 1; }
int rand_status() { return 1; }

}  // namespace

void install_deterministic_rand(uint64_t seed) {
  Generator& g = generator();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.seed = seed;
    g.main.init(seed, 0);
    g.in_sub = false;
    g.drawn = 0;
  }
  if (!g.installed) {
    // RAND_METHOD and RAND_set_rand_method are deprecated in OpenSSL 3.0 (the replacement is an
    // EVP_RAND provider), but 3.0 still honours a non-default method in RAND_bytes_ex and
    // RAND_priv_bytes_ex, which is where libssl (randoms, session ids), the EC/X25519 key
    // generators (ECDHE shares), ECDSA (nonce k) and the GCM provider (TLS 1.2 explicit-nonce
    // start) all draw their bytes. That makes this the smallest way to get the determinism
    // nicsim requires: the same seed gives identical handshakes, captures and key logs.
    // A method is a table of plain function pointers with static storage: it must outlive
    // OpenSSL's own cleanup.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    static const RAND_METHOD kMethod = {
        rand_seed,    // seed
        rand_bytes,   // bytes
        nullptr,      // cleanup
        rand_add,     // add
        rand_bytes,   // pseudorand
        rand_status,  // status
    };
    RAND_set_rand_method(&kMethod);
#pragma GCC diagnostic pop
    std::lock_guard<std::mutex> lock(g.mu);
    g.installed = true;
  }
}

bool deterministic_rand_installed() {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  return g.installed;
}

uint64_t deterministic_rand_seed() {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  return g.installed ? g.seed : 0;
}

uint64_t deterministic_rand_bytes_drawn() {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  return g.drawn;
}

ScopedRandSubstream::ScopedRandSubstream(uint64_t stream_id) {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  g.sub.init(g.seed, stream_id);
  g.in_sub = true;
}

ScopedRandSubstream::~ScopedRandSubstream() {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  g.in_sub = false;
}

namespace detail {
void keystream(uint64_t seed, uint64_t stream_id, uint8_t* out, size_t n) {
  Stream s;
  s.init(seed, stream_id);
  s.fill(out, n);
}
}  // namespace detail

}  // namespace nicsim::host::peer
