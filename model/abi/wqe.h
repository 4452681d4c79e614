// The send queue's work-queue entries: the contract between the driver (host/driver) and the
// NIC's desc_fetch stage. Modelled on mlx5's TX WQEs (ctrl / eth / data segments, the kTLS
// UMR static-params, SET_PSV progress-params, fenced NOP and DUMP WQEs; see
// shared/reference/kernel-ktls-offload.md §4.3) but laid out little-endian in our own words:
// nicsim does not claim binary compatibility with ConnectX hardware, only the same shapes,
// sizes and ordering rules.
//
// A WQE is a sequence of 16-byte data segments ("DS") beginning with a CtrlSeg; it occupies
// ceil(ds_count * 16 / 64) consecutive 64-byte basic blocks (WQEBBs) of the ring and never
// wraps: the driver pads the ring's tail with NOP WQEs (mlx5e "edge" NOPs).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace nicsim::abi {

constexpr size_t kWqebbBytes = 64;  // MLX5_SEND_WQE_BB
constexpr size_t kDsBytes = 16;     // MLX5_SEND_WQE_DS
constexpr size_t kDsPerWqebb = kWqebbBytes / kDsBytes;
constexpr size_t kMaxInlineHdrBytes = 256;  // Ethernet+IPv6+TCP with options fits easily
constexpr size_t kMaxWqeDataSegs = 32;      // gather entries per send WQE

// mlx5 opcode values (include/linux/mlx5/qp.h), kept for familiarity.
enum class Opcode : uint8_t {
  nop = 0x00,
  send = 0x0a,
  lso = 0x0e,      // large send: the NIC cuts the payload at EthSeg::mss
  set_psv = 0x20,  // with opmod kOpmodTlsProgressParams: TLS progress params
  dump = 0x23,     // feed bytes through the TIS crypto state; transmit nothing
  umr = 0x25,      // with opmod kOpmodTlsStaticParams: TLS static params
};
constexpr uint8_t kOpmodTlsStaticParams = 0x1;   // MLX5_OPC_MOD_TLS_TIS_STATIC_PARAMS
constexpr uint8_t kOpmodTlsProgressParams = 0x1; // MLX5_OPC_MOD_TLS_TIS_PROGRESS_PARAMS

// CtrlSeg::fm_ce_se bits.
constexpr uint8_t kFenceInitiatorSmall = 0x20;  // MLX5_FENCE_MODE_INITIATOR_SMALL << 5
constexpr uint8_t kCqUpdate = 0x08;             // MLX5_WQE_CTRL_CQ_UPDATE: write a CQE

struct CtrlSeg {
  uint8_t opcode;       // Opcode
  uint8_t opmod;
  uint16_t wqe_index;   // producer counter (in WQEBBs) of this WQE's first block
  uint8_t ds_count;     // number of 16-byte segments, this one included
  uint8_t fm_ce_se;     // fence and completion-request bits
  uint16_t sqn;         // send queue number
  uint32_t tis_num;     // TLS context (TIS) this WQE belongs to; 0 = none (plain packet)
  uint32_t imm;         // unused for TX; kept zero
};
static_assert(sizeof(CtrlSeg) == 16 && std::is_trivially_copyable_v<CtrlSeg>);

// EthSeg::cs_flags bits.
constexpr uint8_t kCsumL3 = 0x40;  // MLX5_ETH_WQE_L3_CSUM: compute the IPv4 header checksum
constexpr uint8_t kCsumL4 = 0x80;  // MLX5_ETH_WQE_L4_CSUM: compute the TCP checksum
struct EthSeg {
  uint8_t cs_flags;
  uint8_t reserved0;
  uint16_t mss;            // LSO only: payload bytes per generated segment
  uint16_t inline_hdr_sz;  // bytes of Ethernet/IP/TCP headers that follow, in DS units padded
  uint16_t reserved1;
  uint32_t reserved2;
  uint32_t reserved3;
};
static_assert(sizeof(EthSeg) == 16);

