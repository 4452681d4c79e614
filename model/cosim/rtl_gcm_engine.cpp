#include "model/cosim/rtl_gcm_engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "Vtls_gcm_engine.h"
#include "verilated.h"
#if NICSIM_COSIM_TRACE_FST
#include "verilated_fst_c.h"
#endif

namespace nicsim::model::cosim {

namespace {

constexpr uint32_t kLanes = NICSIM_RTL_LANES;
constexpr uint32_t kFlows = NICSIM_RTL_FLOWS;
constexpr uint32_t kBeatBytes = 16 * kLanes;
constexpr uint64_t kNever = UINT64_MAX;

// The engine puts byte i of every multi-byte port at bits [8i+7:8i] (rtl/README.md); Verilator
// stores wide ports as 32-bit words, word 0 = bits [31:0]. On a little-endian host that is the
// bytes' memory order, so a copy does it (a beat every cycle: the byte loop was ~4 % of a
// `nicsim run --crypto rtl`); elsewhere the words are packed byte by byte.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr bool kLittleEndianHost = true;
#else
constexpr bool kLittleEndianHost = false;
#endif

template <std::size_t W>
void put_bytes(VlWide<W>& w, const uint8_t* p, size_t n) {
  if (kLittleEndianHost) {
    auto* d = reinterpret_cast<uint8_t*>(w.data());
    std::memcpy(d, p, n);
    std::memset(d + n, 0, 4 * W - n);
    return;
  }
  for (size_t i = 0; i < W; ++i) w[i] = 0;
  for (size_t i = 0; i < n; ++i) w[i / 4] |= static_cast<uint32_t>(p[i]) << (8 * (i % 4));
}

template <std::size_t W>
void get_bytes(const VlWide<W>& w, uint8_t* p, size_t n) {
  if (kLittleEndianHost) {
    std::memcpy(p, reinterpret_cast<const uint8_t*>(w.data()), n);
    return;
  }
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(w[i / 4] >> (8 * (i % 4)));
}

std::string describe(const tx::GcmSegment& s, uint32_t n) {
  char b[200];
  std::snprintf(b, sizeof b, "TIS %u, record offset %u + %u of %u bytes%s%s%s", s.flow, s.rec_offset,
                n, s.rec_len, s.first ? ", first" : "", s.last ? ", last" : "", s.dump ? ", dump" : "");
  return b;
}

}  // namespace

struct RtlGcmEngine::Impl {
  struct Slot {
    bool owned = false;
    uint32_t tis = 0;
    bool in_flight = false;      // a record started (first) and not yet ended (last) or reset
    uint32_t next_offset = 0;    // record offset the next piece must start at
    uint64_t last_use = 0;
    crypto::Cipher cipher = crypto::Cipher::aes128gcm;
    uint8_t key[32] = {};
  };

  RtlGcmEngineOptions opt;
  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Vtls_gcm_engine> top;
#if NICSIM_COSIM_TRACE_FST
  std::unique_ptr<VerilatedFstC> wave;
#endif
  bool wave_open = false;
  uint64_t cycle = 0;
  uint64_t use_clock = 0;
  RtlGcmEngineStats st;
  std::vector<Slot> slots;
  std::unordered_map<uint32_t, uint32_t> tis_slot;

  // What the last step() saw before its rising edge.
  bool cmd_fired = false, in_fired = false, out_seen = false, tag_seen = false;

