#include "app/config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <fstream>
#include <sstream>
#include <type_traits>

namespace nicsim::app {

using nlohmann::json;
using sim::kPsPerMs;
using sim::kPsPerUs;

namespace {

// Field lists for the host-side structs (their headers stay free of this machinery). The
// reason is the one place a default is justified.
template <class V>
void visit_run(RunConfig& c, V& v) {
  v("bytes", c.bytes, "B", "application bytes each flow sends (ignored with payload_file)");
  v("payload_file", c.payload_file, "path", "application bytes from a file instead of seeded random bytes");
  v("record_size", c.record_size, "B", "TLS_TX_MAX_PAYLOAD_LEN: record payload limit (kernel default 16384)");
  v("app_write_bytes", c.app_write_bytes, "B", "bytes per sendmsg() of the application (64 KiB writes, a typical server)");
  v("flows", c.flows, "connections", "concurrent TLS connections");
  v("seed", c.seed, "", "seeds every generator: payload, TLS randoms, loss, reordering");
  v("max_sim_ms", c.max_sim_ms, "ms", "a run that has not finished by this simulated time fails");
  v("quantum_ns", c.quantum_ns, "ns", "TLM quantum: how far the NIC may run ahead of the host (S5: ~one PCIe latency)");
  v("crypto_engine", c.crypto_engine, "", "behavioural (OpenSSL) or rtl (Verilated engine)");
  v("device_down_after_bytes", c.device_down_after_bytes, "B",
    "0 = never; else tls_device_down after the application wrote this many bytes (software fallback)");
}

template <class V>
void visit_tcp(host::tcp::TcpConfig& c, V& v) {
  v("mss_bytes", c.mss_bytes, "B", "1500 MTU - 20 IP - 20 TCP - 12 timestamp option");
  v("tso_max_bytes", c.tso_max_bytes, "B", "largest skb handed to the device (GSO_MAX_SIZE 65536)");
  v("init_cwnd_segs", c.init_cwnd_segs, "segments", "RFC 6928 initial window");
  v("sndbuf_bytes", c.sndbuf_bytes, "B", "send queue limit (tcp_wmem max 4 MiB)");
  v("rcvbuf_bytes", c.rcvbuf_bytes, "B", "receive window (tcp_rmem max 6 MiB)");
  v("wscale", c.wscale, "", "window scale offered in SYN (Linux: 7 for 6 MiB)");
  v("rto_min_ms", c.rto_min_ps, "ms", "TCP_RTO_MIN (Linux 200 ms)", double(kPsPerMs));
  v("rto_init_ms", c.rto_init_ps, "ms", "TCP_TIMEOUT_INIT (RFC 6298: 1 s)", double(kPsPerMs));
  v("rto_max_ms", c.rto_max_ps, "ms", "TCP_RTO_MAX (120 s)", double(kPsPerMs));
  v("delack_segs", c.delack_segs, "segments", "ACK every second full segment (RFC 5681 §4.2)");
  v("delack_ms", c.delack_ps, "ms", "TCP_DELACK_MIN (Linux 40 ms)", double(kPsPerMs));
  v("dupack_threshold", c.dupack_threshold, "ACKs", "fast retransmit after 3 duplicate ACKs (RFC 5681)");
}

template <class V>
void visit_link(host::tcp::LinkConfig& c, V& v) {
  v("rate_gbps", c.rate_gbps, "Gb/s", "line rate when the link serialises (peer side: 100 GbE)");
  v("delay_us", c.delay_ps, "us", "one-way propagation and switching (a data-centre hop: 10 us)", double(kPsPerUs));
  v("loss", c.loss, "probability", "independent frame loss");
  v("burst_p_gb", c.burst_p_gb, "probability", "Gilbert-Elliott good->bad per frame (0 = no burst loss)");
  v("burst_p_bg", c.burst_p_bg, "probability", "Gilbert-Elliott bad->good per frame");
  v("burst_loss_bad", c.burst_loss_bad, "probability", "loss probability in the bad state");
  v("reorder", c.reorder, "probability", "a frame is held back by reorder_delay");
  v("reorder_delay_us", c.reorder_delay_ps, "us", "extra delay of a reordered frame", double(kPsPerUs));
  v("lose_data_only", c.lose_data_only, "", "spare frames without payload (ACKs, SYNs) from loss");
}

template <class V>
void visit_driver(host::driver::DriverConfig& c, V& v) {
  v("sq_size_wqebbs", c.sq_size_wqebbs, "WQEBB", "mlx5e default TX ring (log_sq_size 10)");
  v("cq_size", c.cq_size, "CQEs", "completion ring size");
  v("num_sqs", c.num_sqs, "queues", "send queues (channels); flow i uses queue i mod num_sqs");
  v("mtu_bytes", c.mtu_bytes, "B", "IP MTU; hw_mtu = MTU + 22 bounds each DUMP");
}

// Reads a JSON object into a struct through its visitor; unknown keys are errors (a typo must
// not silently leave a default in place).
struct Loader {
  const json& obj;
  std::string where;
  std::string* err;
  std::vector<std::string> seen;
  bool ok = true;

