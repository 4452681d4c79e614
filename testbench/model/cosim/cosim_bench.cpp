// cosim_bench: how fast the Verilated engine co-simulates, three ways, on the same stimulus.
//  1. batch: the model stepped in a plain loop, as RtlGcmEngine does (two evals per cycle);
//  2. clocked SystemC: the same model in an SC_MODULE, an sc_clock, one SC_METHOD per clock
//     edge doing that edge's eval, and the stimulus from a clocked SC_THREAD (the "--sc
//     wrapper" style design.md warns about);
//  3. the bridge itself: RtlGcmEngine::process on TLS record pieces (2 flows interleaved, 16 KiB
//     records cut at 1448 bytes), command lead included.
// 1 and 2 drive back-to-back 1448-byte segments of two flows (no idle); their output beats
// must be identical (checked: exit 1 otherwise), and 3 checks every piece against the
// behavioural engine. Usage: cosim_bench [CYCLES] (default 200000).
// The Verilated headers before SystemC's: verilated.h switches to sc_time_stamp() (unqualified)
// when it sees SystemC, which this plain C++ model is not built for.
#include "Vtls_gcm_engine.h"
#include "verilated.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <systemc>
#include <vector>

#include "model/cosim/rtl_gcm_engine.h"
#include "testbench/model/cosim/tls_pieces.h"

namespace {

constexpr unsigned kBeatBytes = 16 * NICSIM_RTL_LANES;
constexpr unsigned kLastBeat = (1448 + kBeatBytes - 1) / kBeatBytes - 1;  // of a 1448-byte segment

template <std::size_t W>
void put_bytes(VlWide<W>& w, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < W; ++i) w[i] = 0;
  for (size_t i = 0; i < n; ++i) w[i / 4] |= static_cast<uint32_t>(p[i]) << (8 * (i % 4));
}

// Back-to-back stimulus: segments of 1448 bytes of 11-segment records on two flows (AES-128 and
// AES-256), alternating; a command is offered whenever the engine takes one, a data beat every
// cycle it is ready. Records a checksum of every output beat and tag.
class Driver {
 public:
  explicit Driver(Vtls_gcm_engine* t) : t_(t) {
    for (int i = 0; i < 32; ++i) key_[i] = uint8_t(i * 5 + 1);
    for (size_t i = 0; i < sizeof data_; ++i) data_[i] = uint8_t(i * 131 + 7);
  }
  void reset() {
    t_->clk_i = 0;
    t_->rst_ni = 0;
    t_->cmd_valid_i = 0;
    t_->in_valid_i = 0;
    t_->out_ready_i = 1;
    t_->tag_ready_i = 1;
    t_->eval();
    for (int i = 0; i < 3; ++i) {
      t_->clk_i = 1;
      t_->eval();
      t_->clk_i = 0;
      t_->eval();
    }
    t_->rst_ni = 1;
    t_->eval();
  }
  // Inputs for the coming cycle (clock low).
  void drive() {
    if (!t_->cmd_valid_i) {
      const unsigned flow = seg_ % 2, seg_of_rec = (seg_ / 2) % 11;
      t_->cmd_flow_i = uint8_t(flow);
      put_bytes(t_->cmd_key_i, key_, flow ? 32 : 16);
      t_->cmd_key256_i = flow;
      uint8_t nonce[12] = {uint8_t(seg_ / 22), uint8_t(flow)};
      put_bytes(t_->cmd_nonce_i, nonce, 12);
      t_->cmd_rec_off_i = uint16_t(seg_of_rec * 1448);
      t_->cmd_rec_len_i = 11 * 1448;
      t_->cmd_seg_len_i = 1448;
      uint8_t aad[13] = {1, 2, 3};
      put_bytes(t_->cmd_aad_i, aad, 13);
      t_->cmd_aad_len_i = 13;
      t_->cmd_first_i = seg_of_rec == 0;
      t_->cmd_last_i = seg_of_rec == 10;
      t_->cmd_dump_i = 0;
      t_->cmd_aad_seg_i = 0;
      t_->cmd_valid_i = 1;
    }
    if (!t_->in_valid_i) {
      const unsigned n = beat_ == kLastBeat ? 1448 - kLastBeat * kBeatBytes : kBeatBytes;
      put_bytes(t_->in_data_i, data_ + beat_ * kBeatBytes, n);
      t_->in_bytes_i = uint8_t(n);
      t_->in_last_i = beat_ == kLastBeat;
      t_->in_valid_i = 1;
    }
  }
  // After the clock-low eval: which handshakes happen on the coming edge; outputs.
  void sample() {
    cmd_fire_ = t_->cmd_valid_i && t_->cmd_ready_o;
    in_fire_ = t_->in_valid_i && t_->in_ready_o;
    if (t_->out_valid_o) {
      beats_out++;
      for (unsigned i = 0; i < kBeatBytes / 4; ++i) sum = sum * 1099511628211ull ^ t_->out_data_o[i];
      bytes_out += t_->out_bytes_o;
    }
    if (t_->tag_valid_o) {
      tags++;
      for (unsigned i = 0; i < 4; ++i) sum = sum * 1099511628211ull ^ t_->tag_o[i];
    }
  }
  // After the rising edge.
  void advance() {
    if (cmd_fire_) {
      t_->cmd_valid_i = 0;
      seg_++;
    }
    if (in_fire_) {
      t_->in_valid_i = 0;
      beat_ = beat_ == kLastBeat ? 0 : beat_ + 1;
    }
    cycles++;
  }
  void step() {
    drive();
    t_->clk_i = 0;
    t_->eval();
    sample();
    t_->clk_i = 1;
    t_->eval();
    advance();
  }
  uint64_t cycles = 0, beats_out = 0, bytes_out = 0, tags = 0, sum = 1469598103934665603ull;

