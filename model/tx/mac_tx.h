// mac_tx: puts frames on the wire at line rate. Each frame occupies the wire for its bytes
// (padded to 60) plus FCS 4, preamble+SFD 8 and the inter-frame gap 12 (IEEE 802.3).
#pragma once
#include <algorithm>
#include <cstdint>

#include "model/tx/nic_config.h"
#include "model/tx/timing.h"

namespace nicsim::model::tx {

constexpr uint32_t kEthFcsBytes = 4, kEthPreambleBytes = 8, kEthIfgBytes = 12, kEthMinFrame = 60;

struct MacTxStats : StageStats {
  uint64_t frames = 0, wire_bytes = 0;  // wire_bytes: including preamble, FCS and IFG
};

class MacTx {
 public:
  MacTx(const NicConfig& cfg, Clock clk) : rate_gbps_(cfg.line_rate_gbps), clk_(clk) {}
  // Wire time of a frame of len bytes (without FCS).
  TimePs wire_ps(size_t len) const {
    size_t b = std::max<size_t>(len, kEthMinFrame) + kEthFcsBytes + kEthPreambleBytes + kEthIfgBytes;
    return TimePs(double(b) * 8000.0 / rate_gbps_ + 0.5);
  }
  // The frame is ready at ready_ps; returns when its last bit has left (before the IFG).
  TimePs send(TimePs ready_ps, size_t len, size_t payload_bytes) {
    TimePs start = std::max(ready_ps, free_at_ps_);
    if (start > ready_ps) stats_.stall_cycles += (start - ready_ps) / clk_.period_ps;
    TimePs w = wire_ps(len);
    free_at_ps_ = start + w;
    stats_.busy_cycles += clk_.to_cycles_ceil(w);
    stats_.frames++;
    stats_.pkts++;
    stats_.bytes += payload_bytes;
    stats_.wire_bytes += std::max<size_t>(len, kEthMinFrame) + kEthFcsBytes + kEthPreambleBytes + kEthIfgBytes;
    // The IFG is idle time after the frame: the frame itself is done 12 byte times earlier.
    return start + w - TimePs(double(kEthIfgBytes) * 8000.0 / rate_gbps_ + 0.5);
  }
  TimePs free_at_ps() const { return free_at_ps_; }
  MacTxStats& stats() { return stats_; }
  const MacTxStats& stats() const { return stats_; }

 private:
  double rate_gbps_;
  Clock clk_;
  TimePs free_at_ps_ = 0;
  MacTxStats stats_;
};

// PCIe: DMA reads pay a round-trip latency and share the link's read bandwidth (completions
// for earlier reads occupy it first); posted writes pay a one-way latency.
struct PcieStats {
  uint64_t reads = 0, read_bytes = 0, writes = 0, write_bytes = 0;
  uint64_t read_requests = 0;   // MRRS-sized requests
  TimePs read_busy_ps = 0;      // time the read completion direction was busy
};

class PcieLink {
 public:
  explicit PcieLink(const NicConfig& cfg)
      : latency_ps_(TimePs(cfg.pcie_read_latency_ns * 1000.0 + 0.5)),
        write_latency_ps_(TimePs(cfg.pcie_write_latency_ns * 1000.0 + 0.5)),
        ps_per_byte_(8000.0 / cfg.pcie_read_gbps),
        mrrs_(cfg.pcie_mrrs_bytes) {}
  // A read of len bytes issued at issue_ps: returns when its last byte has arrived.
  TimePs read(TimePs issue_ps, uint64_t len) {
    stats_.reads++;
    stats_.read_bytes += len;
    stats_.read_requests += std::max<uint64_t>(1, (len + mrrs_ - 1) / mrrs_);
    TimePs xfer = TimePs(double(len) * ps_per_byte_ + 0.5);
    // The first completion cannot arrive before the round trip; completions of one link are
    // serialised behind earlier ones.
    TimePs start = std::max(issue_ps + latency_ps_ - std::min(latency_ps_, xfer_first(len)), busy_until_ps_);
    TimePs done = std::max(start + xfer, issue_ps + latency_ps_);
    stats_.read_busy_ps += xfer;
    busy_until_ps_ = done;
    return done;
  }
  TimePs write(TimePs issue_ps, uint64_t len) {
    stats_.writes++;
    stats_.write_bytes += len;
    return issue_ps + write_latency_ps_;
  }
  const PcieStats& stats() const { return stats_; }

 private:
  // The measured small-read latency already includes moving its first (up to 64) bytes.
  TimePs xfer_first(uint64_t len) const { return TimePs(double(std::min<uint64_t>(len, 64)) * ps_per_byte_); }
  TimePs latency_ps_, write_latency_ps_;
  double ps_per_byte_;
  uint32_t mrrs_;
  TimePs busy_until_ps_ = 0;
  PcieStats stats_;
};

}  // namespace nicsim::model::tx
