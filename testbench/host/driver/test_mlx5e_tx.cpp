// mlx5-like driver (Mlx5eTx) driven by the real kernel-offload emulator (ktls::TlsOffloadCtxTx)
// over a fake TCP socket: the WQEs it writes into the ring in host memory are decoded with the
// abi structs and checked field for field against kernel-ktls-offload.md §4 (mlx5 ktls_tx.c):
// first packet, in-order packets, resync (static/progress params, fence NOP, DUMPs), bypass and
// drop cases; completions written into the CQ ring as the NIC writes them: counters at
// completion, host memory references, ring space, queue stop/wake, ring-edge NOPs.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

#include "host/driver/mlx5e_tx.h"
#include "host/ktls/tls_device.h"
#include "host/mem/host_memory.h"
#include "host/trace/packet.h"
#include "model/abi/wqe.h"

using namespace nicsim;
using namespace nicsim::abi;
using host::HostMemory;
using host::driver::DriverConfig;
using host::driver::EthtoolStats;
using host::driver::KtlsTxContext;
using host::driver::Mlx5eTx;
using host::driver::SkbMeta;
using host::driver::XmitResult;
using host::ktls::CryptoInfo;
using host::ktls::TlsOffloadCtxTx;
using host::tcp::Segment;
using crypto::Cipher;
using crypto::TlsVersion;

namespace {

constexpr uint8_t kTcpAck = 0x10, kTcpPsh = 0x08;

struct FakeNic : NicDeviceOps {
  std::vector<SqCreateParams> sqs;
  struct Doorbell {
    uint16_t sqn, pc;
  };
  std::vector<Doorbell> doorbells;
  std::vector<uint32_t> tis_destroyed, dek_destroyed;
  uint32_t next_tis = 7, next_dek = 100;
  Cipher dek_cipher = Cipher::aes128gcm;
  uint8_t dek_key[32] = {};
  int tis_created = 0, dek_created = 0;

  uint16_t create_sq(const SqCreateParams& p) override {
    sqs.push_back(p);
    return uint16_t(sqs.size() - 1);
  }
  uint32_t create_tis() override {
    tis_created++;
    return next_tis++;
  }
  void destroy_tis(uint32_t t) override { tis_destroyed.push_back(t); }
  uint32_t create_dek(Cipher c, const uint8_t* key) override {
    dek_created++;
    dek_cipher = c;
    std::memcpy(dek_key, key, crypto::key_bytes(c));
    return next_dek++;
  }
  void destroy_dek(uint32_t d) override { dek_destroyed.push_back(d); }
  void ring_doorbell(uint16_t sqn, uint16_t pc) override { doorbells.push_back({sqn, pc}); }
};

// TCP as the offload layer sees it: records are queued by reference (TCP takes its own page
// reference) and the test cuts segments out of the queued byte stream.
struct FakeTcp : host::ktls::TcpSocketOps {
  struct Chunk {
    uint64_t addr;
    uint32_t len, seq;
    bool decrypted;
    bool released = false;
  };
  FakeTcp(HostMemory& m, uint32_t isn) : mem(m), seq(isn) {}
  uint32_t write_seq() const override { return seq; }
  size_t send_space() const override { return size_t(1) << 30; }
  void push_pages(uint64_t addr, uint32_t len, bool decrypted) override {
    mem.retain(addr);
    chunks.push_back({addr, len, seq, decrypted});
    seq += len;
  }
  void mark_eor() override {}
  // Bytes written before the TLS key (the handshake's last flight): TCP owns them.
  void write_plain(uint32_t n) {
    uint64_t a = mem.alloc(n);
    for (uint32_t i = 0; i < n; i++) mem.ptr(a)[i] = uint8_t(0xe0 + i);
    chunks.push_back({a, n, seq, false});
    seq += n;
  }
  void release_all() {
    for (Chunk& c : chunks)
      if (!c.released) {
        mem.release(c.addr);
        c.released = true;
      }
  }
  HostMemory& mem;
  uint32_t seq;
  std::vector<Chunk> chunks;
};

// One WQE read back from the ring.
struct Wqe {
  uint16_t pi = 0;
  CtrlSeg ctrl{};
  uint16_t wqebbs = 0;
  TlsStaticParams sp{};
  TlsProgressParams pp{};
  EthSeg eth{};
  std::vector<uint8_t> hdr;
  std::vector<DataSeg> segs;
  Opcode op() const { return Opcode(ctrl.opcode); }
  bool fenced() const { return (ctrl.fm_ce_se & kFenceInitiatorSmall) != 0; }
  bool cq() const { return (ctrl.fm_ce_se & kCqUpdate) != 0; }
};

CryptoInfo make_info(TlsVersion v, Cipher c, uint64_t rec_seq) {
  CryptoInfo i;
  i.version = v;
  i.cipher = c;
  for (int k = 0; k < 32; k++) i.key[k] = uint8_t(0x21 + 5 * k);
  const uint8_t salt[4] = {0x0a, 0x0b, 0x0c, 0x0d};
  const uint8_t iv[8] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
  std::memcpy(i.salt, salt, 4);
  std::memcpy(i.iv, iv, 8);
  for (int k = 0; k < 8; k++) i.rec_seq[k] = uint8_t(rec_seq >> (56 - 8 * k));
  return i;
}

struct Rig {
  static constexpr uint32_t kIsn = 0xfffff000u;  // the stream crosses the 32-bit wrap
  static constexpr uint32_t kHandshake = 200;

  HostMemory mem;
  FakeNic nic;
  DriverConfig cfg;
  std::unique_ptr<Mlx5eTx> drv;
  size_t baseline = 0;
  FakeTcp tcp{mem, kIsn};
  CryptoInfo info;
  std::unique_ptr<KtlsTxContext> kctx;
  std::unique_ptr<TlsOffloadCtxTx> ktls;
  host::trace::FlowAddr addr;
  uint32_t start = 0;  // start_offload_tcp_sn
  uint16_t seen_pc = 0, nic_pc = 0;
  uint32_t cq_pi = 0;
  uint16_t ip_id = 1;

