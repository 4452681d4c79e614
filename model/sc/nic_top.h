// The NIC: SystemC TLM-2.0 shells around the plain C++ stage cores of model/tx, wired as the
// TX pipeline  doorbell → desc_fetch → tls_ctx → dma_read → aes_gcm → tx_checksum → mac_tx,
// with a PCIe model that every DMA goes through. Loosely timed: one thread walks each WQE
// through the chain with b_transport, every shell annotating the time its stage finishes with
// it; a quantum keeper bounds how far the NIC runs ahead of the host.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "model/abi/device.h"
#include "model/abi/dma.h"
#include "model/tx/aes_gcm.h"
#include "model/tx/desc_fetch.h"
#include "model/tx/gcm_engine.h"
#include "model/tx/mac_tx.h"
#include "model/tx/nic_config.h"
#include "model/tx/tls_ctx.h"
#include "model/tx/tx_checksum.h"

namespace nicsim::model::sc {

using tx::TimePs;

// Picoseconds <-> sc_time. The kernel's time resolution is left at SystemC's default, 1 ps, so
// an sc_time's integer value is picoseconds; from_value avoids the floating-point constructor,
// which was a visible share of a run's time.
inline sc_core::sc_time ps(TimePs t) { return sc_core::sc_time::from_value(t); }
inline TimePs to_ps(const sc_core::sc_time& t) { return TimePs(t.value()); }

// PCIe: the target every DMA initiator is bound to; forwards to host memory.
class Pcie : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<Pcie> tgt;
  Pcie(sc_core::sc_module_name n, const tx::NicConfig& cfg, abi::DmaTarget* mem);
  tx::PcieLink& link() { return link_; }

 private:
  void b_transport(int id, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  tx::PcieLink link_;
  abi::DmaTarget* mem_;
};

// TLM extension on a DMA read: asks the PCIe target to lend the bytes in place (abi::DmaTarget
// ::dma_view) instead of copying them to the data pointer. Timing is that of the same read.
// `view` stays nullptr when the target could not lend them; then it copied as usual.
struct DmaViewExt : tlm::tlm_extension<DmaViewExt> {
  const uint8_t* view = nullptr;
  tlm::tlm_extension_base* clone() const override { return new DmaViewExt(*this); }
  void copy_from(const tlm::tlm_extension_base& e) override { view = static_cast<const DmaViewExt&>(e).view; }
};

// The state one WQE carries down the chain (the generic payload's data pointer).
struct WqeTxn {
  tx::TxWork work;
  tx::SqState* sq = nullptr;
  TimePs dma_issue_ps = 0;  // when dma_read took the WQE (the NIC thread's back-pressure)
};

// Base of every stage shell: a target socket in, an initiator socket to the next stage.
class StageShell : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<StageShell> in;
  tlm_utils::simple_initiator_socket<StageShell> out;
  explicit StageShell(sc_core::sc_module_name n);

 protected:
  virtual void handle(WqeTxn& t, TimePs ready_ps) = 0;
  void forward(WqeTxn& t, TimePs ready_ps);
  static WqeTxn& txn(tlm::tlm_generic_payload& gp) { return *reinterpret_cast<WqeTxn*>(gp.get_data_ptr()); }

 private:
  void b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  tlm::tlm_generic_payload* gp_ = nullptr;
};

// A shell that also reads and writes host memory through PCIe.
class DmaStageShell : public StageShell {
 public:
  tlm_utils::simple_initiator_socket<DmaStageShell> dma;
  explicit DmaStageShell(sc_core::sc_module_name n);
  // Blocking TLM read/write at time issue_ps; returns completion time, or UINT64_MAX on a fault.
  TimePs dma_read(uint64_t addr, uint8_t* dst, uint32_t len, TimePs issue_ps);
  TimePs dma_write(uint64_t addr, const uint8_t* src, uint32_t len, TimePs issue_ps);
  // A read whose bytes are used in place: *view points at them, or is nullptr when the target
  // copied them to dst instead (dst must hold len bytes either way).
  TimePs dma_read_view(uint64_t addr, uint8_t* dst, uint32_t len, TimePs issue_ps, const uint8_t** view);

