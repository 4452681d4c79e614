#include "model/sc/nic_top.h"

#include <algorithm>
#include <cstring>

namespace nicsim::model::sc {

using namespace sc_core;
using tx::TxWork;

// ---------------------------------------------------------------------------------------------
Pcie::Pcie(sc_module_name n, const tx::NicConfig& cfg, abi::DmaTarget* mem)
    : sc_module(n), tgt("tgt"), link_(cfg), mem_(mem) {
  tgt.register_b_transport(this, &Pcie::b_transport);
}

void Pcie::b_transport(int, tlm::tlm_generic_payload& gp, sc_time& delay) {
  const TimePs issue = to_ps(sc_time_stamp() + delay);
  const uint64_t addr = gp.get_address();
  const uint32_t len = gp.get_data_length();
  bool ok;
  TimePs done;
  if (gp.is_read()) {
    DmaViewExt* v = nullptr;
    gp.get_extension(v);
    if (v && (v->view = mem_->dma_view(addr, len)) != nullptr) ok = true;
    else ok = mem_->dma_read(addr, gp.get_data_ptr(), len);
    done = link_.read(issue, len);
  } else {
    ok = mem_->dma_write(addr, gp.get_data_ptr(), len);
    done = link_.write(issue, len);
  }
  gp.set_response_status(ok ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE);
  delay = ps(done) - sc_time_stamp();
}

// ---------------------------------------------------------------------------------------------
StageShell::StageShell(sc_module_name n) : sc_module(n), in("in"), out("out") {
  in.register_b_transport(this, &StageShell::b_transport);
}

void StageShell::b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
  gp_ = &gp;
  handle(txn(gp), to_ps(sc_time_stamp() + delay));
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

void StageShell::forward(WqeTxn& t, TimePs ready_ps) {
  t.work.ready_ps = ready_ps;
  sc_time d = ps(ready_ps) - sc_time_stamp();
  out->b_transport(*gp_, d);
}

DmaStageShell::DmaStageShell(sc_module_name n) : StageShell(n), dma("dma") {}

TimePs DmaStageShell::dma_access(tlm::tlm_command cmd, uint64_t addr, uint8_t* data, uint32_t len, TimePs issue_ps,
                                 DmaViewExt* view) {
  tlm::tlm_generic_payload& gp = gp_;
  gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  gp.set_byte_enable_ptr(nullptr);
  gp.set_byte_enable_length(0);
  gp.set_dmi_allowed(false);
  if (view) gp.set_extension(view);
  gp.set_command(cmd);
  gp.set_address(addr);
  gp.set_data_ptr(data);
  gp.set_data_length(len);
  gp.set_streaming_width(len);
  sc_time d = ps(issue_ps) - sc_time_stamp();
  dma->b_transport(gp, d);
  if (view) gp.clear_extension(view);  // ours, on the stack of the caller: not the payload's to free
  if (gp.get_response_status() != tlm::TLM_OK_RESPONSE) return UINT64_MAX;
  return to_ps(sc_time_stamp() + d);
}

TimePs DmaStageShell::dma_read_view(uint64_t addr, uint8_t* dst, uint32_t len, TimePs issue_ps, const uint8_t** view) {
  DmaViewExt ext;
  TimePs t = dma_access(tlm::TLM_READ_COMMAND, addr, dst, len, issue_ps, &ext);
  *view = t == UINT64_MAX ? nullptr : ext.view;
  return t;
}

TimePs DmaStageShell::dma_read(uint64_t addr, uint8_t* dst, uint32_t len, TimePs issue_ps) {
  return dma_access(tlm::TLM_READ_COMMAND, addr, dst, len, issue_ps);
}

TimePs DmaStageShell::dma_write(uint64_t addr, const uint8_t* src, uint32_t len, TimePs issue_ps) {
  // The target only reads from the buffer for a write command.
  return dma_access(tlm::TLM_WRITE_COMMAND, addr, const_cast<uint8_t*>(src), len, issue_ps);
}

// ---------------------------------------------------------------------------------------------
// desc_fetch: decodes the WQE at the SQ's consumer counter once its bytes have arrived.
class DescFetchShell : public DmaStageShell {
 public:
  DescFetchShell(sc_module_name n, const tx::NicConfig& cfg, tx::Clock clk)
      : DmaStageShell(n), core(cfg), server(clk) {}
  tx::DescFetch core;
  tx::Server server;
  // Issues the prefetch reads a doorbell makes possible.
  void prefetch(tx::SqState& sq, uint16_t pc, TimePs arrive_ps) {
    for (const tx::DescRead& r : core.on_doorbell(sq, pc)) {
      uint8_t* dst = sq.cache.data() + size_t(r.start & (sq.size_wqebbs - 1)) * abi::kWqebbBytes;
      TimePs done = dma_read(r.addr, dst, r.len_bytes, arrive_ps);
      if (done == UINT64_MAX) {
        // Unmapped ring: the bytes stay zero, which decodes as a malformed WQE (ds_count 0)
        // and completes with an error, as a real NIC reports a bad ring.
        std::memset(dst, 0, r.len_bytes);
        done = arrive_ps;
      }
      sq.chunks.push_back({r.end, done});
    }
  }
  TimePs fence_wait_ps = 0;  // set by the top: completion time of earlier WQEs

