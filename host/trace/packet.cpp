// Ethernet / IPv4 / IPv6 / TCP framing and the Internet checksum. See packet.h for the contract.
#include "host/trace/packet.h"

#include "model/abi/inet_csum.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace nicsim::host::trace {

namespace {

constexpr uint8_t kIpProtoTcp = 6;
constexpr size_t kEthHdrLen = 14;
constexpr size_t kVlanTagLen = 4;
constexpr size_t kIpv4HdrLen = 20;
constexpr size_t kIpv6HdrLen = 40;
constexpr size_t kTcpHdrLen = 20;
constexpr size_t kSllHdrLen = 16;
constexpr size_t kSll2HdrLen = 20;
constexpr size_t kNullHdrLen = 4;

// TCP option kinds (RFC 793, RFC 7323).
constexpr uint8_t kTcpOptEol = 0;
constexpr uint8_t kTcpOptNop = 1;
constexpr uint8_t kTcpOptMss = 2;
constexpr uint8_t kTcpOptWs = 3;
constexpr uint8_t kTcpOptTs = 8;
constexpr uint8_t kTcpOlenMss = 4;
constexpr uint8_t kTcpOlenWs = 3;
constexpr uint8_t kTcpOlenTs = 10;

// IPv6 extension headers that parse_frame steps over (RFC 8200 §4) and the fragment header.
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestOpts = 60;

inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline void wr16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void wr32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// One's complement addition of two values already folded to 16 bits (or any 32-bit values),
// result folded to 16 bits.
inline uint32_t fold16(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  return uint32_t(s);
}

inline uint32_t swap16(uint32_t folded) { return ((folded & 0xffu) << 8) | ((folded >> 8) & 0xffu); }

size_t tcp_options_len(const TcpHeaderFields& h) {
  return (h.mss_opt != 0 ? 4u : 0u) + (h.has_ts ? 12u : 0u) + (h.wscale_opt >= 0 ? 4u : 0u);
}

std::string num(size_t v) { return std::to_string(v); }

}  // namespace

IpAddr IpAddr::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddr r;
  r.ip[0] = a;
  r.ip[1] = b;
  r.ip[2] = c;
  r.ip[3] = d;
  return r;
}

std::string IpAddr::str() const {
  char buf[64];
  if (!v6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    return buf;
  }
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.data(), kMapped, 12) == 0) {
    std::snprintf(buf, sizeof buf, "::ffff:%u.%u.%u.%u", ip[12], ip[13], ip[14], ip[15]);
    return buf;
  }
  uint16_t w[8];
  for (int i = 0; i < 8; ++i) w[i] = rd16(&ip[size_t(2 * i)]);
  // RFC 5952 §4.2: "::" replaces the longest run of at least two zero groups, the first one on
  // a tie; a single zero group is written "0".
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (w[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && w[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;
  std::string s;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      s += "::";
      i += best_len - 1;
      continue;
    }
    if (!s.empty() && s.back() != ':') s += ':';
    std::snprintf(buf, sizeof buf, "%x", w[i]);
    s += buf;
  }
  return s;
}

