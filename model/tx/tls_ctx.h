// tls_ctx: the NIC's TLS context table (mlx5's TIS objects with their static and progress
// params) and an on-NIC cache of it. The functional state of every context lives here; the
// cache decides only the timing: a WQE whose context is not resident pays a DMA read of
// tls_ctx_bytes from the context backing store in host memory (and evicts the least recently
// used context, written back by a posted DMA write).
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/abi/wqe.h"
#include "model/crypto/tls_record.h"
#include "model/tx/timing.h"

namespace nicsim::model::tx {

// What the NIC keeps per TLS context: static params (from the UMR WQE and the DEK), the record
// tracker (progress), and the partial header bytes of the record being parsed.
struct TisContext {
  uint32_t tis_num = 0;
  bool static_valid = false;
  crypto::TlsVersion version = crypto::TlsVersion::tls12;
  crypto::Cipher cipher = crypto::Cipher::aes128gcm;
  uint8_t key[32] = {};
  uint8_t salt[4] = {};
  uint8_t implicit_iv[8] = {};
  // Record numbers: static params carry the base (initial_record_number); the context counts
  // records from it, and progress params restart the count at base + hw_offset_record_number.
  // That is why mlx5 may skip re-posting static params when the record number it wants equals
  // the one last programmed: the progress params alone rewind the count to it.
  uint64_t initial_record_number = 0;
  uint64_t rec_seq = 0;               // record number of the record being (or next to be) parsed
  abi::RecordTrackerState tracker = abi::RecordTrackerState::start;
  uint32_t rec_off = 0;               // bytes of the current record consumed; 0 = at a header
  uint32_t rec_len = 0;               // header + length field, known once the prepend is parsed
  uint32_t payload_len = 0;           // AEAD payload bytes (1.3: includes the inner type byte)
  uint8_t prepend[13] = {};           // header (+ TLS 1.2 explicit nonce) as parsed
  uint8_t tag[16] = {};               // the current record's tag, once computed
  bool tag_ready = false;
  // Counters per context (for the stats' per-flow view).
  uint64_t records_encrypted = 0, records_dumped = 0;
};

struct TlsCtxStats {
  uint64_t lookups = 0, hits = 0, misses = 0, evictions = 0;
  uint64_t static_params = 0, progress_params = 0, bad_tis = 0;
};

class TlsCtxTable {
 public:
  TlsCtxTable(uint32_t cache_entries, uint32_t ctx_bytes, uint64_t backing_base)
      : cache_entries_(cache_entries), ctx_bytes_(ctx_bytes), backing_base_(backing_base) {}

  // Firmware commands (not on the datapath, not timed): key objects and TIS objects.
  uint32_t create_dek(crypto::Cipher c, const uint8_t* key);
  void destroy_dek(uint32_t dek_index);
  uint32_t create_tis();            // returns a TIS number >= 1
  void destroy_tis(uint32_t tis_num);
  bool tis_exists(uint32_t tis_num) const { return contexts_.count(tis_num) != 0; }

  TisContext* context(uint32_t tis_num);  // nullptr if no such TIS

  // Cache access for a WQE that uses tis_num. Returns true on a hit; on a miss *evicted_tis
  // is set to the victim (0 = none) so the caller can model the write-back.
  bool touch(uint32_t tis_num, uint32_t* evicted_tis);
  uint64_t backing_addr(uint32_t tis_num) const {
    return backing_base_ + uint64_t(tis_num) * ctx_bytes_;
  }
  uint32_t ctx_bytes() const { return ctx_bytes_; }

  // Datapath updates.
  abi::CqeSyndrome apply_static_params(uint32_t tis_num, const abi::TlsStaticParams& p);
  abi::CqeSyndrome apply_progress_params(uint32_t tis_num, const abi::TlsProgressParams& p);

  TlsCtxStats& stats() { return stats_; }
  const TlsCtxStats& stats() const { return stats_; }
  // Hook the aes_gcm stage uses to drop an engine's in-flight record state when progress
  // params reset the tracker.
  void set_on_progress_reset(std::function<void(uint32_t)> cb) { on_progress_reset_ = std::move(cb); }

 private:
  struct Dek {
    crypto::Cipher cipher;
    uint8_t key[32];
  };
  uint32_t cache_entries_, ctx_bytes_;
  uint64_t backing_base_;
  std::map<uint32_t, Dek> deks_;
  uint32_t next_dek_ = 1, next_tis_ = 1;
  std::map<uint32_t, std::unique_ptr<TisContext>> contexts_;
  // LRU: most recent at the front.
  std::list<uint32_t> lru_;
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> resident_;
  TlsCtxStats stats_;
  std::function<void(uint32_t)> on_progress_reset_;
};

}  // namespace nicsim::model::tx
