// seq2seq: the safetensors file format (read and write), hardened for files we did not write.
#ifndef SEQ2SEQ_IO_SAFETENSORS_HPP
#define SEQ2SEQ_IO_SAFETENSORS_HPP

#include "../config.hpp"
#include "../detail/fnv1a.hpp"
#include "atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// File layout (https://github.com/huggingface/safetensors, "Format"):
//
//   [8 bytes]  N, the header length, unsigned 64-bit little-endian
//   [N bytes]  JSON header, UTF-8, padded at the end with spaces (we pad so that 8 + N is a multiple
//              of 8, which aligns the data section):
//                { "__metadata__": { "key": "value", ... },              (strings only)
//                  "encoder.layer0.W": { "dtype": "F32", "shape": [rows, cols],
//                                        "data_offsets": [begin, end] }, ... }
//   [rest]     the data section: every tensor's elements, little-endian, ROW-MAJOR (C order), at
//              [begin, end) relative to the start of the data section.
//
// Our matrices are column-major, so each is written transposed in memory: a rows x cols Matrix is
// stored with shape [rows, cols] in row-major order, exactly how numpy/torch read it (an LSTM
// W: 4H x I loads as the same 4H x I array as torch's weight_ih). Vectors (n x 1) are [n, 1].
//
// seq2seq's own keys in __metadata__ (all values strings):
//   "seq2seq.format_version"  "1"; a reader refuses versions newer than it knows.
//   "seq2seq.checksum"        FNV-1a 64 of the whole data section, 16 lowercase hex digits.
//   "seq2seq.header_checksum" FNV-1a 64 of the N header bytes (padding included) in which the 16
//                             digits of this very value are replaced by ASCII '0', in hex.
// FNV-1a 64: h = 0xcbf29ce484222325; for each byte b: h = (h ^ b) * 0x100000001b3 (mod 2^64).
// Any change of a single byte changes the hash (each step is a bijection of h), so every bit flip
// in the data or in the header is detected; random damage goes unnoticed with probability 2^-64.
// In Python: h = 0xcbf29ce484222325; for b in data: h = ((h ^ b) * 0x100000001b3) & (2**64 - 1).
//
// Reading validates before it allocates or reads: the header length (at least 2, at most
// max_header_bytes and within the file), JSON syntax, nesting depth, duplicate keys, every dtype,
// shape and offset (products without overflow, size == end - begin, tensors tiling the data section
// exactly, without gaps or overlaps), then the format version and both checksums. Every failure is
// a std::invalid_argument "seq2seq: checkpoint '<file>': ..." (std::runtime_error for I/O errors).

namespace seq2seq {
namespace io {

/// safetensors element types.
enum class DType { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

inline std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::BOOL: return "BOOL";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
    case DType::F8_E5M2: return "F8_E5M2";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::I16: return "I16";
    case DType::U16: return "U16";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::U32: return "U32";
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::U64: return "U64";
  }
  return "?";
}

inline std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::BOOL: case DType::U8: case DType::I8: case DType::F8_E5M2: case DType::F8_E4M3: return 1;
    case DType::I16: case DType::U16: case DType::F16: case DType::BF16: return 2;
    case DType::I32: case DType::U32: case DType::F32: return 4;
    case DType::F64: case DType::I64: case DType::U64: return 8;
  }
  return 0;
}

/// False when `name` is not a safetensors dtype.
inline bool parse_dtype(std::string_view name, DType& out) {
  static constexpr DType all[] = {DType::BOOL, DType::U8,  DType::I8,  DType::F8_E5M2, DType::F8_E4M3,
                                  DType::I16,  DType::U16, DType::F16, DType::BF16,    DType::I32,
                                  DType::U32,  DType::F32, DType::F64, DType::I64,     DType::U64};
  for (DType d : all)
    if (dtype_name(d) == name) {
      out = d;
      return true;
    }
  return false;
}