  template <class T>
  void operator()(const char* name, T& field, const char*, const char*, double scale = 1.0) {
    seen.push_back(name);
    if (!ok || !obj.contains(name)) return;
    const json& x = obj.at(name);
    auto bad = [&](const std::string& why) {
      *err = where + "." + name + ": " + why;
      ok = false;
    };
    if constexpr (std::is_same_v<T, bool>) {
      if (!x.is_boolean()) return bad("expected true or false");
      field = x.get<bool>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!x.is_string()) return bad("expected a string");
      field = x.get<std::string>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!x.is_number()) return bad("expected a number");
      double d = x.get<double>() * scale;
      if (!std::isfinite(d) || d < 0) return bad("must be a finite number >= 0");
      field = T(d);
    } else {
      if (!x.is_number()) return bad("expected a number");
      double d = x.get<double>() * scale;
      if (d < 0 || d > double(std::numeric_limits<T>::max()) || (scale == 1.0 && std::floor(d) != d))
        return bad("must be a whole number in [0, " + std::to_string(std::numeric_limits<T>::max()) + "]");
      field = T(std::llround(d));
    }
  }
  bool check_unknown() {
    if (!ok) return false;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (std::find(seen.begin(), seen.end(), it.key()) == seen.end()) {
        *err = where + ": unknown parameter \"" + it.key() + "\"";
        return false;
      }
    }
    return true;
  }
};

struct Saver {
  json& out;
  bool describe;
  template <class T>
  void operator()(const char* name, const T& field, const char* unit, const char* reason, double scale = 1.0) {
    json v;
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
      v = field;
    } else if (scale != 1.0) {
      v = double(field) / scale;
    } else {
      v = field;
    }
    if (describe) out[name] = json{{"value", v}, {"unit", unit}, {"reason", reason}};
    else out[name] = v;
  }
};

template <class S, class F>
bool load_section(const json& j, const char* key, S& s, F visit, const std::string& file, std::string* err) {
  if (!j.contains(key)) return true;
  const json& o = j.at(key);
  if (!o.is_object()) {
    *err = file + ": " + key + ": expected an object";
    return false;
  }
  Loader l{o, file + ": " + key, err, {}};
  visit(s, l);
  return l.check_unknown();
}

}  // namespace

Config::Config() {
  // The forward link's serialisation is done by the NIC's mac_tx; the reverse link (the peer's
  // NIC) serialises its ACKs itself.
  link.serialize = false;
  // tcp_tso_autosize: payload per skb ≤ sk_gso_max_size (65536) - 1 - MAX_TCP_HEADER (320), so
  // the IP total length of the skb always fits in 16 bits.
  tcp.tso_max_bytes = 65536 - 1 - 320;
  reverse.serialize = true;
  reverse.seed = link.seed + 1;
}

