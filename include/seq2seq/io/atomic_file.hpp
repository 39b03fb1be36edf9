// seq2seq: crash-safe file replacement (temporary file, fsync, rename, fsync of the directory) and
// checked whole-file reads.
#ifndef SEQ2SEQ_IO_ATOMIC_FILE_HPP
#define SEQ2SEQ_IO_ATOMIC_FILE_HPP

#if !defined(__unix__) && !defined(__APPLE__)
#error "seq2seq/io/atomic_file.hpp needs POSIX (open, fsync, rename); no other platform is supported yet"
#endif

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace seq2seq {
namespace io {

}  // namespace io
namespace detail {
using namespace seq2seq::io;  // io's internals live in the library's one detail namespace

[[noreturn]] inline void throw_io_error(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error("seq2seq: " + what + " '" + path + "': " + std::strerror(err));
}

/// Directory part of a path ("." when it has none), for the fsync that makes a rename durable.
inline std::string parent_directory(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

inline int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do fd = ::open(path, flags, mode); while (fd < 0 && errno == EINTR);
  return fd;
}

}  // namespace detail
namespace io {

/// Writes a file so that a crash (or SIGKILL) at any moment leaves either the old file or the
/// complete new one at `path`, never a mix:
///   1. create `path.tmp.<pid>.<n>` in the same directory (n: a per-process counter, so two threads
///      saving the same path do not share a temporary);
///   2. write(), then fsync the temporary;
///   3. rename it over `path` (atomic on POSIX), then fsync the directory so the rename is durable.
/// Any failure removes the temporary and throws std::runtime_error naming the path and strerror.
/// Destroying the writer without commit() removes the temporary (the old file stays as it was).
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path) : path_(std::move(path)) {
    if (path_.empty()) throw std::invalid_argument("seq2seq: cannot save to an empty path");
    static std::atomic<std::uint64_t> counter{0};
    temp_ = path_ + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." +
            std::to_string(counter.fetch_add(1));
    fd_ = detail::open_retrying(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) detail::throw_io_error("cannot create temporary file", temp_, errno);
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter() { discard(); }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

  /// Appends n bytes (handles short writes and EINTR).
  void write(const void* data, std::size_t n) {
    if (fd_ < 0) throw std::logic_error("seq2seq: AtomicFileWriter::write after commit or failure");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("cannot write", errno);
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  /// fsync, close, rename over the target, fsync the directory.
  void commit() {
    if (fd_ < 0) throw std::logic_error("seq2seq: AtomicFileWriter::commit twice or after a failure");
    int rc;
    do rc = ::fsync(fd_); while (rc != 0 && errno == EINTR);
    if (rc != 0) fail("cannot fsync", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      const int err = errno;
      ::unlink(temp_.c_str());
      detail::throw_io_error("cannot close", temp_, err);
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp_.c_str());
      detail::throw_io_error("cannot rename '" + temp_ + "' to", path_, err);
    }
    committed_ = true;
    // The new file is in place; syncing the directory makes the rename itself survive a power cut.
    // Filesystems that cannot fsync a directory report EINVAL: nothing more can be done there.
    const std::string dir = detail::parent_directory(path_);
    const int dfd = detail::open_retrying(dir.c_str(), O_RDONLY | O_CLOEXEC);
    if (dfd < 0) detail::throw_io_error("saved, but cannot open the directory to fsync it:", dir, errno);
    do rc = ::fsync(dfd); while (rc != 0 && errno == EINTR);
    const int err = errno;
    ::close(dfd);
    if (rc != 0 && err != EINVAL) detail::throw_io_error("saved, but cannot fsync the directory", dir, err);
  }

 private:
  [[noreturn]] void fail(const std::string& what, int err) {
    discard();
    detail::throw_io_error(what, temp_, err);
  }
  void discard() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
    committed_ = true;  // nothing left to clean up
  }

  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Replaces `path` with `bytes` atomically (see AtomicFileWriter).
inline void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFileWriter out(path);
  out.write(bytes);
  out.commit();
}

/// A read-only regular file: checked size and positioned reads. Errors name the path.
class InputFile {
 public:
  explicit InputFile(std::string path) : path_(std::move(path)) {
    fd_ = detail::open_retrying(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) detail::throw_io_error("cannot open", path_, errno);
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      detail::throw_io_error("cannot stat", path_, err);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw std::runtime_error("seq2seq: cannot read '" + path_ + "': not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::string& path() const { return path_; }
  /// Size when opened.
  std::uint64_t size() const { return size_; }

  /// Reads exactly n bytes at `offset` into out; throws when the file ends first (it may have
  /// shrunk since it was opened) or on an I/O error.
  void read_at(std::uint64_t offset, void* out, std::size_t n) const {
    char* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        detail::throw_io_error("cannot read", path_, errno);
      }
      if (r == 0) throw std::runtime_error("seq2seq: cannot read '" + path_ + "': file ended early (truncated while reading?)");
      p += r;
      n -= static_cast<std::size_t>(r);
      offset += static_cast<std::uint64_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// The whole file. Throws std::runtime_error naming the path on a missing, unreadable or
/// non-regular file, or when it is larger than max_bytes.
inline std::string read_file(const std::string& path, std::uint64_t max_bytes = UINT64_MAX) {
  InputFile in(path);
  if (in.size() > max_bytes)
    throw std::runtime_error("seq2seq: cannot read '" + path + "': " + std::to_string(in.size()) +
                             " bytes is more than the limit of " + std::to_string(max_bytes));
  std::string out(static_cast<std::size_t>(in.size()), '\0');
  in.read_at(0, out.data(), out.size());
  return out;
}

}  // namespace io
}  // namespace seq2seq

#endif  // SEQ2SEQ_IO_ATOMIC_FILE_HPP
