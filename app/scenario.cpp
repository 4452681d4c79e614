#include "app/scenario.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <queue>

#include <systemc>

#include "app/host_bridge.h"
#include "app/payload.h"
#include "app/stats.h"
#include "host/driver/mlx5e_tx.h"
#include "host/ktls/tls_device.h"
#include "host/mem/host_memory.h"
#include "host/peer/tls_endpoint.h"
#include "host/tcp/link.h"
#include "host/tcp/tcp.h"
#include "host/trace/capture.h"
#include "host/trace/packet.h"
#include "model/sc/nic_top.h"

namespace nicsim::app {

using sim::TimePs;
namespace tcp = host::tcp;
namespace trace = host::trace;
namespace ktls = host::ktls;
namespace drv = host::driver;

namespace {

constexpr uint16_t kServerPort = 443;
constexpr uint16_t kClientPortBase = 40000;
constexpr int kEAGAIN = -11;

// What a TCP endpoint takes from a parsed frame.
tcp::RxSegment rx_segment(const trace::ParsedFrame& p, const uint8_t* frame) {
  tcp::RxSegment r;
  r.seq = p.tcp.seq;
  r.ack = p.tcp.ack;
  r.flags = p.tcp.flags;
  r.window = p.tcp.window;
  r.has_ts = p.tcp.has_ts;
  r.tsval = p.tcp.tsval;
  r.tsecr = p.tcp.tsecr;
  r.mss_opt = p.tcp.mss_opt;
  r.wscale_opt = p.tcp.wscale_opt;
  r.payload = frame + p.payload_off;
  r.payload_len = p.payload_len;
  return r;
}

// The offload layer's view of the host's TCP socket.
class TcpOps final : public ktls::TcpSocketOps {
 public:
  explicit TcpOps(tcp::TcpEndpoint& t) : t_(t) {}
  uint32_t write_seq() const override { return t_.write_seq(); }
  size_t send_space() const override { return t_.send_space(); }
  void push_pages(uint64_t addr, uint32_t len, bool decrypted) override { t_.push_pages(addr, len, decrypted); }
  void mark_eor() override { t_.mark_eor(); }

 private:
  tcp::TcpEndpoint& t_;
};

// Frames go into the capture in time order. The NIC may run ahead of the host (temporal
// decoupling), so its frames are held until the host's time has passed them.
class CaptureSorter {
 public:
  explicit CaptureSorter(trace::CaptureWriter* w) : w_(w) {}
  void push(TimePs t, const uint8_t* p, size_t n) {
    if (!w_) return;
    heap_.push(Item{t, order_++, std::vector<uint8_t>(p, p + n)});
  }
  void flush_until(TimePs t) {
    while (!heap_.empty() && heap_.top().t <= t) {
      const Item& i = heap_.top();
      w_->write(i.t / 1000, i.bytes.data(), i.bytes.size());
      heap_.pop();
    }
  }
  void flush_all() { flush_until(UINT64_MAX); }

 private:
  struct Item {
    TimePs t;
    uint64_t order;
    std::vector<uint8_t> bytes;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const { return a.t != b.t ? a.t > b.t : a.order > b.order; }
  };
  trace::CaptureWriter* w_;
  std::priority_queue<Item, std::vector<Item>, Later> heap_;
  uint64_t order_ = 0;
};

// Application-data bytes for the peer's worker, in stream order. In-order payload stays in the
// frame it arrived in (the frame moves here whole, no copy on the simulating thread); the
// worker verifies that frame's checksums, then feeds the bytes to OpenSSL. Bytes that arrive
// otherwise (drained from TCP's out-of-order queue) are copied into a chunk of their own.
struct PeerChunk {
  std::vector<uint8_t> buf;
  uint32_t off = 0, len = 0;
  bool nic_frame = false;  // buf is a whole frame from the NIC, checksums not yet verified
};
struct PeerBatch {
  std::vector<PeerChunk> chunks;
  size_t bytes = 0;
  bool empty() const { return chunks.empty(); }
  void clear() {
    chunks.clear();
    bytes = 0;
  }
};

struct Flow {
  uint32_t id = 0;
  trace::FlowAddr h2p, p2h;
  std::unique_ptr<tcp::TcpEndpoint> htcp, ptcp;
  std::unique_ptr<host::peer::TlsEndpoint> htls, ptls;
  std::unique_ptr<TcpOps> tcp_ops;
  std::unique_ptr<drv::KtlsTxContext> kdev;
  std::unique_ptr<ktls::TlsOffloadCtxTx> ktls;
  std::unique_ptr<PayloadSource> src;
  uint64_t app_total = 0, app_written = 0;
  // Written by the peer worker once the handshake is over (see PeerWorker); read at the end.
  std::atomic<uint64_t> app_verified{0};
  std::atomic<bool> peer_closed{false};
  std::string peer_error;  // guarded by PeerWorker's mutex
  bool peer_async = false;  // the peer's TLS object belongs to the worker
  PeerBatch peer_pending;  // bytes for the worker not yet handed over
  bool offloaded = false, close_sent = false, device_down = false;
  uint16_t ip_id_h = 1, ip_id_p = 1;
  TimePs t_first_write = 0, t_last_data = 0;  // first application write; last payload byte in at the peer
  std::vector<uint8_t> scratch;
  uint8_t peer_hdr[5] = {};  // the peer's view of the record stream: where records end
  size_t peer_hdr_have = 0, peer_body_left = 0;
};

// The peer's TLS decryption on a second core. After its handshake the peer's TLS object no
// longer influences simulated time: the client sends nothing after its Finished, its TCP ACKs
// and FIN do not depend on what the records decrypt to. So application-data bytes go, in
// stream order per flow, to a worker thread that feeds the OpenSSL client and checks every
// plaintext byte, while the simulation runs on; the verdict is collected when the simulation
// ends. Nothing the worker does feeds back into the timeline (a failure only stops the run
// early), so captures and statistics stay bit-identical for a seed.
namespace {
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}
}  // namespace

// Why a run stops when the peer's checksum check fails (on either thread).
std::string bad_checksum_error(const Flow& f) {
  return "flow " + std::to_string(f.id) + ": the peer received a frame from the NIC with a bad IP or TCP checksum";
}

class PeerWorker {
 public:
  PeerWorker() : th_([this] { loop(); }) {}
  ~PeerWorker() { finish(); }
  // Hands `batch` over and leaves in it an emptied batch the worker is done with (capacity
  // kept); frame buffers the worker is done with are appended to *frames_back, for the NIC to
  // build later frames in. Only a sleeping worker is woken: a futex wake per batch was a
  // visible share of a run.
  void submit(Flow* f, PeerBatch& batch, std::vector<std::vector<uint8_t>>* frames_back) {
    bool wake;
    {
      std::lock_guard<std::mutex> g(mu_);
      q_.push_back(Item{f, std::move(batch)});
      batch.clear();
      if (!spare_.empty()) {
        batch = std::move(spare_.back());
        spare_.pop_back();
      }
      for (auto& b : frames_back_) frames_back->push_back(std::move(b));
      frames_back_.clear();
      wake = sleeping_;
    }
    if (wake) cv_.notify_one();
  }
  // Processes everything submitted, then stops the thread.
  void finish() {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (done_) return;
      done_ = true;
    }
    cv_.notify_one();
    th_.join();
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void set_error(Flow& f, const std::string& e) {
    std::lock_guard<std::mutex> g(err_mu_);
    if (f.peer_error.empty()) f.peer_error = e;
    failed_.store(true);
  }
  std::string error_of(Flow& f) {
    std::lock_guard<std::mutex> g(err_mu_);
    return f.peer_error;
  }
  uint64_t bad_checksums() const { return bad_csum_.load(std::memory_order_relaxed); }
  double cpu_s() const { return cpu_s_; }  // the worker's CPU time; valid after finish()

