// The stats JSON: counters named as the kernel (/proc/net/tls_stat) and mlx5 (ethtool -S) name
// them, per-stage pkts/bytes/busy_cycles/stall_cycles, per flow and in total.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "host/driver/mlx5e_tx.h"
#include "host/ktls/tls_device.h"
#include "host/tcp/link.h"
#include "host/tcp/tcp.h"
#include "model/sc/nic_top.h"

namespace nicsim::app {

nlohmann::json ethtool_json(const host::driver::EthtoolStats& s);
nlohmann::json tls_stat_json(const host::ktls::TlsStat& s);
nlohmann::json offload_counters_json(const host::ktls::OffloadCounters& c);
nlohmann::json tcp_stats_json(const host::tcp::TcpStats& s);
nlohmann::json link_stats_json(const host::tcp::LinkStats& s);
nlohmann::json nic_stats_json(model::sc::NicTop& nic);
nlohmann::json flow_stats_json(uint32_t id, const host::ktls::TlsOffloadCtxTx* ktls,
                               const host::driver::KtlsTxContext* kdev, const host::tcp::TcpEndpoint& htcp,
                               const host::tcp::TcpEndpoint& ptcp, uint64_t app_total, uint64_t app_verified);
// Sums the "tls_stat" objects of the flows.
nlohmann::json tls_stat_total_json(const nlohmann::json& flows);
// Writes text to path whole or not at all (host/trace/output_file.h: "<path>.part" renamed into
// place; a device or pipe written in place); false with *err = "<path>: <problem>".
bool write_text_file(const std::string& path, const std::string& text, std::string* err);
// The same for pretty JSON.
bool write_json_file(const std::string& path, const nlohmann::json& j, std::string* err);

}  // namespace nicsim::app
