// A seeded, deterministic replacement for OpenSSL's random number generator, so that every TLS
// handshake nicsim runs (client/server randoms, session ids, ECDHE key shares, ECDSA nonces, the
// TLS 1.2 GCM explicit-nonce start, the server certificate) is a pure function of the run's
// seed: same seed, byte-identical captures and key logs (design.md, "Determinism").
//
// It is NOT a cryptographically secure generator for real use: the seed is 64 bits and is
// usually a small configured number. nicsim only simulates; nothing it protects is secret.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nicsim::host::peer {

// Installs (first call) or re-seeds (later calls) the process-wide OpenSSL RAND method. After
// the call, the generator is at the start of the stream for `seed`, so a program that makes the
// same OpenSSL calls in the same order after it sees the same bytes. OpenSSL's RAND method is
// global to the process: all threads share one stream, so determinism holds only when the
// order of OpenSSL calls is itself deterministic (nicsim runs its TLS endpoints on one thread).
void install_deterministic_rand(uint64_t seed);
bool deterministic_rand_installed();
uint64_t deterministic_rand_seed();  // 0 when not installed
// Bytes served to OpenSSL from the main stream since the last install (diagnostics and tests:
// proves that OpenSSL really draws from this generator).
uint64_t deterministic_rand_bytes_drawn();

// While an object of this type lives, OpenSSL draws from an independent sub-stream of the
// current seed (stream_id != 0; 0 is the main stream), starting at its beginning. Used to build
// the shared server certificate lazily without shifting the main stream: the handshake bytes of
// a run do not depend on whether the certificate had already been built by an earlier run.
// Not reentrant (one at a time); the main stream's position is restored on destruction.
class ScopedRandSubstream {
 public:
  explicit ScopedRandSubstream(uint64_t stream_id);
  ~ScopedRandSubstream();
  ScopedRandSubstream(const ScopedRandSubstream&) = delete;
  ScopedRandSubstream& operator=(const ScopedRandSubstream&) = delete;
};

constexpr uint64_t kCertificateRandStream = 1;

namespace detail {
// The ChaCha20 block function (RFC 8439 §2.3): out = serialize(state + 20 rounds(state)).
// Exposed so that the unit test can check it against RFC 8439's vector.
void chacha20_block(const uint32_t state[16], uint8_t out[64]);
// Fills out with the keystream of (seed, stream_id) from byte offset 0: ChaCha20 with
// key = LE64(seed) || "nicsim-deterministic-rnd" (24 B), words 12-13 = 64-bit block counter,
// words 14-15 = stream_id (original ChaCha layout, 64-bit counter and nonce). Does not touch
// the installed generator.
void keystream(uint64_t seed, uint64_t stream_id, uint8_t* out, size_t n);
}  // namespace detail

}  // namespace nicsim::host::peer
