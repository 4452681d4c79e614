#include "model/tx/tls_ctx.h"

#include <cstring>

namespace nicsim::model::tx {

uint32_t TlsCtxTable::create_dek(crypto::Cipher c, const uint8_t* key) {
  Dek d{c, {}};
  std::memcpy(d.key, key, crypto::key_bytes(c));
  uint32_t idx = next_dek_++;
  deks_.emplace(idx, d);
  return idx;
}

void TlsCtxTable::destroy_dek(uint32_t dek_index) { deks_.erase(dek_index); }

uint32_t TlsCtxTable::create_tis() {
  uint32_t t = next_tis_++;
  auto c = std::make_unique<TisContext>();
  c->tis_num = t;
  contexts_.emplace(t, std::move(c));
  return t;
}

void TlsCtxTable::destroy_tis(uint32_t tis_num) {
  contexts_.erase(tis_num);
  auto it = resident_.find(tis_num);
  if (it != resident_.end()) {
    lru_.erase(it->second);
    resident_.erase(it);
  }
}

TisContext* TlsCtxTable::context(uint32_t tis_num) {
  auto it = contexts_.find(tis_num);
  return it == contexts_.end() ? nullptr : it->second.get();
}

bool TlsCtxTable::touch(uint32_t tis_num, uint32_t* evicted_tis) {
  *evicted_tis = 0;
  stats_.lookups++;
  auto it = resident_.find(tis_num);
  if (it != resident_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    stats_.hits++;
    return true;
  }
  stats_.misses++;
  if (cache_entries_ > 0 && resident_.size() >= cache_entries_) {
    uint32_t victim = lru_.back();
    lru_.pop_back();
    resident_.erase(victim);
    stats_.evictions++;
    *evicted_tis = victim;
  }
  if (cache_entries_ > 0) {
    lru_.push_front(tis_num);
    resident_[tis_num] = lru_.begin();
  }
  return false;
}

abi::CqeSyndrome TlsCtxTable::apply_static_params(uint32_t tis_num, const abi::TlsStaticParams& p) {
  TisContext* c = context(tis_num);
  auto dk = deks_.find(p.dek_index);
  if (!c || dk == deks_.end() || p.const_1 != 1 || p.const_2 != 2 || p.encryption_standard != 1 ||
      (p.tls_version != abi::kTlsVersion12 && p.tls_version != abi::kTlsVersion13)) {
    stats_.bad_tis++;
    return abi::CqeSyndrome::tls_no_context;
  }
  stats_.static_params++;
  c->static_valid = true;
  c->version = p.tls_version == abi::kTlsVersion12 ? crypto::TlsVersion::tls12 : crypto::TlsVersion::tls13;
  c->cipher = dk->second.cipher;
  std::memcpy(c->key, dk->second.key, sizeof c->key);
  std::memcpy(c->salt, p.gcm_iv, 4);
  std::memcpy(c->implicit_iv, p.implicit_iv, 8);
  uint64_t sn = 0;
  for (int i = 0; i < 8; i++) sn = sn << 8 | p.initial_record_number[i];
  c->initial_record_number = sn;
  c->rec_seq = sn;
  return abi::CqeSyndrome::none;
}

abi::CqeSyndrome TlsCtxTable::apply_progress_params(uint32_t tis_num, const abi::TlsProgressParams& p) {
  TisContext* c = context(tis_num);
  if (!c || p.tis_tir_num != tis_num) {
    stats_.bad_tis++;
    return abi::CqeSyndrome::tls_no_context;
  }
  stats_.progress_params++;
  // START: the next byte the context sees is the first byte of a record header.
  c->tracker = abi::RecordTrackerState(p.record_tracker_state);
  c->rec_seq = c->initial_record_number + p.hw_offset_record_number;
  c->rec_off = 0;
  c->rec_len = 0;
  c->payload_len = 0;
  c->tag_ready = false;
  if (on_progress_reset_) on_progress_reset_(tis_num);
  return abi::CqeSyndrome::none;
}

}  // namespace nicsim::model::tx