 private:
  struct Item {
    Flow* f;
    PeerBatch batch;
  };
  static constexpr size_t kMaxSpare = 4, kMaxFramesBack = 8192;
  void loop() {
    std::unique_lock<std::mutex> g(mu_);
    for (;;) {
      while (q_.empty() && !done_) {
        sleeping_ = true;
        cv_.wait(g);
        sleeping_ = false;
      }
      if (q_.empty()) {  // done and drained
        cpu_s_ = thread_cpu_s();
        return;
      }
      Item it = std::move(q_.front());
      q_.pop_front();
      g.unlock();
      Flow& f = *it.f;
      for (PeerChunk& c : it.batch.chunks) {
        if (f.ptls->failed()) break;
        // The receiver's checksum check, here rather than on the simulating thread. A bad one
        // is the NIC model writing a wrong byte: the run fails (a real receiver would drop the
        // frame and the sender retransmit; here nothing may hide a NIC error).
        if (c.nic_frame && !trace::verify_checksums(c.buf.data(), c.buf.size())) {
          bad_csum_++;
          set_error(f, bad_checksum_error(f));
          break;
        }
        f.ptls->feed_borrowed(c.buf.data() + c.off, c.len);  // the batch outlives step() below
      }
      if (!f.ptls->failed()) f.ptls->step();
      g.lock();
      for (PeerChunk& c : it.batch.chunks)
        if (c.nic_frame && frames_back_.size() < kMaxFramesBack) frames_back_.push_back(std::move(c.buf));
      it.batch.clear();
      if (spare_.size() < kMaxSpare) spare_.push_back(std::move(it.batch));
    }
  }
  std::mutex mu_, err_mu_;
  std::condition_variable cv_;
  std::deque<Item> q_;
  std::vector<PeerBatch> spare_;                    // emptied batches going back to the producer
  std::vector<std::vector<uint8_t>> frames_back_;  // frame buffers going back to the NIC
  bool done_ = false, sleeping_ = false;           // guarded by mu_
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> bad_csum_{0};
  double cpu_s_ = 0;  // written by the worker as it exits, read after join
  std::thread th_;
};

class Scenario {
 public:
  Scenario(const Config& cfg, const Outputs& out, model::tx::GcmEngine* engine)
      : cfg_(cfg), out_(out), engine_(engine), capture_sorter_(nullptr) {}
  RunSummary run();

 private:
  void build();
  void start_flow(Flow& f);
  void host_on_data(Flow& f, const uint8_t* p, size_t n);
  void peer_on_data(Flow& f, const uint8_t* p, size_t n);
  void install_offload(Flow& f);
  void app_write(Flow& f);
  bool host_xmit(Flow& f, const tcp::Segment& s);
  bool peer_xmit(Flow& f, const tcp::Segment& s);
  void deliver_to_peer(std::vector<uint8_t>&& frame);
  void flush_peer(Flow& f);
  std::string first_peer_error();
  void deliver_to_host(std::vector<uint8_t>&& frame);
  void fail(const std::string& why);
  void maybe_finish();
  void progress_tick();
  RunSummary summarize(double wall_s);