bool Config::apply_json(const json& j, const std::string& file, std::string* err) {
  if (!j.is_object()) {
    *err = file + ": top level: expected an object with sections run, nic, tcp, link, reverse, driver";
    return false;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    static const char* known[] = {"run", "nic", "tcp", "link", "reverse", "driver"};
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return it.key() == k; }) == std::end(known)) {
      *err = file + ": unknown section \"" + it.key() + "\" (known: run, nic, tcp, link, reverse, driver)";
      return false;
    }
  }
  if (j.contains("run") && j.at("run").is_object()) {
    const json& r = j.at("run");
    if (r.contains("tls")) {
      std::string t = r.at("tls").is_string() ? r.at("tls").get<std::string>() : "";
      if (t == "1.2") run.tls = crypto::TlsVersion::tls12;
      else if (t == "1.3") run.tls = crypto::TlsVersion::tls13;
      else { *err = file + ": run.tls: expected \"1.2\" or \"1.3\""; return false; }
    }
    if (r.contains("cipher")) {
      std::string c = r.at("cipher").is_string() ? r.at("cipher").get<std::string>() : "";
      if (!crypto::parse_cipher(c, &run.cipher)) { *err = file + ": run.cipher: expected \"aes128gcm\" or \"aes256gcm\""; return false; }
    }
    json rest = r;
    rest.erase("tls");
    rest.erase("cipher");
    json tmp{{"run", rest}};
    if (!load_section(tmp, "run", run, [](RunConfig& s, Loader& l) { visit_run(s, l); }, file, err)) return false;
  } else if (j.contains("run")) {
    *err = file + ": run: expected an object";
    return false;
  }
  return load_section(j, "nic", nic, [](model::tx::NicConfig& s, Loader& l) { s.visit(l); }, file, err) &&
         load_section(j, "tcp", tcp, [](host::tcp::TcpConfig& s, Loader& l) { visit_tcp(s, l); }, file, err) &&
         load_section(j, "link", link, [](host::tcp::LinkConfig& s, Loader& l) { visit_link(s, l); }, file, err) &&
         load_section(j, "reverse", reverse, [](host::tcp::LinkConfig& s, Loader& l) { visit_link(s, l); }, file, err) &&
         load_section(j, "driver", driver, [](host::driver::DriverConfig& s, Loader& l) { visit_driver(s, l); }, file, err);
}