 private:
  TimePs dma_access(tlm::tlm_command cmd, uint64_t addr, uint8_t* data, uint32_t len, TimePs issue_ps,
                    DmaViewExt* view = nullptr);
  // One payload object for every DMA of this stage (accesses never nest): constructing a
  // tlm_generic_payload allocates its extension array, once per DMA was a visible cost.
  tlm::tlm_generic_payload gp_;
};

class NicTop : public sc_core::sc_module, public abi::NicDeviceOps {
 public:
  SC_HAS_PROCESS(NicTop);
  // engine: the AES-GCM datapath (nullptr: the behavioural engine). mem: host memory.
  // ctx_backing_addr: host memory holding the TLS contexts' backing store (ICM).
  NicTop(sc_core::sc_module_name n, const tx::NicConfig& cfg, abi::DmaTarget* mem,
         tx::GcmEngine* engine, uint64_t ctx_backing_addr, sc_core::sc_time quantum);
  ~NicTop() override;

  // abi::NicDeviceOps
  uint16_t create_sq(const abi::SqCreateParams& p) override;
  uint32_t create_tis() override;
  void destroy_tis(uint32_t tis_num) override;
  uint32_t create_dek(crypto::Cipher c, const uint8_t* key) override;
  void destroy_dek(uint32_t dek_index) override;
  void ring_doorbell(uint16_t sqn, uint16_t pc) override;

  // Frames leaving mac_tx (depart_ps = last bit on the wire).
  std::function<void(tx::Frame&& f)> on_wire;
  // Hands a frame's buffer back once whoever took it from on_wire is done with it (optional:
  // saves an allocation per frame).
  void recycle_frame(std::vector<uint8_t>&& bytes);
  // A CQE was written at cq index idx of sqn's CQ; visible to the host at t_ps.
  std::function<void(uint16_t sqn, uint32_t idx, TimePs t_ps)> on_cqe;

  const tx::Clock& clock() const { return clk_; }
  const tx::NicConfig& config() const { return cfg_; }
  // Stage cores, for statistics.
  const tx::DescFetchStats& desc_fetch_stats() const;
  const tx::StageStats& tls_ctx_stage_stats() const;
  const tx::TlsCtxStats& tls_ctx_stats() const;
  const tx::StageStats& dma_read_stats() const;
  const tx::AesGcmStats& aes_gcm_stats() const;
  const tx::TxChecksumStats& tx_checksum_stats() const;
  const tx::MacTxStats& mac_tx_stats() const;
  const tx::PcieStats& pcie_stats() const;
  uint64_t cqes() const { return cqes_; }
  uint64_t cqe_errors() const { return cqe_errors_; }
  uint64_t frames_dropped() const { return frames_dropped_; }
  tx::GcmEngine& engine() { return *engine_; }
  tx::TisContext* tis_context(uint32_t tis_num);

 private:
  tlm::tlm_generic_payload cq_gp_;
  struct Sq {
    tx::SqState st;
    abi::SqCreateParams p;
    uint32_t cq_pi = 0;          // CQEs written
    TimePs last_done_ps = 0;     // completion of the latest WQE (for fences)
  };
  struct Doorbell {
    uint16_t sqn, pc;
    TimePs arrive_ps;
  };
  void run();
  void take_doorbells();
  int pick_sq(TimePs now_ps);
  void complete(Sq& sq, const tx::TxWork& w);

  tx::NicConfig cfg_;
  tx::Clock clk_;
  abi::DmaTarget* mem_;
  std::unique_ptr<tx::GcmEngine> own_engine_;
  tx::GcmEngine* engine_;
  struct Shells;
  std::unique_ptr<Shells> shells_;
  tlm_utils::simple_initiator_socket<NicTop> to_pipeline_;
  tlm_utils::simple_initiator_socket<NicTop> cq_dma_;
  tlm_utils::tlm_quantumkeeper qk_;
  std::vector<std::unique_ptr<Sq>> sqs_;
  std::deque<Doorbell> doorbells_;
  sc_core::sc_event doorbell_ev_;
  size_t rr_ = 0;
  WqeTxn txn_;
  uint64_t cqes_ = 0, cqe_errors_ = 0, frames_dropped_ = 0;
};

}  // namespace nicsim::model::sc