  Config cfg_;
  Outputs out_;
  model::tx::GcmEngine* engine_;
  sim::EventQueue q_;
  host::HostMemory mem_;
  std::unique_ptr<HostBridge> bridge_;
  std::unique_ptr<model::sc::NicTop> nic_;
  std::unique_ptr<drv::Mlx5eTx> driver_;
  std::unique_ptr<tcp::Link> fwd_, rev_;
  std::vector<std::unique_ptr<Flow>> flows_;
  std::unique_ptr<PeerWorker> peer_worker_;
  std::shared_ptr<const std::vector<uint8_t>> file_;
  trace::CaptureWriter capture_;
  CaptureSorter capture_sorter_;
  bool failed_ = false, finished_ = false;
  std::string error_;
  static constexpr const char* kLimitError =
      "simulated time limit reached (run.max_sim_ms): the transfer did not complete";
  std::vector<std::string> limit_state_;  // per flow, at the time limit
  TimePs t_end_ = 0;
  uint64_t peer_bad_csum_ = 0, peer_unknown_frames_ = 0;
  // Bytes a flow collects before handing them to the peer's worker thread: big batches keep
  // the hand-offs rare; with many flows each holds less (memory is flows x batch).
  size_t peer_batch_bytes_ = 1u << 20;
  // The frame deliver_to_peer is handing to the peer's TCP, and whether its payload was moved
  // into a PeerBatch (then the worker owns and checks it).
  std::vector<uint8_t>* cur_frame_ = nullptr;
  bool cur_frame_held_ = false;
  std::vector<std::vector<uint8_t>> frames_back_;
  std::chrono::steady_clock::time_point wall0_, last_progress_;
  double main_cpu_s_ = 0, peer_cpu_s_ = 0;
  double startup_wall_s_ = -1;  // set at the first application write (see RunSummary)
  bool tty_ = false;
};

void Scenario::fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  error_ = why;
  if (sc_core::sc_is_running()) sc_core::sc_stop();
}

void Scenario::build() {
  if (!cfg_.run.payload_file.empty()) {
    std::ifstream f(cfg_.run.payload_file, std::ios::binary);
    auto v = std::make_shared<std::vector<uint8_t>>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    file_ = v;
  }
  // The seeded payload pattern (~4 MiB) is made on another thread while the NIC and the
  // driver are built: both are part of every run's wall time and the other core is idle now.
  std::thread pattern_maker;
  if (!file_)
    pattern_maker = std::thread([seed = cfg_.run.seed] {
      try {
        PayloadSource::prepare(seed);
      } catch (...) {  // out of memory: the PayloadSource below tries again and reports it
      }
    });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join_pattern{pattern_maker};
  bridge_ = std::make_unique<HostBridge>("host", q_);
  peer_worker_ = std::make_unique<PeerWorker>();
  peer_batch_bytes_ = std::clamp<size_t>((size_t(16) << 20) / std::max<uint32_t>(cfg_.run.flows, 1), 64u << 10, 1u << 20);
  // The TLS context backing store (ICM): host memory handed to the device at start-up.
  uint64_t icm = mem_.alloc(size_t(cfg_.nic.tls_ctx_bytes) * (cfg_.run.flows + 2), 4096);
  nic_ = std::make_unique<model::sc::NicTop>("nic", cfg_.nic, &mem_, engine_, icm,
                                             sc_core::sc_time(cfg_.run.quantum_ns, sc_core::SC_NS));
  driver_ = std::make_unique<drv::Mlx5eTx>(mem_, *nic_, cfg_.driver);
  fwd_ = std::make_unique<tcp::Link>(q_, cfg_.link);
  host::tcp::LinkConfig rc = cfg_.reverse;
  rev_ = std::make_unique<tcp::Link>(q_, rc);
  fwd_->set_deliver([this](std::vector<uint8_t>&& fr) { deliver_to_peer(std::move(fr)); });
  rev_->set_deliver([this](std::vector<uint8_t>&& fr) { deliver_to_host(std::move(fr)); });

  nic_->on_wire = [this](model::tx::Frame&& fr) {
    capture_sorter_.push(fr.depart_ps, fr.bytes.data(), fr.bytes.size());
    bool payload = fr.has_payload;
    TimePs t = fr.depart_ps;
    fwd_->send(std::move(fr.bytes), t, payload);
  };
  nic_->on_cqe = [this](uint16_t sqn, uint32_t idx, TimePs t) {
    q_.at(t, [this, sqn, idx] {
      driver_->poll_cq(sqn, idx);
      maybe_finish();
    });
  };
  driver_->on_wake = [this](uint16_t sqn) {
    for (auto& f : flows_)
      if (driver_->sq_for_flow(f->id) == sqn) f->htcp->tx_wake();
  };

  if (pattern_maker.joinable()) pattern_maker.join();
  for (uint32_t i = 0; i < cfg_.run.flows; i++) {
    auto f = std::make_unique<Flow>();
    f->id = i;
    trace::FlowAddr a;
    a.src_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    a.dst_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
    a.src_ip = trace::IpAddr::v4(10, 0, 0, 1);
    a.dst_ip = trace::IpAddr::v4(10, 0, 0, 2);
    a.src_port = kServerPort;
    a.dst_port = uint16_t(kClientPortBase + i);
    f->h2p = a;
    f->p2h = a.reversed();
    tcp::TcpConfig hc = cfg_.tcp, pc = cfg_.tcp;
    // Seeded initial sequence numbers, different per flow and side.
    uint64_t x = cfg_.run.seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
    hc.isn = uint32_t(x >> 17);
    pc.isn = uint32_t(x >> 41) * 2654435761u;
    f->htcp = std::make_unique<tcp::TcpEndpoint>(q_, mem_, hc, "host" + std::to_string(i));
    f->ptcp = std::make_unique<tcp::TcpEndpoint>(q_, mem_, pc, "peer" + std::to_string(i));
    f->app_total = file_ ? file_->size() : cfg_.run.bytes;
    f->src = std::make_unique<PayloadSource>(cfg_.run.seed, i, file_);
    f->tcp_ops = std::make_unique<TcpOps>(*f->htcp);
    flows_.push_back(std::move(f));
  }
  if (!out_.pcap.empty()) {
    if (!capture_.open(out_.pcap)) throw std::runtime_error(capture_.error());
    capture_sorter_ = CaptureSorter(&capture_);
  }
}

