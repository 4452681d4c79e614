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
};
enum class LinkType { ethernet = 1, linux_sll = 113, linux_sll2 = 276, raw_ip = 101 };
ParsedFrame parse_frame(const uint8_t* p, size_t n, LinkType lt = LinkType::ethernet);

// RFC 1071 sum over bytes, folded; start from `initial` (a partial sum, not complemented).
uint32_t csum_partial(const uint8_t* p, size_t n, uint32_t initial = 0);
uint16_t csum_fold(uint32_t sum);  // returns the one's complement of the folded sum
// Computes and stores the IPv4 header checksum and the TCP checksum of a full frame
// (Ethernet framing, as build_headers makes it). Returns false if the frame does not parse.
bool fill_checksums(uint8_t* frame, size_t n);
// True iff both checksums of the frame verify.
bool verify_checksums(const uint8_t* frame, size_t n);

}  // namespace nicsim::host::trace
