// Checks a replay's output capture against its input, independently of app/replay.cpp:
//  * the output has the input's link type;
//  * every frame that is not the host's TCP is in the output unchanged, in the same order;
//  * each input frame the host sent is followed, in order, by the output frames that replace
//    it: together they cover exactly its sequence range; every payload byte equals the input's
//    byte at the same sequence number; the L2 header, the IP header (but for length, ID and
//    checksum), and the TCP header with its options (but for seq, flags and checksum) are the
//    input's; the IPv4 ID advances by one per TSO segment; FIN/PSH only on the last segment,
//    CWR only on the first; both checksums verify.
// It also records, per host connection, the host's data frames in capture order, from which a
// test computes how many of them the driver must find out of order.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host/trace/capture.h"

namespace nicsim::testbench {

struct HostDataFrame {
  uint32_t seq = 0, len = 0;
};

struct ReplayCheck {
  std::string error;  // empty: all good
  uint64_t frames_in = 0, frames_out = 0, host_frames_in = 0, host_frames_out = 0;
  uint64_t payload_bytes_checked = 0, retransmitted_frames = 0, split_frames = 0;
  // Keyed by "HOSTPORT PEER" (PEER as the stats print it: ip:port or [ipv6]:port).
  std::map<std::string, std::vector<HostDataFrame>> data_frames;
};

// host_port 0: any port of host_ip.
ReplayCheck check_replay(const std::string& in, const std::string& out, const std::string& host_ip,
                         uint16_t host_port = 0);

// tx_tls_ooo the driver must count for a connection whose first offloaded byte is at
// offload_start: a data skb at or after the start marker whose seq is not where the previous
// one ended (frames straddling the start marker are cut there).
uint64_t expected_ooo(const std::vector<HostDataFrame>& frames, uint32_t offload_start);

std::vector<host::trace::CaptureFrame> read_capture(const std::string& path, host::trace::LinkType* lt,
                                                    std::string* err);

}  // namespace nicsim::testbench
