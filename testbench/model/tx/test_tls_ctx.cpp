// tls_ctx: TIS / DEK objects and the on-NIC context cache (LRU): hits, misses, evictions and
// the victim chosen, exactly.
#include <catch2/catch.hpp>

#include <vector>

#include "model/tx/tls_ctx.h"

using namespace nicsim;
using model::tx::TlsCtxTable;

TEST_CASE("tls_ctx: TIS numbers, backing addresses, destroy", "[tls_ctx]") {
  TlsCtxTable t(4, 208, 0x9000'0000);
  CHECK(t.create_tis() == 1);
  CHECK(t.create_tis() == 2);
  CHECK(t.create_tis() == 3);
  CHECK(t.tis_exists(2));
  CHECK_FALSE(t.tis_exists(0));
  CHECK_FALSE(t.tis_exists(4));
  CHECK(t.context(2)->tis_num == 2);
  CHECK(t.context(9) == nullptr);
  CHECK(t.backing_addr(1) == 0x9000'0000ull + 208);
  CHECK(t.backing_addr(3) == 0x9000'0000ull + 624);
  CHECK(t.ctx_bytes() == 208);
  t.destroy_tis(2);
  CHECK_FALSE(t.tis_exists(2));
  CHECK(t.context(2) == nullptr);
  CHECK(t.create_tis() == 4);  // numbers are not reused
  const uint8_t key[32] = {1};
  CHECK(t.create_dek(crypto::Cipher::aes128gcm, key) == 1);
  CHECK(t.create_dek(crypto::Cipher::aes256gcm, key) == 2);
}

TEST_CASE("tls_ctx: LRU cache of capacity 3, exact hits, misses and victims", "[tls_ctx]") {
  TlsCtxTable t(3, 208, 0);
  for (int i = 0; i < 6; i++) t.create_tis();
  struct Step {
    uint32_t tis;
    bool hit;
    uint32_t victim;
  };
  // Most recent first after each step in the comments.
  const Step steps[] = {
      {1, false, 0},  // 1
      {2, false, 0},  // 2 1
      {3, false, 0},  // 3 2 1
      {1, true, 0},   // 1 3 2
      {4, false, 2},  // 4 1 3
      {3, true, 0},   // 3 4 1
      {5, false, 1},  // 5 3 4
      {2, false, 4},  // 2 5 3
      {2, true, 0},   // 2 5 3
      {1, false, 3},  // 1 2 5
      {5, true, 0},   // 5 1 2
      {6, false, 2},  // 6 5 1
  };
  int n = 0;
  for (const Step& s : steps) {
    INFO("step " << n << ": tis " << s.tis);
    uint32_t victim = 99;
    CHECK(t.touch(s.tis, &victim) == s.hit);
    CHECK(victim == s.victim);
    n++;
  }
  CHECK(t.stats().lookups == 12);
  CHECK(t.stats().hits == 4);
  CHECK(t.stats().misses == 8);
  CHECK(t.stats().evictions == 5);
  // Destroying a resident TIS frees its slot: the next miss evicts nobody.
  t.destroy_tis(5);  // resident: 6 1
  uint32_t victim = 99;
  CHECK_FALSE(t.touch(3, &victim));  // 3 6 1
  CHECK(victim == 0);
  CHECK_FALSE(t.touch(4, &victim));  // 4 3 6
  CHECK(victim == 1);
  CHECK(t.touch(6, &victim));
  CHECK(t.stats().evictions == 6);
}

TEST_CASE("tls_ctx: capacity 1 and capacity 0", "[tls_ctx]") {
  TlsCtxTable one(1, 208, 0);
  one.create_tis();
  one.create_tis();
  uint32_t v;
  CHECK_FALSE(one.touch(1, &v));
  CHECK(v == 0);
  CHECK(one.touch(1, &v));
  CHECK_FALSE(one.touch(2, &v));
  CHECK(v == 1);
  CHECK_FALSE(one.touch(1, &v));
  CHECK(v == 2);
  CHECK(one.stats().hits == 1);
  CHECK(one.stats().evictions == 2);
  // No cache at all: every access misses, nothing is ever resident or evicted.
  TlsCtxTable none(0, 208, 0);
  none.create_tis();
  for (int i = 0; i < 3; i++) {
    CHECK_FALSE(none.touch(1, &v));
    CHECK(v == 0);
  }
  CHECK(none.stats().misses == 3);
  CHECK(none.stats().evictions == 0);
}

TEST_CASE("tls_ctx: a working set that fits never misses after warm-up, one that does not always misses",
          "[tls_ctx]") {
  TlsCtxTable t(8, 208, 0);
  for (int i = 0; i < 9; i++) t.create_tis();
  uint32_t v;
  for (int round = 0; round < 5; round++)
    for (uint32_t s = 1; s <= 8; s++) t.touch(s, &v);
  CHECK(t.stats().misses == 8);
  CHECK(t.stats().hits == 32);
  // Cyclic access over capacity + 1 contexts defeats LRU: every lookup misses and the victim is
  // always the next one needed.
  TlsCtxTable u(8, 208, 0);
  for (int i = 0; i < 9; i++) u.create_tis();
  for (uint32_t s = 1; s <= 9; s++) u.touch(s, &v);
  for (int round = 0; round < 3; round++)
    for (uint32_t s = 1; s <= 9; s++) {
      CHECK_FALSE(u.touch(s, &v));
      CHECK(v == s % 9 + 1);
    }
  CHECK(u.stats().hits == 0);
  CHECK(u.stats().evictions == 1 + 27);
}
