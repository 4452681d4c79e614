#include "model/tx/gcm_engine.h"

#include <algorithm>
#include <cstring>

#include "model/tx/timing.h"

namespace nicsim::model::tx {

namespace {

// GHASH cycles an item of `blocks` 128-bit blocks takes beyond its first: an item's list (at
// most lanes + 3 blocks: AAD, data, padded last block, length block) spills into following
// cycles, min(lanes, 3) blocks per cycle (rtl/tls_gcm_ghash.sv).
uint64_t spill_cycles(uint64_t blocks, uint32_t lanes) {
  if (blocks <= lanes) return 0;
  return ceil_div(blocks - lanes, std::min<uint32_t>(lanes, 3));
}

}  // namespace

// The RTL engine's cost of one segment (rtl/README.md; testbench/model/cosim checks it against
// the Verilated engine), counted from the cycle its first data beat is offered:
// * Input: the segment's bytes are packed into beats of 16·lanes bytes from its first byte
//   (beat k = bytes 64k..64k+63 at 4 lanes), one beat per cycle; where the segment starts
//   mid-block does not matter at the input (the XOR stage aligns the keystream instead).
// * Keystream: the generator works from the command alone. The first beat waits for its
//   keystream beat and, when the segment needs more than one, the next (a beat may straddle
//   two); on a record's first segment also for the beat carrying E_K(0) (H) and E_K(J0)
//   (2 beats at 1 lane). From the command that is the command FIFO and generator registers
//   (kKeystreamSetupCycles) plus the AES pipeline per beat; the command lead hides it (in the
//   NIC the command is known a whole DMA read before the payload arrives), the rest stalls.
// * Key install: a record's first segment on a key the engine has not seen for the flow makes
//   the GHASH front compute H^2..H^lanes (lanes - 1 cycles, one multiplier); the ciphertext
//   FIFO in front of it (4 beats) absorbs that for short segments, longer ones stall.
// * Output: a ciphertext beat leaves one cycle after its plaintext beat went in (the XOR stage
//   writes the output register). A DUMP segment emits nothing: without a tag its latency is
//   its occupancy.
// * Tag: tag_latency_cycles after the last data beat went in through an idle GHASH (item FIFO,
//   front, two multiplier stages, the loop), plus the spill cycles of the record's last item
//   (the blocks the last beat completes, the padded partial block, the length block) and, when
//   the whole record is this one segment, of its first item (the AAD block leads it) and the
//   key install: those delay every later item of the segment, the tag included. (In a record
//   of several segments the gap between segments drains that backlog.)
// latency = occupancy + that tail: the tail is what a segment adds behind the beats it occupies
// the input for.
GcmTiming BehaviouralGcmEngine::timing_for(const GcmEngineParams& p, const GcmSegment& seg, uint32_t n,
                                           bool new_key) {
  constexpr uint64_t kKeystreamSetupCycles = 2;
  constexpr uint64_t kDataOutCycles = 1;
  GcmTiming t;
  const uint64_t beat_bytes = 16ull * p.lanes;
  const uint64_t beats = ceil_div(n, beat_bytes);
  const uint64_t aes = seg.cipher == crypto::Cipher::aes128gcm ? p.aes128_latency_cycles
                                                               : p.aes256_latency_cycles;
  const uint64_t ks_beats = n > 0 ? ceil_div(seg.rec_offset % 16 + n, beat_bytes) : 0;
  const uint64_t hk_beats = seg.first ? (p.lanes == 1 ? 2 : 1) : 0;
  const uint64_t cold = kKeystreamSetupCycles + aes + hk_beats + (ks_beats > 1 ? 1 : 0);
  const uint64_t stall = n > 0 && cold > p.cmd_lead_cycles ? cold - p.cmd_lead_cycles : 0;
  // Key install: the front is busy lanes - 1 cycles; the ciphertext FIFO takes the first
  // kCtFifoBeats beats meanwhile (and one cycle of it overlaps), later beats wait.
  constexpr uint64_t kCtFifoBeats = 4;
  const uint64_t hp_cycles = seg.first && new_key ? p.lanes - 1 : 0;
  const uint64_t key_stall =
      hp_cycles > 1 && beats > kCtFifoBeats ? std::min<uint64_t>(beats - kCtFifoBeats, hp_cycles - 1) : 0;
  t.occupancy_cycles = std::max<uint64_t>(1, beats + stall + key_stall);
  if (n == 0) {
    // No data: the command takes one cycle. An empty record's tag comes from the command
    // alone (H and E_K(J0) through the pipeline, then one list of AAD + length block), so it
    // may be ready before the data would have started: at least the one cycle.
    t.latency_cycles = 1;
    if (seg.last) {
      const int64_t from_cmd = int64_t(hk_beats ? kKeystreamSetupCycles + aes + hk_beats : kKeystreamSetupCycles) +
                               int64_t(p.tag_latency_cycles + spill_cycles((seg.aad_len > 0 ? 1 : 0) + 1, p.lanes) +
                                       hp_cycles);
      t.latency_cycles = uint64_t(std::max<int64_t>(1, from_cmd - int64_t(p.cmd_lead_cycles)));
    }
    return t;
  }
  uint64_t tail = 0;
  if (seg.last) {
    const uint64_t aad_blocks = seg.aad_len > 0 ? 1 : 0;
    const uint64_t end = uint64_t(seg.rec_offset) + n;
    // Blocks the last beat completes, realigned to the record, plus padding and length.
    const uint64_t last_start = beats > 0 ? seg.rec_offset + (beats - 1) * beat_bytes : end;
    uint64_t last_item = end / 16 - last_start / 16 + (end % 16 ? 1 : 0) + 1;
    uint64_t backlog = 0;
    if (seg.first) {
      if (beats <= 1) {
        last_item += aad_blocks;  // one item carries AAD, data, padding and length
      } else {
        backlog += spill_cycles(aad_blocks + beat_bytes / 16, p.lanes);
      }
      backlog += hp_cycles - key_stall;
    }
    tail = p.tag_latency_cycles + spill_cycles(last_item, p.lanes) + backlog;
  } else if (!seg.dump && n > 0) {
    tail = kDataOutCycles;
  }
  t.latency_cycles = t.occupancy_cycles + tail;
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

bool BehaviouralGcmEngine::take_slot(uint32_t id, Flow& f, const GcmSegment& seg) {
  int32_t idx = f.slot;
  if (idx < 0) {
    const int32_t n = int32_t(slots_.size());
    for (int32_t i = 0; i < n && idx < 0; i++)
      if (!slots_[size_t(i)].owned) idx = i;
    for (int pass = 0; pass < 2 && idx < 0; pass++) {
      for (int32_t i = 0; i < n; i++) {
        const Slot& s = slots_[size_t(i)];
        if (pass == 0 && flows_[s.flow]->active) continue;
        if (idx < 0 || s.last_use < slots_[size_t(idx)].last_use) idx = i;
      }
    }
    Slot& s = slots_[size_t(idx)];
    if (s.owned) flows_[s.flow]->slot = -1;
    s.owned = true;
    s.flow = id;
    f.slot = idx;
  }
  Slot& s = slots_[size_t(idx)];
  s.last_use = ++use_clock_;
  const size_t kb = crypto::key_bytes(seg.cipher);
  const bool compute_h = !s.h_valid || s.cipher != seg.cipher || std::memcmp(s.key, seg.key, kb) != 0;
  s.h_valid = true;
  s.cipher = seg.cipher;
  std::memcpy(s.key, seg.key, kb);
  return compute_h;
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
  bool new_key = false;
  if (seg.first) {
    new_key = take_slot(seg.flow, f, seg);
    f.gcm.start(seg.nonce, seg.aad, seg.aad_len);
    f.active = true;
    f.next_offset = 0;
  }
  if (!f.active || seg.rec_offset != f.next_offset) return false;
  if (!seg.first && f.slot >= 0) slots_[size_t(f.slot)].last_use = ++use_clock_;
  f.gcm.update(in, out, n);
  f.next_offset += n;
  if (seg.last) {
    f.gcm.finish_tag(tag);
    f.active = false;
  }
  *t = timing_for(p_, seg, n, new_key);
  return true;
}

}  // namespace nicsim::model::tx