  explicit Rig(TlsVersion v = TlsVersion::tls12, Cipher c = Cipher::aes128gcm, uint32_t sq_size = 1024,
               uint32_t mtu = 1500, uint32_t cq_size = 256, uint64_t rec_seq = 0x00000000fffffffeull) {
    cfg.sq_size_wqebbs = sq_size;
    cfg.cq_size = cq_size;
    cfg.mtu_bytes = mtu;
    drv = std::make_unique<Mlx5eTx>(mem, nic, cfg);
    baseline = mem.live_regions();
    addr.src_mac = {2, 0, 0, 0, 0, 1};
    addr.dst_mac = {2, 0, 0, 0, 0, 2};
    addr.src_ip = host::trace::IpAddr::v4(10, 0, 0, 1);
    addr.dst_ip = host::trace::IpAddr::v4(10, 0, 0, 2);
    addr.src_port = 443;
    addr.dst_port = 40000;
    tcp.write_plain(kHandshake);
    info = make_info(v, c, rec_seq);
    kctx = std::make_unique<KtlsTxContext>(*drv, drv->sq_for_flow(0));
    ktls = std::make_unique<TlsOffloadCtxTx>(mem, tcp, TlsOffloadCtxTx::Options{});
    kctx->set_tls_ctx(ktls.get());
    REQUIRE(ktls->tls_set_device_offload(info, kctx.get()) == 0);
    start = kIsn + kHandshake;
  }
  ~Rig() {
    ktls.reset();  // tls_dev_del through kctx, while the driver still exists
    kctx.reset();
  }
  const SqCreateParams& sqp(uint16_t sqn = 0) const { return nic.sqs.at(sqn); }

  // Application writes: one record of n data bytes per call; returns its TCP chunk.
  FakeTcp::Chunk write_record(size_t n) {
    std::vector<uint8_t> d(n);
    for (size_t i = 0; i < n; i++) d[i] = uint8_t(i * 7 + n);
    REQUIRE(ktls->sendmsg(d.data(), n, 0) == long(n));
    return tcp.chunks.back();
  }
  // The skb TCP would build for [seq, seq + len): frags taken from the queued chunks.
  Segment seg(uint32_t seq, uint32_t len, uint16_t gso = 0, bool decrypted = true) const {
    Segment s;
    s.seq = seq;
    s.ack = 0x12345678;
    s.flags = kTcpAck | kTcpPsh;
    s.window = 1000;
    s.tsval = 0xaabbccdd;
    s.tsecr = 0x11223344;
    s.payload_len = len;
    s.gso_size = gso;
    s.decrypted = decrypted;
    for (const auto& c : tcp.chunks) {
      // Overlap of [seq, seq+len) with [c.seq, c.seq+c.len), wrap-safe offsets from c.seq.
      const int64_t a = int32_t(seq - c.seq), b = a + len;
      const int64_t lo = std::max<int64_t>(a, 0), hi = std::min<int64_t>(b, c.len);
      if (hi > lo) s.frags.push_back({c.addr + uint64_t(lo), uint32_t(hi - lo)});
    }
    return s;
  }
  XmitResult xmit(const Segment& s, bool with_ktls = true) {
    SkbMeta m;
    m.addr = &addr;
    m.ip_id = ip_id;
    m.ktls = with_ktls ? kctx.get() : nullptr;
    XmitResult r = drv->xmit(s, m);
    if (r == XmitResult::sent) ip_id = uint16_t(ip_id + 1);
    return r;
  }
  uint16_t pc() const { return nic.doorbells.empty() ? 0 : nic.doorbells.back().pc; }

