#include "testbench/rtl/rtl_engine_harness.h"

#include <stdexcept>

#include "Vtls_gcm_engine.h"
#include "verilated.h"

namespace nicsim::testbench::rtl {

namespace {

// Ports wider than 64 bits are VlWide<N> (32-bit words, word 0 = bits [31:0]); the engine puts
// byte i of every field at bits [8i+7:8i], so byte i is word i/4, shift 8*(i%4).
template <std::size_t W>
void put_bytes(VlWide<W>& w, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < W; ++i) w[i] = 0;
  for (size_t i = 0; i < n; ++i) w[i / 4] |= static_cast<uint32_t>(p[i]) << (8 * (i % 4));
}

template <std::size_t W>
uint8_t get_byte(const VlWide<W>& w, size_t i) {
  return static_cast<uint8_t>(w[i / 4] >> (8 * (i % 4)));
}

}  // namespace

EngineHarness::EngineHarness(uint64_t seed) : ctx_(new VerilatedContext), rng_(seed) {
  top_ = std::make_unique<Vtls_gcm_engine>(ctx_.get(), "tls_gcm_engine");
  top_->clk_i = 0;
  top_->rst_ni = 0;
  top_->cmd_valid_i = 0;
  top_->in_valid_i = 0;
  top_->out_ready_i = 0;
  top_->tag_ready_i = 0;
  top_->eval();
  for (int i = 0; i < 3; ++i) {
    top_->clk_i = 1;
    top_->eval();
    top_->clk_i = 0;
    top_->eval();
  }
  top_->rst_ni = 1;
  top_->eval();
}

EngineHarness::~EngineHarness() { top_->final(); }

