// The device's control surface as the driver sees it: firmware commands (not timed: they run
// at connection set-up, outside the datapath) and the doorbell MMIO write.
#pragma once
#include <cstdint>

#include "model/crypto/aes_gcm.h"

namespace nicsim::abi {

struct SqCreateParams {
  uint64_t ring_addr = 0;        // WQEBB 0 in host memory, size_wqebbs * 64 bytes
  uint32_t size_wqebbs = 1024;   // power of two
  uint64_t cq_addr = 0;          // CQE 0 in host memory, cq_size * 64 bytes
  uint32_t cq_size = 1024;       // power of two
};

class NicDeviceOps {
 public:
  virtual ~NicDeviceOps() = default;
  virtual uint16_t create_sq(const SqCreateParams& p) = 0;        // returns the SQ number
  virtual uint32_t create_tis() = 0;                              // TLS context (TIS) number
  virtual void destroy_tis(uint32_t tis_num) = 0;
  virtual uint32_t create_dek(crypto::Cipher c, const uint8_t* key) = 0;  // key object index
  virtual void destroy_dek(uint32_t dek_index) = 0;
  // The doorbell: the driver's producer counter for sqn, written at the caller's current time.
  virtual void ring_doorbell(uint16_t sqn, uint16_t pc) = 0;
};

}  // namespace nicsim::abi