  explicit Impl(const RtlGcmEngineOptions& o) : opt(o), ctx(new VerilatedContext), slots(kFlows) {
    ctx->debug(0);
    ctx->randReset(0);  // deterministic: no random initial values
    if (!opt.wave_path.empty()) {
#if NICSIM_COSIM_TRACE_FST
      ctx->traceEverOn(true);
#else
      throw CosimError("--wave: this binary's RTL engine was verilated without tracing");
#endif
    }
    top = std::make_unique<Vtls_gcm_engine>(ctx.get(), "tls_gcm_engine");
#if NICSIM_COSIM_TRACE_FST
    if (!opt.wave_path.empty()) {
      wave = std::make_unique<VerilatedFstC>();
      top->trace(wave.get(), 99);
      // One time unit = half an engine cycle: the clock is low at 2c and high at 2c + 1, so a
      // waveform viewer's time / 2 is the engine cycle the bridge reports.
      wave->set_time_unit("1ns");
      wave->set_time_resolution("1ns");
      wave->open(opt.wave_path.c_str());
      if (!wave->isOpen()) throw CosimError(opt.wave_path + ": cannot write the waveform file");
      wave_open = true;
    }
#endif
    Vtls_gcm_engine& t = *top;
    t.clk_i = 0;
    t.rst_ni = 0;
    t.cmd_valid_i = 0;
    t.in_valid_i = 0;
    t.out_ready_i = 1;  // the datapath after the engine takes a beat every cycle
    t.tag_ready_i = 1;
    t.eval();
    // Reset is asynchronous; hold it over a few edges so every flop has seen it.
    for (int i = 0; i < 3; ++i) {
      t.clk_i = 1;
      t.eval();
      t.clk_i = 0;
      t.eval();
    }
    t.rst_ni = 1;
    t.eval();
  }

  ~Impl() { close_wave(); }

  void close_wave() {
#if NICSIM_COSIM_TRACE_FST
    if (wave && wave_open) {
      wave->close();
      wave_open = false;
    }
#endif
  }

  void dump(uint64_t time) {
#if NICSIM_COSIM_TRACE_FST
    if (wave_open && cycle >= opt.wave_start_cycle && cycle < opt.wave_end_cycle) wave->dump(time);
#else
    (void)time;
#endif
  }

  // One engine cycle with the inputs as set: settle them with the clock low, note which
  // handshakes happen on this rising edge (ready/valid outputs are registered, so they are
  // valid before the edge), then the edge.
  void step(uint8_t* out_dst, uint32_t out_room, uint32_t* out_got, bool* out_last, uint8_t* tag_dst,
            uint32_t want_flow) {
    Vtls_gcm_engine& t = *top;
    t.clk_i = 0;
    t.eval();
    dump(2 * cycle);
    cmd_fired = t.cmd_valid_i && t.cmd_ready_o;
    in_fired = t.in_valid_i && t.in_ready_o;
    out_seen = t.out_valid_o;
    tag_seen = t.tag_valid_o;
    if (out_seen) {
      // Every piece's output is collected within its own process() call, so any beat is ours.
      const uint32_t nb = t.out_bytes_o;
      if (t.out_flow_o != want_flow || nb > kBeatBytes || *out_got + nb > out_room)
        throw CosimError("RTL engine: unexpected output beat (flow " + std::to_string(t.out_flow_o) +
                         ", " + std::to_string(nb) + " bytes) at cycle " + std::to_string(cycle));
      get_bytes(t.out_data_o, out_dst + *out_got, nb);
      *out_got += nb;
      *out_last = t.out_last_o;
      st.beats_out++;
    }
    if (tag_seen) {
      if (t.tag_flow_o != want_flow || !tag_dst)
        throw CosimError("RTL engine: unexpected tag (flow " + std::to_string(t.tag_flow_o) + ") at cycle " +
                         std::to_string(cycle));
      get_bytes(t.tag_o, tag_dst, 16);
      st.tags++;
    }
    t.clk_i = 1;
    t.eval();
    dump(2 * cycle + 1);
    ++cycle;
  }