FlowAddr FlowAddr::reversed() const {
  FlowAddr r;
  r.src_mac = dst_mac;
  r.dst_mac = src_mac;
  r.src_ip = dst_ip;
  r.dst_ip = src_ip;
  r.src_port = dst_port;
  r.dst_port = src_port;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Checksums

uint32_t csum_partial(const uint8_t* p, size_t n, uint32_t initial) {
  // The one summing loop of the simulator (model/abi/inet_csum.h), shared with the NIC.
  return fold16(uint64_t(abi::csum_native_to_be(abi::csum_native(p, n))) + initial);
}

uint32_t csum_block_add(uint32_t sum, uint32_t block_sum, size_t offset) {
  uint32_t b = fold16(block_sum);
  if (offset & 1) b = swap16(b);
  return fold16(uint64_t(fold16(sum)) + b);
}

uint16_t csum_fold(uint32_t sum) { return uint16_t(~fold16(sum) & 0xffffu); }

uint32_t tcp_pseudo_sum(const IpAddr& src, const IpAddr& dst, uint32_t tcp_len) {
  uint64_t s = 0;
  size_t alen = src.v6 ? 16 : 4;
  for (size_t i = 0; i < alen; i += 2) s += rd16(&src.ip[i]) + rd16(&dst.ip[i]);
  s += kIpProtoTcp;
  s += (tcp_len >> 16) + (tcp_len & 0xffffu);
  return fold16(s);
}

// ---------------------------------------------------------------------------------------------
// Building

size_t headers_len(bool v6, const TcpHeaderFields& h) {
  return kEthHdrLen + (v6 ? kIpv6HdrLen : kIpv4HdrLen) + kTcpHdrLen + tcp_options_len(h);
}

std::vector<uint8_t> build_headers(const FlowAddr& a, const TcpHeaderFields& h,
                                   uint32_t payload_len, bool fill_checksums) {
  const bool v6 = a.src_ip.v6;
  if (a.dst_ip.v6 != v6)
    throw std::invalid_argument("build_headers: source and destination address families differ");
  const size_t opt_len = tcp_options_len(h);
  const size_t tcp_hdr_len = kTcpHdrLen + opt_len;
  const size_t ip_hdr_len = v6 ? kIpv6HdrLen : kIpv4HdrLen;
  // IPv4 total length counts the IP header, IPv6 payload length does not.
  const uint64_t ip_len_field = uint64_t(payload_len) + tcp_hdr_len + (v6 ? 0 : ip_hdr_len);
  if (ip_len_field > 0xffff)
    throw std::invalid_argument("build_headers: " + num(payload_len) +
                                " payload bytes do not fit the IP length field");

  std::vector<uint8_t> f(kEthHdrLen + ip_hdr_len + tcp_hdr_len, 0);
  uint8_t* e = f.data();
  std::memcpy(e, a.dst_mac.data(), 6);
  std::memcpy(e + 6, a.src_mac.data(), 6);
  wr16(e + 12, v6 ? kEtherTypeIpv6 : kEtherTypeIpv4);

  uint8_t* ip = e + kEthHdrLen;
  if (v6) {
    ip[0] = 0x60;  // version 6, traffic class 0, flow label 0
    wr16(ip + 4, uint16_t(ip_len_field));
    ip[6] = kIpProtoTcp;
    ip[7] = h.ttl;
    std::memcpy(ip + 8, a.src_ip.ip.data(), 16);
    std::memcpy(ip + 24, a.dst_ip.ip.data(), 16);
  } else {
    ip[0] = 0x45;  // version 4, IHL 5
    ip[1] = 0;
    wr16(ip + 2, uint16_t(ip_len_field));
    wr16(ip + 4, h.ip_id);
    wr16(ip + 6, 0x4000);  // DF, as Linux sets for TCP (path MTU discovery)
    ip[8] = h.ttl;
    ip[9] = kIpProtoTcp;
    std::memcpy(ip + 12, a.src_ip.ip.data(), 4);
    std::memcpy(ip + 16, a.dst_ip.ip.data(), 4);
    if (fill_checksums) wr16(ip + 10, csum_fold(csum_partial(ip, kIpv4HdrLen)));
  }

  uint8_t* t = ip + ip_hdr_len;
  wr16(t, a.src_port);
  wr16(t + 2, a.dst_port);
  wr32(t + 4, h.seq);
  wr32(t + 8, h.ack);
  t[12] = uint8_t((tcp_hdr_len / 4) << 4);
  t[13] = h.flags;
  wr16(t + 14, h.window);
  // t[16..17] checksum, t[18..19] urgent pointer 0.
  // Options in Linux's tcp_options_write order: MSS, timestamps, window scale.
  uint8_t* o = t + kTcpHdrLen;
  if (h.mss_opt != 0) {
    o[0] = kTcpOptMss;
    o[1] = kTcpOlenMss;
    wr16(o + 2, h.mss_opt);
    o += 4;
  }
  if (h.has_ts) {
    o[0] = kTcpOptNop;
    o[1] = kTcpOptNop;
    o[2] = kTcpOptTs;
    o[3] = kTcpOlenTs;
    wr32(o + 4, h.tsval);
    wr32(o + 8, h.tsecr);
    o += 12;
  }
  if (h.wscale_opt >= 0) {
    o[0] = kTcpOptNop;
    o[1] = kTcpOptWs;
    o[2] = kTcpOlenWs;
    o[3] = uint8_t(h.wscale_opt);
    o += 4;
  }

  const uint32_t pseudo = tcp_pseudo_sum(a.src_ip, a.dst_ip, uint32_t(tcp_hdr_len + payload_len));
  if (fill_checksums && payload_len == 0)
    wr16(t + 16, csum_fold(csum_partial(t, tcp_hdr_len, pseudo)));
  else
    wr16(t + 16, uint16_t(pseudo));  // CHECKSUM_PARTIAL: csum_start = TCP header
  return f;
}

std::vector<uint8_t> build_frame(const FlowAddr& a, const TcpHeaderFields& h,
                                 const uint8_t* payload, size_t payload_len, bool fill) {
  if (payload_len > 0xffff)
    throw std::invalid_argument("build_frame: " + num(payload_len) +
                                " payload bytes do not fit the IP length field");
  std::vector<uint8_t> f = build_headers(a, h, uint32_t(payload_len), false);
  f.insert(f.end(), payload, payload + payload_len);
  if (fill && !fill_checksums(f.data(), f.size()))
    throw std::logic_error("build_frame: built frame does not parse");
  return f;
}

// ---------------------------------------------------------------------------------------------
// Parsing

ParsedFrame parse_frame(const uint8_t* p, size_t n, LinkType lt) {
  ParsedFrame f;
  auto fail = [&f](std::string why) {
    f.ok = false;
    f.error = std::move(why);
    return f;
  };
  auto short_msg = [n](const char* what, size_t need) {
    return std::string("truncated: ") + what + " needs " + num(need) + " bytes, frame has " +
           num(n);
  };

  // L2: find where IP starts and which IP version the link layer says it is.
  size_t off = 0;
  int ipver = 0;  // 4, 6, or 0 = not IP
  auto from_ethertype = [](uint16_t et) {
    return et == kEtherTypeIpv4 ? 4 : et == kEtherTypeIpv6 ? 6 : 0;
  };
  switch (lt) {
    case LinkType::ethernet: {
      if (n < kEthHdrLen) return fail(short_msg("Ethernet header", kEthHdrLen));
      uint16_t et = rd16(p + 12);
      off = kEthHdrLen;
      if (et == kEtherTypeVlan) {
        if (n < kEthHdrLen + kVlanTagLen)
          return fail(short_msg("Ethernet header with 802.1Q tag", kEthHdrLen + kVlanTagLen));
        et = rd16(p + 16);
        off += kVlanTagLen;
      }
      ipver = from_ethertype(et);
      break;
    }
    case LinkType::linux_sll:
      if (n < kSllHdrLen) return fail(short_msg("Linux cooked (SLL) header", kSllHdrLen));
      ipver = from_ethertype(rd16(p + 14));
      off = kSllHdrLen;
      break;
    case LinkType::linux_sll2:
      if (n < kSll2HdrLen) return fail(short_msg("Linux cooked v2 (SLL2) header", kSll2HdrLen));
      ipver = from_ethertype(rd16(p));
      off = kSll2HdrLen;
      break;
    case LinkType::raw_ip:
      if (n < 1) return fail(short_msg("raw IP header", 1));
      ipver = p[0] >> 4;
      if (ipver != 4 && ipver != 6)
        return fail("raw IP: version field is " + num(size_t(ipver)) + ", not 4 or 6");
      break;
    case LinkType::null_loopback:
    case LinkType::loop: {
      if (n < kNullHdrLen) return fail(short_msg("loopback header", kNullHdrLen));
      // The family is in the capturing host's byte order (NULL) or big-endian (LOOP); like
      // Wireshark, take whichever order gives a value below 2^16.
      uint32_t fam = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) |
                     (uint32_t(p[3]) << 24);
      if (fam & 0xffff0000u) fam = rd32(p);
      // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (OpenBSD/NetBSD), 28 (FreeBSD),
      // 30 (macOS).
      ipver = fam == 2 ? 4 : (fam == 10 || fam == 24 || fam == 28 || fam == 30) ? 6 : 0;
      off = kNullHdrLen;
      break;
    }
    default:
      return fail("unsupported link type " + num(size_t(lt)));
  }
  if (ipver == 0) {
    f.ok = true;  // not IP: nothing for us, but not an error either
    return f;
  }
  f.l3_off = off;

  // L3
  size_t l4 = 0, ip_end = 0;
  uint8_t proto = 0;
  bool fragment = false;
  if (ipver == 4) {
    if (n < off + kIpv4HdrLen) return fail(short_msg("IPv4 header", off + kIpv4HdrLen));
    const uint8_t* ip = p + off;
    if ((ip[0] >> 4) != 4)
      return fail("IPv4 header has version " + num(size_t(ip[0] >> 4)));
    size_t ihl = size_t(ip[0] & 0x0f) * 4;
    if (ihl < kIpv4HdrLen) return fail("IPv4 header length " + num(ihl) + " < 20");
    if (n < off + ihl) return fail(short_msg("IPv4 header with options", off + ihl));
    size_t tot = rd16(ip + 2);
    if (tot < ihl)
      return fail("IPv4 total length " + num(tot) + " < header length " + num(ihl));
    f.v6 = false;
    f.src_ip.v6 = f.dst_ip.v6 = false;
    std::memcpy(f.src_ip.ip.data(), ip + 12, 4);
    std::memcpy(f.dst_ip.ip.data(), ip + 16, 4);
    f.tcp.ip_id = rd16(ip + 4);
    f.tcp.ttl = ip[8];
    proto = ip[9];
    fragment = (rd16(ip + 6) & 0x3fff) != 0;  // MF set or fragment offset != 0
    l4 = off + ihl;
    ip_end = off + tot;
  } else {
    if (n < off + kIpv6HdrLen) return fail(short_msg("IPv6 header", off + kIpv6HdrLen));
    const uint8_t* ip = p + off;
    if ((ip[0] >> 4) != 6)
      return fail("IPv6 header has version " + num(size_t(ip[0] >> 4)));
    size_t plen = rd16(ip + 4);
    f.v6 = true;
    f.src_ip.v6 = f.dst_ip.v6 = true;
    std::memcpy(f.src_ip.ip.data(), ip + 8, 16);
    std::memcpy(f.dst_ip.ip.data(), ip + 24, 16);
    f.tcp.ip_id = 0;
    f.tcp.ttl = ip[7];
    if (plen == 0) return fail("IPv6 payload length 0 (jumbogram) is not supported");
    proto = ip[6];
    l4 = off + kIpv6HdrLen;
    ip_end = l4 + plen;
    while (proto == kIpv6HopByHop || proto == kIpv6Routing || proto == kIpv6DestOpts) {
      if (n < l4 + 2) return fail(short_msg("IPv6 extension header", l4 + 2));
      size_t len = (size_t(p[l4 + 1]) + 1) * 8;
      if (l4 + len > ip_end)
        return fail("IPv6 extension header " + num(proto) + " at offset " + num(l4) +
                    " runs past the IPv6 payload length");
      proto = p[l4];
      l4 += len;
    }
    fragment = proto == kIpv6Fragment;
  }
  if (fragment || proto != kIpProtoTcp) {
    // A fragment's TCP header is in the first piece only and its length is not the segment's:
    // no reassembly here, so fragments count as not TCP.
    f.ok = true;
    return f;
  }

  // L4
  f.l4_off = l4;
  if (ip_end < l4 + kTcpHdrLen)
    return fail("IP length leaves " + num(ip_end > l4 ? ip_end - l4 : 0) +
                " bytes for a 20-byte TCP header");
  if (n < l4 + kTcpHdrLen) return fail(short_msg("TCP header", l4 + kTcpHdrLen));
  const uint8_t* t = p + l4;
  size_t doff = size_t(t[12] >> 4) * 4;
  if (doff < kTcpHdrLen) return fail("TCP data offset " + num(doff) + " < 20");
  if (ip_end < l4 + doff)
    return fail("IP length leaves " + num(ip_end - l4) + " bytes for a " + num(doff) +
                "-byte TCP header");
  if (n < l4 + doff) return fail(short_msg("TCP header with options", l4 + doff));
  f.src_port = rd16(t);
  f.dst_port = rd16(t + 2);
  f.tcp.seq = rd32(t + 4);
  f.tcp.ack = rd32(t + 8);
  f.tcp.flags = t[13];
  f.tcp.window = rd16(t + 14);
  for (size_t i = kTcpHdrLen; i < doff;) {
    uint8_t kind = t[i];
    if (kind == kTcpOptEol) break;
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= doff) return fail("TCP option " + num(kind) + " has no length byte");
    size_t len = t[i + 1];
    if (len < 2 || i + len > doff)
      return fail("TCP option " + num(kind) + " has bad length " + num(len));
    auto want = [&](size_t l) { return len == l; };
    switch (kind) {
      case kTcpOptMss:
        if (!want(kTcpOlenMss)) return fail("TCP MSS option has length " + num(len));
        f.tcp.mss_opt = rd16(t + i + 2);
        break;
      case kTcpOptWs:
        if (!want(kTcpOlenWs)) return fail("TCP window scale option has length " + num(len));
        f.tcp.wscale_opt = int8_t(std::min<uint8_t>(t[i + 2], 127));
        break;
      case kTcpOptTs:
        if (!want(kTcpOlenTs)) return fail("TCP timestamps option has length " + num(len));
        f.tcp.has_ts = true;
        f.tcp.tsval = rd32(t + i + 2);
        f.tcp.tsecr = rd32(t + i + 6);
        break;
      default:
        break;  // SACK-permitted, SACK blocks, MD5, ...: not needed here
    }
    i += len;
  }
  f.is_tcp = true;
  f.payload_off = l4 + doff;
  if (ip_end > n) {
    f.truncated = true;
    f.payload_len = uint32_t(n - f.payload_off);
    return fail("truncated: IP length says the packet ends at byte " + num(ip_end) +
                ", frame has " + num(n));
  }
  f.payload_len = uint32_t(ip_end - f.payload_off);
  f.ok = true;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Whole-frame checksums