 private:
  Vtls_gcm_engine* t_;
  uint8_t key_[32];
  uint8_t data_[1448 + 64];
  unsigned seg_ = 0, beat_ = 0;
  bool cmd_fire_ = false, in_fire_ = false;
};

// The clocked wrapper: an sc_clock, the model evaluated by an SC_METHOD on each edge, the
// stimulus applied by a thread that waits for the falling edge.
SC_MODULE(ClockedEngine) {
  sc_core::sc_in<bool> clk;
  Driver* drv = nullptr;
  Vtls_gcm_engine* top = nullptr;
  uint64_t stop_after = 0;

  SC_CTOR(ClockedEngine) {
    SC_METHOD(on_edge);
    sensitive << clk;
    dont_initialize();
    SC_THREAD(stimulus);
  }
  void on_edge() {
    top->clk_i = clk.read();
    top->eval();
    if (clk.read()) {
      drv->advance();
      if (drv->cycles >= stop_after) sc_core::sc_stop();
    } else {
      drv->sample();
    }
  }
  void stimulus() {
    for (;;) {
      wait(clk.posedge_event());
      wait(sc_core::SC_ZERO_TIME);  // after the rising edge's method (advance) ran
      drv->drive();  // inputs for the next cycle, settled by the falling edge's eval
    }
  }
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int sc_main(int argc, char** argv) {
  const uint64_t cycles = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  // 1. Batch.
  VerilatedContext ctx_a;
  Vtls_gcm_engine top_a(&ctx_a, "a");
  Driver da(&top_a);
  da.reset();
  double t0 = now_s();
  while (da.cycles < cycles) da.step();
  const double batch_s = now_s() - t0;

  // 2. Clocked SystemC wrapper, same stimulus.
  VerilatedContext ctx_b;
  Vtls_gcm_engine top_b(&ctx_b, "b");
  Driver db(&top_b);
  db.reset();
  db.drive();  // first cycle's inputs (the thread applies later ones after each rising edge)
  // 250 MHz, low first: the first edge (t = 0) is a falling one, as the batch loop starts each
  // cycle with the clock low.
  sc_core::sc_clock clk("clk", sc_core::sc_time(4, sc_core::SC_NS), 0.5, sc_core::SC_ZERO_TIME, false);
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  ClockedEngine ce("engine");
  ce.clk(clk);
  ce.drv = &db;
  ce.top = &top_b;
  ce.stop_after = cycles;
  t0 = now_s();
  sc_core::sc_start();
  const double sc_s = now_s() - t0;

  const bool same = da.cycles == db.cycles && da.beats_out == db.beats_out && da.tags == db.tags && da.sum == db.sum &&
                    top_a.err_o == 0 && top_b.err_o == 0;
  if (!same)
    std::printf("  MISMATCH: batch %llu cycles %llu beats %llu tags sum %016llx err %u; clocked %llu cycles %llu beats "
                "%llu tags sum %016llx err %u\n",
                (unsigned long long)da.cycles, (unsigned long long)da.beats_out, (unsigned long long)da.tags,
                (unsigned long long)da.sum, unsigned(top_a.err_o), (unsigned long long)db.cycles,
                (unsigned long long)db.beats_out, (unsigned long long)db.tags, (unsigned long long)db.sum,
                unsigned(top_b.err_o));
  std::printf("cosim_bench: LANES=%u FLOWS=%u, back-to-back 1448-byte segments of 2 flows, %llu cycles\n",
              unsigned(NICSIM_RTL_LANES), unsigned(NICSIM_RTL_FLOWS), (unsigned long long)cycles);
  std::printf("  batch stepping      %.3f s  %10.0f cycles/s\n", batch_s, double(cycles) / batch_s);
  std::printf("  clocked SystemC     %.3f s  %10.0f cycles/s  (%.2fx the batch time)\n", sc_s, double(cycles) / sc_s,
              sc_s / batch_s);
  std::printf("  engine throughput   %.1f b/cycle (%.3f of the %u-bit peak), %llu tags, outputs %s\n",
              8.0 * double(da.bytes_out) / double(cycles), 8.0 * double(da.bytes_out) / double(cycles) / (128.0 * NICSIM_RTL_LANES),
              128u * NICSIM_RTL_LANES, (unsigned long long)da.tags, same ? "identical" : "DIFFER");

  // 3. The bridge on TLS record pieces.
  using nicsim::testbench::cosim::TlsFlowGen;
  std::vector<uint32_t> sizes(std::max<uint64_t>(2, cycles / 5000), 16384);
  TlsFlowGen fa(1, nicsim::crypto::TlsVersion::tls12, nicsim::crypto::Cipher::aes128gcm, sizes, 1);
  TlsFlowGen fb(2, nicsim::crypto::TlsVersion::tls13, nicsim::crypto::Cipher::aes256gcm, sizes, 2);
  nicsim::model::cosim::RtlGcmEngine rtl;
  nicsim::model::tx::GcmEngineParams p;
  p.lanes = nicsim::model::cosim::RtlGcmEngine::lanes();
  p.flow_slots = nicsim::model::cosim::RtlGcmEngine::flows();
  nicsim::model::tx::BehaviouralGcmEngine beh(p);
  uint64_t mismatches = 0, lat_off = 0;
  t0 = now_s();
  double beh_s = 0;
  while (!fa.done() || !fb.done()) {
    for (TlsFlowGen* f : {&fa, &fb}) {
      if (f->done()) continue;
      for (auto& pc : f->next_segment(1448)) {
        std::vector<uint8_t> a = pc.data, b = pc.data;
        uint8_t ta[16] = {}, tb[16] = {};
        nicsim::model::tx::GcmTiming xa, xb;
        const uint32_t n = uint32_t(a.size());
        bool ok = rtl.process(pc.seg, a.data(), a.data(), n, pc.seg.last ? ta : nullptr, &xa);
        const double tb0 = now_s();
        ok = beh.process(pc.seg, b.data(), b.data(), n, pc.seg.last ? tb : nullptr, &xb) && ok;
        beh_s += now_s() - tb0;
        if (!ok || a != b || std::memcmp(ta, tb, 16) != 0) mismatches++;
        if (xa.latency_cycles != xb.latency_cycles || xa.occupancy_cycles != xb.occupancy_cycles) lat_off++;
      }
    }
  }
  const double bridge_s = now_s() - t0 - beh_s;
  const auto& st = rtl.stats();
  std::printf("  bridge (RtlGcmEngine, 2 flows of 16 KiB records at 1448 B, command lead %u): %llu pieces, "
              "%llu cycles in %.3f s = %.0f cycles/s (input busy %.0f %% of them, %.1f b per busy cycle); "
              "%.1f MB/s of payload; vs behavioural: %llu byte/tag mismatches, %llu pieces with other timing\n",
              nicsim::model::tx::GcmEngineParams{}.cmd_lead_cycles, (unsigned long long)st.pieces,
              (unsigned long long)st.cycles, bridge_s, double(st.cycles) / bridge_s,
              100.0 * double(st.busy_in_cycles) / double(st.cycles), 8.0 * double(st.bytes_in) / double(st.busy_in_cycles),
              double(st.bytes_in) / 1e6 / bridge_s, (unsigned long long)mismatches, (unsigned long long)lat_off);
  return same && mismatches == 0 ? 0 : 1;
}

// Our own main, as nicsim's: no SystemC banner on stdout.
int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}
