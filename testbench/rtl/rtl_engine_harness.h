// Cycle driver for the Verilated tls_gcm_engine (rtl/), and a streaming OpenSSL AES-GCM
// reference. The harness owns the model, queues segment commands with their data, and steps
// the clock with optional random idle on the command/data inputs and random back-pressure on
// the outputs; everything the engine emits is recorded with its cycle.
#pragma once
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <vector>

class Vtls_gcm_engine;
class VerilatedContext;

namespace nicsim::testbench::rtl {

constexpr unsigned kLanes = NICSIM_RTL_LANES;
constexpr unsigned kFlows = NICSIM_RTL_FLOWS;
constexpr unsigned kBeatBytes = 16 * kLanes;

// One engine command and, unless seg_len == 0, the segment's bytes (plaintext, or AAD for an
// AAD segment). Field meanings: rtl/README.md.
struct SegCmd {
  unsigned flow = 0;
  std::array<uint8_t, 32> key{};
  bool key256 = false;
  std::array<uint8_t, 12> nonce{};
  uint16_t rec_off = 0;
  uint16_t rec_len = 0;
  std::array<uint8_t, 13> aad{};
  unsigned aad_len = 0;
  bool first = false;
  bool last = false;
  bool dump = false;
  bool aad_seg = false;
  std::vector<uint8_t> data;  // seg_len = data.size()
  long seg_len_override = -1;  // >= 0: send this seg_len instead (malformed-stream tests)
};

struct OutBeat {
  unsigned flow = 0;
  std::vector<uint8_t> bytes;  // out_bytes_o bytes
  bool last = false;
  bool high_bytes_zero = true;  // bytes above out_bytes_o were zero (the port promises it)
  uint64_t cycle = 0;
};

struct TagOut {
  unsigned flow = 0;
  std::array<uint8_t, 16> tag{};
  uint64_t cycle = 0;
};

struct Knobs {
  double cmd_idle = 0;   // probability a queued command is withheld this cycle
  double in_idle = 0;    // probability a queued data beat is withheld this cycle
  double out_stall = 0;  // probability out_ready_i is low this cycle
  double tag_stall = 0;  // probability tag_ready_i is low this cycle
  bool hold_data = false;  // offer no data beats (commands still go in): command lead tests
};

class EngineHarness {
 public:
  explicit EngineHarness(uint64_t seed = 1);
  ~EngineHarness();
  EngineHarness(const EngineHarness&) = delete;
  EngineHarness& operator=(const EngineHarness&) = delete;

  void set_knobs(const Knobs& k) { knobs_ = k; }
  // Queues a command and its data beats (packed, last beat partial).
  void push(const SegCmd& c);
  // Queues a command only / one raw data beat (malformed-stream tests).
  void push_cmd_only(const SegCmd& c) { cmds_.push_back(c); }
  void push_beat(const std::vector<uint8_t>& bytes, bool last) { beats_.push_back({bytes, last}); }
  // One clock cycle.
  void step();
  // Steps until every queued command and beat went in and the engine is idle; false on
  // timeout (max_cycles without reaching idle).
  bool drain(uint64_t max_cycles = 2'000'000);

  uint64_t cycle() const { return cycle_; }
  unsigned err() const;
  bool busy() const;
  size_t pending_cmds() const { return cmds_.size(); }
  size_t pending_beats() const { return beats_.size(); }

  std::deque<OutBeat> outs;
  std::deque<TagOut> tags;
  // Cycle each data beat was first offered (in_valid_i high) and accepted, in stream order.
  std::vector<uint64_t> in_offer_cycles, in_accept_cycles;

 private:
  struct Beat {
    std::vector<uint8_t> bytes;
    bool last = false;
  };
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Vtls_gcm_engine> top_;
  std::mt19937_64 rng_;
  Knobs knobs_;
  std::deque<SegCmd> cmds_;
  std::deque<Beat> beats_;
  bool beat_offered_ = false;
  uint64_t cycle_ = 0;
  bool chance(double p);
};

// Streaming AES-GCM encryption through OpenSSL EVP (the independent reference).
class OsslGcm {
 public:
  OsslGcm();
  ~OsslGcm();
  OsslGcm(const OsslGcm&) = delete;
  OsslGcm& operator=(const OsslGcm&) = delete;
  void start(const uint8_t* key, bool key256, const uint8_t iv[12], const uint8_t* aad,
             size_t aad_len);
  void update(const uint8_t* in, size_t n, uint8_t* out);
  std::array<uint8_t, 16> finish();

 private:
  EVP_CIPHER_CTX* ctx_;
};

}  // namespace nicsim::testbench::rtl
