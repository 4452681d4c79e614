// The Internet checksum (RFC 1071), shared by the NIC's tx_checksum stage and whoever else
// needs one: a single implementation so the two ends can never disagree.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nicsim::abi {

// One's-complement sum of p[0..n) as big-endian 16-bit words, added to sum, unfolded. An odd
// trailing byte is padded with zero, so chaining is valid only at even offsets.
// RFC 1071 §2(B): the sum is byte-order independent, so words are summed in native
// (little-endian) order, 32 bits at a time into a 64-bit accumulator (no carry is ever lost
// below 2^32 words), and the folded result is byte-swapped once at the end.
inline uint64_t csum_add(const uint8_t* p, size_t n, uint64_t sum = 0) {
  uint64_t acc = 0;
  while (n >= 16) {
    uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    acc += (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32);
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    uint32_t a;
    std::memcpy(&a, p, 4);
    acc += a;
    p += 4;
    n -= 4;
  }
  while (n >= 2) {
    uint16_t a;
    std::memcpy(&a, p, 2);
    acc += a;
    p += 2;
    n -= 2;
  }
  if (n) acc += p[0];  // little-endian: the odd byte is the high half of a BE word padded with 0
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  uint64_t be = ((acc & 0xff) << 8) | (acc >> 8);
  return sum + be;
}

// Folds to 16 bits and complements: the value that goes into a header.
inline uint16_t csum_finish(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace nicsim::abi