bool EngineHarness::chance(double p) {
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

void EngineHarness::push(const SegCmd& c) {
  if (c.flow >= kFlows) throw std::invalid_argument("flow id beyond FLOWS");
  if (c.data.size() > 0xffff) throw std::invalid_argument("segment longer than 65535 bytes");
  cmds_.push_back(c);
  for (size_t off = 0; off < c.data.size(); off += kBeatBytes) {
    const size_t n = std::min<size_t>(kBeatBytes, c.data.size() - off);
    Beat b;
    b.bytes.assign(c.data.begin() + static_cast<long>(off),
                   c.data.begin() + static_cast<long>(off + n));
    b.last = off + n == c.data.size();
    beats_.push_back(std::move(b));
  }
}

void EngineHarness::step() {
  Vtls_gcm_engine& t = *top_;
  // Inputs for this cycle (clock low).
  const bool send_cmd = !cmds_.empty() && !chance(knobs_.cmd_idle);
  t.cmd_valid_i = send_cmd;
  if (send_cmd) {
    const SegCmd& c = cmds_.front();
    t.cmd_flow_i = static_cast<uint8_t>(c.flow);
    put_bytes(t.cmd_key_i, c.key.data(), c.key256 ? 32 : 16);
    t.cmd_key256_i = c.key256;
    put_bytes(t.cmd_nonce_i, c.nonce.data(), 12);
    t.cmd_rec_off_i = c.rec_off;
    t.cmd_rec_len_i = c.rec_len;
    t.cmd_seg_len_i = static_cast<uint16_t>(c.seg_len_override >= 0 ? c.seg_len_override
                                                                     : static_cast<long>(c.data.size()));
    put_bytes(t.cmd_aad_i, c.aad.data(), c.aad_len);
    t.cmd_aad_len_i = static_cast<uint8_t>(c.aad_len);
    t.cmd_first_i = c.first;
    t.cmd_last_i = c.last;
    t.cmd_dump_i = c.dump;
    t.cmd_aad_seg_i = c.aad_seg;
  }
  // An offered beat stays offered until taken (AXI-Stream rule: valid never drops).
  const bool send_beat = !beats_.empty() && !knobs_.hold_data &&
                         (beat_offered_ || !chance(knobs_.in_idle));
  t.in_valid_i = send_beat;
  if (send_beat) {
    const Beat& b = beats_.front();
    put_bytes(t.in_data_i, b.bytes.data(), b.bytes.size());
    t.in_bytes_i = static_cast<uint8_t>(b.bytes.size());
    t.in_last_i = b.last;
    if (!beat_offered_) in_offer_cycles.push_back(cycle_);
    beat_offered_ = true;
  }
  t.out_ready_i = !chance(knobs_.out_stall);
  t.tag_ready_i = !chance(knobs_.tag_stall);
  t.clk_i = 0;
  t.eval();

  // Handshakes are decided before the rising edge.
  const bool cmd_fire = send_cmd && t.cmd_ready_o;
  const bool in_fire = send_beat && t.in_ready_o;
  if (t.out_valid_o && t.out_ready_i) {
    OutBeat o;
    o.flow = t.out_flow_o;
    o.last = t.out_last_o;
    o.cycle = cycle_;
    const unsigned n = t.out_bytes_o;
    for (unsigned i = 0; i < kBeatBytes; ++i) {
      const uint8_t v = get_byte(t.out_data_o, i);
      if (i < n) {
        o.bytes.push_back(v);
      } else if (v != 0) {
        o.high_bytes_zero = false;
      }
    }
    outs.push_back(std::move(o));
  }
  if (t.tag_valid_o && t.tag_ready_i) {
    TagOut g;
    g.flow = t.tag_flow_o;
    g.cycle = cycle_;
    for (unsigned i = 0; i < 16; ++i) g.tag[i] = get_byte(t.tag_o, i);
    tags.push_back(g);
  }

  t.clk_i = 1;
  t.eval();
  ++cycle_;
  if (cmd_fire) cmds_.pop_front();
  if (in_fire) {
    in_accept_cycles.push_back(cycle_ - 1);
    beats_.pop_front();
    beat_offered_ = false;
  }
}

bool EngineHarness::drain(uint64_t max_cycles) {
  const uint64_t end = cycle_ + max_cycles;
  while (cycle_ < end) {
    step();
    if (cmds_.empty() && beats_.empty() && !top_->busy_o) return true;
  }
  return false;
}

unsigned EngineHarness::err() const { return top_->err_o; }
bool EngineHarness::busy() const { return top_->busy_o; }

OsslGcm::OsslGcm() : ctx_(EVP_CIPHER_CTX_new()) {
  if (!ctx_) throw std::runtime_error("EVP_CIPHER_CTX_new failed");
}
OsslGcm::~OsslGcm() { EVP_CIPHER_CTX_free(ctx_); }

void OsslGcm::start(const uint8_t* key, bool key256, const uint8_t iv[12], const uint8_t* aad,
                    size_t aad_len) {
  int outl = 0;
  if (EVP_EncryptInit_ex(ctx_, key256 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx_, nullptr, nullptr, key, iv) != 1 ||
      (aad_len > 0 &&
       EVP_EncryptUpdate(ctx_, nullptr, &outl, aad, static_cast<int>(aad_len)) != 1)) {
    throw std::runtime_error("OpenSSL GCM start failed");
  }
}

void OsslGcm::update(const uint8_t* in, size_t n, uint8_t* out) {
  if (n == 0) return;
  int outl = 0;
  if (EVP_EncryptUpdate(ctx_, out, &outl, in, static_cast<int>(n)) != 1 ||
      static_cast<size_t>(outl) != n) {
    throw std::runtime_error("OpenSSL GCM update failed");
  }
}

std::array<uint8_t, 16> OsslGcm::finish() {
  std::array<uint8_t, 16> tag{};
  int outl = 0;
  uint8_t dummy[16];
  if (EVP_EncryptFinal_ex(ctx_, dummy, &outl) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, 16, tag.data()) != 1) {
    throw std::runtime_error("OpenSSL GCM finish failed");
  }
  return tag;
}

}  // namespace nicsim::testbench::rtl
