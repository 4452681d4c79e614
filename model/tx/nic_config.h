// Every hardware parameter of the NIC model, with unit, default and the reason for the
// default (shared/reference/performance-anchors.md "N.." rows and crypto-engine.md sections).
// "assumption" marks a number no public source gives; change it with --config.
#pragma once
#include <cstdint>

namespace nicsim::model::tx {

struct NicConfig {
  double clock_mhz = 250.0;
  uint32_t datapath_bytes_per_cycle = 64;
  uint32_t crypto_lanes = 4;
  uint32_t aes128_latency_cycles = 15;
  uint32_t aes256_latency_cycles = 15;
  uint32_t tag_latency_cycles = 5;
  uint32_t crypto_cmd_lead_cycles = 20;
  uint32_t crypto_flow_slots = 16;
  double line_rate_gbps = 100.0;
  uint32_t mtu_bytes = 1500;
  double pcie_read_latency_ns = 550.0;
  double pcie_read_gbps = 105.0;
  double pcie_write_latency_ns = 275.0;
  uint32_t pcie_mrrs_bytes = 512;
  uint32_t desc_prefetch_wqebbs = 16;
  uint32_t wqe_parse_cycles_per_wqebb = 1;
  uint32_t tls_ctx_entries = 20160;
  uint32_t tls_ctx_bytes = 208;
  uint32_t tls_ctx_hit_cycles = 2;
  uint32_t tx_fifo_bytes = 262144;
  uint32_t csum_hdr_cycles = 1;
  uint64_t fault_bad_csum_frame = 0;

  template <class V>
  void visit(V& v) {
    v("clock_mhz", clock_mhz, "MHz",
      "datapath clock of a 100G FPGA NIC (Corundum runs 250 MHz; crypto-engine.md §4: 4 lanes at 250 MHz carry 100 Gb/s)");
    v("datapath_bytes_per_cycle", datapath_bytes_per_cycle, "B/cycle",
      "512-bit AXI-Stream datapath: 128 Gb/s at 250 MHz, the usual width for 100G (N16)");
    v("crypto_lanes", crypto_lanes, "x128 bit/cycle",
      "AES-GCM lanes: 4 lanes at 250 MHz for 100 Gb/s (crypto-engine.md §4, §7 default N=4)");
    v("aes128_latency_cycles", aes128_latency_cycles, "cycles",
      "AES-CTR pipeline depth of the RTL engine: input stage + 14 round stages (rtl/README.md; crypto-engine.md §7.2)");
    v("aes256_latency_cycles", aes256_latency_cycles, "cycles",
      "same pipeline: AES-128 rides through the last 4 stages so both key sizes take 15 (rtl/README.md)");
    v("tag_latency_cycles", tag_latency_cycles, "cycles",
      "last data beat in to tag out through an idle GHASH: item FIFO, front, 2 Karatsuba stages, loop (rtl/README.md: 5; block-list spills add, gcm_engine.cpp)");
    v("crypto_cmd_lead_cycles", crypto_cmd_lead_cycles, "cycles",
      "engine command ahead of the payload: known from descriptor and context a DMA read (>= 550 ns) before the data; >= 20 hides the keystream at any lane count (1-cycle data latency); more only costs the RTL bridge cycles");
    v("crypto_flow_slots", crypto_flow_slots, "records",
      "record contexts in the AES-GCM engine (RTL FLOWS, rtl/README.md: 16 x 929 bits at 4 lanes); a slot reused by another key recomputes the powers of H");
    v("line_rate_gbps", line_rate_gbps, "Gb/s", "Ethernet line rate of mac_tx (100 GbE, N1)");
    v("mtu_bytes", mtu_bytes, "B", "IP MTU; DUMP WQEs carry at most hw_mtu = MTU + 22 bytes (mlx5, §4.3)");
    v("pcie_read_latency_ns", pcie_read_latency_ns, "ns",
      "DMA read round trip for a small read, Gen3 host (N18: 64 B = 0.55-0.6 us, pcie-bench)");
    v("pcie_read_gbps", pcie_read_gbps, "Gb/s",
      "DMA read bandwidth, Gen3 x16, >=256 B reads (performance-anchors.md §6.1: 105)");
    v("pcie_write_latency_ns", pcie_write_latency_ns, "ns",
      "posted write (doorbell MMIO, CQE write) = half the read round trip (§6.2, Intel TCC)");
    v("pcie_mrrs_bytes", pcie_mrrs_bytes, "B",
      "max read request size: a read is issued as requests of this size (§6.1 model: MRRS 512)");
    v("desc_prefetch_wqebbs", desc_prefetch_wqebbs, "WQEBB",
      "assumption: desc_fetch reads up to 16 x 64 B basic blocks per DMA read");
    v("wqe_parse_cycles_per_wqebb", wqe_parse_cycles_per_wqebb, "cycles",
      "one 64 B basic block per cycle on the 512-bit datapath");
    v("tls_ctx_entries", tls_ctx_entries, "contexts",
      "on-NIC TLS context cache: ~20 K contexts in 4 MiB (N14, CX6-Dx)");
    v("tls_ctx_bytes", tls_ctx_bytes, "B", "bytes per TLS context fetched from host memory on a miss (N14: 208 B)");
    v("tls_ctx_hit_cycles", tls_ctx_hit_cycles, "cycles", "assumption: SRAM read + tag compare");
    v("tx_fifo_bytes", tx_fifo_bytes, "B",
      "assumption: on-chip packet buffer between dma_read and mac_tx (4 x 64 KiB TSO)");
    v("csum_hdr_cycles", csum_hdr_cycles, "cycles",
      "per generated segment: header rewrite (seq, IP id/length) before its bytes stream");
    v("fault_bad_csum_frame", fault_bad_csum_frame, "frame",
      "fault injection, 0 = off: tx_checksum writes a wrong TCP checksum into the N-th frame it builds "
      "(1-based), to show that the receiver's check catches a NIC that writes a wrong byte");
  }
};

}  // namespace nicsim::model::tx