void Scenario::start_flow(Flow& f) {
  Flow* fp = &f;
  std::string err;
  host::peer::TlsEndpointConfig sc{cfg_.run.tls, cfg_.run.cipher, true, ""};
  host::peer::TlsEndpointConfig cc{cfg_.run.tls, cfg_.run.cipher, false, "nicsim.test"};
  f.htls = host::peer::TlsEndpoint::create(sc, &err);
  if (!f.htls) return fail("flow " + std::to_string(f.id) + ": TLS server: " + err);
  f.ptls = host::peer::TlsEndpoint::create(cc, &err);
  if (!f.ptls) return fail("flow " + std::to_string(f.id) + ": TLS client: " + err);

  f.htcp->set_xmit([this, fp](const tcp::Segment& s) { return host_xmit(*fp, s); });
  f.ptcp->set_xmit([this, fp](const tcp::Segment& s) { return peer_xmit(*fp, s); });
  f.htcp->on_data = [this, fp](const uint8_t* p, size_t n) { host_on_data(*fp, p, n); };
  f.ptcp->on_data = [this, fp](const uint8_t* p, size_t n) { peer_on_data(*fp, p, n); };
  f.htcp->on_acked = [this, fp](uint32_t una) {
    if (fp->ktls) fp->ktls->clean_acked(una);
    maybe_finish();
  };
  f.htcp->on_send_space = [this, fp] { app_write(*fp); };
  f.ptcp->on_established = [this, fp] {
    // The client speaks first: ClientHello.
    fp->ptls->step();
    auto o = fp->ptls->take_output();
    if (!o.empty()) fp->ptcp->write(o.data(), o.size());
  };
  f.ptcp->on_fin = [this, fp] {
    // The server's FIN follows its close_notify: everything before it has reached the client,
    // which closes its side in turn (what a client does on close_notify, at the same time).
    flush_peer(*fp);
    fp->ptcp->shutdown_write();
    maybe_finish();
  };
  f.ptcp->on_acked = [this](uint32_t) { maybe_finish(); };
  f.htcp->on_fin = [this] { maybe_finish(); };
  // These three run on the peer worker (after the handshake nothing else calls the client).
  f.ptls->on_app_data = [this, fp](const uint8_t* p, size_t n) {
    Flow& fl = *fp;
    const uint64_t v = fl.app_verified.load(std::memory_order_relaxed);
    if (v + n > fl.app_total)
      return peer_worker_->set_error(fl, "flow " + std::to_string(fl.id) + ": peer received " +
                                             std::to_string(v + n) + " bytes, more than the " +
                                             std::to_string(fl.app_total) + " the application wrote");
    size_t k = 0;
    if (!fl.src->equals(v, p, n, &k)) {
      return peer_worker_->set_error(fl, "flow " + std::to_string(fl.id) +
                                             ": peer decrypted a wrong byte at application offset " +
                                             std::to_string(v + k));
    }
    fl.app_verified.store(v + n, std::memory_order_relaxed);
  };
  f.ptls->on_close_notify = [fp] { fp->peer_closed.store(true); };
  f.ptls->on_error = [this, fp](const std::string& what) {
    peer_worker_->set_error(*fp, "flow " + std::to_string(fp->id) + ": peer TLS: " + what);
  };
  f.htls->on_error = [this, fp](const std::string& what) {
    fail("flow " + std::to_string(fp->id) + ": host TLS: " + what);
  };
  f.htcp->listen();
  f.ptcp->connect();
}

void Scenario::host_on_data(Flow& f, const uint8_t* p, size_t n) {
  if (f.offloaded) return;  // the client sends nothing after its Finished
  f.htls->feed(p, n);
  f.htls->step();
  auto o = f.htls->take_output();
  if (!o.empty()) {
    size_t w = f.htcp->write(o.data(), o.size());
    if (w != o.size()) return fail("flow " + std::to_string(f.id) + ": handshake flight larger than the send buffer");
  }
  if (f.htls->handshake_done() && !f.offloaded && !failed_) install_offload(f);
}

void Scenario::flush_peer(Flow& f) {
  if (f.peer_async && !f.peer_pending.empty()) {
    frames_back_.clear();
    peer_worker_->submit(&f, f.peer_pending, &frames_back_);
    for (auto& b : frames_back_) nic_->recycle_frame(std::move(b));
  }
}