  Wqe read_wqe(uint16_t pi, uint16_t sqn = 0) const {
    const SqCreateParams& p = sqp(sqn);
    Wqe w;
    w.pi = pi;
    const uint64_t a = p.ring_addr + uint64_t(pi & (p.size_wqebbs - 1)) * kWqebbBytes;
    mem.read(a, &w.ctrl, sizeof w.ctrl);
    w.wqebbs = uint16_t(wqebbs_for_ds(w.ctrl.ds_count));
    REQUIRE(w.wqebbs >= 1);
    // ptr() throws unless the whole WQE lies inside the ring: no WQE wraps.
    REQUIRE((pi & (p.size_wqebbs - 1)) + w.wqebbs <= p.size_wqebbs);
    const uint8_t* b = mem.ptr(a, size_t(w.wqebbs) * kWqebbBytes);
    const size_t bytes = size_t(w.ctrl.ds_count) * kDsBytes;
    switch (w.op()) {
      case Opcode::umr:
        REQUIRE(bytes == sizeof(UmrStaticParamsWqe));
        std::memcpy(&w.sp, b + offsetof(UmrStaticParamsWqe, params), sizeof w.sp);
        break;
      case Opcode::set_psv:
        REQUIRE(bytes == sizeof(SetPsvProgressParamsWqe));
        std::memcpy(&w.pp, b + sizeof(CtrlSeg), sizeof w.pp);
        break;
      case Opcode::dump: {
        REQUIRE(bytes == sizeof(DumpWqe));
        DataSeg d;
        std::memcpy(&d, b + sizeof(CtrlSeg), sizeof d);
        w.segs.push_back(d);
        break;
      }
      case Opcode::send:
      case Opcode::lso: {
        std::memcpy(&w.eth, b + kDsBytes, sizeof w.eth);
        w.hdr.assign(b + 2 * kDsBytes, b + 2 * kDsBytes + w.eth.inline_hdr_sz);
        for (size_t off = (2 + ds_for_bytes(w.eth.inline_hdr_sz)) * kDsBytes; off < bytes; off += kDsBytes) {
          DataSeg d;
          std::memcpy(&d, b + off, sizeof d);
          w.segs.push_back(d);
        }
        break;
      }
      default:
        break;
    }
    return w;
  }
  // WQEs posted since the last call (up to the last doorbell).
  std::vector<Wqe> posted(uint16_t sqn = 0) {
    std::vector<Wqe> v;
    uint16_t end = 0;
    for (const auto& d : nic.doorbells)
      if (d.sqn == sqn) end = d.pc;
    while (seen_pc != end) {
      v.push_back(read_wqe(seen_pc, sqn));
      REQUIRE(v.back().ctrl.wqe_index == seen_pc);
      REQUIRE(v.back().ctrl.sqn == sqn);
      seen_pc = uint16_t(seen_pc + v.back().wqebbs);
    }
    return v;
  }
  // The NIC finishes every WQE up to `upto` in order, writing a CQE for each that asked for one
  // (and polling after each, or once at the end).
  int complete(uint16_t upto, bool poll_each = true, uint16_t sqn = 0) {
    int cqes = 0;
    const SqCreateParams& p = sqp(sqn);
    while (nic_pc != upto) {
      Wqe w = read_wqe(nic_pc, sqn);
      if (w.cq()) {
        Cqe c{};
        c.opcode = kCqeReq;
        c.wqe_counter = w.ctrl.wqe_index;
        c.sqn = sqn;
        c.timestamp_ns = 1000 + cq_pi;
        mem.write(p.cq_addr + uint64_t(cq_pi & (p.cq_size - 1)) * sizeof(Cqe), &c, sizeof c);
        if (poll_each) drv->poll_cq(sqn, cq_pi);
        cq_pi++;
        cqes++;
      }
      nic_pc = uint16_t(nic_pc + w.wqebbs);
    }
    if (!poll_each && cqes) drv->poll_cq(sqn, cq_pi - 1);
    return cqes;
  }
};

std::vector<uint8_t> expected_hdr(const Rig& r, const Segment& s, uint16_t ip_id) {
  host::trace::TcpHeaderFields h;
  h.seq = s.seq;
  h.ack = s.ack;
  h.flags = s.flags;
  h.window = s.window;
  h.has_ts = s.has_ts;
  h.tsval = s.tsval;
  h.tsecr = s.tsecr;
  h.ip_id = ip_id;
  return host::trace::build_headers(r.addr, h, s.payload_len, false);
}

uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

void check_static(const Wqe& w, const Rig& r, uint64_t rcd_sn, bool fence) {
  CHECK(w.op() == Opcode::umr);
  CHECK(w.ctrl.opmod == kOpmodTlsStaticParams);
  CHECK(w.ctrl.ds_count == 12);
  CHECK(w.wqebbs == 3);
  CHECK(w.fenced() == fence);
  CHECK_FALSE(w.cq());
  CHECK(w.ctrl.tis_num == r.kctx->tisn());
  CHECK(w.sp.const_2 == 2);
  CHECK(w.sp.const_1 == 1);
  CHECK(w.sp.encryption_standard == 1);
  const bool v12 = r.info.version == TlsVersion::tls12;
  CHECK(w.sp.tls_version == (v12 ? kTlsVersion12 : kTlsVersion13));
  CHECK(w.sp.dek_index == r.nic.next_dek - 1);
  CHECK(be64(w.sp.initial_record_number) == rcd_sn);
  CHECK(w.sp.resync_tcp_sn == 0);
  CHECK(std::memcmp(w.sp.gcm_iv, r.info.salt, 4) == 0);
  const uint8_t zero[8] = {};
  CHECK(std::memcmp(w.sp.implicit_iv, v12 ? zero : r.info.iv, 8) == 0);
}

void check_progress(const Wqe& w, const Rig& r, bool fence) {
  CHECK(w.op() == Opcode::set_psv);
  CHECK(w.ctrl.opmod == kOpmodTlsProgressParams);
  CHECK(w.ctrl.ds_count == 4);
  CHECK(w.fenced() == fence);
  CHECK_FALSE(w.cq());
  CHECK(w.ctrl.tis_num == r.kctx->tisn());
  CHECK(w.pp.tis_tir_num == r.kctx->tisn());
  CHECK(w.pp.next_record_tcp_sn == 0);
  CHECK(w.pp.record_tracker_state == uint8_t(RecordTrackerState::start));
  CHECK(w.pp.auth_state == uint8_t(AuthState::no_offload));
  CHECK(w.pp.hw_offset_record_number == 0);
}

void check_fence_nop(const Wqe& w) {
  CHECK(w.op() == Opcode::nop);
  CHECK(w.wqebbs == 1);
  CHECK(w.fenced());
  CHECK_FALSE(w.cq());
  CHECK(w.ctrl.tis_num == 0);
}

void check_data(const Wqe& w, const Rig& r, const Segment& s, uint16_t ip_id, uint32_t tis) {
  const bool lso = s.gso_size && s.payload_len > s.gso_size;
  CHECK(w.op() == (lso ? Opcode::lso : Opcode::send));
  CHECK(w.ctrl.tis_num == tis);
  CHECK(w.cq());
  CHECK_FALSE(w.fenced());
  CHECK(w.eth.cs_flags == (kCsumL3 | kCsumL4));
  CHECK(w.eth.mss == (lso ? s.gso_size : 0));
  CHECK(w.hdr == expected_hdr(r, s, ip_id));
  CHECK(w.ctrl.ds_count == 2 + ds_for_bytes(w.hdr.size()) + s.frags.size());
  REQUIRE(w.segs.size() == s.frags.size());
  for (size_t i = 0; i < s.frags.size(); i++) {
    CHECK(w.segs[i].addr == s.frags[i].addr);
    CHECK(w.segs[i].byte_count == s.frags[i].len);
  }
}

// DUMPs must replay exactly [record start, seq) of the record image, in order, ≤ hw_mtu each.
void check_dumps(const std::vector<Wqe>& w, size_t from, size_t n, const Rig& r, uint64_t rec_addr,
                 uint32_t sync_len) {
  const uint32_t hw_mtu = r.cfg.mtu_bytes + 22;
  REQUIRE(n == (sync_len + hw_mtu - 1) / hw_mtu);
  uint64_t next = rec_addr;
  for (size_t i = from; i < from + n; i++) {
    INFO("DUMP " << i - from);
    CHECK(w[i].op() == Opcode::dump);
    CHECK(w[i].ctrl.ds_count == 2);
    CHECK(w[i].wqebbs == 1);
    CHECK(w[i].cq());
    CHECK_FALSE(w[i].fenced());
    CHECK(w[i].ctrl.tis_num == r.kctx->tisn());
    REQUIRE(w[i].segs.size() == 1);
    CHECK(w[i].segs[0].addr == next);
    CHECK(w[i].segs[0].byte_count <= hw_mtu);
    CHECK(w[i].segs[0].byte_count > 0);
    next += w[i].segs[0].byte_count;
  }
  CHECK(next == rec_addr + sync_len);
}

}  // namespace

TEST_CASE("driver: create_sq parameters and per-flow SQ choice", "[driver]") {
  HostMemory mem;
  FakeNic nic;
  DriverConfig cfg;
  cfg.num_sqs = 3;
  cfg.sq_size_wqebbs = 256;
  cfg.cq_size = 128;
  Mlx5eTx drv(mem, nic, cfg);
  REQUIRE(nic.sqs.size() == 3);
  for (size_t i = 0; i < 3; i++) {
    const SqCreateParams& p = nic.sqs[i];
    CHECK(p.size_wqebbs == 256);
    CHECK(p.cq_size == 128);
    // Rings and CQs are host memory regions of the full size, 4 KiB aligned.
    CHECK(mem.lookup(p.ring_addr, 256 * kWqebbBytes) != nullptr);
    CHECK(mem.lookup(p.cq_addr, 128 * sizeof(Cqe)) != nullptr);
    CHECK(p.ring_addr % 4096 == 0);
    CHECK(p.cq_addr % 4096 == 0);
    CHECK(drv.ring_room(uint16_t(i)) == 256);
  }
  CHECK(nic.sqs[0].ring_addr != nic.sqs[1].ring_addr);
  CHECK(drv.sq_for_flow(0) == 0);
  CHECK(drv.sq_for_flow(4) == 1);
  CHECK(drv.sq_for_flow(5) == 2);
  CHECK(drv.config().hw_mtu() == 1522);
  CHECK(drv.all_completed());
}

