// The NIC's byte work, apart from its timing. A WQE's cycles depend on lengths, record
// boundaries and engine state, never on the bytes it encrypts or sums; so the stage cores
// decide everything about a WQE on the simulating thread (its timing, its frames' headers,
// which AES-GCM segments and tag copies it needs) and write down the byte work in a TxDataJob:
// encrypt these input bytes with this flow's GCM state, copy these header and tag bytes, copy
// and sum each frame's payload and finish its TCP checksum. TxDataPlane runs the jobs in the
// order they were written, either at once (inline) or later on another thread (deferred), with
// the same code: a run's bytes are the same either way (test_system_run compares captures).
//
// Deferred, the bytes of a frame exist only once its job has run. Whoever reads a NIC frame's
// bytes on the simulating thread first calls run_until(fence) (TxDataPlane); buffers a job
// reads (host memory) or writes (frames) must outlive it: NicTop holds recycled frame buffers
// back until the jobs issued before have run, HostMemory::set_reader_fence keeps freed
// regions' bytes until then.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "model/tx/gcm_engine.h"

namespace nicsim::model::tx {

// One piece of a WQE's payload work; out_off is an offset into the job's wire payload.
struct TxDataOp {
  enum class Kind : uint8_t { copy, gcm, tag };
  Kind kind = Kind::copy;
  uint32_t out_off = 0, n = 0;
  const uint8_t* in = nullptr;  // copy, gcm: input bytes (host memory or the job's in_bytes)
  uint32_t tag_off = 0;         // tag: first tag byte to copy; flow in seg.flow
  GcmSegment seg;               // gcm (and tag: seg.flow); seg.key points at key below
  uint8_t key[32] = {};
};

// One frame's payload: copied from the wire payload, summed, and the sum finished into the TCP
// checksum field (when the WQE asked for it).
struct TxFrameOp {
  uint8_t* dst = nullptr;        // where the payload goes in the frame
  uint8_t* csum = nullptr;       // the TCP checksum field, or nullptr: not offloaded
  uint32_t payload_off = 0, len = 0;
  uint64_t sum_base = 0;         // every other term of the TCP checksum (headers, pseudo-header)
  bool flip = false;             // fault injection: flip the checksum's low bit afterwards
};

struct TxDataJob {
  std::vector<TxDataOp> ops;
  uint32_t num_ops = 0;           // ops[0 .. num_ops): entries keep their storage between jobs
  std::vector<TxFrameOp> frames;
  std::vector<uint8_t> payload;   // the WQE's wire payload (aes_gcm's output)
  std::vector<uint8_t> in_bytes;  // input bytes that had to be copied (see AesGcmStage)
  const uint8_t* frame_src = nullptr;  // frames copy from here; nullptr: from payload
  void clear() {
    num_ops = 0;
    in_bytes.clear();
    frames.clear();
    frame_src = nullptr;
  }
  TxDataOp& add_op() {
    if (num_ops == ops.size()) ops.emplace_back();
    return ops[num_ops++];
  }
  void run(GcmDataPath& gcm);
};

class TxDataPlane {
 public:
  explicit TxDataPlane(uint32_t slots = 512);
  // Deferred: commit() only publishes; someone calls run_until / run_available. Inline:
  // commit() runs the job before it returns. Change only with no job outstanding.
  void set_deferred(bool d) { deferred_ = d; }
  bool deferred() const { return deferred_; }

  // Simulating thread: the job to fill next (cleared). When every slot is taken by jobs not yet
  // run, runs the oldest itself first.
  TxDataJob& begin();
  // Simulating thread: the job from begin() is complete.
  void commit();
  // Jobs committed so far: a fence for everything written up to now.
  uint64_t issued() const { return issued_.load(std::memory_order_relaxed); }
  uint64_t completed() const { return done_.load(std::memory_order_acquire); }
  // Any thread: runs jobs in order until job `seq` (1-based) has run, waiting while another
  // thread runs one.
  void run_until(uint64_t seq);
  void run_all() { run_until(issued()); }
  // Any thread: runs the jobs committed so far; returns how many it ran.
  uint64_t run_available();
  // Called by commit() after publishing a deferred job (to wake the thread that runs them).
  std::function<void()> on_publish;
  // The first exception a job threw (OpenSSL failure), "" if none. A failed job leaves its
  // bytes unwritten; the run must fail.
  std::string error() const;

 private:
  void run_one(uint64_t seq);
  std::vector<TxDataJob> ring_;
  bool deferred_ = false;
  bool open_ = false;
  std::atomic<uint64_t> issued_{0}, done_{0};
  std::mutex exec_;  // held while running jobs: one runner at a time, in order
  GcmDataPath gcm_;  // used only under exec_
  mutable std::mutex err_mu_;
  std::string error_;
};

}  // namespace nicsim::model::tx