/// The dtype of a C++ element type we read and write.
template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> : std::integral_constant<DType, DType::F32> {};
template <>
struct dtype_of<double> : std::integral_constant<DType, DType::F64> {};
template <>
struct dtype_of<std::int32_t> : std::integral_constant<DType, DType::I32> {};
template <>
struct dtype_of<std::int64_t> : std::integral_constant<DType, DType::I64> {};

}  // namespace io
namespace detail {
using namespace seq2seq::io;  // io's internals live in the library's one detail namespace
using detail::require;

template <typename T, typename = void>
struct has_dtype : std::false_type {};
template <typename T>
struct has_dtype<T, std::void_t<decltype(dtype_of<T>::value)>> : std::true_type {};
}  // namespace detail
namespace io {

/// One tensor as described by the header. Offsets are relative to the data section.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  std::uint64_t num_elements() const {
    std::uint64_t n = 1;
    for (std::uint64_t d : shape) n *= d;  // validated at parse time: no overflow
    return n;
  }
  /// "[rows, cols]".
  std::string shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
  /// True when this tensor can be read into a rows x cols matrix: shape [rows, cols], or [rows]
  /// when cols == 1 (1-D vectors as written by other tools).
  bool matches(Index rows, Index cols) const {
    if (rows < 0 || cols < 0) return false;
    const auto r = static_cast<std::uint64_t>(rows), c = static_cast<std::uint64_t>(cols);
    if (shape.size() == 2) return shape[0] == r && shape[1] == c;
    if (shape.size() == 1) return shape[0] == r && c == 1;
    return false;
  }
};

/// Limits and names of the format.
constexpr std::uint64_t max_header_bytes = std::uint64_t(100) << 20;  // 100 MiB
constexpr int max_header_depth = 8;
constexpr std::uint64_t max_dimension = std::uint64_t(1) << 62;
constexpr int format_version = 1;
constexpr const char* key_format_version = "seq2seq.format_version";
constexpr const char* key_checksum = "seq2seq.checksum";
constexpr const char* key_header_checksum = "seq2seq.header_checksum";

// The checksums are FNV-1a 64 (detail/fnv1a.hpp); io:: spellings kept.
using detail::fnv1a64;
using detail::fnv1a64_offset_basis;

/// 16 lowercase hex digits.
inline std::string hex64(std::uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 0xf];
  return s;
}

/// Options of the readers.
struct ReadOptions {
  /// When true (the default), a file without "seq2seq.format_version" is refused. When false, other
  /// tools' safetensors files are accepted (their structure is still fully validated, and our
  /// checksums are checked whenever the file has a seq2seq format version).
  bool require_seq2seq = true;
};

}  // namespace io
namespace detail {
using namespace seq2seq::io;  // io's internals live in the library's one detail namespace

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool host_big_endian = true;
#else
constexpr bool host_big_endian = false;
#endif

/// Little-endian bytes of v (N = sizeof v).
template <typename T>
inline void store_le(unsigned char* dst, T v) {
  std::memcpy(dst, &v, sizeof(T));
  if constexpr (host_big_endian) std::reverse(dst, dst + sizeof(T));
}
template <typename T>
inline T load_le(const unsigned char* src) {
  T v;
  if constexpr (host_big_endian) {
    unsigned char tmp[sizeof(T)];
    std::reverse_copy(src, src + sizeof(T), tmp);
    std::memcpy(&v, tmp, sizeof(T));
  } else {
    std::memcpy(&v, src, sizeof(T));
  }
  return v;
}

/// Rows [r0, r1) of a column-major rows x cols matrix at `data`, row-major little-endian into out.
template <typename Scalar>
inline void encode_rows(const void* data, Index rows, Index cols, Index r0, Index r1, unsigned char* out) {
  const Scalar* m = static_cast<const Scalar*>(data);
  for (Index j = 0; j < cols; ++j) {
    const Scalar* col = m + j * rows;
    for (Index i = r0; i < r1; ++i)
      store_le<Scalar>(out + static_cast<std::size_t>((i - r0) * cols + j) * sizeof(Scalar), col[i]);
  }
}

[[noreturn]] inline void bad_file(const std::string& source, const std::string& what) {
  throw std::invalid_argument("seq2seq: checkpoint '" + source + "': " + what);
}

/// Deepest nesting of {} and [] outside strings (so deeply nested input never reaches the parser).
inline int json_depth(std::string_view s) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char ch : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > max_header_depth) return deepest;
    } else if (ch == '}' || ch == ']') {
      --depth;
    }
  }
  return deepest;
}