TEST_CASE("driver: first offloaded packet posts STATIC, PROGRESS (fenced), fence NOP, then the data WQE",
          "[driver]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  const Cipher c = GENERATE(Cipher::aes128gcm, Cipher::aes256gcm);
  Rig r(v, c);
  // tls_dev_add: key object and TIS made, nothing posted yet (the context goes in-band).
  CHECK(r.nic.dek_created == 1);
  CHECK(r.nic.tis_created == 1);
  CHECK(r.nic.dek_cipher == c);
  CHECK(std::memcmp(r.nic.dek_key, r.info.key, crypto::key_bytes(c)) == 0);
  CHECK(r.kctx->tisn() == 7);
  CHECK(r.kctx->expected_seq() == r.start);
  CHECK(r.nic.doorbells.empty());
  CHECK(r.drv->stats().tx_tls_ctx == 1);

  const auto& rec = r.write_record(3000);
  CHECK(rec.seq == r.start);
  Segment s = r.seg(r.start, 1448);
  REQUIRE(s.frags.size() == 1);
  CHECK(s.frags[0].addr == rec.addr);
  REQUIRE(r.xmit(s) == XmitResult::sent);
  REQUIRE(r.nic.doorbells.size() == 1);
  CHECK(r.nic.doorbells[0].sqn == 0);
  CHECK(r.nic.doorbells[0].pc == 3 + 1 + 1 + 2);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 4);
  check_static(w[0], r, 0x00000000fffffffeull, /*fence=*/false);
  CHECK(w[0].pi == 0);
  check_progress(w[1], r, /*fence=*/true);
  CHECK(w[1].pi == 3);
  check_fence_nop(w[2]);
  CHECK(w[2].pi == 4);
  check_data(w[3], r, s, 1, r.kctx->tisn());
  CHECK(w[3].pi == 5);
  CHECK(w[3].ctrl.ds_count == 2 + 5 + 1);  // 66-byte headers: 5 DS
  // The doorbell record in host memory holds the producer counter too.
  const EthtoolStats& st = r.drv->stats();
  CHECK(st.tls_static_params_posted == 1);
  CHECK(st.tls_progress_params_posted == 1);
  CHECK(st.tx_nop == 1);
  CHECK(st.tx_tls_encrypted_packets == 1);
  CHECK(st.tx_tls_encrypted_bytes == 1448);
  CHECK(st.tx_packets == 1);
  CHECK(st.tx_bytes == 1448 + 66);
  CHECK(st.tx_tls_ooo == 0);
  CHECK(r.kctx->stats.tx_tls_encrypted_packets == 1);
  CHECK(r.kctx->stats.tls_static_params_posted == 1);
  CHECK(r.kctx->expected_seq() == r.start + 1448);
  CHECK(r.drv->ring_room(0) == 1024 - 7);
  CHECK_FALSE(r.drv->all_completed());
}

TEST_CASE("driver: in-order packets post only a data WQE, TSO counts gso segments, pure ACKs pass", "[driver]") {
  Rig r;
  const auto& r0 = r.write_record(3000);   // image 3029
  const auto& r1 = r.write_record(5000);   // image 5029
  const uint64_t a0 = r0.addr, a1 = r1.addr;
  REQUIRE(r.xmit(r.seg(r.start, 1448)) == XmitResult::sent);
  r.posted();
  // The rest of record 0 and all of record 1 in one TSO skb: two frags, LSO at 1448.
  Segment s = r.seg(r.start + 1448, 1581 + 5029, 1448);
  REQUIRE(s.frags.size() == 2);
  CHECK(s.frags[0].addr == a0 + 1448);
  CHECK(s.frags[0].len == 1581);
  CHECK(s.frags[1].addr == a1);
  CHECK(s.frags[1].len == 5029);
  REQUIRE(r.xmit(s) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 1);
  check_data(w[0], r, s, 2, r.kctx->tisn());
  CHECK(w[0].wqebbs == 3);  // ds 2 + 5 + 2 = 9
  CHECK(r.pc() == 7 + 3);
  const EthtoolStats& st = r.drv->stats();
  CHECK(st.tx_tls_encrypted_packets == 1 + 5);  // ceil(6610 / 1448) = 5
  CHECK(st.tx_tls_encrypted_bytes == 1448 + 6610);
  CHECK(st.tx_tso_packets == 1);
  CHECK(st.tx_tso_bytes == 6610);
  CHECK(st.tx_packets == 1 + 5);
  CHECK(st.tx_bytes == 1448 + 66 + 6610 + 5 * 66);
  CHECK(st.tx_tls_ooo == 0);
  CHECK(st.tls_progress_params_posted == 1);
  CHECK(r.kctx->expected_seq() == r.start + 1448 + 6610);
  // A pure ACK of the offloaded socket: plain WQE, no TIS, no state change.
  Segment ack = r.seg(r.start + 8058, 0, 0, false);
  ack.flags = kTcpAck;
  REQUIRE(r.xmit(ack) == XmitResult::sent);
  w = r.posted();
  REQUIRE(w.size() == 1);
  check_data(w[0], r, ack, 3, 0);
  CHECK(w[0].segs.empty());
  CHECK(st.tx_tls_encrypted_packets == 6);
  CHECK(r.kctx->expected_seq() == r.start + 8058);
}

