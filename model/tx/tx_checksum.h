// tx_checksum: TSO segmentation at the WQE's MSS and checksum insertion after encryption
// (the TCP checksum covers ciphertext, so it can only be computed here; tls-offload.rst §3.2:
// the device "encrypts, writes the tag and the TCP checksum"). Store-and-forward per segment:
// a segment's checksum sits in its header, so its first byte leaves only after its last byte
// has been summed.
#pragma once
#include <cstdint>
#include <vector>

#include "model/tx/nic_config.h"
#include "model/tx/timing.h"
#include "model/tx/tx_work.h"

namespace nicsim::model::tx {

struct TxChecksumStats : StageStats {
  uint64_t segments = 0;     // frames generated
  uint64_t tso_wqes = 0;     // LSO WQEs split into more than one frame
  uint64_t bad_headers = 0;  // inline headers that do not parse as Ethernet/IP/TCP
};

// Offsets of the inline headers the stage edits.
struct HdrLayout {
  bool ok = false;
  bool v6 = false;
  size_t l3 = 0, l4 = 0, hdr_len = 0;  // hdr_len: Ethernet..TCP options
};
HdrLayout parse_hdr_layout(const uint8_t* h, size_t n);

class TxChecksum {
 public:
  explicit TxChecksum(const NicConfig& cfg) : cfg_(cfg) {}
  // Builds w->frames[0 .. w->num_frames) from w->inline_hdr and w->payload. Returns the
  // stage's occupancy in cycles; *first_out_cycles is when the first frame can start leaving
  // (store-and-forward of the first segment) and per-frame ready offsets are in ready_cycles.
  uint64_t process(TxWork* w, std::vector<uint64_t>* ready_cycles);
  TxChecksumStats& stats() { return stats_; }
  const TxChecksumStats& stats() const { return stats_; }
  // Takes back the buffer of a frame its consumer is done with; later frames are built in it.
  // A frame buffer per packet through malloc/free was a visible share of a run's time. The
  // buffer keeps its size: process() overwrites every byte of a frame it builds, and
  // clearing would make it zero-fill them first.
  void recycle(std::vector<uint8_t>&& bytes) {
    if (spare_.size() < kMaxSpare) {
      spare_.push_back(std::move(bytes));
    }
  }

 private:
  static constexpr size_t kMaxSpare = 8192;  // ~12 MiB of 1.5 KB buffers: a few peer batches in flight
  NicConfig cfg_;
  TxChecksumStats stats_;
  std::vector<std::vector<uint8_t>> spare_;
  std::vector<uint8_t> tmpl_;  // the WQE's headers with the per-segment fields zeroed
};

}  // namespace nicsim::model::tx