void Scenario::peer_on_data(Flow& f, const uint8_t* p, size_t n) {
  f.t_last_data = q_.now_ps();
  if (f.peer_async) {
    if (peer_worker_->failed()) return fail(first_peer_error());
    PeerBatch& b = f.peer_pending;
    if (cur_frame_ && !cur_frame_held_ && p >= cur_frame_->data() && p + n <= cur_frame_->data() + cur_frame_->size()) {
      // In-order payload of the frame being received: the frame itself goes to the worker
      // (moving the vector leaves p valid: the bytes stay where they are).
      const auto off = uint32_t(p - cur_frame_->data());
      b.chunks.push_back(PeerChunk{std::move(*cur_frame_), off, uint32_t(n), true});
      cur_frame_held_ = true;
    } else {
      if (b.chunks.empty() || b.chunks.back().nic_frame) b.chunks.push_back(PeerChunk{});
      PeerChunk& c = b.chunks.back();
      c.buf.insert(c.buf.end(), p, p + n);
      c.len = uint32_t(c.buf.size());
    }
    b.bytes += n;
    if (b.bytes >= peer_batch_bytes_) flush_peer(f);
    return;
  }
  // Bytes go to OpenSSL as they arrive, but SSL_read is woken only when a record is complete:
  // a 16 KiB record arrives in ~11 segments, and waking it for each partial one was a large
  // share of the simulator's time. What OpenSSL sees, byte for byte, is unchanged.
  f.ptls->feed(p, n);
  bool complete = false;
  size_t i = 0;
  while (i < n) {
    if (f.peer_hdr_have < 5) {
      size_t take = std::min<size_t>(5 - f.peer_hdr_have, n - i);
      std::memcpy(f.peer_hdr + f.peer_hdr_have, p + i, take);
      f.peer_hdr_have += take;
      i += take;
      if (f.peer_hdr_have == 5) f.peer_body_left = size_t(f.peer_hdr[3]) << 8 | f.peer_hdr[4];
    } else {
      size_t take = std::min(f.peer_body_left, n - i);
      f.peer_body_left -= take;
      i += take;
    }
    if (f.peer_hdr_have == 5 && f.peer_body_left == 0) {
      complete = true;
      f.peer_hdr_have = 0;
    }
  }
  if (!complete) return;
  f.ptls->step();
  auto o = f.ptls->take_output();
  if (!o.empty()) f.ptcp->write(o.data(), o.size());
  if (f.ptls->failed()) return fail("flow " + std::to_string(f.id) + ": peer TLS: " + f.ptls->error());
  // Handshake over and its last flight sent: from here on the worker owns the client.
  if (f.ptls->handshake_done()) f.peer_async = true;
}

void Scenario::install_offload(Flow& f) {
  crypto::TlsKeys k;
  uint64_t next = 0;
  std::string err;
  if (!f.htls->offload_keys(&k, &next, &err)) return fail("flow " + std::to_string(f.id) + ": offload keys: " + err);
  ktls::CryptoInfo ci;
  ci.version = k.version;
  ci.cipher = k.cipher;
  std::memcpy(ci.key, k.key, sizeof ci.key);
  std::memcpy(ci.salt, k.salt, 4);
  std::memcpy(ci.iv, k.iv, 8);
  for (int i = 0; i < 8; i++) ci.rec_seq[i] = uint8_t(next >> (56 - 8 * i));
  f.kdev = std::make_unique<drv::KtlsTxContext>(*driver_, driver_->sq_for_flow(f.id));
  ktls::TlsOffloadCtxTx::Options o;
  o.tx_max_payload_len = cfg_.run.record_size;
  o.placeholder_seed = cfg_.run.seed * 31 + f.id;
  f.ktls = std::make_unique<ktls::TlsOffloadCtxTx>(mem_, *f.tcp_ops, o);
  f.kdev->set_tls_ctx(f.ktls.get());
  int rc = f.ktls->tls_set_device_offload(ci, f.kdev.get());
  if (rc != 0) return fail("flow " + std::to_string(f.id) + ": setsockopt(TLS_TX) failed: " + std::to_string(rc));
  f.offloaded = true;
  f.t_first_write = q_.now_ps();
  app_write(f);
}

void Scenario::app_write(Flow& f) {
  if (!f.offloaded || failed_) return;
  if (startup_wall_s_ < 0)
    startup_wall_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
  const uint64_t down_after = cfg_.run.device_down_after_bytes;
  while (f.app_written < f.app_total) {
    if (down_after && !f.device_down && f.app_written >= down_after) {
      f.ktls->tls_device_down();  // every later skb goes through the software fallback
      f.device_down = true;
    }
    size_t n = size_t(std::min<uint64_t>(cfg_.run.app_write_bytes, f.app_total - f.app_written));
    if (down_after && !f.device_down && f.app_written < down_after)
      n = size_t(std::min<uint64_t>(n, down_after - f.app_written));
    size_t span = 0;
    const uint8_t* data = f.src->view(f.app_written, n, &span);
    if (span < n) {  // the pattern wraps inside this write: the application's own buffer
      f.scratch.resize(n);
      f.src->fill(f.app_written, f.scratch.data(), n);
      data = f.scratch.data();
    }
    long r = f.ktls->sendmsg(data, n, 0);
    if (r == kEAGAIN) return;  // wait for send space
    if (r < 0) return fail("flow " + std::to_string(f.id) + ": sendmsg failed: " + std::to_string(r));
    f.app_written += uint64_t(r);
    if (size_t(r) < n) return;
  }
  if (!f.close_sent) {
    // close_notify: alert level warning (1), description close_notify (0), as a control record.
    const uint8_t alert[2] = {1, 0};
    long r = f.ktls->sendmsg(alert, 2, 0, crypto::kTlsContentAlert);
    if (r == kEAGAIN) return;
    if (r != 2) return fail("flow " + std::to_string(f.id) + ": close_notify sendmsg failed: " + std::to_string(r));
    f.close_sent = true;
    f.htcp->shutdown_write();
  }
}

