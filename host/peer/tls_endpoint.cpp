#include "host/peer/tls_endpoint.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "host/trace/tls_keys.h"

namespace nicsim::host::peer {

namespace {

// The read side of an endpoint: a byte queue that OpenSSL reads from. OpenSSL's own memory BIO
// zero-fills every byte it grows by and moves its contents on each write; with every record of
// a multi-gigabyte run passing through it that was a measurable share of the simulator's time.
// This one appends without clearing and compacts only when the consumed part dominates.
// Lent bytes (feed_borrowed) follow the owned ones in stream order; unlend() copies what is
// left of them into buf before their owner may reuse them.
struct RxQueue {
  std::vector<uint8_t> buf;
  size_t off = 0;
  struct Lent {
    const uint8_t* p;
    size_t n;
  };
  std::vector<Lent> lent;
  size_t lent_idx = 0, lent_off = 0;  // read position in lent
  size_t lent_left = 0;               // bytes not yet read from lent
  void unlend() {
    if (lent_left) {
      if (off > 0) {
        buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
        off = 0;
      }
      for (size_t i = lent_idx; i < lent.size(); i++) {
        const size_t skip = i == lent_idx ? lent_off : 0;
        buf.insert(buf.end(), lent[i].p + skip, lent[i].p + lent[i].n);
      }
    }
    lent.clear();
    lent_idx = lent_off = lent_left = 0;
  }
};

int rxq_write_ex(BIO* b, const char* in, size_t n, size_t* written) {
  auto* q = static_cast<RxQueue*>(BIO_get_data(b));
  q->unlend();  // copied bytes come after any lent ones
  if (q->off > 0 && q->off >= q->buf.size() / 2) {
    q->buf.erase(q->buf.begin(), q->buf.begin() + static_cast<std::ptrdiff_t>(q->off));
    q->off = 0;
  }
  const auto* src = reinterpret_cast<const uint8_t*>(in);  // same type: one memcpy
  q->buf.insert(q->buf.end(), src, src + n);
  *written = n;
  return 1;
}

int rxq_read_ex(BIO* b, char* out, size_t n, size_t* got) {
  auto* q = static_cast<RxQueue*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  const size_t avail = q->buf.size() - q->off;
  if (avail == 0 && q->lent_left == 0) {
    // Empty means "more to come", as BIO_set_mem_eof_return(-1) makes a memory BIO say.
    BIO_set_retry_read(b);
    *got = 0;
    return 0;
  }
  size_t k = std::min(n, avail);
  if (k) std::memcpy(out, q->buf.data() + q->off, k);
  q->off += k;
  if (q->off == q->buf.size()) q->buf.clear(), q->off = 0;
  while (k < n && q->lent_left) {
    const RxQueue::Lent& l = q->lent[q->lent_idx];
    const size_t take = std::min(n - k, l.n - q->lent_off);
    std::memcpy(out + k, l.p + q->lent_off, take);
    k += take;
    q->lent_off += take;
    q->lent_left -= take;
    if (q->lent_off == l.n) q->lent_idx++, q->lent_off = 0;
  }
  *got = k;
  return 1;
}

long rxq_ctrl(BIO* b, int cmd, long, void*) {
  auto* q = static_cast<RxQueue*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_PENDING:
      return static_cast<long>(q->buf.size() - q->off + q->lent_left);
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int rxq_create(BIO* b) {
  BIO_set_data(b, new RxQueue());
  BIO_set_init(b, 1);
  return 1;
}

int rxq_destroy(BIO* b) {
  delete static_cast<RxQueue*>(BIO_get_data(b));
  BIO_set_data(b, nullptr);
  return 1;
}

const BIO_METHOD* rx_queue_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nicsim rx queue");
    BIO_meth_set_write_ex(meth, rxq_write_ex);
    BIO_meth_set_read_ex(meth, rxq_read_ex);
    BIO_meth_set_ctrl(meth, rxq_ctrl);
    BIO_meth_set_create(meth, rxq_create);
    BIO_meth_set_destroy(meth, rxq_destroy);
    return meth;
  }();
  return m;
}

// Everything OpenSSL queued since the last ERR_clear_error, oldest first, with the extra data
// (e.g. the alert text) OpenSSL attaches to some entries.
std::string drain_openssl_errors() {
  std::string s;
  const char* data = nullptr;
  int flags = 0;
  unsigned long e;
  while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      s += " (";
      s += data;
      s += ")";
    }
  }
  return s.empty() ? std::string("no OpenSSL error queued") : s;
}

