// The application's bytes: seeded pseudo-random, or a file's contents.
//
// Seeded bytes are a window into one shared pseudo-random pattern of kPatternBytes (a length
// that is not a multiple of any record, segment or page size), each flow starting at its own
// seeded offset: byte k of a flow is pattern[(start + k) mod kPatternBytes]. The writer and the
// peer's checker read the same byte for the same stream offset independently, at memcpy speed
// (the simulator's own throughput is measured against raw AES-GCM, so the checker must not be
// the bottleneck), and any misplaced, repeated or stale byte short of a multiple of the pattern
// length (~4 MiB) shows up.
#pragma once
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

namespace nicsim::app {

class PayloadSource {
 public:
  static constexpr size_t kPatternBytes = (4u << 20) + 37;

  PayloadSource(uint64_t seed, uint32_t flow, std::shared_ptr<const std::vector<uint8_t>> file)
      : file_(std::move(file)) {
    if (file_) return;
    pattern_ = shared_pattern(seed);
    start_ = size_t(mix(seed ^ (uint64_t(flow) + 1) * 0xD1B54A32D192ED03ull) % kPatternBytes);
  }

  // Makes the shared pattern of this seed ahead of the first PayloadSource that needs it.
  static void prepare(uint64_t seed) { shared_pattern(seed); }

  // The bytes at pos, in place: up to max_n of them, fewer where the pattern wraps. The
  // application writes straight from here, as a server sends from its page cache.
  const uint8_t* view(uint64_t pos, size_t max_n, size_t* n) const {
    if (file_) {
      *n = std::min<size_t>(max_n, file_->size() - size_t(pos));
      return file_->data() + pos;
    }
    size_t at = size_t((start_ + pos) % kPatternBytes);
    *n = std::min(max_n, kPatternBytes - at);
    return pattern_->data() + at;
  }

  void fill(uint64_t pos, uint8_t* dst, size_t n) const {
    if (file_) {
      std::memcpy(dst, file_->data() + pos, n);
      return;
    }
    size_t at = size_t((start_ + pos) % kPatternBytes);
    while (n > 0) {
      size_t take = std::min(n, kPatternBytes - at);
      std::memcpy(dst, pattern_->data() + at, take);
      dst += take;
      n -= take;
      at = 0;
    }
  }
  // True iff p[0..n) equals the stream at pos; *bad_at = first differing offset otherwise.
  bool equals(uint64_t pos, const uint8_t* p, size_t n, size_t* bad_at) const {
    const uint8_t* ref;
    size_t at, span;
    size_t done = 0;
    while (done < n) {
      if (file_) {
        ref = file_->data() + pos + done;
        span = n - done;
      } else {
        at = size_t((start_ + pos + done) % kPatternBytes);
        ref = pattern_->data() + at;
        span = std::min(n - done, kPatternBytes - at);
      }
      if (std::memcmp(ref, p + done, span) != 0) {
        size_t k = 0;
        while (ref[k] == p[done + k]) k++;
        *bad_at = done + k;
        return false;
      }
      done += span;
    }
    return true;
  }

 private:
  static uint64_t mix(uint64_t z) {  // splitmix64 finaliser
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // The pattern's storage: 2 MiB aligned and, where the kernel offers transparent huge pages
  // on request (madvise mode, as on the CI machine), backed by them: three page faults instead
  // of a thousand, and no zero-fill of bytes about to be written. Generating it is part of
  // every run's wall time.
  class Pattern {
   public:
    static constexpr size_t kAlign = size_t(2) << 20;
    static constexpr size_t kAlloc = (kPatternBytes + kAlign - 1) / kAlign * kAlign;
    Pattern() : p_(static_cast<uint8_t*>(std::aligned_alloc(kAlign, kAlloc))) {
      if (!p_) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
      madvise(p_, kAlloc, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
    }
    ~Pattern() { std::free(p_); }
    Pattern(const Pattern&) = delete;
    Pattern& operator=(const Pattern&) = delete;
    uint8_t* data() { return p_; }
    const uint8_t* data() const { return p_; }

   private:
    uint8_t* p_;
  };

  static std::shared_ptr<const Pattern> shared_pattern(uint64_t seed) {
    // Not thread-safe: one caller at a time (Scenario::build makes it on a helper thread while
    // it builds the NIC, and joins it before any PayloadSource exists).
    static uint64_t cached_seed = 0;
    static std::shared_ptr<const Pattern> cached;
    if (cached && cached_seed == seed) return cached;
    auto v = std::make_shared<Pattern>();
    // xorshift64* seeded through splitmix: cheap enough that start-up stays negligible.
    uint64_t x = mix(seed) | 1;
    for (size_t i = 0; i < kPatternBytes; i += 8) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      uint64_t r = x * 0x2545F4914F6CDD1Dull;
      std::memcpy(v->data() + i, &r, std::min<size_t>(8, kPatternBytes - i));
    }
    cached = v;
    cached_seed = seed;
    return cached;
  }
  std::shared_ptr<const std::vector<uint8_t>> file_;
  std::shared_ptr<const Pattern> pattern_;
  size_t start_ = 0;
};

}  // namespace nicsim::app