bool Scenario::host_xmit(Flow& f, const tcp::Segment& s) {
  drv::SkbMeta m;
  m.addr = &f.h2p;
  m.ip_id = f.ip_id_h;
  m.sqn = driver_->sq_for_flow(f.id);
  const bool offloaded = f.ktls && f.ktls->device_offloaded() && !f.ktls->device_down();
  m.ktls = offloaded ? f.kdev.get() : nullptr;
  drv::XmitResult r;
  if (f.ktls && f.ktls->device_down() && s.decrypted && s.payload_len) {
    // validate_xmit_skb → tls_sw_fallback: the skb becomes ciphertext before the driver.
    std::vector<uint8_t> plain(s.payload_len), enc(s.payload_len);
    uint32_t off = 0;
    for (const auto& fr : s.frags) {
      mem_.read(fr.addr, plain.data() + off, fr.len);
      off += fr.len;
    }
    auto res = f.ktls->sw_fallback(s.seq, plain.data(), s.payload_len, enc.data());
    if (res == ktls::TlsOffloadCtxTx::Fallback::drop) return true;  // dropped: TCP retransmits
    uint64_t buf = mem_.alloc(s.payload_len, 64, false);
    mem_.write(buf, res == ktls::TlsOffloadCtxTx::Fallback::encrypted ? enc.data() : plain.data(), s.payload_len);
    tcp::Segment c = s;
    c.frags.assign(1, tcp::Frag{buf, s.payload_len});
    c.decrypted = false;
    r = driver_->xmit(c, m);
    mem_.release(buf);  // the driver holds its own reference while the WQE is in flight
  } else {
    r = driver_->xmit(s, m);
  }
  if (r == drv::XmitResult::busy) return false;
  uint32_t segs = s.gso_size && s.payload_len > s.gso_size ? (s.payload_len + s.gso_size - 1) / s.gso_size : 1;
  f.ip_id_h = uint16_t(f.ip_id_h + segs);
  return true;
}

bool Scenario::peer_xmit(Flow& f, const tcp::Segment& s) {
  // The peer's own NIC: plain TSO in software terms — cut at gso_size, checksums filled.
  uint32_t mss = s.gso_size && s.payload_len > s.gso_size ? s.gso_size : std::max<uint32_t>(s.payload_len, 1);
  uint32_t nseg = s.payload_len ? (s.payload_len + mss - 1) / mss : 1;
  std::vector<uint8_t> payload(s.payload_len);
  uint32_t off = 0;
  for (const auto& fr : s.frags) {
    mem_.read(fr.addr, payload.data() + off, fr.len);
    off += fr.len;
  }
  for (uint32_t i = 0; i < nseg; i++) {
    uint32_t o = i * mss, len = std::min(mss, s.payload_len - std::min(s.payload_len, o));
    trace::TcpHeaderFields h = drv::header_fields(s, f.ip_id_p++);
    h.seq = s.seq + o;
    if (i + 1 < nseg) h.flags &= uint8_t(~(tcp::kFin | tcp::kPsh));
    std::vector<uint8_t> fr = trace::build_headers(f.p2h, h, len, false);
    fr.insert(fr.end(), payload.begin() + o, payload.begin() + o + len);
    if (fr.size() < 60) fr.resize(60, 0);
    trace::fill_checksums(fr.data(), fr.size());
    rev_->send(std::move(fr), q_.now_ps(), len > 0);
  }
  return true;
}

void Scenario::deliver_to_peer(std::vector<uint8_t>&& frame) {
  capture_sorter_.flush_until(q_.now_ps());
  trace::ParsedFrame p = trace::parse_frame(frame.data(), frame.size());
  if (!p.ok || !p.is_tcp || p.dst_port < kClientPortBase || size_t(p.dst_port - kClientPortBase) >= flows_.size()) {
    peer_unknown_frames_++;
    return;
  }
  Flow& f = *flows_[p.dst_port - kClientPortBase];
  // During the handshake the frame is checked before TCP sees it, as a receiver does. After
  // it, frames whose payload goes to the worker are checked there (the checksum pass was a
  // large share of this thread's time); any other frame right after TCP took it. Either way a
  // bad checksum is the NIC writing a wrong byte, and fails the run.
  const bool check_first = !f.peer_async;
  if (check_first && !trace::verify_checksums(frame.data(), frame.size())) {
    peer_bad_csum_++;
    return fail(bad_checksum_error(f));
  }
  tcp::RxSegment r = rx_segment(p, frame.data());
  cur_frame_ = &frame;
  cur_frame_held_ = false;
  f.ptcp->on_receive(r);  // keeps nothing that points into the frame
  cur_frame_ = nullptr;
  if (cur_frame_held_) return;  // the worker has it
  if (!check_first && !trace::verify_checksums(frame.data(), frame.size())) {
    peer_bad_csum_++;
    return fail(bad_checksum_error(f));
  }
  nic_->recycle_frame(std::move(frame));
}

void Scenario::deliver_to_host(std::vector<uint8_t>&& frame) {
  capture_sorter_.push(q_.now_ps(), frame.data(), frame.size());
  capture_sorter_.flush_until(q_.now_ps());
  trace::ParsedFrame p = trace::parse_frame(frame.data(), frame.size());
  if (!p.ok || !p.is_tcp || p.src_port < kClientPortBase || size_t(p.src_port - kClientPortBase) >= flows_.size()) return;
  Flow& f = *flows_[p.src_port - kClientPortBase];
  tcp::RxSegment r = rx_segment(p, frame.data());
  f.htcp->on_receive(r);
}

std::string Scenario::first_peer_error() {
  for (auto& f : flows_) {
    std::string e = peer_worker_->error_of(*f);
    if (!e.empty()) return e;
  }
  return "peer: verification failed";
}