/// Strict decimal parse of a non-negative int (1 to 9 digits).
inline bool parse_small_uint(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

inline bool parse_hex64(std::string_view s, std::uint64_t& out) {
  if (s.size() != 16) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return false;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  out = v;
  return true;
}

/// `"seq2seq.header_checksum":"` as it appears in a compact dump. A JSON string cannot contain this
/// sequence unescaped (every '"' inside a string is preceded by '\'), so it occurs once: as the key.
inline std::string header_checksum_pattern() { return std::string("\"") + key_header_checksum + "\":\""; }

struct ParsedHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin
  std::map<std::string, std::string> metadata;
  bool has_data_checksum = false;
  std::uint64_t data_checksum = 0;
};

/// Validates a header (raw JSON bytes, padding included) for a data section of data_size bytes.
inline ParsedHeader parse_header(std::string_view header, std::uint64_t data_size, const std::string& source,
                                 const ReadOptions& options) {
  using json = nlohmann::json;
  if (json_depth(header) > max_header_depth)
    bad_file(source, "header JSON is nested deeper than " + std::to_string(max_header_depth) + " levels");

  // Duplicate keys: nlohmann keeps one silently, the format forbids them. Track keys per object.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json root;
  try {
    root = json::parse(header.begin(), header.end(), track, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    bad_file(source, std::string("header is not valid JSON (corrupt or truncated file?): ") + e.what());
  }
  if (!duplicate.empty()) bad_file(source, "header has the key '" + duplicate + "' twice");
  if (!root.is_object()) bad_file(source, "header is not a JSON object");

  ParsedHeader out;
  // Metadata first: the format version decides how to read the rest.
  if (auto it = root.find("__metadata__"); it != root.end()) {
    if (!it->is_object()) bad_file(source, "__metadata__ is not a JSON object");
    for (auto m = it->begin(); m != it->end(); ++m) {
      if (!m.value().is_string()) bad_file(source, "__metadata__ value of '" + m.key() + "' is not a string");
      out.metadata.emplace(m.key(), m.value().get<std::string>());
    }
  }
  const auto version_it = out.metadata.find(key_format_version);
  const bool ours = version_it != out.metadata.end();
  if (!ours && options.require_seq2seq)
    bad_file(source, std::string("not a seq2seq checkpoint (no \"") + key_format_version + "\" in __metadata__)");
  if (ours) {
    int version = 0;
    if (!parse_small_uint(version_it->second, version))
      bad_file(source, "format version '" + version_it->second + "' is not a number");
    if (version > format_version)
      bad_file(source, "written by a newer seq2seq (checkpoint format version " + std::to_string(version) +
                           "; this build reads version " + std::to_string(format_version) + " and older)");
    if (version < 1) bad_file(source, "unsupported checkpoint format version " + std::to_string(version));

    // Header checksum over the raw bytes with its own 16 digits zeroed.
    const auto hc = out.metadata.find(key_header_checksum);
    if (hc == out.metadata.end()) bad_file(source, std::string("header has no \"") + key_header_checksum + "\"");
    std::uint64_t stored = 0;
    if (!parse_hex64(hc->second, stored)) bad_file(source, "header checksum '" + hc->second + "' is not 16 hex digits");
    const std::string pattern = header_checksum_pattern();
    const std::size_t at = header.find(pattern);
    if (at == std::string_view::npos || header.find(pattern, at + 1) != std::string_view::npos ||
        at + pattern.size() + 17 > header.size() || header.substr(at + pattern.size(), 16) != hc->second ||
        header[at + pattern.size() + 16] != '"')
      bad_file(source, "header checksum field is not where this format puts it (header rewritten or corrupt)");
    std::string zeroed(header);
    std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(at + pattern.size()), 16, '0');
    const std::uint64_t actual = fnv1a64(zeroed.data(), zeroed.size());
    if (actual != stored)
      bad_file(source, "header checksum mismatch (stored " + hc->second + ", computed " + hex64(actual) +
                           "): the file is corrupt");

    const auto dc = out.metadata.find(key_checksum);
    if (dc == out.metadata.end()) bad_file(source, std::string("header has no \"") + key_checksum + "\"");
    if (!parse_hex64(dc->second, out.data_checksum))
      bad_file(source, "data checksum '" + dc->second + "' is not 16 hex digits");
    out.has_data_checksum = true;
  }

  // Tensors.
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name.empty()) bad_file(source, "a tensor has an empty name");
    if (!entry.is_object()) bad_file(source, "entry of tensor '" + name + "' is not a JSON object");
    for (auto f = entry.begin(); f != entry.end(); ++f)
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
        bad_file(source, "tensor '" + name + "' has an unknown field '" + f.key() + "'");
    TensorInfo t;
    t.name = name;

    const auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string()) bad_file(source, "tensor '" + name + "' has no dtype string");
    if (!parse_dtype(dtype->get<std::string>(), t.dtype))
      bad_file(source, "tensor '" + name + "' has an unknown dtype '" + dtype->get<std::string>() + "'");

    const auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) bad_file(source, "tensor '" + name + "' has no shape array");
    std::uint64_t elements = 1;
    bool overflow = false;
    for (const json& d : *shape) {
      if (!d.is_number_unsigned())
        bad_file(source, "tensor '" + name + "': shape " + shape->dump() + " is not a list of non-negative integers");
      const std::uint64_t v = d.get<std::uint64_t>();
      if (v > max_dimension) bad_file(source, "tensor '" + name + "': dimension " + std::to_string(v) + " is too large");
      t.shape.push_back(v);
      if (v != 0 && elements > std::numeric_limits<std::uint64_t>::max() / v) overflow = true;
      elements *= v;
    }
    const std::uint64_t esize = dtype_size(t.dtype);
    if (overflow || elements > std::numeric_limits<std::uint64_t>::max() / esize)
      bad_file(source, "tensor '" + name + "': shape " + t.shape_string() + " is too large");

    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      bad_file(source, "tensor '" + name + "' has no data_offsets [begin, end] of non-negative integers");
    t.begin = (*offsets)[0].get<std::uint64_t>();
    t.end = (*offsets)[1].get<std::uint64_t>();
    if (t.begin > t.end || t.end > data_size)
      bad_file(source, "tensor '" + name + "': data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                           "] are outside the data section of " + std::to_string(data_size) + " bytes (truncated?)");
    if (t.end - t.begin != elements * esize)
      bad_file(source, "tensor '" + name + "': " + std::string(dtype_name(t.dtype)) + " " + t.shape_string() + " needs " +
                           std::to_string(elements * esize) + " bytes but data_offsets give " +
                           std::to_string(t.end - t.begin));
    out.tensors.push_back(std::move(t));
  }

  // The tensors must tile the data section exactly: no gap, no overlap, nothing left over.
  std::sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  for (const TensorInfo& t : out.tensors) {
    if (t.begin < cursor) bad_file(source, "tensor '" + t.name + "' overlaps the tensor before it");
    if (t.begin > cursor)
      bad_file(source, "bytes [" + std::to_string(cursor) + ", " + std::to_string(t.begin) +
                           ") of the data section belong to no tensor");
    cursor = t.end;
  }
  if (cursor != data_size)
    bad_file(source, "the data section has " + std::to_string(data_size) + " bytes but its tensors cover " +
                         std::to_string(cursor));
  return out;
}

}  // namespace detail
namespace io {

/// A validated safetensors file: header always, data section once loaded.
///
///   SafetensorsFile f = SafetensorsFile::open("model.safetensors");  // header only, validated
///   ... compare f.tensors() with what you expect ...
///   f.load_data();                                                    // reads data, checks checksum
///   f.read_into(*f.find("encoder.layer0.W"), W);
class SafetensorsFile {
 public:
  /// Reads and validates the header of `path` (the data section is not read yet).
  static SafetensorsFile open(const std::string& path, const ReadOptions& options = ReadOptions()) {
    SafetensorsFile f;
    f.source_ = path;
    f.path_ = path;
    InputFile in(path);
    f.file_size_ = in.size();
    unsigned char len[8];
    if (in.size() < 8)
      detail::bad_file(path, "file has " + std::to_string(in.size()) + " bytes, too few for the 8-byte header length (truncated?)");
    in.read_at(0, len, 8);
    f.header_size_ = check_header_length(detail::load_le<std::uint64_t>(len), in.size(), path);
    std::string header(static_cast<std::size_t>(f.header_size_), '\0');
    in.read_at(8, header.data(), header.size());
    f.data_size_ = in.size() - 8 - f.header_size_;
    f.header_ = detail::parse_header(header, f.data_size_, path, options);
    return f;
  }

