// What TCP hands to its device (an skb) and what it takes from the wire (a parsed segment).
#pragma once
#include <cstdint>
#include <vector>

namespace nicsim::host::tcp {

enum TcpFlags : uint8_t { kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10 };

// One piece of payload in host memory (an skb frag).
struct Frag {
  uint64_t addr = 0;
  uint32_t len = 0;
};

// An skb on its way to the driver. payload_len may exceed gso_size: the NIC's TSO cuts it into
// gso_size pieces, advancing seq and copying the rest of the header.
struct Segment {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;          // TcpFlags
  uint16_t window = 0;        // the header's window field (already scaled down by wscale)
  bool has_ts = true;         // TCP timestamps option (RFC 7323) present
  uint32_t tsval = 0, tsecr = 0;
  uint16_t mss_opt = 0;       // SYN/SYN-ACK only, 0 = absent
  int8_t wscale_opt = -1;     // SYN/SYN-ACK only, -1 = absent
  uint32_t payload_len = 0;
  uint16_t gso_size = 0;      // MSS for TSO; 0 = send as one frame
  bool decrypted = false;     // skb->decrypted: plaintext of an offloaded socket, NIC encrypts
  bool retransmit = false;    // for counters only
  std::vector<Frag> frags;    // payload_len bytes, in order
};

// A segment as received (the glue parses the frame and fills this in).
struct RxSegment {
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  bool has_ts = false;
  uint32_t tsval = 0, tsecr = 0;
  uint16_t mss_opt = 0;
  int8_t wscale_opt = -1;
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;
};

// Wrap-safe sequence comparisons (include/net/tcp.h before/after/between).
inline bool seq_before(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
inline bool seq_after(uint32_t a, uint32_t b) { return seq_before(b, a); }
inline bool seq_between(uint32_t s, uint32_t lo, uint32_t hi) { return hi - lo >= s - lo; }

}  // namespace nicsim::host::tcp
