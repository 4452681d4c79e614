// Ethernet / IPv4 / IPv6 / TCP framing: building the frames the host and the peer send, and
// parsing frames off the wire or out of a capture. Checksums are the Internet checksum
// (RFC 1071) with the TCP pseudo-header (RFC 793 / RFC 8200 §8.1).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nicsim::host::trace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;

// An endpoint address: IPv4 uses the first 4 bytes of ip.
struct IpAddr {
  bool v6 = false;
  std::array<uint8_t, 16> ip{};
  static IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  std::string str() const;                      // dotted quad or RFC 5952 text
  bool operator==(const IpAddr& o) const { return v6 == o.v6 && ip == o.ip; }
  bool operator<(const IpAddr& o) const { return v6 != o.v6 ? v6 < o.v6 : ip < o.ip; }
};

// One direction of a TCP connection's addressing.
struct FlowAddr {
  std::array<uint8_t, 6> src_mac{}, dst_mac{};
  IpAddr src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;
  FlowAddr reversed() const;
};

struct TcpHeaderFields {
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  bool has_ts = false;
  uint32_t tsval = 0, tsecr = 0;
  uint16_t mss_opt = 0;      // 0 = absent
  int8_t wscale_opt = -1;    // -1 = absent
  uint16_t ip_id = 0;        // IPv4 identification
  uint8_t ttl = 64;
};

// Builds Ethernet + IP + TCP headers for a segment carrying payload_len bytes. Options, when
// present, are laid out as Linux does: SYN: MSS, SACK-permitted absent, TS, NOP, WS;
// data/ACK: NOP, NOP, TS. With fill_checksums=false the IPv4 header checksum is 0 and the TCP
// checksum holds the pseudo-header sum only (CHECKSUM_PARTIAL: the NIC completes it).
// Layout detail: options follow the fields, not the flags: mss_opt != 0 → MSS (4 bytes),
// has_ts → NOP NOP TS (12), wscale_opt >= 0 → NOP WS (4); every block is 4-byte aligned.
// IPv4: DF set, TOS 0, ID = ip_id, TTL = ttl. IPv6: traffic class and flow label 0, hop
// limit = ttl. Ethernet: no VLAN tag.
// fill_checksums=true computes the IPv4 header checksum; the TCP checksum is complete only when
// payload_len == 0 (the payload is not seen here): with payload it stays the pseudo-header sum,
// so use build_frame or fill_checksums on the finished frame.
// Throws std::invalid_argument when the IP length field cannot hold the segment (> 65535).
std::vector<uint8_t> build_headers(const FlowAddr& a, const TcpHeaderFields& h,
                                   uint32_t payload_len, bool fill_checksums);

// A parsed frame: offsets into the caller's bytes.
struct ParsedFrame {
  bool ok = false;
  std::string error;         // why ok is false
  size_t l3_off = 0, l4_off = 0, payload_off = 0;
  uint32_t payload_len = 0;
  bool v6 = false;
  IpAddr src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;
  TcpHeaderFields tcp;
  bool is_tcp = false;       // false: not TCP (ok may still be true for non-TCP IP frames)
  // Headers complete but the frame ends before the IP length says (snaplen cut): ok is false,
  // error says so, every field is filled in and payload_len is clamped to the bytes present.
  bool truncated = false;
};
// Values are the pcap LINKTYPE_ numbers, so a writer can store them as they are.
// null_loopback (BSD/macOS lo0, e.g. the illustrated-tls13 captures) and loop carry a 4-byte
// address family; parse_frame accepts it in either byte order, as Wireshark does.
enum class LinkType {
  null_loopback = 0, ethernet = 1, raw_ip = 101, loop = 108, linux_sll = 113, linux_sll2 = 276
};
// Parses L2 (one 802.1Q tag accepted on Ethernet), IPv4 (options skipped) or IPv6 (hop-by-hop,
// routing and destination-options headers skipped) and TCP (MSS, WS, TS options decoded).
// Truncated headers or malformed fields: ok=false with error. Not IP, not TCP, or an IP
// fragment: ok=true, is_tcp=false. payload_len comes from the IP length (Ethernet padding is
// ignored). tcp.ip_id is the IPv4 identification (0 for IPv6), tcp.ttl the TTL / hop limit.
ParsedFrame parse_frame(const uint8_t* p, size_t n, LinkType lt = LinkType::ethernet);

// Bytes build_headers produces for these fields: Ethernet + IP + TCP with options.
size_t headers_len(bool v6, const TcpHeaderFields& h);
// Builds a whole frame: build_headers followed by the payload. With fill_checksums=true both
// checksums are complete (unlike build_headers, which cannot sum a payload it does not see).
std::vector<uint8_t> build_frame(const FlowAddr& a, const TcpHeaderFields& h,
                                 const uint8_t* payload, size_t payload_len, bool fill_checksums);

// RFC 1071 sum over bytes, folded to 16 bits (result <= 0xffff); start from `initial` (a
// partial sum, not complemented, any 32-bit value). Bytes are summed as big-endian 16-bit
// words counted from p, so chaining through `initial` is only right when every earlier piece
// had an even length; for a piece that starts at an odd offset use csum_block_add.
uint32_t csum_partial(const uint8_t* p, size_t n, uint32_t initial = 0);
// Adds the partial sum of a block that starts `offset` bytes into the summed data (an odd
// offset swaps its bytes), as the kernel's csum_block_add does. Result folded to 16 bits.
uint32_t csum_block_add(uint32_t sum, uint32_t block_sum, size_t offset);
uint16_t csum_fold(uint32_t sum);  // returns the one's complement of the folded sum
// Folded (not complemented) TCP pseudo-header sum: addresses, protocol 6 and the TCP length
// (header + payload), RFC 793 / RFC 8200 §8.1. This is what CHECKSUM_PARTIAL leaves in the
// TCP checksum field.
uint32_t tcp_pseudo_sum(const IpAddr& src, const IpAddr& dst, uint32_t tcp_len);
// Computes and stores the IPv4 header checksum and the TCP checksum of a full frame
// (Ethernet framing, as build_headers makes it). Returns false if the frame does not parse,
// is not TCP or is truncated.
bool fill_checksums(uint8_t* frame, size_t n);
bool fill_checksums(uint8_t* frame, size_t n, LinkType lt);
// True iff both checksums (IPv4 header and TCP; TCP only for IPv6) of the frame verify.
// False for frames that do not parse, are not TCP or are truncated.
bool verify_checksums(const uint8_t* frame, size_t n);
bool verify_checksums(const uint8_t* frame, size_t n, LinkType lt);

}  // namespace nicsim::host::trace