bool Config::load_file(const std::string& path, std::string* err) {
  std::ifstream f(path);
  if (!f) {
    *err = path + ": cannot open";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  json j = json::parse(text, nullptr, false, true);
  if (j.is_discarded()) {
    // Re-parse with exceptions for the position of the error.
    try {
      json tmp = json::parse(text, nullptr, true, true);
      (void)tmp;
    } catch (const json::parse_error& e) {
      size_t line = 1 + size_t(std::count(text.begin(), text.begin() + std::min(text.size(), e.byte), '\n'));
      *err = path + ": line " + std::to_string(line) + ": invalid JSON (" + e.what() + ")";
      return false;
    }
    *err = path + ": invalid JSON";
    return false;
  }
  return apply_json(j, path, err);
}

static json dump_all(Config& c, bool describe) {
  json out;
  json run;
  Saver rs{run, describe};
  visit_run(c.run, rs);
  run["tls"] = c.run.tls == crypto::TlsVersion::tls12 ? "1.2" : "1.3";
  run["cipher"] = crypto::cipher_name(c.run.cipher);
  out["run"] = run;
  json nic, tcp, link, rev, drv;
  Saver ns{nic, describe}, ts{tcp, describe}, ls{link, describe}, rv{rev, describe}, ds{drv, describe};
  c.nic.visit(ns);
  visit_tcp(c.tcp, ts);
  visit_link(c.link, ls);
  visit_link(c.reverse, rv);
  visit_driver(c.driver, ds);
  out["nic"] = nic;
  out["tcp"] = tcp;
  out["link"] = link;
  out["reverse"] = rev;
  out["driver"] = drv;
  return out;
}

json Config::to_json() const { return dump_all(const_cast<Config&>(*this), false); }
json Config::describe() const { return dump_all(const_cast<Config&>(*this), true); }

std::string Config::validate() const {
  auto pow2 = [](uint64_t v) { return v && !(v & (v - 1)); };
  if (run.flows == 0 || run.flows > 65535 - 40000) return "run.flows must be in [1, 25535]";
  if (run.record_size < 64 || run.record_size > 16384) return "run.record_size must be in [64, 16384] (TLS_TX_MAX_PAYLOAD_LEN)";
  if (run.app_write_bytes == 0) return "run.app_write_bytes must be > 0";
  if (run.crypto_engine != "behavioural" && run.crypto_engine != "rtl") return "run.crypto_engine must be behavioural or rtl";
  if (nic.clock_mhz <= 0 || nic.line_rate_gbps <= 0 || nic.pcie_read_gbps <= 0) return "nic clock, line rate and PCIe bandwidth must be > 0";
  // Upper bounds where a larger value would not model anything and would break the model
  // instead (each found by setting every parameter to 2^31: a crash, a hang, an allocation of
  // gigabytes, an overflow).
  if (nic.clock_mhz > 100000) return "nic.clock_mhz must be <= 100000 (the model counts whole picoseconds per cycle)";
  if (nic.tls_ctx_bytes == 0 || nic.tls_ctx_bytes > 65536) return "nic.tls_ctx_bytes must be in [1, 65536]";
  if (nic.crypto_flow_slots == 0 || nic.crypto_flow_slots > 65536) return "nic.crypto_flow_slots must be in [1, 65536]";
  if (tcp.init_cwnd_segs == 0 || tcp.init_cwnd_segs > 65535) return "tcp.init_cwnd_segs must be in [1, 65535]";
  // A zero retransmission timeout re-fires at the same simulated instant for ever (time never
  // reaches run.max_sim_ms): the run hung.
  if (tcp.rto_init_ps == 0 || tcp.rto_max_ps == 0 || tcp.rto_min_ps > tcp.rto_max_ps)
    return "tcp.rto_init_ms and tcp.rto_max_ms must be > 0, and tcp.rto_min_ms <= tcp.rto_max_ms";
  if (nic.datapath_bytes_per_cycle == 0 || nic.crypto_lanes == 0 || nic.pcie_mrrs_bytes == 0 || nic.desc_prefetch_wqebbs == 0)
    return "nic datapath width, crypto lanes, MRRS and prefetch size must be > 0";
  if (!pow2(driver.sq_size_wqebbs) || driver.sq_size_wqebbs < 256 || driver.sq_size_wqebbs > 32768)
    return "driver.sq_size_wqebbs must be a power of two in [256, 32768]";
  if (!pow2(driver.cq_size) || driver.cq_size > (1u << 22)) return "driver.cq_size must be a power of two <= 4194304";
  if (driver.num_sqs == 0 || driver.num_sqs > 65536) return "driver.num_sqs must be in [1, 65536]";
  if (tcp.mss_bytes < 64 || tcp.mss_bytes + 52 > driver.mtu_bytes) return "tcp.mss_bytes must be >= 64 and leave 52 header bytes within driver.mtu_bytes";
  if (tcp.tso_max_bytes < tcp.mss_bytes || tcp.tso_max_bytes > 65535 - 128) return "tcp.tso_max_bytes must be in [mss_bytes, 65407]";
  if (nic.mtu_bytes != driver.mtu_bytes) return "nic.mtu_bytes and driver.mtu_bytes must agree";
  for (const auto* l : {&link, &reverse}) {
    if (l->loss > 1 || l->burst_p_gb > 1 || l->burst_p_bg > 1 || l->burst_loss_bad > 1 || l->reorder > 1)
      return "link probabilities must be in [0, 1]";
    if (l->rate_gbps <= 0) return "link rate must be > 0";
  }
  if (run.max_sim_ms <= 0) return "run.max_sim_ms must be > 0";
  return "";
}

std::string invalid_configuration(const std::string& config_file, const std::string& problem) {
  if (config_file.empty()) return "invalid configuration: " + problem;
  return config_file + " (with the command line's flags): invalid configuration: " + problem;
}

}  // namespace nicsim::app