  /// Parses and validates a whole file held in memory, data checksum included (for tests, fuzzing
  /// and embedded resources). `name` is used in error messages.
  static SafetensorsFile from_bytes(std::string bytes, const ReadOptions& options = ReadOptions(),
                                    std::string name = "<memory>") {
    SafetensorsFile f;
    f.source_ = std::move(name);
    f.file_size_ = bytes.size();
    if (bytes.size() < 8)
      detail::bad_file(f.source_, "file has " + std::to_string(bytes.size()) +
                                      " bytes, too few for the 8-byte header length (truncated?)");
    f.header_size_ = check_header_length(detail::load_le<std::uint64_t>(reinterpret_cast<const unsigned char*>(bytes.data())),
                                         bytes.size(), f.source_);
    f.data_size_ = bytes.size() - 8 - f.header_size_;
    f.header_ = detail::parse_header(std::string_view(bytes).substr(8, static_cast<std::size_t>(f.header_size_)),
                                     f.data_size_, f.source_, options);
    f.data_offset_ = static_cast<std::size_t>(8 + f.header_size_);
    f.buffer_ = std::move(bytes);
    f.verify_data();
    f.loaded_ = true;
    return f;
  }

  /// File path, or the name given to from_bytes.
  const std::string& source() const { return source_; }
  /// Every __metadata__ entry, seq2seq's own keys included.
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  /// Tensors in data-section order.
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  /// nullptr when there is no tensor of that name.
  const TensorInfo* find(std::string_view name) const {
    for (const TensorInfo& t : header_.tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  std::uint64_t header_size() const { return header_size_; }
  std::uint64_t data_size() const { return data_size_; }
  bool data_loaded() const { return loaded_; }

  /// Reads the data section (exactly data_size() bytes, all of it described by validated tensors)
  /// and verifies its checksum. No-op when already loaded.
  void load_data() {
    if (loaded_) return;
    InputFile in(path_);
    if (in.size() != file_size_)
      throw std::runtime_error("seq2seq: checkpoint '" + source_ + "' changed size while being read");
    std::string data(static_cast<std::size_t>(data_size_), '\0');
    in.read_at(8 + header_size_, data.data(), data.size());
    buffer_ = std::move(data);
    data_offset_ = 0;
    verify_data();
    loaded_ = true;
  }

  /// Reads tensor t into out (resized: [r, c] -> r x c, [n] -> n x 1, [] -> 1 x 1). The dtype must
  /// be Scalar's exactly: no silent conversion.
  template <typename Scalar>
  void read(const TensorInfo& t, Matrix<Scalar>& out) const {
    Index rows = 1, cols = 1;
    if (t.shape.size() == 2) {
      rows = static_cast<Index>(t.shape[0]);
      cols = static_cast<Index>(t.shape[1]);
    } else if (t.shape.size() == 1) {
      rows = static_cast<Index>(t.shape[0]);
    } else if (!t.shape.empty()) {
      detail::bad_file(source_, "tensor '" + t.name + "' has shape " + t.shape_string() + ", not a matrix");
    }
    check_dtype<Scalar>(t);
    out.resize(rows, cols);
    decode(t, out);
  }

  /// Reads tensor t into out, which must already have t's shape (so nothing is allocated).
  template <typename Scalar>
  void read_into(const TensorInfo& t, Matrix<Scalar>& out) const {
    check_dtype<Scalar>(t);
    if (!t.matches(out.rows(), out.cols()))
      detail::bad_file(source_, "tensor '" + t.name + "' has shape " + t.shape_string() + ", expected [" +
                                    std::to_string(out.rows()) + ", " + std::to_string(out.cols()) + "]");
    decode(t, out);
  }

 private:
  static std::uint64_t check_header_length(std::uint64_t n, std::uint64_t file_size, const std::string& source) {
    if (n < 2) detail::bad_file(source, "header length " + std::to_string(n) + " is too small for a JSON object");
    if (n > max_header_bytes)
      detail::bad_file(source, "header length " + std::to_string(n) + " exceeds the limit of " +
                                   std::to_string(max_header_bytes) + " bytes (corrupt file?)");
    if (n > file_size - 8)
      detail::bad_file(source, "header length " + std::to_string(n) + " exceeds the " + std::to_string(file_size - 8) +
                                   " bytes after it (truncated file?)");
    return n;
  }

  void verify_data() const {
    if (!header_.has_data_checksum) return;
    const std::uint64_t actual = fnv1a64(buffer_.data() + data_offset_, static_cast<std::size_t>(data_size_));
    if (actual != header_.data_checksum)
      detail::bad_file(source_, "data checksum mismatch (stored " + hex64(header_.data_checksum) + ", computed " +
                                    hex64(actual) + "): the tensor data is corrupt");
  }

  template <typename Scalar>
  void check_dtype(const TensorInfo& t) const {
    static_assert(detail::has_dtype<Scalar>::value, "seq2seq::io: no safetensors dtype for this Scalar");
    if (t.dtype != dtype_of<Scalar>::value)
      detail::bad_file(source_, "tensor '" + t.name + "' is " + std::string(dtype_name(t.dtype)) + ", expected " +
                                    std::string(dtype_name(dtype_of<Scalar>::value)));
  }

  template <typename Scalar>
  void decode(const TensorInfo& t, Matrix<Scalar>& out) const {
    if (!loaded_) throw std::logic_error("seq2seq: SafetensorsFile: call load_data() before reading tensors");
    const unsigned char* src = reinterpret_cast<const unsigned char*>(buffer_.data()) + data_offset_ + t.begin;
    const Index rows = out.rows(), cols = out.cols();
    if (rows == 0 || cols == 0) return;
    // Row-major in the file, column-major in memory: transpose in blocks of rows (about 64 KiB of
    // the file each) so both sides stay in cache.
    const Index block_rows = std::max<Index>(1, static_cast<Index>(65536 / (static_cast<std::size_t>(cols) * sizeof(Scalar))));
    for (Index r0 = 0; r0 < rows; r0 += block_rows) {
      const Index r1 = std::min(rows, r0 + block_rows);
      for (Index j = 0; j < cols; ++j)
        for (Index i = r0; i < r1; ++i)
          out(i, j) = detail::load_le<Scalar>(src + static_cast<std::size_t>(i * cols + j) * sizeof(Scalar));
    }
  }

  std::string source_;
  std::string path_;  // empty for from_bytes
  std::uint64_t file_size_ = 0;
  std::uint64_t header_size_ = 0;
  std::uint64_t data_size_ = 0;
  detail::ParsedHeader header_;
  std::string buffer_;           // the data section at data_offset_ (from_bytes: the whole file)
  std::size_t data_offset_ = 0;
  bool loaded_ = false;
};

/// Builds a safetensors file from matrices (referenced, not copied: they must stay alive and
/// unchanged until write()/to_bytes() returns) and string metadata. The data is streamed twice
/// (checksum, then write) in blocks of about 64 KiB, so saving needs no copy of the model.
class SafetensorsWriter {
 public:
  /// Adds `m` as tensor `name` with shape [rows, cols], dtype from Scalar.
  template <typename Scalar>
  void add(std::string name, const Matrix<Scalar>& m) {
    static_assert(detail::has_dtype<Scalar>::value, "seq2seq::io::SafetensorsWriter: no safetensors dtype for this Scalar");
    detail::require(!name.empty(), "SafetensorsWriter: empty tensor name");
    detail::require(name != "__metadata__", "SafetensorsWriter: '__metadata__' cannot name a tensor");
    for (const Entry& e : entries_) detail::require(e.name != name, "SafetensorsWriter: tensor '" + name + "' added twice");
    entries_.push_back(Entry{std::move(name), dtype_of<Scalar>::value, m.rows(), m.cols(), m.data(), sizeof(Scalar),
                             &detail::encode_rows<Scalar>});
  }

  /// Adds a metadata entry (replacing an earlier value of the same key). The integrity keys
  /// (format version and checksums) are written by the writer and cannot be set.
  void add_metadata(std::string key, std::string value) {
    detail::require(key != key_format_version && key != key_checksum && key != key_header_checksum,
                    "SafetensorsWriter: metadata key '" + key + "' is reserved");
    metadata_[std::move(key)] = std::move(value);
  }

  std::size_t num_tensors() const { return entries_.size(); }

  /// Writes the file atomically (io/atomic_file.hpp).
  void write(const std::string& path) const {
    const std::uint64_t checksum = data_checksum();
    const std::string header = build_header(checksum);
    AtomicFileWriter out(path);
    unsigned char len[8];
    detail::store_le<std::uint64_t>(len, header.size());
    out.write(len, 8);
    out.write(header);
    emit_data([&](const unsigned char* p, std::size_t n) { out.write(p, n); });
    out.commit();
  }

  /// The whole file in memory.
  std::string to_bytes() const {
    const std::string header = build_header(data_checksum());
    std::string out(8, '\0');
    detail::store_le<std::uint64_t>(reinterpret_cast<unsigned char*>(out.data()), header.size());
    out += header;
    emit_data([&](const unsigned char* p, std::size_t n) { out.append(reinterpret_cast<const char*>(p), n); });
    return out;
  }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    Index rows, cols;
    const void* data;  // column-major
    std::size_t elem;
    void (*encode)(const void*, Index, Index, Index, Index, unsigned char*);
    std::uint64_t bytes() const { return static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) * elem; }
  };

