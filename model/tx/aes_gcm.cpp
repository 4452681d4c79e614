#include "model/tx/aes_gcm.h"

#include <algorithm>
#include <cstring>

namespace nicsim::model::tx {

using crypto::TlsVersion;

AesGcmStage::AesGcmStage(const NicConfig& cfg, GcmEngine* engine) : cfg_(cfg), engine_(engine) {}

uint64_t AesGcmStage::bypass(uint32_t n, uint64_t* latency_cycles) {
  uint64_t beats = std::max<uint64_t>(1, ceil_div(n, cfg_.datapath_bytes_per_cycle));
  stats_.bypass_pkts++;
  stats_.bypass_bytes += n;
  stats_.pkts++;
  stats_.bytes += n;
  // A plain packet takes the bypass lane: one register stage.
  *latency_cycles = beats + 1;
  return beats;
}

// The prepend has been collected: validate the header and set up the record's AEAD inputs.
bool AesGcmStage::start_record(TisContext& c) {
  const uint8_t* h = c.prepend;
  uint32_t len = uint32_t(h[3]) << 8 | h[4];
  const bool v12 = c.version == TlsVersion::tls12;
  // RFC 5246 §6.2.3 / RFC 8446 §5.2: ciphertext length at most 2^14 + 2048 (1.2) or
  // 2^14 + 256 (1.3). The kernel never exceeds 16408 / 16401; anything else means the
  // context lost track of the stream.
  uint32_t min_len = v12 ? 8 + 16 : 1 + 16;
  uint32_t max_len = v12 ? 16384 + 2048 : 16384 + 256;
  if (h[1] != 0x03 || h[2] != 0x03 || len < min_len || len > max_len ||
      (!v12 && h[0] != crypto::kTlsContentAppData)) {
    c.tracker = abi::RecordTrackerState::searching;
    return false;
  }
  c.rec_len = 5 + len;
  c.payload_len = len - 16 - (v12 ? 8 : 0);
  c.tracker = abi::RecordTrackerState::tracking;
  c.tag_ready = false;
  return true;
}

const uint8_t* AesGcmStage::input(Cursor& c, uint32_t pos, uint32_t n) {
  const PayloadGather& g = *c.g;
  while (c.seg < g.count && pos >= c.seg_start + g.len[c.seg]) c.seg_start += g.len[c.seg++];
  if (c.seg >= g.count) return nullptr;
  const uint32_t off = pos - c.seg_start;
  if (off + n <= g.len[c.seg]) return g.ptr[c.seg] + off;
  // Spans segments: gather just these bytes.
  if (scratch_.size() < n) scratch_.resize(n);
  uint32_t done = 0, s = c.seg, o = off;
  while (done < n && s < g.count) {
    uint32_t take = std::min(g.len[s] - o, n - done);
    std::memcpy(scratch_.data() + done, g.ptr[s] + o, take);
    done += take;
    s++;
    o = 0;
  }
  return done == n ? scratch_.data() : nullptr;
}

uint64_t AesGcmStage::process(TisContext* ctx, uint8_t* data, uint32_t n, bool dump,
                              uint64_t* latency_cycles, abi::CqeSyndrome* err) {
  const uint8_t* p = data;
  PayloadGather g{&p, &n, 1};
  return process(ctx, g, data, n, dump, latency_cycles, err);
}

uint64_t AesGcmStage::process(TisContext* ctx, const PayloadGather& in, uint8_t* data, uint32_t n, bool dump,
                              uint64_t* latency_cycles, abi::CqeSyndrome* err) {
  *err = abi::CqeSyndrome::none;
  Cursor cur{&in};
  stats_.pkts++;
  stats_.bytes += n;
  if (dump) {
    stats_.dump_pkts++;
    stats_.dump_bytes += n;
  } else {
    stats_.tls_pkts++;
    stats_.tls_bytes += n;
  }
  if (!ctx || !ctx->static_valid) {
    *err = abi::CqeSyndrome::tls_no_context;
    stats_.errors++;
    *latency_cycles = 1;
    return 1;
  }
  TisContext& c = *ctx;
  const uint32_t prepend = uint32_t(crypto::tls_prepend_bytes(c.version));
  uint64_t occupancy = 0, latency = 0;
  uint32_t i = 0;
  while (i < n) {
    if (c.tracker == abi::RecordTrackerState::searching) {
      *err = abi::CqeSyndrome::tls_bad_record;
      stats_.errors++;
      break;
    }
    if (c.rec_off < prepend) {
      // Header and explicit nonce: on the wire unchanged, collected for parsing.
      uint32_t take = std::min(prepend - c.rec_off, n - i);
      const uint8_t* src = input(cur, i, take);
      std::memcpy(c.prepend + c.rec_off, src, take);
      if (src != data + i) std::memcpy(data + i, src, take);
      c.rec_off += take;
      i += take;
      if (c.rec_off == prepend && !start_record(c)) {
        // Flag the packet that completed the bad header, even when it ends right there (the
        // loop would otherwise exit before seeing `searching` and pass this packet as good).
        *err = abi::CqeSyndrome::tls_bad_record;
        stats_.errors++;
        break;
      }
      continue;
    }
    const uint32_t payload_end = prepend + c.payload_len;
    if (c.rec_off < payload_end || (c.payload_len == 0 && !c.tag_ready)) {
      uint32_t take = std::min(payload_end - c.rec_off, n - i);
      GcmSegment seg;
      seg.flow = c.tis_num;
      seg.cipher = c.cipher;
      seg.key = c.key;
      if (c.version == TlsVersion::tls12) {
        crypto::tls12_nonce(c.salt, c.prepend + 5, seg.nonce);
        crypto::tls12_aad(c.rec_seq, c.prepend[0], uint16_t(c.payload_len), seg.aad);
        seg.aad_len = 13;
      } else {
        crypto::tls13_nonce(c.salt, c.implicit_iv, c.rec_seq, seg.nonce);
        std::memcpy(seg.aad, c.prepend, 5);
        seg.aad_len = 5;
      }
      seg.rec_offset = c.rec_off - prepend;
      seg.rec_len = c.payload_len;
      seg.first = seg.rec_offset == 0;
      seg.last = seg.rec_offset + take == c.payload_len;
      seg.dump = dump;
      GcmTiming t;
      if (!engine_->process(seg, input(cur, i, take), data + i, take, seg.last ? c.tag : nullptr, &t)) {
        *err = abi::CqeSyndrome::tls_bad_record;
        stats_.errors++;
        c.tracker = abi::RecordTrackerState::searching;
        break;
      }
      occupancy += t.occupancy_cycles;
      latency = std::max(latency, occupancy + t.latency_cycles - t.occupancy_cycles);
      if (seg.last) c.tag_ready = true;
      c.rec_off += take;
      i += take;
      continue;
    }
    // Tag placeholder: overwrite with the computed tag.
    uint32_t tag_off = c.rec_off - payload_end;
    uint32_t take = std::min(16 - tag_off, n - i);
    std::memcpy(data + i, c.tag + tag_off, take);
    c.rec_off += take;
    i += take;
    if (c.rec_off == c.rec_len) {
      if (dump) c.records_dumped++; else c.records_encrypted++;
      stats_.records_completed++;
      c.rec_seq++;
      c.rec_off = 0;
      c.rec_len = 0;
      c.tag_ready = false;
    }
  }
  // Header/nonce/tag bytes move on the same datapath: at least one beat per WQE.
  uint64_t beats = ceil_div(n, cfg_.datapath_bytes_per_cycle);
  occupancy = std::max<uint64_t>({occupancy, beats, 1});
  *latency_cycles = std::max<uint64_t>(latency, occupancy);
  return occupancy;
}

}  // namespace nicsim::model::tx
