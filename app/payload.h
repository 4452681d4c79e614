// The application's bytes: seeded pseudo-random (random access in 4 KiB blocks, so the writer
// and the peer's checker generate the same byte at the same stream offset independently) or a
// file's contents.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace nicsim::app {

class PayloadSource {
 public:
  PayloadSource(uint64_t seed, uint32_t flow, std::shared_ptr<const std::vector<uint8_t>> file)
      : seed_(seed * 0x9E3779B97F4A7C15ull ^ (uint64_t(flow) + 1) * 0xD1B54A32D192ED03ull), file_(std::move(file)) {}

  void fill(uint64_t pos, uint8_t* dst, size_t n) const {
    if (file_) {
      std::memcpy(dst, file_->data() + pos, n);
      return;
    }
    while (n > 0) {
      uint64_t block = pos / kBlock;
      size_t off = size_t(pos % kBlock);
      size_t take = std::min(n, kBlock - off);
      gen_block(block, off, dst, take);
      pos += take;
      dst += take;
      n -= take;
    }
  }

 private:
  static constexpr size_t kBlock = 4096;
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Bytes [off, off+n) of block b: xorshift128+ seeded per block.
  void gen_block(uint64_t b, size_t off, uint8_t* dst, size_t n) const {
    uint64_t x = seed_ ^ (b * 0xA24BAED4963EE407ull);
    uint64_t s0 = splitmix(x), s1 = splitmix(x);
    size_t word0 = off / 8;
    for (size_t w = 0; w < word0; w++) next(s0, s1);
    size_t pos = word0 * 8;
    const size_t end = off + n;
    while (pos < end) {
      uint64_t v = next(s0, s1);
      uint8_t bytes[8];
      std::memcpy(bytes, &v, 8);
      size_t lo = pos < off ? off - pos : 0;
      size_t hi = std::min<size_t>(8, end - pos);
      std::memcpy(dst + (pos + lo - off), bytes + lo, hi - lo);
      pos += 8;
    }
  }
  static uint64_t next(uint64_t& s0, uint64_t& s1) {
    uint64_t a = s0, b = s1;
    s0 = b;
    a ^= a << 23;
    s1 = a ^ b ^ (a >> 17) ^ (b >> 26);
    return s1 + b;
  }
  uint64_t seed_;
  std::shared_ptr<const std::vector<uint8_t>> file_;
};

}  // namespace nicsim::app