 protected:
  void handle(WqeTxn& t, TimePs ready_ps) override {
    TimePs avail = tx::DescFetch::available_at(*t.sq, uint16_t(t.sq->ci + 1));
    ready_ps = std::max(ready_ps, avail);
    uint64_t cycles = core.decode(*t.sq, &t.work);
    if (t.work.fence) ready_ps = std::max(ready_ps, fence_wait_ps);
    TimePs start = server.reserve(ready_ps, cycles, core.stats());
    TimePs done = start + server.clock().cycles(cycles);
    if (t.work.error != abi::CqeSyndrome::none || t.work.opcode == abi::Opcode::nop) {
      t.work.done_ps = done;
      t.work.ready_ps = done;
      return;
    }
    forward(t, done);
  }
};

// tls_ctx: context cache; applies static/progress params.
class TlsCtxShell : public DmaStageShell {
 public:
  TlsCtxShell(sc_module_name n, const tx::NicConfig& cfg, tx::Clock clk, uint64_t backing)
      : DmaStageShell(n), table(cfg.tls_ctx_entries, cfg.tls_ctx_bytes, backing), server(clk),
        hit_cycles_(cfg.tls_ctx_hit_cycles), scratch_(cfg.tls_ctx_bytes) {}
  tx::TlsCtxTable table;
  tx::Server server;
  tx::StageStats st;

 protected:
  void handle(WqeTxn& t, TimePs ready_ps) override {
    TxWork& w = t.work;
    if (!w.is_tls()) {
      forward(t, ready_ps);
      return;
    }
    st.pkts++;
    TimePs start = server.reserve(ready_ps, hit_cycles_, st);
    TimePs ready = start + server.clock().cycles(hit_cycles_);
    if (!table.tis_exists(w.tis_num)) {
      w.error = abi::CqeSyndrome::tls_no_context;
    } else {
      uint32_t victim = 0;
      if (!table.touch(w.tis_num, &victim)) {
        // Miss: the context comes from its backing store in host memory; the stage is
        // blocked until it arrives (in-order pipeline). The victim is written back posted.
        if (victim) dma_write(table.backing_addr(victim), scratch_.data(), table.ctx_bytes(), start);
        TimePs got = dma_read(table.backing_addr(w.tis_num), scratch_.data(), table.ctx_bytes(), start);
        if (got != UINT64_MAX) {
          uint64_t extra = server.clock().to_cycles_ceil(got - start);
          st.busy_cycles += extra;
          server.reserve(start, extra, st);  // occupy the stage for the miss
          ready = std::max(ready, got);
        }
      }
      if (w.opcode == abi::Opcode::umr) w.error = table.apply_static_params(w.tis_num, w.static_params);
      else if (w.opcode == abi::Opcode::set_psv) w.error = table.apply_progress_params(w.tis_num, w.progress_params);
    }
    if (w.error != abi::CqeSyndrome::none || w.opcode == abi::Opcode::umr || w.opcode == abi::Opcode::set_psv) {
      w.done_ps = w.ready_ps = ready;
      return;
    }
    forward(t, ready);
  }