  // The slot for a piece, mirroring BehaviouralGcmEngine's rules: a record start (re)starts
  // the TIS's record; any other piece must continue the record in flight with the same key.
  // nullptr: the piece does not continue the record (state lost; the caller drops the packet).
  Slot* slot_for(const tx::GcmSegment& seg, uint32_t* index) {
    const size_t kb = crypto::key_bytes(seg.cipher);
    auto it = tis_slot.find(seg.flow);
    if (!seg.first) {
      if (it == tis_slot.end()) return nullptr;
      Slot& s = slots[it->second];
      if (s.cipher != seg.cipher || std::memcmp(s.key, seg.key, kb) != 0) {
        s.in_flight = false;  // a new key: the old record's state is gone
        return nullptr;
      }
      if (!s.in_flight || seg.rec_offset != s.next_offset) return nullptr;
      *index = it->second;
      s.last_use = ++use_clock;
      return &s;
    }
    uint32_t idx;
    if (it != tis_slot.end()) {
      idx = it->second;  // a restart (e.g. resync: DUMP of the record prefix) keeps the slot
    } else {
      // A free slot, else the least recently used one without a record in flight.
      idx = kFlows;
      for (uint32_t i = 0; i < kFlows; ++i) {
        if (!slots[i].owned) {
          idx = i;
          break;
        }
        if (!slots[i].in_flight && (idx == kFlows || slots[i].last_use < slots[idx].last_use)) idx = i;
      }
      if (idx == kFlows)
        throw CosimError("RTL engine: " + std::to_string(kFlows + 1) +
                         " TLS contexts have records in flight but the verilated engine has FLOWS=" +
                         std::to_string(kFlows) +
                         " record slots (rebuild with -DNICSIM_RTL_FLOWS=" + std::to_string(2 * kFlows) +
                         " or run fewer concurrent connections)");
      Slot& s = slots[idx];
      if (s.owned) tis_slot.erase(s.tis);
      s.owned = true;
      s.tis = seg.flow;
      tis_slot[seg.flow] = idx;
      st.slot_assignments++;
    }
    Slot& s = slots[idx];
    s.in_flight = true;
    s.next_offset = 0;
    s.cipher = seg.cipher;
    std::memcpy(s.key, seg.key, kb);
    s.last_use = ++use_clock;
    *index = idx;
    uint32_t busy = 0;
    for (const Slot& x : slots) busy += x.in_flight;
    st.max_slots_in_flight = std::max(st.max_slots_in_flight, busy);
    return &s;
  }

