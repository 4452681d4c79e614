#include "model/tx/desc_fetch.h"

#include <algorithm>
#include <cstring>

namespace nicsim::model::tx {

using namespace abi;

std::vector<DescRead> DescFetch::on_doorbell(SqState& sq, uint16_t pc) {
  stats_.doorbells++;
  sq.pc = pc;
  std::vector<DescRead> reads;
  const uint32_t mask = sq.size_wqebbs - 1;
  while (sq.fetched != pc) {
    uint32_t start_idx = sq.fetched & mask;
    uint32_t n = uint16_t(pc - sq.fetched);
    n = std::min<uint32_t>(n, cfg_.desc_prefetch_wqebbs);
    n = std::min<uint32_t>(n, sq.size_wqebbs - start_idx);  // a read never wraps the ring
    DescRead r{sq.ring_addr + uint64_t(start_idx) * kWqebbBytes, n * uint32_t(kWqebbBytes),
               sq.fetched, uint16_t(sq.fetched + n)};
    reads.push_back(r);
    sq.fetched = r.end;
    stats_.dma_reads++;
  }
  return reads;
}

TimePs DescFetch::available_at(const SqState& sq, uint16_t end) {
  // Chunks are in counter order; the first whose end is at or past `end` holds it.
  for (const auto& c : sq.chunks)
    if (int16_t(c.end - end) >= 0) return c.arrival_ps;
  return sq.chunks.empty() ? 0 : sq.chunks.back().arrival_ps;
}

uint64_t DescFetch::decode(SqState& sq, TxWork* w) {
  w->reset();
  const uint32_t mask = sq.size_wqebbs - 1;
  const uint8_t* base = sq.cache.data() + size_t(sq.ci & mask) * kWqebbBytes;
  const size_t room = size_t(sq.size_wqebbs - (sq.ci & mask)) * kWqebbBytes;
  std::memcpy(&w->ctrl, base, sizeof(CtrlSeg));
  const CtrlSeg& c = w->ctrl;
  w->opcode = Opcode(c.opcode);
  w->fence = (c.fm_ce_se & kFenceInitiatorSmall) != 0;
  w->cq_update = (c.fm_ce_se & kCqUpdate) != 0;
  w->tis_num = c.tis_num;
  const size_t ds = c.ds_count;
  const size_t bytes = ds * kDsBytes;
  // Once ds_count is known to be usable, a WQE that is otherwise malformed is skipped as a
  // whole: consuming only its first WQEBB would decode the rest of it as further (garbage) WQEs,
  // whose bogus wqe_index would then complete WQEs the NIC never ran.
  bool sized = false;
  auto fail = [&]() {
    w->error = CqeSyndrome::local_length;
    w->wqebbs = sized ? uint16_t(wqebbs_for_ds(ds)) : 1;
    stats_.errors++;
  };
  if (ds == 0 || bytes > room || uint16_t(sq.pc - sq.ci) < wqebbs_for_ds(ds)) {
    fail();
  } else {
    sized = true;
    w->wqebbs = uint16_t(wqebbs_for_ds(ds));
    switch (w->opcode) {
      case Opcode::nop:
        stats_.nops++;
        break;
      case Opcode::umr:
        if (c.opmod != kOpmodTlsStaticParams || bytes < sizeof(UmrStaticParamsWqe)) { fail(); break; }
        std::memcpy(&w->static_params, base + offsetof(UmrStaticParamsWqe, params), sizeof(TlsStaticParams));
        break;
      case Opcode::set_psv:
        if (c.opmod != kOpmodTlsProgressParams || bytes < sizeof(SetPsvProgressParamsWqe)) { fail(); break; }
        std::memcpy(&w->progress_params, base + sizeof(CtrlSeg), sizeof(TlsProgressParams));
        break;
      case Opcode::dump:
        if (bytes < sizeof(DumpWqe)) { fail(); break; }
        std::memcpy(&w->segs[0], base + sizeof(CtrlSeg), sizeof(DataSeg));
        w->num_segs = 1;
        break;
      case Opcode::send:
      case Opcode::lso: {
        if (bytes < 2 * kDsBytes) { fail(); break; }
        std::memcpy(&w->eth, base + kDsBytes, sizeof(EthSeg));
        size_t hdr = w->eth.inline_hdr_sz;
        size_t off = 2 * kDsBytes;
        size_t hdr_ds = ds_for_bytes(hdr);
        if (hdr < 14 || hdr > kMaxInlineHdrBytes || off + hdr_ds * kDsBytes > bytes) { fail(); break; }
        w->inline_hdr.assign(base + off, base + off + hdr);
        off += hdr_ds * kDsBytes;
        size_t nsegs = (bytes - off) / kDsBytes;
        if (nsegs > kMaxWqeDataSegs || (w->opcode == Opcode::lso && w->eth.mss == 0)) { fail(); break; }
        for (size_t i = 0; i < nsegs; i++) std::memcpy(&w->segs[i], base + off + i * kDsBytes, sizeof(DataSeg));
        w->num_segs = uint32_t(nsegs);
        break;
      }
      default:
        fail();
    }
  }
  sq.ci = uint16_t(sq.ci + w->wqebbs);
  while (!sq.chunks.empty() && int16_t(sq.chunks.front().end - sq.ci) <= 0) sq.chunks.pop_front();
  stats_.pkts++;
  stats_.wqebbs += w->wqebbs;
  uint64_t cycles = uint64_t(w->wqebbs) * cfg_.wqe_parse_cycles_per_wqebb;
  return cycles;
}

}  // namespace nicsim::model::tx
