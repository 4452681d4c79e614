#include "model/tx/tx_checksum.h"

#include <algorithm>
#include <cstring>

#include "model/abi/inet_csum.h"

namespace nicsim::model::tx {

HdrLayout parse_hdr_layout(const uint8_t* h, size_t n) {
  HdrLayout L;
  if (n < 14) return L;
  size_t off = 12;
  uint16_t et = uint16_t(h[off] << 8 | h[off + 1]);
  off += 2;
  if (et == 0x8100) {  // one 802.1Q tag
    if (n < 18) return L;
    et = uint16_t(h[16] << 8 | h[17]);
    off = 18;
  }
  L.l3 = off;
  if (et == 0x0800) {
    if (n < off + 20 || (h[off] >> 4) != 4) return L;
    size_t ihl = size_t(h[off] & 0xf) * 4;
    if (ihl < 20 || n < off + ihl || h[off + 9] != 6) return L;
    L.l4 = off + ihl;
  } else if (et == 0x86dd) {
    if (n < off + 40 || (h[off] >> 4) != 6 || h[off + 6] != 6) return L;  // no extension headers
    L.v6 = true;
    L.l4 = off + 40;
  } else {
    return L;
  }
  if (n < L.l4 + 20) return L;
  size_t doff = size_t(h[L.l4 + 12] >> 4) * 4;
  if (doff < 20 || n < L.l4 + doff) return L;
  L.hdr_len = L.l4 + doff;
  L.ok = true;
  return L;
}

static inline void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
static inline uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
static inline void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}