 private:
  uint32_t hit_cycles_;
  std::vector<uint8_t> scratch_;  // context bytes moved by DMA; the functional state is `table`
};

// dma_read: gathers the payload; bounded by the on-chip TX FIFO.
class DmaReadShell : public DmaStageShell {
 public:
  DmaReadShell(sc_module_name n, const tx::NicConfig& cfg, tx::Clock clk)
      : DmaStageShell(n), server(clk), fifo_bytes_(cfg.tx_fifo_bytes), mrrs_(cfg.pcie_mrrs_bytes) {}
  tx::Server server;
  tx::StageStats st;

 protected:
  void handle(WqeTxn& t, TimePs ready_ps) override {
    TxWork& w = t.work;
    uint32_t total = 0;
    for (uint32_t i = 0; i < w.num_segs; i++) total += w.segs[i].byte_count;
    // Back-pressure: wait until the FIFO has room (frames ahead of us leave through mac_tx).
    TimePs issue = ready_ps;
    while (!fifo_.empty() && (fifo_.front().done_ps <= issue || used_ + total > fifo_bytes_)) {
      issue = std::max(issue, fifo_.front().done_ps);
      used_ -= fifo_.front().bytes;
      fifo_.pop_front();
    }
    uint64_t requests = 0;
    for (uint32_t i = 0; i < w.num_segs; i++) requests += std::max<uint64_t>(1, tx::ceil_div(w.segs[i].byte_count, mrrs_));
    TimePs start = server.reserve(issue, std::max<uint64_t>(1, requests), st);
    t.dma_issue_ps = start;
    if (w.payload.size() < total) w.payload.resize(total);
    TimePs arrived = start;
    uint32_t off = 0;
    // A TLS WQE's bytes are read where they lie: aes_gcm encrypts from there into w.payload
    // (one copy of every payload byte fewer for the simulator). Plain WQEs are copied.
    const bool lend = w.is_tls();
    for (uint32_t i = 0; i < w.num_segs; i++) {
      TimePs done;
      if (lend) {
        done = dma_read_view(w.segs[i].addr, w.payload.data() + off, w.segs[i].byte_count, start, &w.src[i]);
        // A target that lent no view copied into w.payload: use those bytes in place.
        if (done != UINT64_MAX && !w.src[i]) w.src[i] = w.payload.data() + off;
      } else {
        done = dma_read(w.segs[i].addr, w.payload.data() + off, w.segs[i].byte_count, start);
      }
      w.src_len[i] = w.segs[i].byte_count;
      if (done == UINT64_MAX) {
        w.error = abi::CqeSyndrome::dma_fault;
        break;
      }
      arrived = std::max(arrived, done);
      off += w.segs[i].byte_count;
    }
    w.payload_len = total;
    st.pkts++;
    st.bytes += total;
    if (w.error != abi::CqeSyndrome::none) {
      w.done_ps = w.ready_ps = arrived;
      return;
    }
    forward(t, arrived);
    fifo_.push_back({w.done_ps, total});
    used_ += total;
  }

 private:
  struct InFlight {
    TimePs done_ps;
    uint32_t bytes;
  };
  std::deque<InFlight> fifo_;
  uint64_t used_ = 0;
  uint32_t fifo_bytes_, mrrs_;
};

// aes_gcm: the record engine.
class AesGcmShell : public StageShell {
 public:
  AesGcmShell(sc_module_name n, const tx::NicConfig& cfg, tx::Clock clk, tx::GcmEngine* e, tx::TlsCtxTable* table)
      : StageShell(n), core(cfg, e), server(clk), table_(table) {}
  tx::AesGcmStage core;
  tx::Server server;

 protected:
  void handle(WqeTxn& t, TimePs ready_ps) override {
    TxWork& w = t.work;
    uint64_t lat = 0, occ;
    const bool dump = w.opcode == abi::Opcode::dump;
    if (w.is_tls()) {
      tx::PayloadGather in{w.src, w.src_len, w.num_segs};
      occ = core.process(table_->context(w.tis_num), in, w.payload.data(), w.payload_len, dump, &lat, &w.error);
    } else {
      occ = core.bypass(w.payload_len, &lat);
    }
    TimePs start = server.reserve(ready_ps, occ, core.stats());
    TimePs done = start + server.clock().cycles(lat);
    if (dump || w.error != abi::CqeSyndrome::none) {
      w.done_ps = w.ready_ps = done;
      return;
    }
    forward(t, done);
  }

