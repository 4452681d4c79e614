// The Internet checksum (RFC 1071), shared by the NIC's tx_checksum stage and the host's frame
// builder: one implementation so the two can never disagree.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nicsim::abi {

// Adds the 16-bit big-endian words of p[0..n) to sum (unfolded, 64-bit accumulator). An odd
// trailing byte is padded with zero, so chaining is valid only at even offsets.
inline uint64_t csum_add(const uint8_t* p, size_t n, uint64_t sum = 0) {
  // 8 bytes at a time: the one's-complement sum is byte-order independent if we fold the
  // native-order words and swap once at the end; we keep it simple and portable instead by
  // summing 32-bit big-endian halves into 64 bits (no carries lost for < 2^32 words).
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    // Bytes a b c d e f g h (little-endian host: w = h..a). Sum big-endian 16-bit words via
    // a byte swap of each 32-bit half.
    uint32_t lo = uint32_t(w), hi = uint32_t(w >> 32);
    sum += __builtin_bswap32(lo);
    sum += __builtin_bswap32(hi);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    sum += uint32_t(p[0]) << 8 | p[1];
    p += 2;
    n -= 2;
  }
  if (n) sum += uint32_t(p[0]) << 8;
  return sum;
}

// Folds to 16 bits and complements: the value that goes into a header.
inline uint16_t csum_finish(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace nicsim::abi
