// Real TLS endpoints (OpenSSL 3.0 SSL objects on memory BIOs) for nicsim's synthetic
// connections: the host's server and the peer's client run a genuine handshake whose bytes the
// simulated TCP carries; afterwards the host's kTLS-offload emulator encrypts the server's
// application data with keys derived here from the key log (offload_keys), and the peer's
// client SSL object must decrypt every record with SSL_read. That SSL_read is the oracle of the
// whole simulator: a wrong byte anywhere on the transmit path ends in on_error.
//
// Deterministic: call install_deterministic_rand(seed) first (create() refuses otherwise); the
// same seed and the same sequence of calls give byte-identical handshakes and key logs.
// Single-threaded: an endpoint and the process-wide RAND stream must be driven from one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/peer/deterministic_rand.h"
#include "model/crypto/aes_gcm.h"
#include "model/crypto/tls_record.h"

// OpenSSL's opaque types, forward-declared so that users of this header need not include
// OpenSSL (SSL is `struct ssl_st`, SSL_CTX `struct ssl_ctx_st`, BIO `struct bio_st`).
struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace nicsim::host::peer {

struct TlsEndpointConfig {
  crypto::TlsVersion version = crypto::TlsVersion::tls13;  // pinned: min = max = this
  crypto::Cipher cipher = crypto::Cipher::aes128gcm;       // pinned: the one suite offered
  bool server = false;
  std::string sni;  // client: server_name extension when non-empty; server: ignored
};

// The single suite an endpoint with this configuration offers/accepts, in OpenSSL's spelling
// (what negotiated_cipher() returns): TLS 1.3 "TLS_AES_128_GCM_SHA256" /
// "TLS_AES_256_GCM_SHA384"; TLS 1.2 "ECDHE-ECDSA-AES128-GCM-SHA256" /
// "ECDHE-ECDSA-AES256-GCM-SHA384".
const char* openssl_suite_name(crypto::TlsVersion v, crypto::Cipher c);

// DER of the shared self-signed server certificate for the installed seed (EC P-256 key,
// subject = issuer = CN=nicsim, serial 1, validity 2026-01-01 00:00:00 .. 2036-01-01 00:00:00 UTC,
// ecdsa-with-SHA256). Built lazily from its own RAND sub-stream (kCertificateRandStream), so it
// is a function of the seed alone and building it does not move the main stream. Empty (and
// *err set) when install_deterministic_rand was not called or OpenSSL fails.
std::vector<uint8_t> server_certificate_der(std::string* err);

// Which sender's application-traffic keys offload_keys derives.
enum class KeyDirection { server_to_client, client_to_server };

class TlsEndpoint {
 public:
  static std::unique_ptr<TlsEndpoint> create(const TlsEndpointConfig& cfg, std::string* err);
  ~TlsEndpoint();
  TlsEndpoint(const TlsEndpoint&) = delete;
  TlsEndpoint& operator=(const TlsEndpoint&) = delete;

  // Bytes received from the transport, in order, any chunking. Ignored once failed().
  void feed(const uint8_t* data, size_t len_bytes);
  // The same, but OpenSSL reads the bytes where they are (no copy into the read queue): they
  // must stay valid and unchanged until the next step() returns, which keeps a copy of
  // whatever it did not consume. Saves a copy of every received byte.
  void feed_borrowed(const uint8_t* data, size_t len_bytes);
  // Drives OpenSSL: the handshake until it completes; afterwards reads every complete record
  // fed so far, delivering plaintext through on_app_data (one call per SSL_read, i.e. per
  // non-empty record; empty records deliver nothing), close_notify through on_close_notify
  // (once; nothing is read after it) and any failure (bad record MAC, unexpected message, a
  // malformed record, an alert from the other side...) through on_error, after which the
  // endpoint is failed() and inert. Callbacks run inside step() and must not call feed(),
  // step(), write_app_data() or shutdown() on this endpoint.
  void step();
  // Bytes OpenSSL wants sent (handshake flights, alerts, write_app_data records), oldest
  // first; the internal buffer is emptied.
  std::vector<uint8_t> take_output();
  size_t output_pending_bytes() const { return out_pending_.size(); }

  bool is_server() const { return cfg_.server; }
  const TlsEndpointConfig& config() const { return cfg_; }
  bool handshake_done() const { return handshake_done_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }  // the on_error text, empty if none
  bool peer_closed() const { return peer_closed_; }    // close_notify received
  // OpenSSL's name of the negotiated suite (see openssl_suite_name); "" before the handshake.
  std::string negotiated_cipher() const;
  // The negotiated protocol version as on the wire (0x0303, 0x0304); 0 before the handshake.
  uint16_t negotiated_version() const;

  // Application-traffic keys of one direction for an installer that takes that direction over
  // from this SSL object (the host's kTLS offload: server_to_client on the server endpoint),
  // in the kernel's crypto_info form:
  //  TLS 1.3: from <SERVER|CLIENT>_TRAFFIC_SECRET_0 of the key log, key and the 12-byte static
  //   IV (RFC 8446 §7.3) split as salt = iv[0..3], iv = iv[4..11].
  //  TLS 1.2: from CLIENT_RANDOM <master> (extended master secret changes how the master is
  //   made, not the line nor the key expansion) and the handshake's randoms: the sender's write
  //   key and 4-byte salt; iv = the 8-byte explicit nonce of record *next_rec_seq, i.e. the
  //   explicit nonce of the last record OpenSSL sent under these keys + 1. That is OpenSSL's
  //   own next GCM invocation field (ktls_configure_crypto reads it the same way with
  //   EVP_CIPHER_CTX_get_updated_iv); it starts at a random value drawn at key setup, NOT at
  //   BE64(seq). The peer accepts any explicit nonce (it is read from the record).
  // *next_rec_seq = the record number of the first record the installer sends: the number of
  // records this endpoint has seen the sender protect under these keys. It is measured, not
  // assumed: every record of the handshake phase is trial-decrypted with the derived keys (the
  // ones that open, at consecutive sequence numbers from 0, are the sender's records under
  // these keys) and records after the handshake are counted. With tickets disabled this gives
  // 1 for TLS 1.2 (the Finished, seq 0) and 0 for TLS 1.3. keys->rec_seq0 = *next_rec_seq.
  // The sender's records are this endpoint's own output (when it is the sender) or its input.
  // Asking for this endpoint's own write direction hands that direction over: afterwards
  // write_app_data() and shutdown() refuse, since OpenSSL's sequence number would collide with
  // the installer's. False with *err when the handshake is not done, the suite is not the
  // configured one, the key log lacks the secret, or the record check fails.
  bool offload_keys(crypto::TlsKeys* keys, uint64_t* next_rec_seq, std::string* err,
                    KeyDirection dir = KeyDirection::server_to_client);

  // The key log in NSS SSLKEYLOGFILE format, one line per entry, without newlines, in the
  // order OpenSSL produced them.
  std::vector<std::string> keylog_lines() const { return keylog_; }

  // Software TLS write through this SSL object (e.g. the peer's request, or tests): records go
  // to take_output(). Refused before the handshake, after failure, or once this endpoint's own
  // write direction was handed over by offload_keys.
  bool write_app_data(const uint8_t* data, size_t len_bytes, std::string* err);
  // Sends close_notify through OpenSSL (same refusals as write_app_data).
  bool shutdown(std::string* err);

  std::function<void(const uint8_t* data, size_t len_bytes)> on_app_data;
  std::function<void()> on_close_notify;
  std::function<void(const std::string& what)> on_error;

 private:
  void step_inner();
  // Follows one direction's record stream without buffering it once the handshake is over:
  // records that start during the handshake are kept whole (for the trial decryption of
  // offload_keys; bounded), later ones are only counted, keeping the last one's first 13 bytes
  // (header + TLS 1.2 explicit nonce).
  struct RecordTracker {
    std::vector<std::vector<uint8_t>> handshake_records;
    uint64_t post_records = 0;
    uint8_t last_post_prefix[13] = {};
    size_t last_post_prefix_len = 0;
    bool broken = false;  // a header with an impossible length, or too many handshake bytes
    size_t handshake_bytes = 0;
    // parser state
    uint8_t hdr[5] = {};
    size_t hdr_len = 0;
    size_t body_left = 0;
    bool cur_whole = false;
    std::vector<uint8_t> cur;
    uint8_t cur_prefix[13] = {};
    size_t cur_prefix_len = 0;

    void push(const uint8_t* p, size_t n, bool handshake_phase);
  };

  explicit TlsEndpoint(const TlsEndpointConfig& cfg);
  static void keylog_callback(const ssl_st* ssl, const char* line);
  void drain_output(bool handshake_phase);
  void read_records();
  void fail(const std::string& context, int ssl_error);

  TlsEndpointConfig cfg_;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;  // owned by ssl_
  bio_st* wbio_ = nullptr;  // owned by ssl_
  bool handshake_done_ = false;
  bool failed_ = false;
  bool peer_closed_ = false;
  bool own_write_offloaded_ = false;
  std::string error_;
  std::vector<uint8_t> out_pending_;
  std::vector<uint8_t> read_buf_;
  std::vector<std::string> keylog_;
  RecordTracker out_records_;
  RecordTracker in_records_;
};

// Runs the handshake between two endpoints in memory, carrying every flight whole from one to
// the other, until both are done and nothing is left to send. The byte streams each way are
// appended to *client_to_server / *server_to_client when given. False with *err if either side
// fails or the handshake does not finish within max_flights exchanges.
bool run_handshake(TlsEndpoint& client, TlsEndpoint& server, std::string* err,
                   std::vector<uint8_t>* client_to_server = nullptr,
                   std::vector<uint8_t>* server_to_client = nullptr, int max_flights = 16);

}  // namespace nicsim::host::peer