TEST_CASE("driver: out-of-order packets resync with PROGRESS / STATIC, fence NOP and DUMPs of the record prefix",
          "[driver]") {
  const TlsVersion v = GENERATE(TlsVersion::tls12, TlsVersion::tls13);
  Rig r(v, Cipher::aes128gcm);
  const uint32_t ovh = v == TlsVersion::tls12 ? 29 : 22;
  const uint64_t sn0 = 0x00000000fffffffeull;
  const auto c0 = r.write_record(5000);
  const auto c1 = r.write_record(5000);
  const auto c2 = r.write_record(100);
  const auto c3 = r.write_record(16384);
  const uint64_t a0 = c0.addr, a1 = c1.addr, a3 = c3.addr;
  const uint32_t s1 = c1.seq, s2 = c2.seq, end3 = c3.seq + c3.len;
  CHECK(s1 == r.start + 5000 + ovh);
  // In order: record 0 and the first 3000 bytes of record 1.
  uint32_t seq = r.start;
  while (seq != s1 + 3000) {
    uint32_t n = std::min<uint32_t>(1448, s1 + 3000 - seq);
    REQUIRE(r.xmit(r.seg(seq, n)) == XmitResult::sent);
    seq += n;
  }
  r.posted();
  const EthtoolStats& st = r.drv->stats();
  REQUIRE(st.tx_tls_ooo == 0);

  // 1) Retransmission inside record 0 (the record number last programmed): no STATIC;
  //    PROGRESS fenced, fence NOP, DUMPs of [record 0 start, seq) = 2896 bytes, the packet.
  Segment rt = r.seg(r.start + 2896, 1448);
  REQUIRE(r.xmit(rt) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 1 + 1 + 2 + 1);
  check_progress(w[0], r, /*fence=*/true);
  check_fence_nop(w[1]);
  check_dumps(w, 2, 2, r, a0, 2896);
  CHECK(w[2].segs[0].byte_count == 1522);
  CHECK(w[3].segs[0].byte_count == 1374);
  check_data(w[4], r, rt, r.ip_id - 1, r.kctx->tisn());
  CHECK(st.tx_tls_ooo == 1);
  CHECK(st.tls_resyncs == 1);
  CHECK(st.tls_resync_prefix_bytes == 2896);
  CHECK(st.tls_static_params_posted == 1);
  CHECK(st.tls_progress_params_posted == 2);
  CHECK(st.tx_tls_dump_packets == 0);  // counted at completion
  CHECK(st.tx_tls_encrypted_packets == 6 + 1);
  CHECK(r.kctx->expected_seq() == r.start + 2896 + 1448);
  CHECK(r.kctx->stats.tx_tls_ooo == 1);

  // 2) New data resumes after record 1's first 3000 bytes: out of order again (the expected
  //    seq followed the retransmission); record 1 != programmed → STATIC fenced with record
  //    number sn0 + 1, PROGRESS not fenced, fence NOP, DUMPs of the 3000 bytes (header
  //    included) before the packet.
  Segment nd = r.seg(s1 + 3000, 1448);
  REQUIRE(r.xmit(nd) == XmitResult::sent);
  w = r.posted();
  REQUIRE(w.size() == 1 + 1 + 1 + 2 + 1);
  check_static(w[0], r, sn0 + 1, /*fence=*/true);
  check_progress(w[1], r, /*fence=*/false);
  check_fence_nop(w[2]);
  check_dumps(w, 3, 2, r, a1, 3000);
  check_data(w[5], r, nd, r.ip_id - 1, r.kctx->tisn());
  CHECK(st.tx_tls_ooo == 2);
  CHECK(st.tls_static_params_posted == 2);
  CHECK(st.tls_resync_prefix_bytes == 2896 + 3000);

  // 3) A retransmission starting exactly at record 1's header: same record number (no
  //    STATIC), no DUMP at all.
  Segment at = r.seg(s1, 1448);
  REQUIRE(r.xmit(at) == XmitResult::sent);
  w = r.posted();
  REQUIRE(w.size() == 3);
  check_progress(w[0], r, true);
  check_fence_nop(w[1]);
  check_data(w[2], r, at, r.ip_id - 1, r.kctx->tisn());
  CHECK(st.tls_resync_prefix_bytes == 2896 + 3000);
  CHECK(st.tls_resyncs == 3);

  // 4) A packet starting inside record 1's tag placeholder (5 bytes before its end) running
  //    into record 2: the DUMPs cover the whole payload and part of the placeholder.
  Segment tg = r.seg(s2 - 5, 5 + 50);
  REQUIRE(tg.frags.size() == 2);
  REQUIRE(r.xmit(tg) == XmitResult::sent);
  w = r.posted();
  const uint32_t sync1 = c1.len - 5;  // 5024 (1.2) / 5017 (1.3)
  REQUIRE(w.size() == 2 + 4 + 1);  // same record number: no STATIC; ceil(sync / 1522) = 4 DUMPs
  check_progress(w[0], r, true);
  check_fence_nop(w[1]);
  check_dumps(w, 2, 4, r, a1, sync1);
  check_data(w[6], r, tg, r.ip_id - 1, r.kctx->tisn());
  CHECK(st.tls_resync_prefix_bytes == 2896 + 3000 + sync1);

  // 5) The last byte of a full 16384-byte record: 11 DUMPs of at most 1522 bytes replay the
  //    16412 (1.2) / 16405 (1.3) bytes before it. Record number sn0 + 3 → STATIC.
  Segment last = r.seg(end3 - 1, 1);
  REQUIRE(r.xmit(last) == XmitResult::sent);
  w = r.posted();
  const uint32_t sync3 = c3.len - 1;
  REQUIRE(w.size() == 3 + 11 + 1);
  check_static(w[0], r, sn0 + 3, true);
  check_progress(w[1], r, false);
  check_fence_nop(w[2]);
  check_dumps(w, 3, 11, r, a3, sync3);
  for (size_t i = 3; i < 13; i++) CHECK(w[i].segs[0].byte_count == 1522);
  CHECK(w[13].segs[0].byte_count == sync3 - 10 * 1522);
  check_data(w[14], r, last, r.ip_id - 1, r.kctx->tisn());
  CHECK(st.tx_tls_ooo == 5);
  CHECK(st.tls_resyncs == 5);
  CHECK(st.tls_static_params_posted == 3);
  CHECK(st.tls_progress_params_posted == 6);
  CHECK(st.tls_resync_prefix_bytes == 2896 + 3000 + sync1 + sync3);
  CHECK(r.kctx->stats.tls_resync_prefix_bytes == st.tls_resync_prefix_bytes);
  CHECK(r.kctx->expected_seq() == end3);

  // Completion: every DUMP counted once, with its bytes.
  r.complete(r.pc());
  CHECK(st.tx_tls_dump_packets == 2 + 2 + 4 + 11);
  CHECK(st.tx_tls_dump_bytes == 2896 + 3000 + sync1 + sync3);
  CHECK(r.kctx->stats.tx_tls_dump_bytes == st.tx_tls_dump_bytes);
  CHECK(st.tx_tls_resync_bytes == 0);  // exported by mlx5, never incremented by ConnectX kTLS
  CHECK(r.drv->all_completed());
  CHECK(r.drv->ring_room(0) == 1024);
}

