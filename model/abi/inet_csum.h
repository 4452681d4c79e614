// The Internet checksum (RFC 1071), one implementation for the whole simulator: the NIC's
// tx_checksum stage (csum_add/csum_finish) and the host side's csum_partial
// (host/trace/packet.cpp) both sum through csum_native(), so the two ends can never disagree.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NICSIM_CSUM_AVX2 1
#endif

namespace nicsim::abi {

// Folds a 64-bit sum of 16-bit words to 16 bits with end-around carry.
inline uint32_t csum_fold16(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  return uint32_t(s);
}

// One's-complement sum of p[0..n) as NATIVE-order 16-bit words, folded to 16 bits; an odd
// trailing byte is the first byte of a word padded with zero. RFC 1071 §2(B): the sum is
// byte-order independent, so on a little-endian host byte-swapping this value once gives the
// big-endian sum the headers hold.
//
// Why it is written this way: every payload byte the NIC sends is summed twice per run (the
// NIC fills the TCP checksum, the peer verifies it), so this loop is on the simulator's hot
// path. 32-bit words are zero-extended into 64-bit lanes, so no carry is ever lost inside the
// loop; 32 bytes per step in four SSE2 lanes (baseline on x86-64), 8 bytes per step elsewhere.
#if defined(NICSIM_CSUM_AVX2)
// 64 bytes a step in eight 64-bit lanes (four AVX2 accumulators): about 3x the SSE2 loop's
// rate. Chosen at run time (csum_native), so the binary still runs on any x86-64. blk is a
// multiple of 64 below 2^30; returns the sum of the folded lanes. With kCopy the bytes read
// are also stored to dst (csum_copy_native).
template <bool kCopy>
__attribute__((target("avx2"))) inline uint64_t csum_block_avx2(uint8_t* dst, const uint8_t* p, size_t blk) {
  const __m256i z = _mm256_setzero_si256();
  __m256i a0 = z, a1 = z, a2 = z, a3 = z;
  for (; blk >= 64; blk -= 64, p += 64) {
    __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    if constexpr (kCopy) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), v1);
      dst += 64;
    }
    a0 = _mm256_add_epi64(a0, _mm256_unpacklo_epi32(v0, z));
    a1 = _mm256_add_epi64(a1, _mm256_unpackhi_epi32(v0, z));
    a2 = _mm256_add_epi64(a2, _mm256_unpacklo_epi32(v1, z));
    a3 = _mm256_add_epi64(a3, _mm256_unpackhi_epi32(v1, z));
  }
  alignas(32) uint64_t l[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(l), a0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(l + 4), a1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(l + 8), a2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(l + 12), a3);
  uint64_t b = 0;
  for (uint64_t x : l) b += csum_fold16(x);
  return b;
}
inline bool csum_have_avx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#endif

// The one summing loop: csum_native (kCopy false, dst unused) and csum_copy_native (kCopy
// true: every byte read is also stored to dst, so a copy and its checksum cost one pass).
// avx2: take the AVX2 loop where the CPU has it (tests pass false to cover the SSE2 one).
template <bool kCopy>
inline uint32_t csum_native_impl(uint8_t* dst, const uint8_t* p, size_t n, bool avx2) {
  // Blocks of at most 1 GiB keep every 64-bit lane below 2^63 (each step adds < 2^33).
  constexpr size_t kBlockBytes = size_t(1) << 30;
  uint64_t acc = 0;  // sum of folded block sums: < 2^17 per block
  while (n >= 8) {
    size_t blk = (n < kBlockBytes ? n : kBlockBytes) & ~size_t(7);
    n -= blk;
    uint64_t b = 0;
#if !defined(NICSIM_CSUM_AVX2)
    (void)avx2;
#else
    if (blk >= 64 && avx2 && csum_have_avx2()) {
      const size_t v = blk & ~size_t(63);
      b += csum_block_avx2<kCopy>(dst, p, v);
      p += v;
      if constexpr (kCopy) dst += v;
      blk -= v;
    }
#endif
#if defined(__SSE2__)
    if (blk >= 64) {
      const __m128i zero = _mm_setzero_si128();
      __m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      for (; blk >= 32; blk -= 32, p += 32) {
        __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
        if constexpr (kCopy) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v0);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), v1);
          dst += 32;
        }
        a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(v0, zero));
        a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(v0, zero));
        a2 = _mm_add_epi64(a2, _mm_unpacklo_epi32(v1, zero));
        a3 = _mm_add_epi64(a3, _mm_unpackhi_epi32(v1, zero));
      }
      uint64_t l[8];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(l), a0);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(l + 2), a1);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(l + 4), a2);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(l + 6), a3);
      for (uint64_t x : l) b += csum_fold16(x);
    }
#endif
    for (; blk >= 8; blk -= 8, p += 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      if constexpr (kCopy) {
        std::memcpy(dst, &v, 8);
        dst += 8;
      }
      b += (v & 0xffffffffu) + (v >> 32);
    }
    acc += csum_fold16(b);
  }
  if (n >= 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (kCopy) {
      std::memcpy(dst, &v, 4);
      dst += 4;
    }
    acc += v;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    if constexpr (kCopy) {
      std::memcpy(dst, &v, 2);
      dst += 2;
    }
    acc += v;
    p += 2;
    n -= 2;
  }
  if (n) {
    if constexpr (kCopy) dst[0] = p[0];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc += p[0];  // the odd byte is the low-address (first) byte of a zero-padded native word
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    acc += uint32_t(p[0]) << 8;
#else
#error "unknown byte order"
#endif
  }
  return csum_fold16(acc);
}

inline uint32_t csum_native(const uint8_t* p, size_t n, bool avx2) {
  return csum_native_impl<false>(nullptr, p, n, avx2);
}
// Copies src[0..n) to dst (no overlap) and returns the same value as csum_native(src, n): one
// pass over the bytes instead of a memcpy and a checksum (tx_checksum builds every frame so).
inline uint32_t csum_copy_native(uint8_t* dst, const uint8_t* src, size_t n, bool avx2 = true) {
  return csum_native_impl<true>(dst, src, n, avx2);
}
inline uint32_t csum_native(const uint8_t* p, size_t n) { return csum_native(p, n, true); }

// Native-order folded sum -> big-endian (network order) folded sum.
inline uint32_t csum_native_to_be(uint32_t folded) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return ((folded & 0xffu) << 8) | (folded >> 8);
#else
  return folded;
#endif
}

// One's-complement sum of p[0..n) as big-endian 16-bit words, added to sum, unfolded. An odd
// trailing byte is padded with zero, so chaining is valid only at even offsets.
inline uint64_t csum_add(const uint8_t* p, size_t n, uint64_t sum = 0) {
  return sum + csum_native_to_be(csum_native(p, n));
}

// Folds to 16 bits and complements: the value that goes into a header.
inline uint16_t csum_finish(uint64_t sum) { return uint16_t(~csum_fold16(sum)); }

}  // namespace nicsim::abi
