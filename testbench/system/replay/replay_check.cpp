#include "replay_check.h"

#include <arpa/inet.h>

#include <cstring>

#include "host/tcp/segment.h"

namespace nicsim::testbench {

using namespace nicsim::host;

std::vector<trace::CaptureFrame> read_capture(const std::string& path, trace::LinkType* lt, std::string* err) {
  std::vector<trace::CaptureFrame> v;
  trace::CaptureReader r;
  if (!r.open(path)) {
    *err = r.error();
    return v;
  }
  *lt = r.link_type();
  trace::CaptureFrame f;
  while (r.next(&f)) v.push_back(f);
  if (!r.error().empty()) *err = r.error();
  return v;
}

namespace {

std::string peer_name(const trace::IpAddr& ip, uint16_t port) {
  return ip.v6 ? "[" + ip.str() + "]:" + std::to_string(port) : ip.str() + ":" + std::to_string(port);
}

// Bytes of [a, b) with some offsets masked out, for header comparisons.
std::vector<uint8_t> masked(const std::vector<uint8_t>& f, size_t a, size_t b, const std::vector<size_t>& mask) {
  std::vector<uint8_t> v(f.begin() + int64_t(a), f.begin() + int64_t(b));
  for (size_t m : mask)
    if (m < v.size()) v[m] = 0;
  return v;
}

}  // namespace

uint64_t expected_ooo(const std::vector<HostDataFrame>& frames, uint32_t start) {
  uint64_t ooo = 0;
  uint32_t expected = start;
  for (const auto& f : frames) {
    uint32_t end = f.seq + f.len;
    if (!tcp::seq_after(end, start)) continue;  // wholly pre-offload: no kTLS context
    uint32_t s = tcp::seq_before(f.seq, start) ? start : f.seq;
    if (s != expected) ooo++;
    expected = end;
  }
  return ooo;
}

ReplayCheck check_replay(const std::string& in_path, const std::string& out_path, const std::string& host_ip,
                         uint16_t host_port) {
  ReplayCheck c;
  trace::IpAddr host;
  if (inet_pton(AF_INET, host_ip.c_str(), host.ip.data()) != 1) {
    host.v6 = true;
    if (inet_pton(AF_INET6, host_ip.c_str(), host.ip.data()) != 1) return c.error = "bad host " + host_ip, c;
  }
  trace::LinkType lt_in, lt_out;
  std::string err;
  auto in = read_capture(in_path, &lt_in, &err);
  err.clear();
  auto out = read_capture(out_path, &lt_out, &err);
  if (!err.empty()) return c.error = "output: " + err, c;
  if (lt_in != lt_out) return c.error = "link types differ", c;
  c.frames_in = in.size();
  c.frames_out = out.size();
  auto is_host = [&](const trace::ParsedFrame& p) {
    return p.is_tcp && p.src_ip == host && (host_port == 0 || p.src_port == host_port);
  };
  std::map<std::string, uint32_t> max_end;
  size_t oi = 0;
  for (size_t k = 0; k < in.size(); k++) {
    const auto& f = in[k];
    const std::string at = "input frame " + std::to_string(k + 1) + ": ";
    trace::ParsedFrame p = trace::parse_frame(f.bytes.data(), f.bytes.size(), lt_in);
    if (!is_host(p) || !p.ok) {
      if (oi >= out.size()) return c.error = at + "missing from the output", c;
      if (out[oi].bytes != f.bytes) return c.error = at + "not the host's, but changed in the output", c;
      oi++;
      continue;
    }
    c.host_frames_in++;
    const std::string key = std::to_string(p.src_port) + " " + peer_name(p.dst_ip, p.dst_port);
    if (p.payload_len > 0) {
      auto it = max_end.find(key);
      if (it != max_end.end() && tcp::seq_before(p.tcp.seq, it->second)) c.retransmitted_frames++;
      uint32_t e = p.tcp.seq + p.payload_len;
      if (it == max_end.end() || tcp::seq_after(e, it->second)) max_end[key] = e;
      c.data_frames[key].push_back(HostDataFrame{p.tcp.seq, p.payload_len});
    }
    const uint32_t end = p.tcp.seq + p.payload_len;
    uint32_t cur = p.tcp.seq;
    size_t s = 0;
    do {
      if (oi >= out.size()) return c.error = at + "no output frame for seq " + std::to_string(cur), c;
      const auto& g = out[oi];
      trace::ParsedFrame q = trace::parse_frame(g.bytes.data(), g.bytes.size(), lt_out);
      const std::string oat = at + "output frame " + std::to_string(oi + 1) + ": ";
      if (!q.ok || !is_host(q) || !(q.dst_ip == p.dst_ip) || q.src_port != p.src_port || q.dst_port != p.dst_port)
        return c.error = oat + "not the same connection", c;
      if (q.tcp.seq != cur) return c.error = oat + "seq " + std::to_string(q.tcp.seq) + ", expected " + std::to_string(cur), c;
      if (q.payload_len == 0 && p.payload_len > 0) return c.error = oat + "empty segment inside a data frame", c;
      const uint32_t qend = q.tcp.seq + q.payload_len;
      if (tcp::seq_after(qend, end)) return c.error = oat + "runs past the input frame's end", c;
      // Payload: the input's bytes at the same sequence numbers.
      if (std::memcmp(g.bytes.data() + q.payload_off, f.bytes.data() + p.payload_off + (q.tcp.seq - p.tcp.seq),
                      q.payload_len) != 0)
        return c.error = oat + "payload differs from the input at the same sequence numbers", c;
      c.payload_bytes_checked += q.payload_len;
      // Headers: L2 as captured; IP but for length, ID and checksum; TCP but for seq, flags, checksum.
      if (q.l3_off != p.l3_off || q.l4_off != p.l4_off || q.payload_off != p.payload_off)
        return c.error = oat + "header layout differs", c;
      if (!std::equal(g.bytes.begin(), g.bytes.begin() + int64_t(q.l3_off), f.bytes.begin()))
        return c.error = oat + "link-layer header differs", c;
      const std::vector<size_t> ipm = p.v6 ? std::vector<size_t>{4, 5} : std::vector<size_t>{2, 3, 4, 5, 10, 11};
      if (masked(g.bytes, q.l3_off, q.l4_off, ipm) != masked(f.bytes, p.l3_off, p.l4_off, ipm))
        return c.error = oat + "IP header differs", c;
      if (masked(g.bytes, q.l4_off, q.payload_off, {4, 5, 6, 7, 13, 16, 17}) !=
          masked(f.bytes, p.l4_off, p.payload_off, {4, 5, 6, 7, 13, 16, 17}))
        return c.error = oat + "TCP header or options differ", c;
      uint8_t want_flags = p.tcp.flags;
      if (qend != end) want_flags &= uint8_t(~(tcp::kFin | tcp::kPsh));
      if (s > 0) want_flags &= uint8_t(~0x80);
      if (q.tcp.flags != want_flags) return c.error = oat + "TCP flags differ", c;
      if (!p.v6 && q.tcp.ip_id != uint16_t(p.tcp.ip_id + s)) return c.error = oat + "IPv4 ID is not the input's + segment", c;
      if (!trace::verify_checksums(g.bytes.data(), g.bytes.size(), lt_out)) return c.error = oat + "bad checksum", c;
      c.host_frames_out++;
      cur = qend;
      s++;
      oi++;
    } while (cur != end);
    if (s > 1) c.split_frames++;
  }
  if (oi != out.size()) return c.error = std::to_string(out.size() - oi) + " output frame(s) beyond the input's", c;
  return c;
}

}  // namespace nicsim::testbench
