#include "model/tx/gcm_engine.h"

#include <algorithm>
#include <cstring>

#include "model/tx/timing.h"

namespace nicsim::model::tx {

GcmTiming BehaviouralGcmEngine::timing_for(const GcmEngineParams& p, const GcmSegment& seg,
                                           uint32_t n) {
  // The RTL packs the counter blocks a segment touches into beats of `lanes` blocks; a segment
  // that starts mid-block still costs the whole block. The AAD block enters GHASH in its own
  // beat when a record starts (crypto-engine.md §7.4: AAD folded first).
  GcmTiming t;
  uint64_t blocks = 0;
  if (n > 0) blocks = (seg.rec_offset + n - 1) / 16 - seg.rec_offset / 16 + 1;
  t.occupancy_cycles = ceil_div(blocks, p.lanes) + (seg.first ? 1 : 0);
  if (t.occupancy_cycles == 0) t.occupancy_cycles = 1;
  uint32_t aes = seg.cipher == crypto::Cipher::aes128gcm ? p.aes128_latency_cycles
                                                         : p.aes256_latency_cycles;
  t.latency_cycles = t.occupancy_cycles + aes + (seg.last ? p.tag_latency_cycles : 0);
  return t;
}

BehaviouralGcmEngine::Flow& BehaviouralGcmEngine::flow(uint32_t id) {
  if (id >= flows_.size()) flows_.resize(size_t(id) + 1);
  if (!flows_[id]) flows_[id] = std::make_unique<Flow>();
  return *flows_[id];
}

void BehaviouralGcmEngine::reset_flow(uint32_t id) {
  if (id < flows_.size() && flows_[id]) flows_[id]->active = false;
}

bool BehaviouralGcmEngine::process(const GcmSegment& seg, const uint8_t* in, uint8_t* out,
                                   uint32_t n, uint8_t* tag, GcmTiming* t) {
  Flow& f = flow(seg.flow);
  const size_t kb = crypto::key_bytes(seg.cipher);
  if (!f.gcm.has_key() || f.cipher != seg.cipher || std::memcmp(f.key, seg.key, kb) != 0) {
    f.gcm.set_key(seg.cipher, seg.key);
    f.cipher = seg.cipher;
    std::memcpy(f.key, seg.key, kb);
    f.active = false;
  }
  if (seg.first) {
    f.gcm.start(seg.nonce, seg.aad, seg.aad_len);
    f.active = true;
    f.next_offset = 0;
  }
  if (!f.active || seg.rec_offset != f.next_offset) return false;
  f.gcm.update(in, out, n);
  f.next_offset += n;
  if (seg.last) {
    f.gcm.finish_tag(tag);
    f.active = false;
  }
  *t = timing_for(p_, seg, n);
  return true;
}

}  // namespace nicsim::model::tx
