// Where an output file (capture, key log, statistics) is written, so that a failed or
// interrupted run never leaves a file that looks like a result: into "<path>.part", renamed onto
// the path once complete. Two kinds of path need otherwise:
//  * a path that is not a regular file (/dev/null, /dev/stdout, a FIFO): renaming onto it
//    would replace the device node or the link with a regular file (as root, that removed
//    /dev/full once). Such a path is written in place; there is nothing to clean up.
//  * a symbolic link to a regular file: the result replaces the file the link points to, and
//    the link stays.
#pragma once
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace nicsim::host::trace {

struct OutputFile {
  std::string path;        // as the user gave it (for messages)
  std::string write_path;  // what to open for writing
  std::string final_path;  // where the finished file goes (rename target)
  bool in_place = false;   // written directly (device, pipe): no rename, no removal

  explicit OutputFile(const std::string& p) : path(p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      in_place = true;
      write_path = final_path = p;
      return;
    }
    final_path = p;
    if (char* real = ::realpath(p.c_str(), nullptr)) {  // an existing regular file, maybe via links
      final_path = real;
      std::free(real);
    }
    write_path = final_path + ".part";
  }
  // Moves the finished file into place; false with *err set (and the .part file removed).
  bool commit(std::string* err) const {
    if (in_place) return true;
    if (std::rename(write_path.c_str(), final_path.c_str()) != 0) {
      *err = path + ": cannot rename " + write_path + " into place: " + std::strerror(errno);
      std::remove(write_path.c_str());
      return false;
    }
    return true;
  }
  // Drops an unfinished file.
  void discard() const {
    if (!in_place) std::remove(write_path.c_str());
  }
};

}  // namespace nicsim::host::trace