const char* ssl_error_name(int e) {
  switch (e) {
    case SSL_ERROR_NONE: return "SSL_ERROR_NONE";
    case SSL_ERROR_SSL: return "SSL_ERROR_SSL";
    case SSL_ERROR_WANT_READ: return "SSL_ERROR_WANT_READ";
    case SSL_ERROR_WANT_WRITE: return "SSL_ERROR_WANT_WRITE";
    case SSL_ERROR_SYSCALL: return "SSL_ERROR_SYSCALL";
    case SSL_ERROR_ZERO_RETURN: return "SSL_ERROR_ZERO_RETURN";
    default: return "SSL_ERROR_other";
  }
}

void set_err(std::string* err, const std::string& msg) {
  if (err != nullptr) *err = msg;
}

int wire_version(crypto::TlsVersion v) {
  return v == crypto::TlsVersion::tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

// ---- shared server certificate ----------------------------------------------------------

struct CertCache {
  std::mutex mu;
  bool valid = false;
  uint64_t seed = 0;
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
};

CertCache& cert_cache() {
  // Never destroyed: freeing OpenSSL objects from a static destructor could run after
  // OpenSSL's own atexit cleanup.
  static CertCache* c = new CertCache();
  return *c;
}

bool build_certificate(X509** cert_out, EVP_PKEY** key_out, std::string* err) {
  // Own sub-stream: the certificate depends on the seed only, and building it lazily inside
  // some run does not shift that run's handshake randomness.
  ScopedRandSubstream sub(kCertificateRandStream);
  ERR_clear_error();
  EVP_PKEY* key = nullptr;
  X509* x = nullptr;
  EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  bool ok = kctx != nullptr && EVP_PKEY_keygen_init(kctx) == 1 &&
            EVP_PKEY_CTX_set_group_name(kctx, "P-256") == 1 && EVP_PKEY_generate(kctx, &key) == 1;
  EVP_PKEY_CTX_free(kctx);
  if (ok) {
    x = X509_new();
    X509_NAME* name = x != nullptr ? X509_get_subject_name(x) : nullptr;
    // Fixed validity: no wall-clock time may reach the wire. ASN1_TIME_set_string_X509 stores
    // these as UTCTime, as RFC 5280 §4.1.2.5 requires for years before 2050.
    ok = x != nullptr && X509_set_version(x, X509_VERSION_3) == 1 &&
         ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
         ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20260101000000Z") == 1 &&
         ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20360101000000Z") == 1 &&
         name != nullptr &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>("nicsim"), -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(x, name) == 1 && X509_set_pubkey(x, key) == 1 &&
         X509_sign(x, key, EVP_sha256()) > 0;
  }
  if (!ok) {
    set_err(err, "building the server certificate failed: " + drain_openssl_errors());
    X509_free(x);
    EVP_PKEY_free(key);
    return false;
  }
  *cert_out = x;
  *key_out = key;
  return true;
}

// Returns new references (caller frees) to the certificate and key of the installed seed.
bool get_certificate(X509** cert, EVP_PKEY** key, std::string* err) {
  if (!deterministic_rand_installed()) {
    set_err(err, "install_deterministic_rand(seed) must be called before any TLS endpoint or "
                 "certificate is made (nicsim's handshakes must be a function of the seed)");
    return false;
  }
  CertCache& c = cert_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  const uint64_t seed = deterministic_rand_seed();
  if (!c.valid || c.seed != seed) {
    X509* x = nullptr;
    EVP_PKEY* k = nullptr;
    if (!build_certificate(&x, &k, err)) return false;
    X509_free(c.cert);
    EVP_PKEY_free(c.key);
    c.cert = x;
    c.key = k;
    c.seed = seed;
    c.valid = true;
  }
  X509_up_ref(c.cert);
  EVP_PKEY_up_ref(c.key);
  *cert = c.cert;
  *key = c.key;
  return true;
}

// ---- key log ---------------------------------------------------------------------------

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hex_decode(const std::string& s, std::vector<uint8_t>* out) {
  if (s.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = hex_nibble(s[i]);
    const int lo = hex_nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

// Finds "<label> <client_random hex> <secret hex>" for this connection's client random.
bool find_secret(const std::vector<std::string>& lines, const std::string& label,
                 const uint8_t client_random[32], std::vector<uint8_t>* secret) {
  for (const std::string& line : lines) {
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string::npos || line.compare(0, sp1, label) != 0) continue;
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) continue;
    std::vector<uint8_t> cr;
    if (!hex_decode(line.substr(sp1 + 1, sp2 - sp1 - 1), &cr) || cr.size() != 32 ||
        std::memcmp(cr.data(), client_random, 32) != 0)
      continue;
    if (hex_decode(line.substr(sp2 + 1), secret)) return true;
  }
  return false;
}

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

void store_be64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

const char* openssl_suite_name(crypto::TlsVersion v, crypto::Cipher c) {
  if (v == crypto::TlsVersion::tls13)
    return c == crypto::Cipher::aes128gcm ? "TLS_AES_128_GCM_SHA256" : "TLS_AES_256_GCM_SHA384";
  return c == crypto::Cipher::aes128gcm ? "ECDHE-ECDSA-AES128-GCM-SHA256"
                                        : "ECDHE-ECDSA-AES256-GCM-SHA384";
}

std::vector<uint8_t> server_certificate_der(std::string* err) {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  if (!get_certificate(&cert, &key, err)) return {};
  std::vector<uint8_t> der;
  const int n = i2d_X509(cert, nullptr);
  if (n > 0) {
    der.resize(static_cast<size_t>(n));
    unsigned char* p = der.data();
    i2d_X509(cert, &p);
  } else {
    set_err(err, "i2d_X509 failed: " + drain_openssl_errors());
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return der;
}

// ---- RecordTracker ---------------------------------------------------------------------

void TlsEndpoint::RecordTracker::push(const uint8_t* p, size_t n, bool handshake_phase) {
  // RFC 5246 §6.2.3: TLSCiphertext.length <= 2^14 + 2048 (TLS 1.3 allows less); anything longer
  // means the stream is not TLS records and nothing can be counted any more.
  constexpr size_t kMaxRecordBody = 16384 + 2048;
  // A handshake is a few kilobytes; the bound only stops a runaway stream from being buffered.
  constexpr size_t kMaxHandshakeBytes = size_t{1} << 20;
  while (!broken && n > 0) {
    // A zero-length body completes in the same pass that completes its header.
    if (hdr_len < 5) {
      const size_t take = std::min(5 - hdr_len, n);
      std::memcpy(hdr + hdr_len, p, take);
      hdr_len += take;
      p += take;
      n -= take;
      if (hdr_len < 5) break;
      body_left = static_cast<size_t>(hdr[3]) << 8 | hdr[4];
      if (body_left > kMaxRecordBody) {
        broken = true;
        break;
      }
      cur_whole = handshake_phase;
      std::memcpy(cur_prefix, hdr, 5);
      cur_prefix_len = 5;
      cur.clear();
      if (cur_whole) {
        handshake_bytes += 5 + body_left;
        if (handshake_bytes > kMaxHandshakeBytes) {
          broken = true;
          break;
        }
        cur.assign(hdr, hdr + 5);
      }
    }
    const size_t take = std::min(body_left, n);
    if (cur_prefix_len < sizeof cur_prefix) {
      const size_t t = std::min(sizeof cur_prefix - cur_prefix_len, take);
      std::memcpy(cur_prefix + cur_prefix_len, p, t);
      cur_prefix_len += t;
    }
    if (cur_whole) cur.insert(cur.end(), p, p + take);
    p += take;
    n -= take;
    body_left -= take;
    if (body_left == 0) {
      if (cur_whole) {
        handshake_records.push_back(std::move(cur));
        cur.clear();
      } else {
        ++post_records;
        std::memcpy(last_post_prefix, cur_prefix, cur_prefix_len);
        last_post_prefix_len = cur_prefix_len;
      }
      hdr_len = 0;
    }
  }
}

// ---- TlsEndpoint -----------------------------------------------------------------------

TlsEndpoint::TlsEndpoint(const TlsEndpointConfig& cfg) : cfg_(cfg), read_buf_(16384) {}

TlsEndpoint::~TlsEndpoint() {
  SSL_free(ssl_);  // frees both BIOs
  SSL_CTX_free(ctx_);
}

void TlsEndpoint::keylog_callback(const SSL* ssl, const char* line) {
  auto* self = static_cast<TlsEndpoint*>(SSL_get_ex_data(ssl, 0));
  if (self != nullptr && line != nullptr) self->keylog_.emplace_back(line);
}

std::unique_ptr<TlsEndpoint> TlsEndpoint::create(const TlsEndpointConfig& cfg,
                                                 std::string* err) {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  // Checks install_deterministic_rand for both roles, and builds the certificate (from its own
  // sub-stream) before the first connection of the seed draws anything.
  if (!get_certificate(&cert, &key, err)) return nullptr;
  std::unique_ptr<TlsEndpoint> ep(new TlsEndpoint(cfg));
  ERR_clear_error();
  auto fail_create = [&](const char* what) {
    set_err(err, std::string("TlsEndpoint::create: ") + what + ": " + drain_openssl_errors());
    X509_free(cert);
    EVP_PKEY_free(key);
    return nullptr;
  };

  ep->ctx_ = SSL_CTX_new(cfg.server ? TLS_server_method() : TLS_client_method());
  SSL_CTX* ctx = ep->ctx_;
  if (ctx == nullptr) return fail_create("SSL_CTX_new");
  const int ver = wire_version(cfg.version);
  const char* suite = openssl_suite_name(cfg.version, cfg.cipher);
  if (SSL_CTX_set_min_proto_version(ctx, ver) != 1 || SSL_CTX_set_max_proto_version(ctx, ver) != 1)
    return fail_create("pinning the protocol version");
  if (cfg.version == crypto::TlsVersion::tls13) {
    if (SSL_CTX_set_ciphersuites(ctx, suite) != 1) return fail_create("SSL_CTX_set_ciphersuites");
  } else {
    if (SSL_CTX_set_cipher_list(ctx, suite) != 1) return fail_create("SSL_CTX_set_cipher_list");
  }
  // Pinned explicitly (they are OpenSSL 3.0's first choices anyway) so that the handshake bytes
  // do not depend on a distribution's openssl.cnf or a later OpenSSL's defaults.
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1)
    return fail_create("SSL_CTX_set1_groups_list");
  if (SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256") != 1)
    return fail_create("SSL_CTX_set1_sigalgs_list");
  // No session tickets (TLS 1.2: SSL_OP_NO_TICKET; TLS 1.3: num_tickets = 0): no
  // post-handshake messages that would consume server sequence numbers, and no ticket bytes
  // (they encrypt a wall-clock timestamp). No renegotiation (it would change keys under the
  // offload). kTLS inside OpenSSL stays off: the host's emulator is the kTLS here.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
  if (SSL_CTX_set_num_tickets(ctx, 0) != 1) return fail_create("SSL_CTX_set_num_tickets");
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_keylog_callback(ctx, &TlsEndpoint::keylog_callback);
  if (cfg.server) {
    if (SSL_CTX_use_certificate(ctx, cert) != 1) return fail_create("SSL_CTX_use_certificate");
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1) return fail_create("SSL_CTX_use_PrivateKey");
    if (SSL_CTX_check_private_key(ctx) != 1) return fail_create("SSL_CTX_check_private_key");
  } else {
    // The peer trusts the synthetic server: nothing to verify it against.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  cert = nullptr;
  key = nullptr;

  ep->ssl_ = SSL_new(ctx);
  if (ep->ssl_ == nullptr) return fail_create("SSL_new");
  ep->rbio_ = BIO_new(rx_queue_method());
  ep->wbio_ = BIO_new(BIO_s_mem());
  if (ep->rbio_ == nullptr || ep->wbio_ == nullptr) {
    BIO_free(ep->rbio_);
    BIO_free(ep->wbio_);
    ep->rbio_ = ep->wbio_ = nullptr;
    return fail_create("BIO_new");
  }
  // An empty memory BIO means "more to come" (retry), not end of file.
  BIO_set_mem_eof_return(ep->wbio_, -1);
  SSL_set_bio(ep->ssl_, ep->rbio_, ep->wbio_);
  SSL_set_ex_data(ep->ssl_, 0, ep.get());
  if (cfg.server) {
    SSL_set_accept_state(ep->ssl_);
  } else {
    SSL_set_connect_state(ep->ssl_);
    if (!cfg.sni.empty() && SSL_set_tlsext_host_name(ep->ssl_, cfg.sni.c_str()) != 1)
      return fail_create("SSL_set_tlsext_host_name");
  }
  return ep;
}

void TlsEndpoint::feed(const uint8_t* data, size_t len_bytes) {
  if (failed_ || len_bytes == 0) return;
  // Track before OpenSSL sees the bytes: a record that arrives before the handshake completes
  // belongs to the handshake phase (kept whole for offload_keys' trial decryption).
  in_records_.push(data, len_bytes, !handshake_done_);
  while (len_bytes > 0) {
    const int chunk = static_cast<int>(
        std::min<size_t>(len_bytes, static_cast<size_t>(std::numeric_limits<int>::max())));
    const int w = BIO_write(rbio_, data, chunk);
    if (w <= 0) {
      fail("BIO_write to the read BIO", SSL_ERROR_SYSCALL);
      return;
    }
    data += w;
    len_bytes -= static_cast<size_t>(w);
  }
}

void TlsEndpoint::feed_borrowed(const uint8_t* data, size_t len_bytes) {
  if (failed_ || len_bytes == 0) return;
  in_records_.push(data, len_bytes, !handshake_done_);
  auto* q = static_cast<RxQueue*>(BIO_get_data(rbio_));
  q->lent.push_back({data, len_bytes});
  q->lent_left += len_bytes;
}

void TlsEndpoint::drain_output(bool handshake_phase) {
  size_t pending;
  while ((pending = BIO_ctrl_pending(wbio_)) > 0) {
    const size_t old = out_pending_.size();
    out_pending_.resize(old + pending);
    const int chunk = static_cast<int>(
        std::min<size_t>(pending, static_cast<size_t>(std::numeric_limits<int>::max())));
    const int r = BIO_read(wbio_, out_pending_.data() + old, chunk);
    const size_t got = r > 0 ? static_cast<size_t>(r) : 0;
    out_pending_.resize(old + got);
    out_records_.push(out_pending_.data() + old, got, handshake_phase);
    if (got == 0) break;
  }
}

std::vector<uint8_t> TlsEndpoint::take_output() {
  std::vector<uint8_t> out;
  out.swap(out_pending_);
  return out;
}

void TlsEndpoint::fail(const std::string& context, int ssl_error) {
  failed_ = true;
  error_ = context + " failed (" + ssl_error_name(ssl_error) + "): " + drain_openssl_errors();
  if (on_error) on_error(error_);
}

void TlsEndpoint::step() {
  step_inner();
  // Lent bytes may go away after step() returns: keep what OpenSSL has not read yet.
  static_cast<RxQueue*>(BIO_get_data(rbio_))->unlend();
}

void TlsEndpoint::step_inner() {
  if (failed_) return;
  if (!handshake_done_) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    // Everything written inside the handshake call (the final flight included) is handshake
    // phase output.
    drain_output(true);
    if (r != 1) {
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail("SSL_do_handshake", e);
      return;
    }
    handshake_done_ = true;
  }
  read_records();
}

void TlsEndpoint::read_records() {
  while (!failed_ && !peer_closed_) {
    ERR_clear_error();
    size_t got = 0;
    const int r = SSL_read_ex(ssl_, read_buf_.data(), read_buf_.size(), &got);
    const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    drain_output(false);  // alerts, or answers to post-handshake messages
    if (r == 1) {
      if (on_app_data) on_app_data(read_buf_.data(), got);
      continue;
    }
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      if (on_close_notify) on_close_notify();
      return;
    }
    fail("SSL_read", e);
  }
}