TEST_CASE("driver: jumbo MTU cuts DUMPs at hw_mtu = 9022", "[driver]") {
  Rig r(TlsVersion::tls12, Cipher::aes256gcm, 1024, 9000);
  const auto c0 = r.write_record(16384);
  const uint64_t a0 = c0.addr;
  REQUIRE(r.xmit(r.seg(r.start, 1000)) == XmitResult::sent);
  r.posted();
  Segment s = r.seg(r.start + 16000, 413);
  REQUIRE(r.xmit(s) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 2 + 2 + 1);
  check_dumps(w, 2, 2, r, a0, 16000);
  CHECK(w[2].segs[0].byte_count == 9022);
  CHECK(w[3].segs[0].byte_count == 16000 - 9022);
}

TEST_CASE("driver: pre-offload packets bypass, decrypted ones and straddlers drop, ACKed data drops", "[driver]") {
  Rig r;
  const auto c0 = r.write_record(3000);
  const uint32_t end0 = c0.seq + c0.len;
  const EthtoolStats& st = r.drv->stats();
  // A retransmission of the handshake (written before the key, decrypted = false) comes first:
  // the context is still programmed in-band, then the packet goes out without the TIS.
  Segment hs = r.seg(Rig::kIsn + 50, 150, 0, false);
  REQUIRE(hs.frags.size() == 1);
  REQUIRE(r.xmit(hs) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 4);
  check_static(w[0], r, 0x00000000fffffffeull, false);
  check_progress(w[1], r, true);
  check_fence_nop(w[2]);
  check_data(w[3], r, hs, 1, /*tis=*/0);
  CHECK(st.tx_tls_ooo == 1);
  CHECK(st.tx_tls_skip_no_sync_data == 1);
  CHECK(st.tx_tls_encrypted_packets == 0);
  CHECK(r.kctx->expected_seq() == r.start);  // unchanged
  // The same bytes marked decrypted would leave as plaintext: dropped.
  Segment hs_dec = r.seg(Rig::kIsn + 50, 150, 0, true);
  const uint16_t pc_before = r.pc();
  CHECK(r.xmit(hs_dec) == XmitResult::dropped);
  CHECK(r.posted().empty());
  CHECK(r.pc() == pc_before);
  CHECK(st.tx_tls_ooo == 2);
  CHECK(st.tx_tls_skip_no_sync_data == 2);
  CHECK(st.tx_tls_drop_no_sync_data == 0);
  // Straddling the start marker: dropped (counted as drop_no_sync_data, not drop_bypass_req).
  Segment st_ = r.seg(r.start - 100, 200);
  REQUIRE(st_.frags.size() == 2);
  CHECK(r.xmit(st_) == XmitResult::dropped);
  CHECK(r.posted().empty());
  CHECK(st.tx_tls_drop_no_sync_data == 1);
  CHECK(st.tx_tls_drop_bypass_req == 0);
  CHECK(st.tx_tls_ooo == 3);
  // The packet ending on the marker's last pre-offload byte is entirely before it: bypass.
  Segment edge = r.seg(r.start - 10, 10, 0, false);
  CHECK(r.xmit(edge) == XmitResult::sent);
  w = r.posted();
  REQUIRE(w.size() == 1);
  CHECK(w[0].ctrl.tis_num == 0);
  CHECK(st.tx_tls_skip_no_sync_data == 3);
  // In order from the offload start: encrypted, no resync WQEs.
  Segment first = r.seg(r.start, c0.len);
  CHECK(r.xmit(first) == XmitResult::sent);
  w = r.posted();
  REQUIRE(w.size() == 1);
  check_data(w[0], r, first, r.ip_id - 1, r.kctx->tisn());
  CHECK(st.tls_resyncs == 0);
  // Record 0 ACKed (and the marker with it): a late retransmission of it finds no record.
  const auto c1 = r.write_record(100);
  REQUIRE(r.xmit(r.seg(c1.seq, c1.len)) == XmitResult::sent);
  r.posted();
  r.ktls->clean_acked(end0);
  CHECK(r.ktls->records_in_list() == 1);
  Segment late = r.seg(r.start + 1000, 500);
  CHECK(r.xmit(late) == XmitResult::dropped);
  CHECK(r.posted().empty());
  CHECK(st.tx_tls_drop_no_sync_data == 2);
  CHECK(st.tx_tls_ooo == 5);
  // A pre-offload packet once the marker is gone: no record at all → drop as well.
  Segment old = r.seg(Rig::kIsn, 100, 0, false);
  CHECK(r.xmit(old) == XmitResult::dropped);
  CHECK(st.tx_tls_drop_no_sync_data == 3);
  CHECK(st.tls_resyncs == 0);
  CHECK(st.tx_tls_dump_packets == 0);
}

TEST_CASE("driver: decrypted skb without an offload context is dropped, plain skbs pass", "[driver]") {
  Rig r;
  r.write_record(100);
  Segment s = r.seg(r.start, 129);
  CHECK(r.xmit(s, /*with_ktls=*/false) == XmitResult::dropped);
  CHECK(r.nic.doorbells.empty());
  s.decrypted = false;
  CHECK(r.xmit(s, false) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 1);  // no context WQEs: the socket is not offloaded on this path
  check_data(w[0], r, s, 1, 0);
  CHECK(r.drv->stats().tx_tls_ooo == 0);
}

