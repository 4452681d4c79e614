#include "app/stats.h"

#include <cstdio>
#include <fstream>

#include "host/trace/output_file.h"

namespace nicsim::app {

using nlohmann::json;

json ethtool_json(const host::driver::EthtoolStats& s) {
  return json{{"tx_packets", s.tx_packets},
              {"tx_bytes", s.tx_bytes},
              {"tx_tso_packets", s.tx_tso_packets},
              {"tx_tso_bytes", s.tx_tso_bytes},
              {"tx_queue_stopped", s.tx_queue_stopped},
              {"tx_queue_wake", s.tx_queue_wake},
              {"tx_cqes", s.tx_cqes},
              {"tx_cqe_err", s.tx_cqe_err},
              {"tx_nop", s.tx_nop},
              {"tx_tls_encrypted_packets", s.tx_tls_encrypted_packets},
              {"tx_tls_encrypted_bytes", s.tx_tls_encrypted_bytes},
              {"tx_tls_ooo", s.tx_tls_ooo},
              {"tx_tls_dump_packets", s.tx_tls_dump_packets},
              {"tx_tls_dump_bytes", s.tx_tls_dump_bytes},
              {"tx_tls_resync_bytes", s.tx_tls_resync_bytes},
              {"tx_tls_skip_no_sync_data", s.tx_tls_skip_no_sync_data},
              {"tx_tls_drop_no_sync_data", s.tx_tls_drop_no_sync_data},
              {"tx_tls_drop_bypass_req", s.tx_tls_drop_bypass_req},
              {"tx_tls_ctx", s.tx_tls_ctx},
              {"tx_tls_del", s.tx_tls_del},
              {"model", {{"tls_static_params_posted", s.tls_static_params_posted},
                         {"tls_progress_params_posted", s.tls_progress_params_posted},
                         {"tls_resyncs", s.tls_resyncs},
                         {"tls_resync_prefix_bytes", s.tls_resync_prefix_bytes},
                         {"linearized", s.linearized},
                         {"tx_dropped_hdr", s.tx_dropped_hdr}}}};
}

json tls_stat_json(const host::ktls::TlsStat& s) {
  return json{{"TlsCurrTxSw", s.TlsCurrTxSw}, {"TlsCurrTxDevice", s.TlsCurrTxDevice}, {"TlsTxSw", s.TlsTxSw},
              {"TlsTxDevice", s.TlsTxDevice}, {"TlsTxRekeyOk", s.TlsTxRekeyOk}, {"TlsTxRekeyError", s.TlsTxRekeyError}};
}

json offload_counters_json(const host::ktls::OffloadCounters& c) {
  return json{{"records_pushed", c.records_pushed},
              {"record_bytes_pushed", c.record_bytes_pushed},
              {"app_bytes", c.app_bytes},
              {"records_acked", c.records_acked},
              {"control_records", c.control_records},
              {"fallback_skbs", c.fallback_skbs},
              {"fallback_bytes", c.fallback_bytes},
              {"fallback_prefix_bytes", c.fallback_prefix_bytes},
              {"fallback_passthrough", c.fallback_passthrough},
              {"fallback_drops", c.fallback_drops},
              {"get_record_calls", c.get_record_calls},
              {"get_record_misses", c.get_record_misses},
              {"resync_requests", c.resync_requests},
              {"resyncs_sent", c.resyncs_sent},
              {"sw_records_sealed", c.sw_records_sealed}};
}

json tcp_stats_json(const host::tcp::TcpStats& s) {
  return json{{"segs_out", s.segs_out},         {"bytes_out", s.bytes_out},
              {"data_segs_out", s.data_segs_out}, {"retrans_segs", s.retrans_segs},
              {"retrans_bytes", s.retrans_bytes}, {"fast_retransmits", s.fast_retransmits},
              {"rto_expirations", s.rto_expirations}, {"segs_in", s.segs_in},
              {"bytes_in", s.bytes_in},           {"dup_acks_in", s.dup_acks_in},
              {"ooo_segs_in", s.ooo_segs_in},     {"dup_segs_in", s.dup_segs_in},
              {"acks_out", s.acks_out},           {"cwnd_bytes", s.cwnd_bytes},
              {"ssthresh_bytes", s.ssthresh_bytes}, {"srtt_us", s.srtt_us}};
}

json link_stats_json(const host::tcp::LinkStats& s) {
  return json{{"frames_in", s.frames_in}, {"bytes_in", s.bytes_in}, {"frames_dropped", s.frames_dropped},
              {"frames_reordered", s.frames_reordered}, {"frames_delivered", s.frames_delivered}};
}

static json stage_json(const model::tx::StageStats& s) {
  return json{{"pkts", s.pkts}, {"bytes", s.bytes}, {"busy_cycles", s.busy_cycles}, {"stall_cycles", s.stall_cycles}};
}

json nic_stats_json(model::sc::NicTop& nic) {
  json j;
  const auto& df = nic.desc_fetch_stats();
  j["desc_fetch"] = stage_json(df);
  j["desc_fetch"].update({{"doorbells", df.doorbells}, {"dma_reads", df.dma_reads}, {"wqebbs", df.wqebbs}, {"nops", df.nops}, {"errors", df.errors}});
  const auto& tc = nic.tls_ctx_stats();
  j["tls_ctx"] = stage_json(nic.tls_ctx_stage_stats());
  j["tls_ctx"].update({{"lookups", tc.lookups}, {"hits", tc.hits}, {"misses", tc.misses}, {"evictions", tc.evictions},
                       {"static_params", tc.static_params}, {"progress_params", tc.progress_params}, {"bad_tis", tc.bad_tis}});
  j["dma_read"] = stage_json(nic.dma_read_stats());
  const auto& ag = nic.aes_gcm_stats();
  j["aes_gcm"] = stage_json(ag);
  j["aes_gcm"].update({{"engine", nic.engine().name()}, {"tls_pkts", ag.tls_pkts}, {"tls_bytes", ag.tls_bytes},
                       {"dump_pkts", ag.dump_pkts}, {"dump_bytes", ag.dump_bytes}, {"records_completed", ag.records_completed},
                       {"bypass_pkts", ag.bypass_pkts}, {"bypass_bytes", ag.bypass_bytes}, {"errors", ag.errors}});
  const auto& cs = nic.tx_checksum_stats();
  j["tx_checksum"] = stage_json(cs);
  j["tx_checksum"].update({{"segments", cs.segments}, {"tso_wqes", cs.tso_wqes}, {"bad_headers", cs.bad_headers}});
  const auto& mt = nic.mac_tx_stats();
  j["mac_tx"] = stage_json(mt);
  j["mac_tx"].update({{"frames", mt.frames}, {"wire_bytes", mt.wire_bytes}});
  const auto& p = nic.pcie_stats();
  j["pcie"] = {{"reads", p.reads}, {"read_bytes", p.read_bytes}, {"read_requests", p.read_requests},
               {"writes", p.writes}, {"write_bytes", p.write_bytes}, {"read_busy_ns", p.read_busy_ps / 1000}};
  j["completions"] = {{"cqes", nic.cqes()}, {"cqe_errors", nic.cqe_errors()}, {"send_wqes_dropped", nic.frames_dropped()}};
  j["clock_mhz"] = nic.config().clock_mhz;
  return j;
}

json flow_stats_json(uint32_t id, const host::ktls::TlsOffloadCtxTx* ktls, const host::driver::KtlsTxContext* kdev,
                     const host::tcp::TcpEndpoint& htcp, const host::tcp::TcpEndpoint& ptcp, uint64_t app_total,
                     uint64_t app_verified) {
  json f;
  f["flow"] = id;
  f["app_bytes"] = app_total;
  f["app_bytes_verified"] = app_verified;
  if (ktls) {
    f["tls_stat"] = tls_stat_json(ktls->tls_stat());
    f["ktls"] = offload_counters_json(ktls->counters());
  } else {
    f["tls_stat"] = tls_stat_json({});
  }
  if (kdev) f["ethtool"] = ethtool_json(kdev->stats);
  f["tcp_host"] = tcp_stats_json(htcp.stats());
  f["tcp_peer"] = tcp_stats_json(ptcp.stats());
  return f;
}

json tls_stat_total_json(const json& flows) {
  json t = tls_stat_json({});
  for (const auto& f : flows)
    for (auto it = f["tls_stat"].begin(); it != f["tls_stat"].end(); ++it) t[it.key()] = t[it.key()].get<uint64_t>() + it.value().get<uint64_t>();
  return t;
}

bool write_text_file(const std::string& path, const std::string& text, std::string* err) {
  const host::trace::OutputFile out(path);
  {
    std::ofstream f(out.write_path);
    f << text;
    f.close();
    if (!f) {
      out.discard();
      *err = path + ": cannot write";
      return false;
    }
  }
  return out.commit(err);
}

bool write_json_file(const std::string& path, const json& j, std::string* err) {
  return write_text_file(path, j.dump(2) + "\n", err);
}

}  // namespace nicsim::app