 private:
  tx::TlsCtxTable* table_;
};

// tx_checksum: TSO + checksums.
class TxChecksumShell : public StageShell {
 public:
  TxChecksumShell(sc_module_name n, const tx::NicConfig& cfg, tx::Clock clk)
      : StageShell(n), core(cfg), server(clk) {}
  tx::TxChecksum core;
  tx::Server server;

 protected:
  void handle(WqeTxn& t, TimePs ready_ps) override {
    TxWork& w = t.work;
    uint64_t occ = core.process(&w, &ready_cycles_);
    TimePs start = server.reserve(ready_ps, occ, core.stats());
    if (w.error != abi::CqeSyndrome::none) {
      w.done_ps = w.ready_ps = start;
      return;
    }
    for (uint32_t i = 0; i < w.num_frames; i++) w.frames[i].depart_ps = start + server.clock().cycles(ready_cycles_[i]);
    forward(t, start);
  }

 private:
  std::vector<uint64_t> ready_cycles_;
};

// mac_tx: line rate.
class MacTxShell : public StageShell {
 public:
  MacTxShell(sc_module_name n, const tx::NicConfig& cfg, tx::Clock clk) : StageShell(n), core(cfg, clk) {}
  tx::MacTx core;
  std::function<void(tx::Frame&&)>* sink = nullptr;

