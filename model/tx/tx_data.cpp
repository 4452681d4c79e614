#include "model/tx/tx_data.h"

#include <cstring>
#include <stdexcept>

#include "model/abi/inet_csum.h"

namespace nicsim::model::tx {

void TxDataJob::run(GcmDataPath& gcm) {
  uint8_t* out = payload.data();
  for (uint32_t k = 0; k < num_ops; k++) {
    TxDataOp& op = ops[k];
    switch (op.kind) {
      case TxDataOp::Kind::copy:
        std::memcpy(out + op.out_off, op.in, op.n);
        break;
      case TxDataOp::Kind::gcm:
        op.seg.key = op.key;
        gcm.run(op.seg, op.in, out + op.out_off, op.n, nullptr);
        break;
      case TxDataOp::Kind::tag:
        std::memcpy(out + op.out_off, gcm.tag(op.seg.flow) + op.tag_off, op.n);
        break;
    }
  }
  const uint8_t* src = frame_src ? frame_src : payload.data();
  for (const TxFrameOp& f : frames) {
    // The payload starts at an even offset of the TCP segment (its header is a multiple of 4
    // bytes), so its sum chains with the header's.
    const uint32_t s = abi::csum_native_to_be(abi::csum_copy_native(f.dst, src + f.payload_off, f.len));
    if (f.csum) {
      const uint16_t c = abi::csum_finish(f.sum_base + s);
      f.csum[0] = uint8_t(c >> 8);
      f.csum[1] = uint8_t(c);
      if (f.flip) f.csum[1] ^= 0x01;
    }
  }
}

TxDataPlane::TxDataPlane(uint32_t slots) : ring_(slots ? slots : 1) {}

TxDataJob& TxDataPlane::begin() {
  const uint64_t seq = issued() + 1;
  if (seq > ring_.size()) run_until(seq - ring_.size());  // that slot's previous job
  open_ = true;
  TxDataJob& j = ring_[(seq - 1) % ring_.size()];
  j.clear();
  return j;
}

void TxDataPlane::commit() {
  if (!open_) throw std::logic_error("TxDataPlane::commit without begin");
  open_ = false;
  const uint64_t seq = issued() + 1;
  issued_.store(seq, std::memory_order_seq_cst);  // seq_cst: pairs with the runner's sleep check
  if (!deferred_) run_until(seq);
  else if (on_publish) on_publish();
}

void TxDataPlane::run_one(uint64_t seq) {
  try {
    ring_[(seq - 1) % ring_.size()].run(gcm_);
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> g(err_mu_);
    if (error_.empty()) error_ = std::string("NIC data plane: ") + e.what();
  }
  done_.store(seq, std::memory_order_release);
}

void TxDataPlane::run_until(uint64_t seq) {
  if (completed() >= seq) return;
  std::lock_guard<std::mutex> g(exec_);
  const uint64_t last = std::min(seq, issued_.load(std::memory_order_acquire));
  for (uint64_t s = done_.load(std::memory_order_relaxed) + 1; s <= last; s++) run_one(s);
}

uint64_t TxDataPlane::run_available() {
  const uint64_t target = issued_.load(std::memory_order_acquire);
  if (completed() >= target) return 0;
  std::lock_guard<std::mutex> g(exec_);
  uint64_t ran = 0;
  for (uint64_t s = done_.load(std::memory_order_relaxed) + 1; s <= target; s++, ran++) run_one(s);
  return ran;
}

std::string TxDataPlane::error() const {
  std::lock_guard<std::mutex> g(err_mu_);
  return error_;
}

}  // namespace nicsim::model::tx
