// The one configuration tree: every parameter of a run, hardware and host, with its unit,
// default and reason. Each component owns its struct (NicConfig, TcpConfig, LinkConfig,
// DriverConfig); this file gathers them, loads overrides from a JSON file ({"nic": {...},
// "tcp": {...}, ...}), and echoes the whole tree into the stats.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/driver/mlx5e_tx.h"
#include "host/tcp/link.h"
#include "host/tcp/tcp.h"
#include "model/crypto/tls_record.h"
#include "model/tx/nic_config.h"

namespace nicsim::app {

struct RunConfig {
  crypto::TlsVersion tls = crypto::TlsVersion::tls12;
  crypto::Cipher cipher = crypto::Cipher::aes128gcm;
  uint64_t bytes = 4u << 20;        // application bytes per flow (when no payload file)
  std::string payload_file;          // application bytes from a file (each flow sends it)
  uint32_t record_size = 16384;      // TLS_TX_MAX_PAYLOAD_LEN
  uint32_t app_write_bytes = 65536;  // bytes per sendmsg() of the application
  uint32_t flows = 1;
  uint64_t seed = 1;
  double max_sim_ms = 60000;         // safety limit on simulated time
  double quantum_ns = 500;           // TLM quantum (SimBricks default, S5)
  std::string crypto_engine = "behavioural";
  uint64_t device_down_after_bytes = 0;  // 0: never; else tls_device_down after this many app bytes
};

struct Config {
  RunConfig run;
  model::tx::NicConfig nic;
  host::tcp::TcpConfig tcp;
  host::tcp::LinkConfig link;      // host → peer (data); serialisation is mac_tx's
  host::tcp::LinkConfig reverse;   // peer → host (ACKs)
  host::driver::DriverConfig driver;

  Config();
  // Applies a JSON document; false with *err = "<file>: <where>: <problem>".
  bool apply_json(const nlohmann::json& j, const std::string& file, std::string* err);
  bool load_file(const std::string& path, std::string* err);
  nlohmann::json to_json() const;          // values
  nlohmann::json describe() const;         // values with unit and reason
  // Consistency checks across sections (e.g. MSS fits the MTU). Empty = fine.
  std::string validate() const;
};

// The message for a configuration validate() refuses: it names the configuration file when
// there is one (the bad value may come from it or from a flag: the check sees only the result).
std::string invalid_configuration(const std::string& config_file, const std::string& problem);

}  // namespace nicsim::app
