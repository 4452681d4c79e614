// Realistic engine stimulus for the co-simulation tests and bench: the GcmSegments the aes_gcm
// stage's record tracker hands an engine for kTLS traffic. Each flow is a TLS byte stream of
// records (header, TLS 1.2 explicit nonce, AEAD payload, tag) cut into TCP segments of `mss`
// bytes; a segment's share of each record's AEAD payload is one piece (a segment across a
// record boundary gives the last piece of one record and the first of the next). A
// retransmission is what the mlx5 driver does for an out-of-order segment: DUMP pieces (at most
// `mss` bytes each) replay the record from its start up to the segment, then the segment.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "model/crypto/tls_record.h"
#include "model/tx/gcm_engine.h"

namespace nicsim::testbench::cosim {

using crypto::Cipher;
using crypto::TlsVersion;

struct Piece {
  model::tx::GcmSegment seg;
  std::vector<uint8_t> data;  // plaintext of the piece
  size_t record = 0;          // index of the record in its flow
};

class TlsFlowGen {
 public:
  TlsFlowGen(uint32_t tis, TlsVersion v, Cipher c, const std::vector<uint32_t>& record_sizes,
             uint64_t seed)
      : tis_(tis) {
    std::mt19937_64 rng(seed);
    keys_.version = v;
    keys_.cipher = c;
    for (auto& b : keys_.key) b = uint8_t(rng());
    for (auto& b : keys_.salt) b = uint8_t(rng());
    for (auto& b : keys_.iv) b = uint8_t(rng());
    const size_t prepend = crypto::tls_prepend_bytes(v);
    uint64_t off = 0;
    for (size_t i = 0; i < record_sizes.size(); ++i) {
      Rec r;
      r.seq = i + 3;  // a few records (the handshake's) went before offload started
      r.plaintext.resize(record_sizes[i]);
      for (auto& b : r.plaintext) b = uint8_t(rng());
      // The AEAD payload: the data, plus TLS 1.3's inner content type.
      r.payload = r.plaintext;
      if (v == TlsVersion::tls13) r.payload.push_back(crypto::kTlsContentAppData);
      r.stream_off = off;
      r.payload_off = off + prepend;
      r.sealed = crypto::tls_seal_record(keys_, r.seq, crypto::kTlsContentAppData, r.plaintext.data(),
                                         r.plaintext.size());
      off += r.sealed.size();
      recs_.push_back(std::move(r));
    }
    stream_len_ = off;
  }

  bool done() const { return pos_ >= stream_len_; }
  uint64_t pos() const { return pos_; }
  const crypto::TlsKeys& keys() const { return keys_; }
  size_t records() const { return recs_.size(); }
  // The sealed record (header..tag) an oracle TLS library produces for record i.
  const std::vector<uint8_t>& sealed(size_t i) const { return recs_[i].sealed; }
  size_t payload_len(size_t i) const { return recs_[i].payload.size(); }
  // Where record i's AEAD payload starts in its sealed image.
  size_t prepend() const { return crypto::tls_prepend_bytes(keys_.version); }

  // The pieces of the next TCP segment of `mss` bytes.
  std::vector<Piece> next_segment(uint32_t mss) {
    const uint64_t a = pos_, b = std::min<uint64_t>(pos_ + mss, stream_len_);
    pos_ = b;
    last_seg_ = {a, b};
    return pieces(a, b, false);
  }

  // Go-back retransmission from stream byte `a` (already sent): DUMP pieces (at most mss bytes
  // each) replay the record holding byte `a` from its header up to `a` (the whole payload, tag
  // included, when `a` is in the record's tag), then [a, pos) is sent again in mss cuts.
  std::vector<Piece> retransmit_from(uint64_t a, uint32_t mss) {
    std::vector<Piece> out;
    if (a >= pos_) return out;
    for (const Rec& x : recs_) {
      if (x.stream_off <= a && a < x.stream_off + x.sealed.size()) {
        for (uint64_t p = x.stream_off; p < a; p += mss) {
          auto d = pieces(p, std::min<uint64_t>(p + mss, a), true);
          out.insert(out.end(), d.begin(), d.end());
        }
      }
    }
    for (uint64_t p = a; p < pos_; p += mss) {
      auto s = pieces(p, std::min<uint64_t>(p + mss, pos_), false);
      out.insert(out.end(), s.begin(), s.end());
    }
    return out;
  }
  // The segment just sent, again.
  std::vector<Piece> retransmit_last(uint32_t mss) { return retransmit_from(last_seg_.first, mss); }
  // From inside the tag of the last record whose tag has been sent: its whole payload is
  // dumped (the last DUMP piece computes the tag, which is not sent).
  std::vector<Piece> retransmit_from_last_tag(uint32_t mss) {
    for (size_t i = recs_.size(); i-- > 0;) {
      const Rec& x = recs_[i];
      const uint64_t end = x.stream_off + x.sealed.size();
      if (end <= pos_) return retransmit_from(end - 7, mss);
    }
    return {};
  }

 private:
  struct Rec {
    uint64_t seq = 0;
    std::vector<uint8_t> plaintext, payload, sealed;
    uint64_t stream_off = 0, payload_off = 0;
  };

  std::vector<Piece> pieces(uint64_t a, uint64_t b, bool dump) const {
    std::vector<Piece> out;
    for (size_t i = 0; i < recs_.size(); ++i) {
      const Rec& r = recs_[i];
      const uint64_t x = std::max(a, r.payload_off), y = std::min(b, r.payload_off + r.payload.size());
      if (x >= y) continue;
      Piece p;
      p.record = i;
      model::tx::GcmSegment& s = p.seg;
      s.flow = tis_;
      s.cipher = keys_.cipher;
      s.key = keys_.key;
      const uint32_t len = uint32_t(r.payload.size());
      if (keys_.version == TlsVersion::tls12) {
        uint8_t exp[8];
        crypto::tls12_explicit_nonce(keys_, r.seq, exp);
        crypto::tls12_nonce(keys_.salt, exp, s.nonce);
        crypto::tls12_aad(r.seq, crypto::kTlsContentAppData, uint16_t(len), s.aad);
        s.aad_len = 13;
      } else {
        crypto::tls13_nonce(keys_.salt, keys_.iv, r.seq, s.nonce);
        const uint32_t clen = len + 16;
        const uint8_t hdr[5] = {crypto::kTlsContentAppData, 3, 3, uint8_t(clen >> 8), uint8_t(clen)};
        std::memcpy(s.aad, hdr, 5);
        s.aad_len = 5;
      }
      s.rec_offset = uint32_t(x - r.payload_off);
      s.rec_len = len;
      s.first = s.rec_offset == 0;
      s.last = y == r.payload_off + r.payload.size();
      s.dump = dump;
      p.data.assign(r.payload.begin() + long(s.rec_offset), r.payload.begin() + long(y - r.payload_off));
      out.push_back(std::move(p));
    }
    return out;
  }

  uint32_t tis_;
  crypto::TlsKeys keys_;
  std::vector<Rec> recs_;
  uint64_t stream_len_ = 0, pos_ = 0;
  std::pair<uint64_t, uint64_t> last_seg_{0, 0};
};

}  // namespace nicsim::testbench::cosim