std::string TlsEndpoint::negotiated_cipher() const {
  if (!handshake_done_) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return c != nullptr ? std::string(SSL_CIPHER_get_name(c)) : std::string();
}

uint16_t TlsEndpoint::negotiated_version() const {
  return handshake_done_ ? static_cast<uint16_t>(SSL_version(ssl_)) : 0;
}

bool TlsEndpoint::offload_keys(crypto::TlsKeys* keys, uint64_t* next_rec_seq, std::string* err,
                               KeyDirection dir) {
  if (!handshake_done_) {
    set_err(err, "offload_keys: the handshake is not done");
    return false;
  }
  // The keys below assume the configured suite; OpenSSL was pinned to it, but check.
  if (negotiated_cipher() != openssl_suite_name(cfg_.version, cfg_.cipher) ||
      negotiated_version() != static_cast<uint16_t>(cfg_.version)) {
    set_err(err, "offload_keys: negotiated " + negotiated_cipher() + " / version " +
                     std::to_string(negotiated_version()) + ", configured " +
                     openssl_suite_name(cfg_.version, cfg_.cipher));
    return false;
  }
  const bool server_sends = dir == KeyDirection::server_to_client;
  const bool own_direction = server_sends == cfg_.server;
  const RecordTracker& tr = own_direction ? out_records_ : in_records_;
  if (tr.broken) {
    set_err(err, "offload_keys: the sender's byte stream is not a TLS record stream (or its "
                 "handshake phase exceeds 1 MiB); records cannot be counted");
    return false;
  }

  uint8_t client_random[32];
  uint8_t server_random[32];
  if (SSL_get_client_random(ssl_, client_random, 32) != 32 ||
      SSL_get_server_random(ssl_, server_random, 32) != 32) {
    set_err(err, "offload_keys: the handshake randoms are unavailable");
    return false;
  }
  // The suite's hash: SHA-256 for the AES-128 suites, SHA-384 for the AES-256 ones.
  const trace::PrfHash hash =
      cfg_.cipher == crypto::Cipher::aes128gcm ? trace::PrfHash::sha256 : trace::PrfHash::sha384;
  const size_t hash_len = hash == trace::PrfHash::sha256 ? 32 : 48;
  const size_t key_len = crypto::key_bytes(cfg_.cipher);

  crypto::TlsKeys k;
  k.version = cfg_.version;
  k.cipher = cfg_.cipher;
  if (cfg_.version == crypto::TlsVersion::tls13) {
    const std::string label = server_sends ? "SERVER_TRAFFIC_SECRET_0" : "CLIENT_TRAFFIC_SECRET_0";
    std::vector<uint8_t> secret;
    if (!find_secret(keylog_, label, client_random, &secret) || secret.size() != hash_len) {
      set_err(err, "offload_keys: no " + label + " of " + std::to_string(hash_len) +
                       " bytes for this connection in the key log");
      return false;
    }
    uint8_t iv12[12];
    if (!trace::tls13_traffic_keys(hash, secret, key_len, k.key, iv12)) {
      set_err(err, "offload_keys: tls13_traffic_keys failed");
      return false;
    }
    std::memcpy(k.salt, iv12, 4);
    std::memcpy(k.iv, iv12 + 4, 8);
  } else {
    std::vector<uint8_t> master;
    if (!find_secret(keylog_, "CLIENT_RANDOM", client_random, &master) || master.size() != 48) {
      set_err(err, "offload_keys: no CLIENT_RANDOM line with a 48-byte master secret for this "
                   "connection in the key log");
      return false;
    }
    uint8_t client_key[32];
    uint8_t server_key[32];
    uint8_t client_salt[4];
    uint8_t server_salt[4];
    if (!trace::tls12_gcm_keys(hash, master.data(), client_random, server_random, key_len,
                               client_key, server_key, client_salt, server_salt)) {
      set_err(err, "offload_keys: tls12_gcm_keys failed");
      return false;
    }
    std::memcpy(k.key, server_sends ? server_key : client_key, key_len);
    std::memcpy(k.salt, server_sends ? server_salt : client_salt, 4);
  }

  // Which of the sender's handshake-phase records are already under these keys: the first one
  // that opens at sequence 0 and every one after it, at consecutive sequence numbers. For
  // TLS 1.2 there must be at least the Finished; that it opens also proves the derivation.
  const auto& recs = tr.handshake_records;
  size_t first = recs.size();
  for (size_t i = 0; i < recs.size(); ++i) {
    if (crypto::tls_open_record(k, 0, recs[i].data(), recs[i].size(), nullptr, nullptr)) {
      first = i;
      break;
    }
  }
  for (size_t j = first; j < recs.size(); ++j) {
    if (!crypto::tls_open_record(k, j - first, recs[j].data(), recs[j].size(), nullptr,
                                 nullptr)) {
      set_err(err, "offload_keys: handshake-phase record " + std::to_string(j) +
                       " of the sender does not open at sequence " + std::to_string(j - first) +
                       " although record " + std::to_string(first) + " opened at 0");
      return false;
    }
  }
  const uint64_t handshake_phase_records = recs.size() - first;
  if (cfg_.version == crypto::TlsVersion::tls12 && handshake_phase_records == 0) {
    set_err(err, "offload_keys: no TLS 1.2 record of the sender opens under the derived keys "
                 "(its Finished must): the key log or the key derivation is wrong");
    return false;
  }
  const uint64_t next = handshake_phase_records + tr.post_records;

  if (cfg_.version == crypto::TlsVersion::tls12) {
    // Explicit nonce of the last record OpenSSL sent under these keys, + 1: OpenSSL's GCM
    // invocation counter increments by one per record (64-bit big-endian), so this is what it
    // would use next and what its own kTLS code would install as crypto_info.iv.
    const uint8_t* prefix = nullptr;
    if (tr.post_records > 0) {
      if (tr.last_post_prefix_len == 13) prefix = tr.last_post_prefix;
    } else {
      prefix = recs.back().data();  // size >= 13: it opened as a GCM record
    }
    if (prefix == nullptr) {
      set_err(err, "offload_keys: the sender's last record is too short for an explicit nonce");
      return false;
    }
    store_be64(load_be64(prefix + 5) + 1, k.iv);
  }
  k.rec_seq0 = next;
  if (own_direction) own_write_offloaded_ = true;
  *keys = k;
  *next_rec_seq = next;
  return true;
}