 protected:
  void handle(WqeTxn& t, TimePs) override {
    TxWork& w = t.work;
    TimePs last = 0;
    for (uint32_t i = 0; i < w.num_frames; i++) {
      tx::Frame& f = w.frames[i];
      size_t hl = w.inline_hdr.size();
      size_t payload = f.bytes.size() > hl && f.has_payload ? f.bytes.size() - hl : 0;
      f.depart_ps = core.send(f.depart_ps, f.bytes.size(), payload);
      last = f.depart_ps;
      if (sink && *sink) (*sink)(std::move(f));
      f.bytes.clear();
    }
    w.done_ps = w.ready_ps = last;
  }
};

struct NicTop::Shells {
  Pcie pcie;
  DescFetchShell desc_fetch;
  TlsCtxShell tls_ctx;
  DmaReadShell dma_read;
  AesGcmShell aes_gcm;
  TxChecksumShell tx_checksum;
  MacTxShell mac_tx;
  Shells(const tx::NicConfig& cfg, tx::Clock clk, abi::DmaTarget* mem, tx::GcmEngine* e, uint64_t backing)
      : pcie("pcie", cfg, mem),
        desc_fetch("desc_fetch", cfg, clk),
        tls_ctx("tls_ctx", cfg, clk, backing),
        dma_read("dma_read", cfg, clk),
        aes_gcm("aes_gcm", cfg, clk, e, &tls_ctx.table),
        tx_checksum("tx_checksum", cfg, clk),
        mac_tx("mac_tx", cfg, clk) {
    desc_fetch.out.bind(tls_ctx.in);
    tls_ctx.out.bind(dma_read.in);
    dma_read.out.bind(aes_gcm.in);
    aes_gcm.out.bind(tx_checksum.in);
    tx_checksum.out.bind(mac_tx.in);
    desc_fetch.dma.bind(pcie.tgt);
    tls_ctx.dma.bind(pcie.tgt);
    dma_read.dma.bind(pcie.tgt);
  }
};

// Unbound initiator sockets of the last stages would be an elaboration error; these sink
// anything sent to them (they are never called: terminal stages do not forward).
namespace {
struct NullTarget : sc_module {
  tlm_utils::simple_target_socket<NullTarget> s1;
  explicit NullTarget(sc_module_name n) : sc_module(n), s1("s1") {
    s1.register_b_transport(this, &NullTarget::bt);
  }
  void bt(tlm::tlm_generic_payload& gp, sc_time&) { gp.set_response_status(tlm::TLM_OK_RESPONSE); }
};
}  // namespace

NicTop::NicTop(sc_module_name n, const tx::NicConfig& cfg, abi::DmaTarget* mem, tx::GcmEngine* engine,
               uint64_t ctx_backing_addr, sc_time quantum)
    : sc_module(n), cfg_(cfg), clk_(tx::Clock::from_mhz(cfg.clock_mhz)), mem_(mem),
      to_pipeline_("to_pipeline"), cq_dma_("cq_dma") {
  // ps()/to_ps() rely on the default 1 ps resolution.
  sc_assert(sc_get_time_resolution() == sc_time(1, SC_PS));
  if (!engine) {
    tx::GcmEngineParams p{cfg.crypto_lanes, cfg.aes128_latency_cycles, cfg.aes256_latency_cycles, cfg.tag_latency_cycles,
                          cfg.crypto_cmd_lead_cycles, cfg.crypto_flow_slots};
    own_engine_ = std::make_unique<tx::BehaviouralGcmEngine>(p);
    engine = own_engine_.get();
  }
  engine_ = engine;
  shells_ = std::make_unique<Shells>(cfg_, clk_, mem, engine_, ctx_backing_addr);
  shells_->tls_ctx.table.set_on_progress_reset([this](uint32_t tis) { engine_->reset_flow(tis); });
  shells_->mac_tx.sink = &on_wire;
  to_pipeline_.bind(shells_->desc_fetch.in);
  cq_dma_.bind(shells_->pcie.tgt);
  static NullTarget* null_target = nullptr;  // one per process: SystemC elaborates once
  if (!null_target) null_target = new NullTarget("nicsim_null_target");
  shells_->mac_tx.out.bind(null_target->s1);
  tlm_utils::tlm_quantumkeeper::set_global_quantum(quantum);
  qk_.reset();
  txn_.work.frames.reserve(64);
  SC_THREAD(run);
}

NicTop::~NicTop() = default;

uint16_t NicTop::create_sq(const abi::SqCreateParams& p) {
  auto s = std::make_unique<Sq>();
  s->p = p;
  s->st.sqn = uint16_t(sqs_.size());
  s->st.ring_addr = p.ring_addr;
  s->st.size_wqebbs = p.size_wqebbs;
  s->st.cache.assign(size_t(p.size_wqebbs) * abi::kWqebbBytes, 0);
  sqs_.push_back(std::move(s));
  return uint16_t(sqs_.size() - 1);
}
uint32_t NicTop::create_tis() { return shells_->tls_ctx.table.create_tis(); }
void NicTop::destroy_tis(uint32_t t) { shells_->tls_ctx.table.destroy_tis(t); }
uint32_t NicTop::create_dek(crypto::Cipher c, const uint8_t* key) { return shells_->tls_ctx.table.create_dek(c, key); }
void NicTop::destroy_dek(uint32_t d) { shells_->tls_ctx.table.destroy_dek(d); }

void NicTop::ring_doorbell(uint16_t sqn, uint16_t pc) {
  // A posted MMIO write: it reaches the NIC one PCIe write latency after the host wrote it.
  TimePs arrive = to_ps(sc_time_stamp()) + TimePs(cfg_.pcie_write_latency_ns * 1000.0 + 0.5);
  doorbells_.push_back({sqn, pc, arrive});
  doorbell_ev_.notify(SC_ZERO_TIME);
}

void NicTop::take_doorbells() {
  while (!doorbells_.empty()) {
    Doorbell d = doorbells_.front();
    doorbells_.pop_front();
    if (d.sqn >= sqs_.size()) continue;  // a doorbell for no SQ is ignored, as hardware would
    Sq& sq = *sqs_[d.sqn];
    // A producer counter that claims more than the ring holds is a driver bug; clamp to the
    // ring so the NIC never reads past it.
    if (uint16_t(d.pc - sq.st.ci) > sq.st.size_wqebbs) continue;
    shells_->desc_fetch.prefetch(sq.st, d.pc, d.arrive_ps);
  }
}

int NicTop::pick_sq(TimePs) {
  for (size_t k = 0; k < sqs_.size(); k++) {
    size_t i = (rr_ + k) % sqs_.size();
    if (sqs_[i]->st.pending()) {
      rr_ = i + 1;
      return int(i);
    }
  }
  return -1;
}

void NicTop::complete(Sq& sq, const TxWork& w) {
  sq.last_done_ps = std::max(sq.last_done_ps, w.done_ps);
  bool err = w.error != abi::CqeSyndrome::none;
  if (!w.cq_update && !err) return;
  abi::Cqe c{};
  c.opcode = err ? abi::kCqeReqErr : abi::kCqeReq;
  c.syndrome = uint8_t(w.error);
  c.wqe_counter = w.ctrl.wqe_index;
  c.sqn = sq.st.sqn;
  c.timestamp_ns = w.done_ps / 1000;
  uint32_t idx = sq.cq_pi++;
  uint64_t addr = sq.p.cq_addr + uint64_t(idx & (sq.p.cq_size - 1)) * sizeof(abi::Cqe);
  tlm::tlm_generic_payload& gp = cq_gp_;  // reused: see DmaStageShell::gp_
  gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  gp.set_command(tlm::TLM_WRITE_COMMAND);
  gp.set_address(addr);
  gp.set_data_ptr(reinterpret_cast<uint8_t*>(&c));
  gp.set_data_length(sizeof c);
  gp.set_streaming_width(sizeof c);
  sc_time d = ps(w.done_ps) - sc_time_stamp();
  cq_dma_->b_transport(gp, d);
  cqes_++;
  if (err) cqe_errors_++;
  if (on_cqe) on_cqe(sq.st.sqn, idx, to_ps(sc_time_stamp() + d));
}

void NicTop::run() {
  tlm::tlm_generic_payload gp;
  gp.set_command(tlm::TLM_WRITE_COMMAND);
  gp.set_data_ptr(reinterpret_cast<uint8_t*>(&txn_));
  gp.set_data_length(sizeof txn_);
  for (;;) {
    take_doorbells();
    int s = pick_sq(0);
    if (s < 0) {
      if (qk_.get_local_time() > SC_ZERO_TIME) {
        qk_.sync();  // let the host catch up: it may ring more doorbells meanwhile
        continue;
      }
      wait(doorbell_ev_);
      continue;
    }
    Sq& sq = *sqs_[size_t(s)];
    txn_.sq = &sq.st;
    txn_.dma_issue_ps = 0;
    shells_->desc_fetch.fence_wait_ps = sq.last_done_ps;
    sc_time delay = qk_.get_local_time();
    to_pipeline_->b_transport(gp, delay);
    TxWork& w = txn_.work;
    if (w.error != abi::CqeSyndrome::none && w.is_send()) frames_dropped_++;
    complete(sq, w);
    // The next WQE can be decoded once desc_fetch is free, but not before this one was taken
    // by dma_read (on-chip queues are shallow): that bounds how far the NIC runs ahead.
    TimePs next = std::max(shells_->desc_fetch.server.free_at_ps(), txn_.dma_issue_ps);
    TimePs now = to_ps(sc_time_stamp());
    qk_.set(next > now ? ps(next - now) : SC_ZERO_TIME);
    if (qk_.need_sync()) qk_.sync();
  }
}

void NicTop::recycle_frame(std::vector<uint8_t>&& bytes) { shells_->tx_checksum.core.recycle(std::move(bytes)); }

tx::TisContext* NicTop::tis_context(uint32_t t) { return shells_->tls_ctx.table.context(t); }
const tx::DescFetchStats& NicTop::desc_fetch_stats() const { return shells_->desc_fetch.core.stats(); }
const tx::StageStats& NicTop::tls_ctx_stage_stats() const { return shells_->tls_ctx.st; }
const tx::TlsCtxStats& NicTop::tls_ctx_stats() const { return shells_->tls_ctx.table.stats(); }
const tx::StageStats& NicTop::dma_read_stats() const { return shells_->dma_read.st; }
const tx::AesGcmStats& NicTop::aes_gcm_stats() const { return shells_->aes_gcm.core.stats(); }
const tx::TxChecksumStats& NicTop::tx_checksum_stats() const { return shells_->tx_checksum.core.stats(); }
const tx::MacTxStats& NicTop::mac_tx_stats() const { return shells_->mac_tx.core.stats(); }
const tx::PcieStats& NicTop::pcie_stats() const { return shells_->pcie.link().stats(); }

}  // namespace nicsim::model::sc