uint64_t TxChecksum::process(TxWork* w, std::vector<uint64_t>* ready_cycles) {
  ready_cycles->clear();
  w->num_frames = 0;
  HdrLayout L = parse_hdr_layout(w->inline_hdr.data(), w->inline_hdr.size());
  if (!L.ok || L.hdr_len != w->inline_hdr.size()) {
    stats_.bad_headers++;
    w->error = abi::CqeSyndrome::local_length;
    return 1;
  }
  const uint32_t total = w->payload_len;
  const uint32_t mss = (w->opcode == abi::Opcode::lso && w->eth.mss) ? w->eth.mss : std::max<uint32_t>(total, 1);
  const uint32_t nseg = total == 0 ? 1 : (total + mss - 1) / mss;
  if (nseg > 1) stats_.tso_wqes++;
  if (w->frames.size() < nseg) w->frames.resize(nseg);
  const uint8_t* hdr = w->inline_hdr.data();
  const size_t hl = L.hdr_len;
  const uint32_t seq0 = get32(hdr + L.l4 + 4);
  const uint16_t id0 = L.v6 ? 0 : get16(hdr + L.l3 + 4);
  const uint8_t flags0 = hdr[L.l4 + 13];
  // Checksums the way TSO hardware forms them: one partial sum of the template headers with
  // the per-segment fields left out, plus those fields and the payload for each segment
  // (RFC 1071 sums are linear). Besides being what the hardware does, it never reads back a
  // header this loop has just written byte by byte: those loads stalled on store-to-load
  // forwarding and were the hottest instructions of a whole run (perf).
  const bool want_l3 = !L.v6 && (w->eth.cs_flags & abi::kCsumL3);
  const bool want_l4 = (w->eth.cs_flags & abi::kCsumL4) != 0;
  tmpl_.assign(hdr, hdr + hl);
  uint8_t* t_ip = tmpl_.data() + L.l3;
  uint8_t* t_tcp = tmpl_.data() + L.l4;
  uint64_t ip_base = 0, pseudo;
  if (!L.v6) {
    put16(t_ip + 2, 0);   // total length: per segment
    put16(t_ip + 4, 0);   // identification: per segment
    put16(t_ip + 10, 0);  // header checksum
    ip_base = abi::csum_add(t_ip, L.l4 - L.l3);
    pseudo = abi::csum_add(t_ip + 12, 8);  // source and destination addresses
  } else {
    pseudo = abi::csum_add(t_ip + 8, 32);
  }
  put32(t_tcp + 4, 0);  // sequence number: per segment
  const uint16_t doff_byte = uint16_t(t_tcp[12]) << 8;
  t_tcp[12] = t_tcp[13] = 0;  // data offset + flags: per segment (flags change)
  t_tcp[16] = t_tcp[17] = 0;  // checksum
  const uint64_t tcp_base = abi::csum_add(t_tcp, hl - L.l4);
  uint64_t cycles = 0;
  for (uint32_t s = 0; s < nseg; s++) {
    uint32_t off = s * mss;
    uint32_t len = std::min(mss, total - std::min(total, off));
    Frame& f = w->frames[s];
    size_t flen = std::max<size_t>(hl + len, 60);
    // Every byte is written below, so a (recycled) buffer is only resized: growing zero-fills
    // just the new part, shrinking writes nothing.
    if (f.bytes.capacity() < flen && !spare_.empty()) {
      f.bytes = std::move(spare_.back());
      spare_.pop_back();
    }
    f.bytes.resize(flen);
    if (s + 1 < nseg) {
      // Ask for the next segment's buffer (the one the pool hands out next) in exclusive state
      // now, so fetching its lines overlaps this segment's copy. Recycled buffers were last
      // read by the peer's thread on the other core: the stores of the copy waited for those
      // lines and made this stage a large share of a run (perf; ~5 % of the simulating thread).
      const std::vector<uint8_t>& next =
          w->frames[s + 1].bytes.capacity() >= flen || spare_.empty() ? w->frames[s + 1].bytes : spare_.back();
      for (size_t o = 0; o < std::min(next.capacity(), flen); o += 64) __builtin_prefetch(next.data() + o, 1, 3);
    }
    std::memcpy(f.bytes.data(), hdr, hl);
    // The payload is copied and summed in one pass (the sum is used below when the WQE asks
    // for the L4 checksum); the TCP header is a multiple of 4 bytes, so the payload starts at an
    // even offset of the TCP segment and its sum chains with the header's.
    const uint32_t payload_sum =
        abi::csum_native_to_be(abi::csum_copy_native(f.bytes.data() + hl, w->payload.data() + off, len));
    std::memset(f.bytes.data() + hl + len, 0, flen - hl - len);  // Ethernet padding to the 60-byte minimum
    uint8_t* p = f.bytes.data();
    f.has_payload = len > 0;
    uint8_t* ip = p + L.l3;
    uint8_t* tcp = p + L.l4;
    const size_t l4_len = hl - L.l4 + len;
    // Linux TSO rules: FIN and PSH only on the last segment, CWR only on the first.
    uint8_t fl = flags0;
    if (s + 1 < nseg) fl &= uint8_t(~0x09);
    if (s > 0) fl &= uint8_t(~0x80);
    tcp[13] = fl;
    const uint32_t seq = seq0 + off;
    put32(tcp + 4, seq);
    if (!L.v6) {
      const uint16_t tot_len = uint16_t(hl - L.l3 + len), id = uint16_t(id0 + s);
      put16(ip + 2, tot_len);
      put16(ip + 4, id);
      if (want_l3) put16(ip + 10, abi::csum_finish(ip_base + tot_len + id));
    } else {
      put16(ip + 4, uint16_t(l4_len));
    }
    if (want_l4) {
      uint64_t sum = pseudo + 6 + uint64_t(l4_len);  // pseudo-header: addresses, protocol, TCP length
      sum += tcp_base + (seq >> 16) + (seq & 0xffff) + (doff_byte | fl) + payload_sum;
      put16(tcp + 16, abi::csum_finish(sum));
    }
    stats_.segments++;
    if (cfg_.fault_bad_csum_frame == stats_.segments) tcp[17] ^= 0x01;  // injected fault (see NicConfig)
    stats_.bytes += len;
    uint64_t seg_cycles = cfg_.csum_hdr_cycles + ceil_div(hl + len, cfg_.datapath_bytes_per_cycle);
    cycles += seg_cycles;
    ready_cycles->push_back(cycles);
  }
  w->num_frames = nseg;
  stats_.pkts++;
  return cycles;
}

}  // namespace nicsim::model::tx