TEST_CASE("driver: completions count DUMPs, release host memory, free the ring", "[driver]") {
  const bool poll_each = GENERATE(true, false);
  Rig r;
  const auto c0 = r.write_record(4000);
  const auto c1 = r.write_record(2000);
  const uint64_t a0 = c0.addr, a1 = c1.addr;
  const uint32_t end1 = c1.seq + c1.len;
  REQUIRE(r.xmit(r.seg(r.start, 4029 + 2029)) == XmitResult::sent);
  // Retransmission inside record 0: resync of 3500 bytes (3 DUMPs). Its payload comes from a
  // copy, so that only the DUMPs keep record 0 alive once it is ACKed.
  Segment rt = r.seg(r.start + 3500, 500);
  REQUIRE(rt.frags.size() == 1);
  const uint64_t copy = r.mem.alloc(500);
  r.mem.write(copy, r.mem.ptr(rt.frags[0].addr, 500), 500);
  rt.frags[0].addr = copy;
  REQUIRE(r.xmit(rt) == XmitResult::sent);
  r.mem.release(copy);  // the driver holds its own reference
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 4 + 2 + 3 + 1);
  const EthtoolStats& st = r.drv->stats();
  CHECK(st.tx_tls_dump_packets == 0);
  CHECK(st.tx_tls_dump_bytes == 0);
  // Everything is ACKed and TCP drops its references: the records stay readable while WQEs
  // that point into them are in flight (the DUMPs and data WQEs hold their own references).
  r.ktls->clean_acked(end1);
  r.tcp.release_all();
  CHECK(r.ktls->records_in_list() == 0);
  CHECK(r.mem.lookup(a0, 4029) != nullptr);
  CHECK(r.mem.lookup(a1, 2029) != nullptr);
  CHECK(r.mem.live_regions() == r.baseline + 3);
  CHECK(r.drv->ring_room(0) == 1024u - r.pc());
  // The NIC completes the first data WQE (and the WQEs before it): record 1's last reference
  // goes, record 0 is still held by the DUMPs.
  const uint16_t after_first = uint16_t(w[3].pi + w[3].wqebbs);
  CHECK(r.complete(after_first, poll_each) == 1);
  CHECK(r.mem.lookup(a1, 1) == nullptr);
  CHECK(r.mem.lookup(a0, 1) != nullptr);
  CHECK(st.tx_tls_dump_packets == 0);
  CHECK(st.tx_cqes == 1);
  CHECK(r.drv->ring_room(0) == 1024u - uint16_t(r.pc() - after_first));
  // Two of the three DUMPs.
  const uint16_t after_two_dumps = uint16_t(w[7].pi + 1);
  CHECK(r.complete(after_two_dumps, poll_each) == 2);
  CHECK(st.tx_tls_dump_packets == 2);
  CHECK(st.tx_tls_dump_bytes == 1522 * 2);
  CHECK(r.mem.lookup(a0, 1) != nullptr);
  // The last DUMP: record 0 goes; the retransmission's payload is still in flight.
  CHECK(r.complete(uint16_t(w[8].pi + 1), poll_each) == 1);
  CHECK(st.tx_tls_dump_packets == 3);
  CHECK(st.tx_tls_dump_bytes == 3500);
  CHECK(r.mem.lookup(a0, 1) == nullptr);
  CHECK(r.mem.lookup(copy, 500) != nullptr);
  // The rest.
  CHECK(r.complete(r.pc(), poll_each) == 1);
  CHECK(r.mem.lookup(copy, 1) == nullptr);
  CHECK(st.tx_cqes == 5);
  CHECK(st.tx_cqe_err == 0);
  CHECK(r.mem.live_regions() == r.baseline);
  CHECK(r.drv->all_completed());
  CHECK(r.drv->ring_room(0) == 1024);
}

TEST_CASE("driver: an error CQE completes the WQEs and is counted", "[driver]") {
  Rig r;
  r.write_record(500);
  REQUIRE(r.xmit(r.seg(r.start, 529)) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  const SqCreateParams& p = r.sqp();
  Cqe c{};
  c.opcode = kCqeReqErr;
  c.syndrome = uint8_t(CqeSyndrome::tls_bad_record);
  c.wqe_counter = w.back().ctrl.wqe_index;
  r.mem.write(p.cq_addr, &c, sizeof c);
  r.drv->poll_cq(0, 0);
  CHECK(r.drv->stats().tx_cqes == 1);
  CHECK(r.drv->stats().tx_cqe_err == 1);
  CHECK(r.drv->all_completed());
}

TEST_CASE("driver: queue stops below the stop room and wakes when completions free it", "[driver]") {
  // Stop room at MTU 1500 (hw_mtu 1522): STATIC 3 + PROGRESS 1 + NOP 1 + DUMPs
  // (ceil((16384 + 29) / 1522) = 11, + 1) + twice the largest data WQE (2 + 16 + 32 DS = 13
  // WQEBBs) = 43. A 64-WQEBB ring takes plain 2-WQEBB sends while room >= 43.
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 64);
  std::vector<uint16_t> woken;
  r.drv->on_wake = [&](uint16_t sqn) { woken.push_back(sqn); };
  const uint64_t buf = r.mem.alloc(100);
  auto plain = [&](uint32_t seq) {
    Segment s;
    s.seq = seq;
    s.flags = kTcpAck;
    s.payload_len = 100;
    s.frags.push_back({buf, 100});
    return s;
  };
  int sent = 0;
  while (r.xmit(plain(uint32_t(sent) * 100), false) == XmitResult::sent) sent++;
  CHECK(sent == 11);  // room 64 - 2k >= 43 for k = 0..10
  CHECK(r.drv->ring_room(0) == 42);
  CHECK(r.drv->stats().tx_queue_stopped == 1);
  CHECK(r.xmit(plain(5000), false) == XmitResult::busy);
  CHECK(r.drv->stats().tx_queue_stopped == 1);  // counted once per stop
  CHECK(r.pc() == 22);
  CHECK(woken.empty());
  // One completion frees 2 WQEBBs: room 44 >= 43 → wake.
  r.complete(2);
  CHECK(woken == std::vector<uint16_t>{0});
  CHECK(r.drv->stats().tx_queue_wake == 1);
  CHECK(r.xmit(plain(6000), false) == XmitResult::sent);
  // Further completions do not wake a queue that is not stopped.
  r.complete(r.pc());
  CHECK(woken.size() == 1);
  CHECK(r.drv->ring_room(0) == 64);
}

TEST_CASE("driver: ring edge is padded with a NOP so that no WQE wraps", "[driver]") {
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 64);
  const uint64_t buf = r.mem.alloc(300);
  auto plain = [&](int frags) {
    Segment s;
    s.flags = kTcpAck;
    for (int i = 0; i < frags; i++) s.frags.push_back({buf + 100 * uint64_t(i), 100});
    s.payload_len = 100 * uint32_t(frags);
    return s;
  };
  // 31 two-WQEBB sends bring pc to 62, completing as we go.
  for (int i = 0; i < 31; i++) {
    REQUIRE(r.xmit(plain(1), false) == XmitResult::sent);
    r.complete(r.pc());
  }
  r.posted();
  REQUIRE(r.pc() == 62);
  // A 3-WQEBB send (two frags: ds 9) does not fit in the 2 blocks left: NOP(2) at 62, send at 64.
  REQUIRE(r.xmit(plain(2), false) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 2);
  CHECK(w[0].op() == Opcode::nop);
  CHECK(w[0].pi == 62);
  CHECK(w[0].wqebbs == 2);
  CHECK(w[0].ctrl.ds_count == 8);
  CHECK_FALSE(w[0].fenced());
  CHECK_FALSE(w[0].cq());
  CHECK(w[1].op() == Opcode::send);
  CHECK(w[1].pi == 64);
  CHECK(w[1].wqebbs == 3);
  CHECK(r.drv->stats().tx_nop == 1);
  CHECK(r.pc() == 67);
  r.complete(r.pc());
  CHECK(r.drv->ring_room(0) == 64);
  // A WQE that fits exactly up to the ring end needs no NOP: pc 67 → 2-block sends up to 127,
  // then the offloaded context (STATIC 3 blocks) at 127 gets a 1-block edge NOP first.
  for (int i = 0; i < 30; i++) {
    REQUIRE(r.xmit(plain(1), false) == XmitResult::sent);
    r.complete(r.pc());
  }
  r.posted();
  REQUIRE(r.pc() == 127);
  CHECK(r.drv->stats().tx_nop == 1);
  r.write_record(100);
  REQUIRE(r.xmit(r.seg(r.start, 129)) == XmitResult::sent);
  w = r.posted();
  REQUIRE(w.size() == 5);
  CHECK(w[0].op() == Opcode::nop);
  CHECK(w[0].pi == 127);
  CHECK(w[0].wqebbs == 1);
  CHECK_FALSE(w[0].fenced());
  check_static(w[1], r, 0x00000000fffffffeull, false);
  CHECK(w[1].pi == 128);
  check_progress(w[2], r, true);
  check_fence_nop(w[3]);
  CHECK(w[4].op() == Opcode::send);
  r.complete(r.pc());
  CHECK(r.drv->all_completed());
  CHECK(r.drv->ring_room(0) == 64);
}

