// Capture files: writing pcap (nanosecond magic 0xa1b23c4d) or pcapng (by the file's
// extension) with nanosecond timestamps, and reading pcap/pcapng through libpcap.
// A writer writes to "<path>.part" and renames on commit(), so an interrupted run never leaves
// a file that looks like a result.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "host/trace/packet.h"

namespace nicsim::host::trace {

class CaptureWriter {
 public:
  CaptureWriter() = default;
  ~CaptureWriter();  // without commit(): removes the .part file
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  // Opens path (".pcapng" → pcapng, anything else → pcap) for Ethernet frames with snaplen
  // 262144. False (and error() set) when the file cannot be created.
  bool open(const std::string& path, LinkType lt = LinkType::ethernet);
  bool is_open() const { return f_ != nullptr; }
  // t_ns: nanoseconds since the epoch of the capture; comment: pcapng only (may be empty).
  void write(uint64_t t_ns, const uint8_t* frame, size_t n, uint32_t orig_len = 0);
  bool commit();  // flush, close, rename; false on an I/O error
  const std::string& error() const { return error_; }
  uint64_t frames() const { return frames_; }

 private:
  std::FILE* f_ = nullptr;
  bool ng_ = false;
  std::string path_, part_, error_;
  uint64_t frames_ = 0;
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
  ~CaptureReader();
  bool open(const std::string& path);  // false with error() naming the file and problem
  LinkType link_type() const { return lt_; }
  int raw_link_type() const { return raw_lt_; }
  // False at the end of the file or on an error (then error() is non-empty: e.g. a truncated
  // record, naming the frame number).
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
bool parse_keylog_line(const std::string& line, KeyLogLine* out, std::string* err);

}  // namespace nicsim::host::trace