  /// sink(bytes, n) over the data section, tensor by tensor, each in blocks of rows.
  template <typename Sink>
  void emit_data(Sink&& sink) const {
    constexpr std::size_t block_bytes = 64 * 1024;
    std::vector<unsigned char> buf;
    for (const Entry& e : entries_) {
      if (e.rows == 0 || e.cols == 0) continue;
      const std::size_t row_bytes = static_cast<std::size_t>(e.cols) * e.elem;
      const Index block_rows = std::max<Index>(1, static_cast<Index>(block_bytes / row_bytes));
      buf.resize(static_cast<std::size_t>(std::min(block_rows, e.rows)) * row_bytes);
      for (Index r0 = 0; r0 < e.rows; r0 += block_rows) {
        const Index r1 = std::min(e.rows, r0 + block_rows);
        e.encode(e.data, e.rows, e.cols, r0, r1, buf.data());
        sink(buf.data(), static_cast<std::size_t>(r1 - r0) * row_bytes);
      }
    }
  }

  std::uint64_t data_checksum() const {
    std::uint64_t h = fnv1a64_offset_basis;
    emit_data([&](const unsigned char* p, std::size_t n) { h = fnv1a64(p, n, h); });
    return h;
  }

  std::string build_header(std::uint64_t data_checksum) const {
    using json = nlohmann::json;
    json meta = json::object();
    for (const auto& kv : metadata_) meta[kv.first] = kv.second;
    meta[key_format_version] = std::to_string(format_version);
    meta[key_checksum] = hex64(data_checksum);
    meta[key_header_checksum] = std::string(16, '0');
    json root = json::object();
    root["__metadata__"] = std::move(meta);
    std::uint64_t offset = 0;
    for (const Entry& e : entries_) {
      json t = json::object();
      t["dtype"] = std::string(dtype_name(e.dtype));
      t["shape"] = json::array({static_cast<std::uint64_t>(e.rows), static_cast<std::uint64_t>(e.cols)});
      t["data_offsets"] = json::array({offset, offset + e.bytes()});
      offset += e.bytes();
      root[e.name] = std::move(t);
    }
    std::string header;
    try {
      header = root.dump();  // compact; nlohmann sorts object keys
    } catch (const json::exception& e) {
      throw std::invalid_argument(std::string("seq2seq: SafetensorsWriter: a tensor name or metadata string is not valid UTF-8 (") +
                                  e.what() + ")");
    }
    detail::require(header.size() <= max_header_bytes - 8, "SafetensorsWriter: header larger than " +
                                                               std::to_string(max_header_bytes) + " bytes");
    while ((8 + header.size()) % 8 != 0) header.push_back(' ');  // align the data section
    const std::string pattern = detail::header_checksum_pattern();
    const std::size_t at = header.find(pattern);
    if (at == std::string::npos || header.find(pattern, at + 1) != std::string::npos)
      throw std::logic_error("seq2seq: SafetensorsWriter: header checksum field not found once");
    const std::string digits = hex64(fnv1a64(header.data(), header.size()));
    header.replace(at + pattern.size(), 16, digits);
    return header;
  }

  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace io
}  // namespace seq2seq

#endif  // SEQ2SEQ_IO_SAFETENSORS_HPP