bool TlsEndpoint::write_app_data(const uint8_t* data, size_t len_bytes, std::string* err) {
  if (!handshake_done_ || failed_ || own_write_offloaded_) {
    set_err(err, !handshake_done_ ? "write_app_data: the handshake is not done"
                 : failed_        ? "write_app_data: the endpoint has failed: " + error_
                                  : "write_app_data: this direction was handed over by "
                                    "offload_keys; OpenSSL may not write in it any more");
    return false;
  }
  if (len_bytes == 0) return true;  // OpenSSL sends nothing for an empty write either
  ERR_clear_error();
  size_t written = 0;
  const int r = SSL_write_ex(ssl_, data, len_bytes, &written);
  const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
  drain_output(false);
  if (r != 1 || written != len_bytes) {
    fail("SSL_write", e);
    set_err(err, error_);
    return false;
  }
  return true;
}

bool TlsEndpoint::shutdown(std::string* err) {
  if (!handshake_done_ || failed_ || own_write_offloaded_) {
    set_err(err, !handshake_done_ ? "shutdown: the handshake is not done"
                 : failed_        ? "shutdown: the endpoint has failed: " + error_
                                  : "shutdown: this direction was handed over by offload_keys");
    return false;
  }
  ERR_clear_error();
  const int r = SSL_shutdown(ssl_);
  const int e = r >= 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
  drain_output(false);
  if (r < 0) {
    fail("SSL_shutdown", e);
    set_err(err, error_);
    return false;
  }
  return true;
}

bool run_handshake(TlsEndpoint& client, TlsEndpoint& server, std::string* err,
                   std::vector<uint8_t>* client_to_server, std::vector<uint8_t>* server_to_client,
                   int max_flights) {
  for (int i = 0; i < max_flights; ++i) {
    client.step();
    const std::vector<uint8_t> c2s = client.take_output();
    if (client_to_server != nullptr)
      client_to_server->insert(client_to_server->end(), c2s.begin(), c2s.end());
    server.feed(c2s.data(), c2s.size());
    server.step();
    const std::vector<uint8_t> s2c = server.take_output();
    if (server_to_client != nullptr)
      server_to_client->insert(server_to_client->end(), s2c.begin(), s2c.end());
    client.feed(s2c.data(), s2c.size());
    if (client.failed() || server.failed()) {
      set_err(err, client.failed() ? "client: " + client.error() : "server: " + server.error());
      return false;
    }
    if (client.handshake_done() && server.handshake_done() && c2s.empty() && s2c.empty())
      return true;
  }
  set_err(err, "run_handshake: not finished after " + std::to_string(max_flights) + " flights");
  return false;
}

}  // namespace nicsim::host::peer
