// The kernel's software fallback for offloaded TX (net/tls/tls_device_fallback.c): an skb that
// cannot be encrypted by the device (route change, device down, or a driver's choice) is
// re-encrypted in software from the start of the record it begins in.
#include <algorithm>
#include <cstring>
#include <vector>

#include "host/ktls/tls_device_impl.h"

namespace nicsim::host::ktls {

namespace {

// tls_enc_record: one record of the (prefix + payload) stream starting at in[*pos]. Copies the
// prepend through, then encrypts what of the record is present. *remaining counts the input
// bytes left from *pos. Returns false on a header that cannot be a record of ours.
bool tls_enc_record(crypto::AesGcmStream& gcm, const crypto::TlsKeys& k, uint64_t rcd_sn,
                    const uint8_t* in, uint8_t* out, size_t* pos, size_t* remaining) {
  const bool tls13 = k.version == crypto::TlsVersion::tls13;
  const size_t pre = crypto::tls_prepend_bytes(k.version);
  const size_t explicit_iv = tls13 ? 0 : crypto::kTls12ExplicitNonceBytes;

  const size_t hdr_pos = *pos;
  size_t n = std::min(*remaining, pre);
  std::memcpy(out + *pos, in + *pos, n);
  *pos += n;
  *remaining -= n;
  if (*remaining == 0) return true;

  const uint8_t* hdr = in + hdr_pos;
  const size_t hdr_len = (static_cast<size_t>(hdr[3]) << 8) | hdr[4];
  if (hdr_len < explicit_iv + crypto::kGcmTagBytes) return false;
  // len = ciphertext (incl. the 1.3 inner type byte) + tag.
  size_t len = hdr_len - explicit_iv;

  uint8_t nonce[crypto::kGcmIvBytes];
  uint8_t aad[13];
  size_t aad_len;
  if (tls13) {
    // Per record, from the static IV: the early pending-series code XORs into one buffer for
    // every record of a multi-record skb; RFC 8446 wants a fresh XOR per record.
    crypto::tls13_nonce(k.salt, k.iv, rcd_sn, nonce);
    std::memcpy(aad, hdr, crypto::kTlsHeaderBytes);
    aad_len = crypto::kTlsHeaderBytes;
  } else {
    // The explicit nonce is read from the record itself.
    crypto::tls12_nonce(k.salt, hdr + crypto::kTlsHeaderBytes, nonce);
    crypto::tls12_aad(rcd_sn, hdr[0], static_cast<uint16_t>(len - crypto::kGcmTagBytes), aad);
    aad_len = sizeof aad;
  }

  // Input shorter than the record: only tag bytes missing → encrypt the whole plaintext (the
  // tag bytes present come out right); plaintext missing → encrypt what is there, the tag is
  // garbage and none of it is emitted.
  size_t ct_len = len - crypto::kGcmTagBytes;
  size_t tag_out = crypto::kGcmTagBytes;
  if (*remaining < len) {
    if (*remaining >= ct_len) {
      tag_out = *remaining - ct_len;
    } else {
      ct_len = *remaining;
      tag_out = 0;
    }
  }
  gcm.start(nonce, aad, aad_len);
  gcm.update(in + *pos, out + *pos, ct_len);
  uint8_t tag[crypto::kGcmTagBytes];
  gcm.finish_tag(tag);
  std::memcpy(out + *pos + ct_len, tag, tag_out);
  *pos += ct_len + tag_out;
  *remaining -= ct_len + tag_out;
  return true;
}

}  // namespace

TlsOffloadCtxTx::Fallback TlsOffloadCtxTx::sw_fallback(uint32_t seq, const uint8_t* plain,
                                                       uint32_t len, uint8_t* out) {
  Impl& s = *impl_;
  s.ctr.fallback_skbs++;
  auto passthrough = [&]() {
    if (len > 0) std::memcpy(out, plain, len);
    s.ctr.fallback_passthrough++;
    return Fallback::passthrough;
  };
  auto drop = [&]() {
    s.ctr.fallback_drops++;
    return Fallback::drop;
  };
  // Software kTLS has no validate_xmit hook: its bytes are ciphertext already.
  if (!s.hw) return passthrough();
  if (len == 0) return passthrough();  // no TCP payload: the skb as is

  // fill_sg_in.
  uint64_t rcd_sn = 0;
  const TlsRecordInfo* rec = s.get_record(seq, &rcd_sn);
  if (rec == nullptr) return drop();
  const int32_t sync_size = static_cast<int32_t>(seq - tls_record_start_seq(*rec));
  if (sync_size < 0) {
    // Bytes queued before the key was installed go out unmodified; an skb straddling the
    // start marker (or, defensively, an acked record) is dropped.
    if (tls_record_is_start_marker(*rec) &&
        static_cast<int64_t>(len) <= -static_cast<int64_t>(sync_size)) {
      return passthrough();
    }
    return drop();
  }

  // tls_enc_skb / tls_enc_records over [record prefix from the image | skb payload].
  const size_t prefix = static_cast<size_t>(sync_size);
  std::vector<uint8_t> in(prefix + len);
  std::vector<uint8_t> enc(prefix + len);
  if (prefix > 0) std::memcpy(in.data(), s.mem.ptr(rec->addr, prefix), prefix);
  std::memcpy(in.data() + prefix, plain, len);
  size_t pos = 0;
  size_t remaining = in.size();
  do {
    if (!tls_enc_record(s.gcm, s.keys, rcd_sn, in.data(), enc.data(), &pos, &remaining)) {
      return drop();
    }
    rcd_sn++;
  } while (remaining > 0);
  std::memcpy(out, enc.data() + prefix, len);
  s.ctr.fallback_bytes += len;
  s.ctr.fallback_prefix_bytes += prefix;
  return Fallback::encrypted;
}

}  // namespace nicsim::host::ktls