void Scenario::maybe_finish() {
  if (failed_ || finished_) return;
  for (auto& f : flows_) {
    // The bytes' verdict comes from the peer worker at the end (run()); here: every byte and
    // both FINs delivered and acknowledged.
    if (!f->close_sent) return;
    if (!f->htcp->all_acked() || !f->ptcp->all_acked()) return;
    if (!f->htcp->fin_received() || !f->ptcp->fin_received()) return;
  }
  if (!driver_->all_completed()) return;
  finished_ = true;
  t_end_ = q_.now_ps();
  sc_core::sc_stop();
}

void Scenario::progress_tick() {
  if (failed_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_progress_ > std::chrono::seconds(2)) {
    last_progress_ = now;
    uint64_t v = 0, tot = 0;
    for (auto& f : flows_) {
      v += f->app_verified.load(std::memory_order_relaxed);
      tot += f->app_total;
    }
    double wall = std::chrono::duration<double>(now - wall0_).count();
    std::fprintf(stderr, "\rnicsim: sim %.3f ms, %llu/%llu bytes verified, %llu frames, %.1f MB/s wall   ",
                 double(q_.now_ps()) / 1e9, (unsigned long long)v, (unsigned long long)tot,
                 (unsigned long long)nic_->mac_tx_stats().frames, double(v) / 1e6 / std::max(wall, 1e-9));
  }
  q_.after(50 * sim::kPsPerUs, [this] { progress_tick(); });
}

RunSummary Scenario::run() {
  wall0_ = last_progress_ = std::chrono::steady_clock::now();
  const double cpu0 = thread_cpu_s();
  RunSummary s;
  try {
    build();
  } catch (const std::exception& e) {
    s.error = e.what();
    return s;
  }
  for (auto& f : flows_) {
    Flow* fp = f.get();
    q_.at(0, [this, fp] { start_flow(*fp); });
  }
  const TimePs limit = TimePs(cfg_.run.max_sim_ms * double(sim::kPsPerMs));
  q_.at(limit, [this] {
    if (finished_) return;
    // Each flow's state at the limit; the bytes the peer verified are added once its worker has
    // caught up (below): read now, they lag by up to a batch (1 MiB) of received bytes.
    limit_state_.clear();
    for (auto& f : flows_)
      limit_state_.push_back(std::string(f->htcp->all_acked() ? "host data acked" : "host data unacked") +
                             (f->ptcp->all_acked() ? "" : ", peer data unacked") +
                             (f->htcp->fin_received() ? "" : ", no FIN from peer") +
                             (f->ptcp->fin_received() ? "" : ", no FIN at peer"));
    fail(kLimitError);
  });
  tty_ = out_.progress && isatty(2);
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);  // "simulation stopped by user"
  if (tty_) q_.after(50 * sim::kPsPerUs, [this] { progress_tick(); });
  try {
    sc_core::sc_start();
  } catch (const std::exception& e) {
    fail(std::string("internal error: ") + e.what());
  }
  if (tty_) std::fprintf(stderr, "\n");
  // The peer worker's verdict: every byte decrypted and equal, close_notify seen.
  for (auto& f : flows_) flush_peer(*f);
  peer_worker_->finish();
  if (!limit_state_.empty() && error_ == kLimitError) {
    for (size_t i = 0; i < flows_.size() && error_.size() < 600; i++) {
      const Flow& f = *flows_[i];
      error_ += "; flow " + std::to_string(f.id) + ": application wrote " + std::to_string(f.app_written) + "/" +
                std::to_string(f.app_total) + " bytes, peer verified " + std::to_string(f.app_verified.load()) +
                (f.peer_closed.load() ? ", close_notify seen, " : ", ") + limit_state_[i];
    }
    if (!driver_->all_completed()) error_ += "; WQEs outstanding";
  }
  if (finished_ && !failed_) {
    for (auto& f : flows_) {
      std::string e = peer_worker_->error_of(*f);
      if (!e.empty()) {
        fail(e);
        break;
      }
      if (f->app_verified.load() != f->app_total || !f->peer_closed.load()) {
        fail("flow " + std::to_string(f->id) + ": the peer decrypted " + std::to_string(f->app_verified.load()) +
             " of " + std::to_string(f->app_total) + " application bytes" +
             (f->peer_closed.load() ? "" : " and saw no close_notify"));
        break;
      }
    }
  } else if (peer_worker_->failed()) {
    error_ = first_peer_error();
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
  if (!finished_ && !failed_) fail("simulation stopped before the transfer completed");
  main_cpu_s_ = thread_cpu_s() - cpu0;
  peer_cpu_s_ = peer_worker_ ? peer_worker_->cpu_s() : 0;
  s = summarize(wall);
  if (!s.ok) return s;
  // Outputs, each written whole (".part" then rename) only for a good run.
  capture_sorter_.flush_all();
  std::string err;
  if (!out_.pcap.empty() && !capture_.commit()) {
    s.ok = false;
    s.error = capture_.error();
    return s;
  }
  if (!out_.keylog.empty()) {
    std::string text;
    for (auto& f : flows_)
      for (const auto& l : f->htls->keylog_lines()) text += l + "\n";
    if (!write_text_file(out_.keylog, text, &s.error)) {
      s.ok = false;
      return s;
    }
  }
  if (!out_.stats.empty() && !write_json_file(out_.stats, s.stats, &err)) {
    s.ok = false;
    s.error = err;
  }
  return s;
}

