// Capture files: writing pcap (nanosecond magic 0xa1b23c4d) or pcapng (by the file's
// extension) with nanosecond timestamps, and reading pcap/pcapng through libpcap.
// A writer writes to "<path>.part" and renames on commit(), so an interrupted run never leaves
// a file that looks like a result (a device or pipe is written in place: output_file.h).
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/trace/output_file.h"
#include "host/trace/packet.h"

namespace nicsim::host::trace {

class CaptureWriter {
 public:
  CaptureWriter() = default;
  ~CaptureWriter();  // without commit(): removes the .part file
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  // Opens path (".pcapng" → pcapng, anything else → pcap) for frames of link type lt with
  // snaplen 262144. False (and error() set) when the file cannot be created or the writer is
  // already open.
  bool open(const std::string& path, LinkType lt = LinkType::ethernet);
  bool is_open() const { return f_ != nullptr; }
  // t_ns: nanoseconds since the epoch of the capture. orig_len 0 means n (the frame was not
  // cut); a frame longer than the snaplen is stored cut to 262144 bytes. An I/O error is
  // remembered in error() and makes commit() fail. No-op when not open.
  void write(uint64_t t_ns, const uint8_t* frame, size_t n, uint32_t orig_len = 0);
  // As above with an opt_comment on the packet (pcapng only; ignored for pcap; empty = none).
  void write(uint64_t t_ns, const uint8_t* frame, size_t n, uint32_t orig_len,
             const std::string& comment);
  bool commit();  // flush, close, rename; false on an I/O error (the .part file is removed)
  const std::string& error() const { return error_; }
  uint64_t frames() const { return frames_; }

 private:
  void put(const void* p, size_t n);
  void discard();  // close and remove the .part file

  std::FILE* f_ = nullptr;
  bool ng_ = false;
  std::string error_;
  std::optional<OutputFile> out_;  // where the file goes (set by open)
  uint64_t frames_ = 0;
  std::unique_ptr<char[]> buf_;  // stdio buffer: a frame per write call, so buffer a lot
};

// Streams frames out of a pcap or pcapng file (libpcap, nanosecond precision).
struct CaptureFrame {
  uint64_t t_ns = 0;
  uint32_t orig_len = 0;
  std::vector<uint8_t> bytes;  // captured bytes (may be shorter than orig_len)
  uint64_t index = 0;          // 1-based frame number, as Wireshark counts
};
class CaptureReader {
 public:
  CaptureReader() = default;
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;
  // False with error() naming the file and problem: "<path>: <libpcap's reason>", or
  // "<path>: unsupported link type N (NAME)" for anything parse_frame cannot take (accepted:
  // EN10MB, LINUX_SLL, LINUX_SLL2, RAW / IPV4 / IPV6, NULL, LOOP). Reopening closes the old file.
  bool open(const std::string& path);
  LinkType link_type() const { return lt_; }
  int raw_link_type() const { return raw_lt_; }  // libpcap's DLT_ value (pcap_datalink)
  // False at the end of the file or on an error (then error() is non-empty: e.g. a truncated
  // record, naming the frame number: "<path>: frame N: <libpcap's reason>").
  bool next(CaptureFrame* f);
  const std::string& error() const { return error_; }

 private:
  void* pcap_ = nullptr;  // pcap_t*
  LinkType lt_ = LinkType::ethernet;
  int raw_lt_ = 1;
  std::string path_, error_;
  uint64_t index_ = 0;
};

// SSLKEYLOGFILE lines (NSS format).
struct KeyLogLine {
  std::string label;                 // CLIENT_RANDOM, SERVER_TRAFFIC_SECRET_0, ...
  std::vector<uint8_t> client_random;
  std::vector<uint8_t> secret;
};
// Parses one line; false with *err set (comment and blank lines return false with err empty).
// Fields are separated by blanks; a trailing CR/LF is ignored. The client_random must be 32
// bytes (for the label RSA, NSS's 8-byte encrypted pre-master prefix instead). For labels
// is_known_keylog_label accepts, the secret length is checked (CLIENT_RANDOM: 48-byte master
// secret; TLS 1.3 secrets: 32 or 48 bytes); other labels are accepted with any non-empty
// secret (the caller decides). err messages name the field: "field 2: client_random must be
// 32 bytes (64 hex digits)". The caller adds file name and line number.
bool parse_keylog_line(const std::string& line, KeyLogLine* out, std::string* err);
// Labels parse_keylog_line knows (NSS key log format).
bool is_known_keylog_label(const std::string& label);

}  // namespace nicsim::host::trace