  bool process(const tx::GcmSegment& seg, const uint8_t* in, uint8_t* out, uint32_t n, uint8_t* tag,
               tx::GcmTiming* timing) {
    if (seg.rec_len > 0xffff || seg.rec_offset + uint64_t(n) > seg.rec_len ||
        seg.last != (seg.rec_offset + n == seg.rec_len) || (seg.first && seg.rec_offset != 0) ||
        seg.aad_len > 13 || (seg.last && !tag))
      throw CosimError("RTL engine: a piece the engine cannot take (" + describe(seg, n) + ")");
    uint32_t slot = 0;
    Slot* s = slot_for(seg, &slot);
    if (!s) return false;
    const auto wall0 = std::chrono::steady_clock::now();
    Vtls_gcm_engine& t = *top;

    // The command, held until taken.
    t.cmd_flow_i = static_cast<uint8_t>(slot);
    put_bytes(t.cmd_key_i, seg.key, crypto::key_bytes(seg.cipher));
    t.cmd_key256_i = seg.cipher == crypto::Cipher::aes256gcm;
    put_bytes(t.cmd_nonce_i, seg.nonce, 12);
    t.cmd_rec_off_i = static_cast<uint16_t>(seg.rec_offset);
    t.cmd_rec_len_i = static_cast<uint16_t>(seg.rec_len);
    t.cmd_seg_len_i = static_cast<uint16_t>(n);
    put_bytes(t.cmd_aad_i, seg.aad, seg.aad_len);
    t.cmd_aad_len_i = seg.aad_len;
    t.cmd_first_i = seg.first;
    t.cmd_last_i = seg.last;
    t.cmd_dump_i = seg.dump;
    t.cmd_aad_seg_i = 0;
    t.cmd_valid_i = 1;
    t.in_valid_i = 0;

    // Dump pieces go through the engine but nothing may come out: step() is given no room for
    // their output, so a stray beat is an error, and `out` is never written.
    const uint32_t beats = (n + kBeatBytes - 1) / kBeatBytes;
    const uint64_t data_cycle = cycle + opt.cmd_lead_cycles;  // first data beat offered
    const uint64_t deadline = cycle + opt.cmd_lead_cycles + opt.timeout_cycles;
    bool cmd_taken = false;
    uint32_t next_beat = 0;
    bool beat_up = false;
    uint64_t last_accept = kNever, last_out = kNever, tag_cycle = kNever;
    uint32_t got = 0;
    bool got_last = false;
    const bool want_out = !seg.dump && n > 0;
    uint8_t* dst = want_out ? out : nullptr;
    while (!cmd_taken || next_beat < beats || (want_out && !got_last) || (seg.last && tag_cycle == kNever) ||
           cycle < data_cycle) {
      if (cycle >= deadline)
        throw CosimError("RTL engine: no progress for " + std::to_string(opt.timeout_cycles) + " cycles (" +
                         describe(seg, n) + ", cycle " + std::to_string(cycle) + ")");
      if (!beat_up && next_beat < beats && cycle >= data_cycle && cmd_taken) {
        const uint32_t off = next_beat * kBeatBytes;
        const uint32_t len = std::min(kBeatBytes, n - off);
        put_bytes(t.in_data_i, in + off, len);
        t.in_bytes_i = static_cast<uint8_t>(len);
        t.in_last_i = next_beat + 1 == beats;
        t.in_valid_i = 1;
        beat_up = true;
      }
      const uint64_t c = cycle;
      step(dst, want_out ? n : 0, &got, &got_last, seg.last ? tag : nullptr, slot);
      if (cmd_fired) {
        cmd_taken = true;
        t.cmd_valid_i = 0;
      }
      if (in_fired) {
        last_accept = c;
        ++next_beat;
        beat_up = false;
        t.in_valid_i = 0;
        st.beats_in++;
      }
      if (out_seen) last_out = c;
      if (tag_seen) tag_cycle = c;
      // A piece's tag comes after its last data beat went in; a tag before that is not ours.
      if (tag_seen && (!seg.last || next_beat < beats))
        throw CosimError("RTL engine: early tag for " + describe(seg, n));
    }
    if (want_out && got != n)
      throw CosimError("RTL engine: " + std::to_string(got) + " bytes out for " + describe(seg, n));
    if (t.err_o != 0)
      throw CosimError("RTL engine raised err_o=" + std::to_string(t.err_o) + " at cycle " + std::to_string(cycle) +
                       " (" + describe(seg, n) + ")");

    // Timing as the RTL spent it, counted from the cycle the first beat was offered (the data
    // is on chip from then on): occupancy until the last beat was taken; latency until the
    // last ciphertext beat or the tag came out. A dump piece with no tag has no output: its
    // latency is its occupancy. An empty piece occupies one cycle (its command).
    // (An empty record's tag comes from its command alone and may be out before the data
    // would have been: its latency is then just its one cycle.)
    const uint64_t occ = beats > 0 ? last_accept - data_cycle + 1 : 1;
    int64_t lat = int64_t(occ);
    if (want_out) lat = std::max<int64_t>(lat, int64_t(last_out) - int64_t(data_cycle) + 1);
    if (seg.last) lat = std::max<int64_t>(lat, int64_t(tag_cycle) - int64_t(data_cycle) + 1);
    timing->occupancy_cycles = occ;
    timing->latency_cycles = uint64_t(lat);

    s->next_offset += n;
    if (seg.last) {
      s->in_flight = false;
      st.records++;
    }
    st.pieces++;
    st.dump_pieces += seg.dump;
    st.bytes_in += n;
    st.busy_in_cycles += occ;
    st.cycles = cycle;
    st.wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    return true;
  }
};

RtlGcmEngine::RtlGcmEngine(const RtlGcmEngineOptions& o) : impl_(std::make_unique<Impl>(o)) {}
RtlGcmEngine::~RtlGcmEngine() = default;

bool RtlGcmEngine::process(const tx::GcmSegment& seg, const uint8_t* in, uint8_t* out, uint32_t n, uint8_t* tag,
                           tx::GcmTiming* t) {
  return impl_->process(seg, in, out, n, tag, t);
}

void RtlGcmEngine::reset_flow(uint32_t flow) {
  auto it = impl_->tis_slot.find(flow);
  if (it != impl_->tis_slot.end()) impl_->slots[it->second].in_flight = false;
}

uint64_t RtlGcmEngine::cycle() const { return impl_->cycle; }
const RtlGcmEngineStats& RtlGcmEngine::stats() const { return impl_->st; }
void RtlGcmEngine::close_wave() { impl_->close_wave(); }
uint32_t RtlGcmEngine::lanes() { return kLanes; }
uint32_t RtlGcmEngine::flows() { return kFlows; }
bool RtlGcmEngine::tracing_available() { return NICSIM_COSIM_TRACE_FST != 0; }

}  // namespace nicsim::model::cosim