bool fill_checksums(uint8_t* frame, size_t n, LinkType lt) {
  ParsedFrame f = parse_frame(frame, n, lt);
  if (!f.ok || !f.is_tcp) return false;
  if (!f.v6) {
    uint8_t* ip = frame + f.l3_off;
    size_t ihl = size_t(ip[0] & 0x0f) * 4;
    wr16(ip + 10, 0);
    wr16(ip + 10, csum_fold(csum_partial(ip, ihl)));
  }
  uint8_t* t = frame + f.l4_off;
  uint32_t tcp_len = uint32_t(f.payload_off + f.payload_len - f.l4_off);
  wr16(t + 16, 0);
  wr16(t + 16, csum_fold(csum_partial(t, tcp_len, tcp_pseudo_sum(f.src_ip, f.dst_ip, tcp_len))));
  return true;
}

bool verify_checksums(const uint8_t* frame, size_t n, LinkType lt) {
  ParsedFrame f = parse_frame(frame, n, lt);
  if (!f.ok || !f.is_tcp) return false;
  if (!f.v6) {
    const uint8_t* ip = frame + f.l3_off;
    size_t ihl = size_t(ip[0] & 0x0f) * 4;
    if (csum_fold(csum_partial(ip, ihl)) != 0) return false;
  }
  uint32_t tcp_len = uint32_t(f.payload_off + f.payload_len - f.l4_off);
  return csum_fold(csum_partial(frame + f.l4_off, tcp_len,
                                tcp_pseudo_sum(f.src_ip, f.dst_ip, tcp_len))) == 0;
}

bool fill_checksums(uint8_t* frame, size_t n) {
  return fill_checksums(frame, n, LinkType::ethernet);
}
bool verify_checksums(const uint8_t* frame, size_t n) {
  return verify_checksums(frame, n, LinkType::ethernet);
}

}  // namespace nicsim::host::trace