RunSummary Scenario::summarize(double wall_s) {
  RunSummary s;
  s.ok = !failed_ && finished_;
  s.error = error_;
  s.wall_s = wall_s;
  s.main_cpu_s = main_cpu_s_;
  s.peer_cpu_s = peer_cpu_s_;
  s.startup_wall_s = std::max(0.0, startup_wall_s_);
  const auto& d = driver_->stats();
  nlohmann::json flows = nlohmann::json::array();
  TimePs t0 = UINT64_MAX, t1 = 0;
  for (auto& f : flows_) {
    s.app_bytes += f->app_total;
    s.app_bytes_verified += f->app_verified.load();
    if (f->ktls) s.records += f->ktls->counters().records_pushed;
    s.retrans_segs += f->htcp->stats().retrans_segs;
    if (f->offloaded) t0 = std::min(t0, f->t_first_write);
    t1 = std::max(t1, f->t_last_data);
    flows.push_back(flow_stats_json(f->id, f->ktls.get(), f->kdev.get(), *f->htcp, *f->ptcp, f->app_total, f->app_verified.load()));
  }
  s.frames = nic_->mac_tx_stats().frames;
  s.data_frames = nic_->tx_checksum_stats().segments;
  s.resyncs = d.tls_resyncs;
  s.dump_bytes = d.tx_tls_dump_bytes;
  s.dump_packets = d.tx_tls_dump_packets;
  s.ooo = d.tx_tls_ooo;
  s.sim_s = double(finished_ ? t_end_ : q_.now_ps()) / 1e12;
  s.data_s = t1 > t0 && t0 != UINT64_MAX ? double(t1 - t0) / 1e12 : 0;
  s.gbps = s.data_s > 0 ? double(s.app_bytes_verified) * 8 / s.data_s / 1e9 : 0;
  nlohmann::json st;
  st["config"] = cfg_.to_json();
  st["result"] = {{"ok", s.ok}, {"error", s.error}};
  st["summary"] = {{"app_bytes", s.app_bytes},       {"app_bytes_verified", s.app_bytes_verified},
                   {"records", s.records},           {"frames", s.frames},
                   {"resyncs", s.resyncs},           {"tx_tls_dump_bytes", s.dump_bytes},
                   {"sim_time_s", s.sim_s},          {"data_phase_s", s.data_s},
                   {"goodput_gbps", s.gbps},         {"peer_bad_checksums", peer_bad_csum_ + peer_worker_->bad_checksums()},
                   {"peer_unknown_frames", peer_unknown_frames_}};
  st["ethtool"] = ethtool_json(d);
  st["tls_stat"] = tls_stat_total_json(flows);
  st["nic"] = nic_stats_json(*nic_);
  st["link"] = {{"forward", link_stats_json(fwd_->stats())}, {"reverse", link_stats_json(rev_->stats())}};
  st["host_memory"] = {{"bytes_peak", mem_.bytes_peak()}, {"bytes_live_at_end", mem_.bytes_live()}};
  st["flows"] = flows;
  st["wall"] = {{"seconds", wall_s},
                {"app_bytes_per_second", wall_s > 0 ? double(s.app_bytes_verified) / wall_s : 0},
                {"sim_seconds_per_wall_second", wall_s > 0 ? s.sim_s / wall_s : 0},
                {"main_thread_cpu_seconds", main_cpu_s_},
                {"peer_thread_cpu_seconds", peer_cpu_s_},
                {"startup_seconds", s.startup_wall_s},
                {"host_events", bridge_->events_run()}};
  s.stats = st;
  return s;
}

}  // namespace

RunSummary run_scenario(const Config& cfg, const Outputs& out, model::tx::GcmEngine* engine) {
  host::peer::install_deterministic_rand(cfg.run.seed);
  Scenario sc(cfg, out, engine);
  return sc.run();
}

void print_summary(const RunSummary& s, const Config& cfg) {
  std::printf("nicsim run: TLS %s %s, %u flow(s), record %u B, MSS %u B, loss %g\n",
              cfg.run.tls == crypto::TlsVersion::tls12 ? "1.2" : "1.3", crypto::cipher_name(cfg.run.cipher),
              cfg.run.flows, cfg.run.record_size, cfg.tcp.mss_bytes, cfg.link.loss);
  std::printf("  result            %s\n", s.ok ? "ok: the peer decrypted every byte the application wrote" : ("FAILED: " + s.error).c_str());
  std::printf("  application bytes %llu (verified %llu)\n", (unsigned long long)s.app_bytes, (unsigned long long)s.app_bytes_verified);
  std::printf("  TLS records       %llu\n", (unsigned long long)s.records);
  std::printf("  frames on wire    %llu (%llu TCP segments out of the NIC)\n", (unsigned long long)s.frames, (unsigned long long)s.data_frames);
  std::printf("  retransmissions   %llu segments; tx_tls_ooo %llu\n", (unsigned long long)s.retrans_segs, (unsigned long long)s.ooo);
  std::printf("  resyncs           %llu; DUMP %llu WQEs, %llu bytes\n", (unsigned long long)s.resyncs, (unsigned long long)s.dump_packets, (unsigned long long)s.dump_bytes);
  std::printf("  simulated time    %.6f s (data phase %.6f s)\n", s.sim_s, s.data_s);
  std::printf("  goodput           %.2f Gb/s\n", s.gbps);
  std::printf("  wall time         %.3f s; %.1f MB/s of application bytes; %.4f simulated s per wall s\n", s.wall_s,
              s.wall_s > 0 ? double(s.app_bytes_verified) / 1e6 / s.wall_s : 0.0, s.wall_s > 0 ? s.sim_s / s.wall_s : 0.0);
}

}  // namespace nicsim::app
