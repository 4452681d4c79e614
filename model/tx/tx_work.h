// One WQE on its way through the TX pipeline: what desc_fetch decoded, what dma_read gathered,
// what aes_gcm and tx_checksum made of it, and the time it became ready for the next stage.
// The NIC top processes one WQE at a time through the whole chain (loosely timed), so one
// TxWork object is reused for every WQE and its buffers never reallocate in steady state.
#pragma once
#include <cstdint>
#include <vector>

#include "model/abi/wqe.h"
#include "model/tx/timing.h"

namespace nicsim::model::tx {

struct Frame {
  std::vector<uint8_t> bytes;  // Ethernet frame without FCS, padded to 60 bytes
  TimePs depart_ps = 0;        // time the frame's last bit left mac_tx
  bool has_payload = false;
};

struct TxWork {
  // desc_fetch
  abi::CtrlSeg ctrl{};
  abi::Opcode opcode = abi::Opcode::nop;
  uint16_t wqebbs = 0;
  bool fence = false;
  bool cq_update = false;
  uint32_t tis_num = 0;
  abi::EthSeg eth{};
  std::vector<uint8_t> inline_hdr;
  abi::DataSeg segs[abi::kMaxWqeDataSegs];
  uint32_t num_segs = 0;
  abi::TlsStaticParams static_params{};
  abi::TlsProgressParams progress_params{};
  // dma_read
  std::vector<uint8_t> payload;  // the bytes that go on the wire (aes_gcm's output for TLS)
  uint32_t payload_len = 0;
  // A TLS WQE's input as dma_read found it: segment i's bytes at src[i] (in host memory, lent
  // by DMA; or in payload), src_len[i] of them. Valid only while the WQE is in the chain.
  const uint8_t* src[abi::kMaxWqeDataSegs] = {};
  uint32_t src_len[abi::kMaxWqeDataSegs] = {};
  // tx_checksum output, mac_tx stamps depart_ps
  std::vector<Frame> frames;
  uint32_t num_frames = 0;
  // status
  abi::CqeSyndrome error = abi::CqeSyndrome::none;
  TimePs ready_ps = 0;   // when the work is available to the next stage
  TimePs done_ps = 0;    // when the WQE completed (last frame left, or DUMP consumed)

  void reset() {
    opcode = abi::Opcode::nop;
    wqebbs = 0;
    fence = cq_update = false;
    tis_num = 0;
    inline_hdr.clear();
    num_segs = 0;
    payload_len = 0;
    num_frames = 0;
    error = abi::CqeSyndrome::none;
    ready_ps = done_ps = 0;
  }
  bool is_tls() const { return tis_num != 0; }
  bool is_send() const { return opcode == abi::Opcode::send || opcode == abi::Opcode::lso; }
};

}  // namespace nicsim::model::tx