TEST_CASE("driver: more frags than a WQE takes are linearized into a bounce buffer, freed at completion",
          "[driver]") {
  Rig r;
  std::vector<uint64_t> bufs;
  Segment s;
  s.flags = kTcpAck;
  for (uint32_t i = 0; i < kMaxWqeDataSegs + 8; i++) {
    uint64_t a = r.mem.alloc(10);
    for (int k = 0; k < 10; k++) r.mem.ptr(a)[k] = uint8_t(i * 10 + uint32_t(k));
    bufs.push_back(a);
    s.frags.push_back({a, 10});
  }
  s.payload_len = 400;
  const size_t live = r.mem.live_regions();
  REQUIRE(r.xmit(s, false) == XmitResult::sent);
  std::vector<Wqe> w = r.posted();
  REQUIRE(w.size() == 1);
  REQUIRE(w[0].segs.size() == 1);
  CHECK(w[0].segs[0].byte_count == 400);
  const uint8_t* b = r.mem.ptr(w[0].segs[0].addr, 400);
  for (uint32_t i = 0; i < 400; i++) CHECK(b[i] == uint8_t(i));
  CHECK(r.drv->stats().linearized == 1);
  CHECK(r.mem.live_regions() == live + 1);
  r.complete(r.pc());
  CHECK(r.mem.live_regions() == live);  // the bounce buffer is gone; the frags were never held
  for (uint64_t a : bufs) r.mem.release(a);
}

TEST_CASE("driver: a context on another SQ posts and rings there, tls_dev_del frees TIS and DEK", "[driver]") {
  HostMemory mem;
  FakeNic nic;
  DriverConfig cfg;
  cfg.num_sqs = 2;
  Mlx5eTx drv(mem, nic, cfg);
  FakeTcp tcp(mem, 1000);
  {
    KtlsTxContext k(drv, drv.sq_for_flow(3));
    TlsOffloadCtxTx ktls(mem, tcp, TlsOffloadCtxTx::Options{});
    k.set_tls_ctx(&ktls);
    REQUIRE(ktls.tls_set_device_offload(make_info(TlsVersion::tls12, Cipher::aes128gcm, 9), &k) == 0);
    std::vector<uint8_t> d(10, 1);
    REQUIRE(ktls.sendmsg(d.data(), d.size(), 0) == 10);
    host::trace::FlowAddr a;
    a.src_ip = host::trace::IpAddr::v4(1, 2, 3, 4);
    a.dst_ip = host::trace::IpAddr::v4(5, 6, 7, 8);
    Segment s;
    s.seq = 1000;
    s.flags = kTcpAck;
    s.payload_len = 39;
    s.decrypted = true;
    s.frags.push_back({tcp.chunks[0].addr, 39});
    SkbMeta m;
    m.addr = &a;
    m.ktls = &k;
    REQUIRE(drv.xmit(s, m) == XmitResult::sent);
    REQUIRE(nic.doorbells.size() == 1);
    CHECK(nic.doorbells[0].sqn == 1);
    CHECK(nic.doorbells[0].pc == 7);
    CHECK(drv.ring_room(1) == 1024 - 7);
    CHECK(drv.ring_room(0) == 1024);
    CtrlSeg c;
    mem.read(nic.sqs[1].ring_addr, &c, sizeof c);
    CHECK(c.opcode == uint8_t(Opcode::umr));
    CHECK(c.sqn == 1);
    CHECK(nic.tis_destroyed.empty());
  }
  // The socket went away: tls_dev_del destroyed the TIS and the key object once.
  CHECK(nic.tis_destroyed == std::vector<uint32_t>{7});
  CHECK(nic.dek_destroyed == std::vector<uint32_t>{100});
  CHECK(drv.stats().tx_tls_del == 1);
}

TEST_CASE("driver: the 16-bit producer counter and the CQ index wrap cleanly", "[driver]") {
  // 64-WQEBB ring, 16-entry CQ: 2- and 3-WQEBB sends (edge NOPs at varying places) until the
  // producer counter has wrapped past 65536; every WQE is read back where the counter says.
  Rig r(TlsVersion::tls12, Cipher::aes128gcm, 64, 1500, 16);
  const uint64_t buf = r.mem.alloc(200);
  uint32_t total = 0, sends = 0, nops = 0;
  uint64_t pcs = 0;
  while (total < 65536 + 200) {
    Segment s;
    s.flags = kTcpAck;
    const int frags = 1 + int(sends % 3 == 0);
    for (int i = 0; i < frags; i++) s.frags.push_back({buf + 100 * uint64_t(i), 100});
    s.payload_len = 100 * uint32_t(frags);
    REQUIRE(r.xmit(s, false) == XmitResult::sent);
    sends++;
    for (const Wqe& w : r.posted()) {
      total += w.wqebbs;
      if (w.op() == Opcode::nop) {
        nops++;
        CHECK(uint32_t(w.pi & 63) + w.wqebbs == 64);  // only ever at the ring edge
      } else {
        REQUIRE(w.op() == Opcode::send);
        CHECK(w.wqebbs == (frags == 2 ? 3 : 2));
      }
    }
    pcs = total;
    r.complete(r.pc(), sends % 2 == 0);
    REQUIRE(r.drv->ring_room(0) == 64);
  }
  CHECK(r.pc() == uint16_t(pcs));
  CHECK(nops > 0);
  CHECK(r.drv->stats().tx_nop == nops);
  CHECK(r.drv->stats().tx_cqes == sends);
  CHECK(r.drv->all_completed());
  CHECK(r.drv->stats().tx_queue_stopped == 0);
}