struct DataSeg {
  uint32_t byte_count;
  uint32_t lkey;   // memory key; the model has one flat bus address space, kept 0
  uint64_t addr;   // bus address in host memory
};
static_assert(sizeof(DataSeg) == 16);

// mlx5_ifc tls_static_params, in our layout. Carried by a UMR WQE of 3 WQEBBs as mlx5 does:
// ctrl (16) + UMR ctrl (48, unused here) + mkey context (64, unused) + these params (64).
constexpr uint8_t kTlsVersion12 = 0x2;
constexpr uint8_t kTlsVersion13 = 0x3;   // pending TLS 1.3 hardware series
struct TlsStaticParams {
  uint8_t const_2;                 // 2
  uint8_t tls_version;             // kTlsVersion12 / kTlsVersion13
  uint8_t const_1;                 // 1
  uint8_t encryption_standard;     // 1 = TLS
  uint32_t dek_index;              // key object made by create_dek (firmware command)
  uint8_t initial_record_number[8];  // big-endian rcd_sn
  uint32_t resync_tcp_sn;          // 0 for TX
  uint8_t gcm_iv[4];               // salt
  uint8_t implicit_iv[8];          // TLS 1.3: rest of the static IV
  uint8_t reserved[32];
};
static_assert(sizeof(TlsStaticParams) == 64);
struct UmrStaticParamsWqe {
  CtrlSeg ctrl;
  uint8_t umr_ctrl[48];
  uint8_t mkey_ctx[64];
  TlsStaticParams params;
};
static_assert(sizeof(UmrStaticParamsWqe) == 3 * kWqebbBytes);

// mlx5_ifc tls_progress_params.
enum class RecordTrackerState : uint8_t { start = 0, tracking = 1, searching = 2 };
enum class AuthState : uint8_t { no_offload = 0, offload = 1, authentication = 2 };
struct TlsProgressParams {
  uint32_t tis_tir_num;
  uint32_t next_record_tcp_sn;     // 0 for TX
  uint32_t hw_resync_tcp_sn;
  uint8_t record_tracker_state;    // RecordTrackerState
  uint8_t auth_state;              // AuthState
  uint16_t reserved0;
  uint32_t hw_offset_record_number;
  uint8_t reserved[28];
};
static_assert(sizeof(TlsProgressParams) == 48);
struct SetPsvProgressParamsWqe {
  CtrlSeg ctrl;
  TlsProgressParams params;
};
static_assert(sizeof(SetPsvProgressParamsWqe) == kWqebbBytes);

struct DumpWqe {
  CtrlSeg ctrl;
  DataSeg data;
};
static_assert(sizeof(DumpWqe) == 32);

inline constexpr size_t wqebbs_for_ds(size_t ds) {
  return (ds * kDsBytes + kWqebbBytes - 1) / kWqebbBytes;
}
inline constexpr size_t ds_for_bytes(size_t bytes) { return (bytes + kDsBytes - 1) / kDsBytes; }

// Completion queue entry, written by the NIC into the CQ ring (one per WQE with kCqUpdate).
// Completions are in order: a CQE for wqe_counter N also completes every earlier WQE.
constexpr uint8_t kCqeReq = 0x0;       // MLX5_CQE_REQ
constexpr uint8_t kCqeReqErr = 0xd;    // MLX5_CQE_REQ_ERR
struct Cqe {
  uint8_t opcode;          // kCqeReq / kCqeReqErr
  uint8_t syndrome;        // error cause (CqeSyndrome) when opcode = kCqeReqErr
  uint16_t wqe_counter;    // counter of the WQE this completes
  uint16_t sqn;
  uint16_t reserved0;
  uint64_t timestamp_ns;   // NIC time when the WQE finished
  uint8_t reserved[48];
};
static_assert(sizeof(Cqe) == 64);
enum class CqeSyndrome : uint8_t {
  none = 0,
  local_length = 1,    // WQE malformed (bad ds count, bad inline size)
  dma_fault = 2,       // a DMA read hit unmapped host memory
  tls_bad_record = 3,  // the TLS stream did not parse (length field impossible)
  tls_no_context = 4,  // tis_num not programmed
};

}  // namespace nicsim::abi
