#include "tomograd/io/nifti.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <nifti2_io.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/io/gzip.hpp"

#if __has_include(<nifti2_io_version.h>)
#include <nifti2_io_version.h>
#define TOMOGRAD_HAVE_NIFTI2_IO_VERSION 1
#endif

namespace fs = std::filesystem;

namespace tomograd::io {

namespace {

// nifti_clib keeps its options in process-wide globals. Set them once: debug level 0 silences
// its fprintf(stderr) diagnostics (we throw our own messages naming the file), and upper-case
// extensions (".NII.GZ") are accepted because is_nifti_path() accepts them.
void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    nifti_set_debug_level(0);
    nifti_set_allow_upper_fext(1);
  });
}

struct NiftiImageDeleter {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NiftiImagePtr = std::unique_ptr<nifti_image, NiftiImageDeleter>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

const char* kSupportedReadTypes = "uint8, int8, int16, uint16, int32, uint32, float32, float64";

std::string datatype_name(int datatype) {
  switch (datatype) {
    case DT_UINT8: return "uint8";
    case DT_INT8: return "int8";
    case DT_INT16: return "int16";
    case DT_UINT16: return "uint16";
    case DT_INT32: return "int32";
    case DT_UINT32: return "uint32";
    case DT_FLOAT32: return "float32";
    case DT_FLOAT64: return "float64";
    default: return nifti_datatype_string(datatype);  // e.g. "RGB24", "COMPLEX64"
  }
}

std::string dims_text(const nifti_image& nim) {
  std::ostringstream s;
  for (int64_t d = 1; d <= std::clamp<int64_t>(nim.dim[0], 1, 7); ++d) {
    if (d > 1) s << 'x';
    s << nim.dim[d];
  }
  return s.str();
}

// Why a file nifti_image_read() refused is not readable, as precisely as we can tell without the
// library's own (silenced) diagnostics.
std::string describe_unreadable_header(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const bool gz = ends_with(lower(path.filename().string()), ".gz");
  std::string why;
  if (!gz && !ec && size < sizeof(nifti_1_header)) {
    why = "the file has " + std::to_string(size) +
          " bytes, too short for a NIfTI header (348 bytes for NIfTI-1, 540 for NIfTI-2)";
  } else if (gz) {
    why = "no valid NIfTI-1 or NIfTI-2 header (corrupt or truncated gzip stream, or not NIfTI)";
  } else {
    why = "no valid NIfTI-1 or NIfTI-2 header (sizeof_hdr must be 348 or 540 and the magic "
          "'n+1' or 'n+2')";
  }
  return "cannot read NIfTI file " + quoted(path) + ": " + why;
}

// Converts the stored voxels to float32, applying the NIfTI scaling y = scl_slope * x + scl_inter
// (NIfTI-1 header field docs: scaling applies when scl_slope != 0).
template <typename T>
void convert_voxels(const void* src, float* dst, int64_t n, bool scale, double slope,
                    double inter) {
  const T* s = static_cast<const T*>(src);
  if (scale) {
    for (int64_t i = 0; i < n; ++i) {
      dst[i] = static_cast<float>(slope * static_cast<double>(s[i]) + inter);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  }
}

// Index-to-world geometry in our LPS terms.
struct Geometry {
  Vec3 spacing_zyx{1, 1, 1};
  Vec3 origin_lps{0, 0, 0};
  Mat3 direction = identity_direction();
};

// Splits a NIfTI index-to-RAS affine (index order i, j, k) into spacing, LPS origin and unit
// direction columns. LPS = diag(-1,-1,1) * RAS. The spacing is the length of each affine column
// rather than pixdim, so that Volume::affine_lps() reproduces the file's affine exactly even when
// an sform's scale disagrees with pixdim. Returns false for a degenerate matrix.
bool geometry_from_ras(const nifti_dmat44& m, Geometry& g) {
  static const double kFlip[3] = {-1.0, -1.0, 1.0};
  double norm[3];
  for (int c = 0; c < 3; ++c) {
    double n2 = 0;
    for (int r = 0; r < 3; ++r) n2 += m.m[r][c] * m.m[r][c];
    norm[c] = std::sqrt(n2);
    if (!(norm[c] > 0) || !std::isfinite(norm[c])) return false;
    for (int r = 0; r < 3; ++r) g.direction[r][c] = kFlip[r] * m.m[r][c] / norm[c];
  }
  for (int r = 0; r < 3; ++r) {
    if (!std::isfinite(m.m[r][3])) return false;
    g.origin_lps[r] = kFlip[r] * m.m[r][3];
  }
  g.spacing_zyx = {norm[2], norm[1], norm[0]};
  return true;
}

double positive_or_one(double v) { return (v > 0 && std::isfinite(v)) ? v : 1.0; }

// NIfTI-1 stores dimensions as int16.
constexpr int64_t kMaxNifti1Dim = 32767;

int nifti_datatype_code(NiftiDataType t) {
  switch (t) {
    case NiftiDataType::kUint8: return DT_UINT8;
    case NiftiDataType::kInt16: return DT_INT16;
    case NiftiDataType::kUint16: return DT_UINT16;
    case NiftiDataType::kInt32: return DT_INT32;
    case NiftiDataType::kFloat32: return DT_FLOAT32;
    case NiftiDataType::kFloat64: return DT_FLOAT64;
    case NiftiDataType::kAuto: break;
  }
  throw ValueError("NIfTI data type 'auto' has no file code (resolve it first)");
}

int64_t datatype_bytes(NiftiDataType t) {
  switch (t) {
    case NiftiDataType::kUint8: return 1;
    case NiftiDataType::kInt16: case NiftiDataType::kUint16: return 2;
    case NiftiDataType::kInt32: case NiftiDataType::kFloat32: return 4;
    case NiftiDataType::kFloat64: return 8;
    case NiftiDataType::kAuto: break;
  }
  return 4;
}

// Voxels per unit of parallel work when scanning and converting.
constexpr int64_t kChunkVoxels = int64_t{1} << 20;

// float -> int32 without undefined behaviour for NaN, infinities and huge values: anything outside
// +-2^30 is pinned there (no int16/uint16 value is near), NaN goes to the low end; the caller
// compares the result with the input, which a pinned or NaN value never equals.
inline int32_t pinned_int(double v) {
  constexpr double kPin = 1073741824.0;
  const double c = (-kPin < v) ? (v < kPin ? v : kPin) : -kPin;
  return static_cast<int32_t>(c);
}

// How stored integers x map back to the volume's values: value = float(slope * x + inter), in
// double with the slope and intercept as the header stores them (float32 in NIfTI-1), exactly
// as read_nifti() computes it. The identity is checked without the multiply.
struct IntegerFit {
  bool ok = true;
  int32_t lo = std::numeric_limits<int32_t>::max(), hi = std::numeric_limits<int32_t>::min();
};

inline int32_t to_stored(float v, bool identity, double slope, double inter, double inv_slope) {
  if (identity) return pinned_int(v);  // truncation; exact for integers
  const double y = (static_cast<double>(v) - inter) * inv_slope;
  return pinned_int(y < 0 ? y - 0.5 : y + 0.5);
}

inline bool reproduces(float v, int32_t x, bool identity, double slope, double inter) {
  if (identity) return static_cast<float>(x) == v;
  return static_cast<float>(slope * static_cast<double>(x) + inter) == v;
}

// Are s[0..count) integers? Truncate, convert back, compare; updates [lo, hi] with the values.
// With SSE2 four at a time: cvttps2dq gives INT_MIN for NaN and out-of-range values, which then
// compare unequal (or, for -2^31 itself, widen the range past every integer type).
bool fit_row_identity(const float* s, int64_t count, int32_t& lo, int32_t& hi) {
  int64_t k = 0;
  bool ok = true;
  int32_t l = lo, h = hi;
#if defined(__SSE2__)
  __m128i vl = _mm_set1_epi32(l), vh = _mm_set1_epi32(h);
  __m128 all_equal = _mm_castsi128_ps(_mm_set1_epi32(-1));
  for (; k + 4 <= count; k += 4) {
    const __m128 v = _mm_loadu_ps(s + k);
    const __m128i x = _mm_cvttps_epi32(v);
    all_equal = _mm_and_ps(all_equal, _mm_cmpeq_ps(_mm_cvtepi32_ps(x), v));
    const __m128i below = _mm_cmplt_epi32(x, vl), above = _mm_cmpgt_epi32(x, vh);
    vl = _mm_or_si128(_mm_and_si128(below, x), _mm_andnot_si128(below, vl));
    vh = _mm_or_si128(_mm_and_si128(above, x), _mm_andnot_si128(above, vh));
  }
  ok = _mm_movemask_ps(all_equal) == 0xf;
  alignas(16) int32_t lanes_l[4], lanes_h[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes_l), vl);
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes_h), vh);
  for (int i = 0; i < 4; ++i) {
    l = std::min(l, lanes_l[i]);
    h = std::max(h, lanes_h[i]);
  }
#endif
  constexpr float kPin = 1073741824.0f;
  for (; k < count; ++k) {
    const float v = s[k];
    const float c = v > -kPin ? (v < kPin ? v : kPin) : -kPin;  // NaN -> -kPin, never equal to v
    const int32_t x = static_cast<int32_t>(c);
    ok = ok && static_cast<float>(x) == v;
    l = std::min(l, x);
    h = std::max(h, x);
  }
  lo = l;
  hi = h;
  return ok;
}

// Are s[0..count) exactly float(slope * x + inter) for integers x? Updates [lo, hi] with the x.
bool fit_row_scaled(const float* s, int64_t count, double slope, double inter, double inv_slope,
                    int32_t& lo, int32_t& hi) {
  int ok = 1;
  int32_t l = lo, h = hi;
  for (int64_t k = 0; k < count; ++k) {
    const int32_t x = to_stored(s[k], false, slope, inter, inv_slope);
    ok &= reproduces(s[k], x, false, slope, inter);
    l = x < l ? x : l;
    h = x > h ? x : h;
  }
  lo = l;
  hi = h;
  return ok != 0;
}

IntegerFit fit_integers(const float* src, int64_t n, bool identity, double slope, double inter,
                        int threads) {
  const double inv_slope = identity ? 1.0 : 1.0 / slope;
  const int64_t chunks = (n + kChunkVoxels - 1) / kChunkVoxels;
  std::vector<IntegerFit> part(static_cast<std::size_t>(chunks));
  std::atomic<bool> failed{false};
  parallel_for(static_cast<std::size_t>(chunks), threads, [&](std::size_t c) {
    if (failed.load(std::memory_order_relaxed)) return;
    const int64_t begin = static_cast<int64_t>(c) * kChunkVoxels, end = std::min(n, begin + kChunkVoxels);
    IntegerFit f;
    bool ok = true;
    // A row at a time, branch-free inside so the loops vectorise; a failing row stops the scan.
    constexpr int64_t kRow = 4096;
    for (int64_t i = begin; i < end && ok; i += kRow) {
      const int64_t count = std::min(end, i + kRow) - i;
      ok = identity ? fit_row_identity(src + i, count, f.lo, f.hi)
                    : fit_row_scaled(src + i, count, slope, inter, inv_slope, f.lo, f.hi);
    }
    f.ok = ok;
    if (!ok) failed = true;
    part[c] = f;
  });
  IntegerFit all;
  if (failed) {
    all.ok = false;
    return all;
  }
  for (const auto& f : part) {
    all.lo = std::min(all.lo, f.lo);
    all.hi = std::max(all.hi, f.hi);
  }
  return all;
}

// Smallest integer type that holds [lo, hi], or kFloat32 when none of uint8, int16, uint16 does
// (int32 would be no smaller than float32, which stores these values exactly anyway).
NiftiDataType smallest_type(int32_t lo, int32_t hi) {
  if (lo >= 0 && hi <= 255) return NiftiDataType::kUint8;
  if (lo >= -32768 && hi <= 32767) return NiftiDataType::kInt16;
  if (lo >= 0 && hi <= 65535) return NiftiDataType::kUint16;
  return NiftiDataType::kFloat32;
}

// How the voxels go to disk: the type, the scaling, and whether values are rounded and clamped
// (explicit integer types) or known to fit exactly (kAuto's choice).
struct Encoding {
  NiftiDataType type = NiftiDataType::kFloat32;
  double slope = 1.0, inter = 0.0;  // as the header stores them
  bool identity = true;
};

// The header's precision for scl_slope/scl_inter: float32 in NIfTI-1, float64 in NIfTI-2.
double header_value(double v, int version) {
  return version == 1 ? static_cast<double>(static_cast<float>(v)) : v;
}

Encoding choose_encoding(const Volume& volume, const float* src, int64_t n,
                         const NiftiWriteOptions& options) {
  Encoding e;
  if (options.datatype != NiftiDataType::kAuto) {
    e.type = options.datatype;
    return e;
  }
  const IntegerFit plain = fit_integers(src, n, true, 1.0, 0.0, options.threads);
  if (plain.ok) {
    e.type = smallest_type(plain.lo, plain.hi);
    if (e.type != NiftiDataType::kFloat32) return e;
  }
  // dcm2niix's way: the DICOM stored values with RescaleSlope/Intercept as scl_slope/scl_inter.
  const double slope = header_value(volume.info().rescale_slope, options.version);
  const double inter = header_value(volume.info().rescale_intercept, options.version);
  const bool usable = std::isfinite(slope) && std::isfinite(inter) && slope != 0.0 &&
                      !(slope == 1.0 && inter == 0.0);
  if (usable) {
    const IntegerFit scaled = fit_integers(src, n, false, slope, inter, options.threads);
    if (scaled.ok) {
      const NiftiDataType t = smallest_type(scaled.lo, scaled.hi);
      if (t != NiftiDataType::kFloat32) {
        e.type = t;
        e.slope = slope;
        e.inter = inter;
        e.identity = false;
        return e;
      }
    }
  }
  e.type = NiftiDataType::kFloat32;
  return e;
}

// Rounds (half away from zero) and clamps to T's range; NaN becomes 0. Counts what was changed
// beyond rounding so the caller can warn once.
template <typename T>
void store_rounded(const float* src, T* dst, int64_t n, int64_t& clamped, int64_t& nans) {
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  for (int64_t i = 0; i < n; ++i) {
    double v = src[i];
    if (std::isnan(v)) {
      dst[i] = 0;
      ++nans;
      continue;
    }
    v = std::round(v);
    if (v < lo) {
      v = lo;
      ++clamped;
    } else if (v > hi) {
      v = hi;
      ++clamped;
    }
    dst[i] = static_cast<T>(v);
  }
}

// Values already known to be exact integers of T's range (kAuto's choice).
template <typename T>
void store_exact(const float* src, T* dst, int64_t n, const Encoding& e) {
  if (e.identity) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<int32_t>(src[i]));
    return;
  }
  const double inv = 1.0 / e.slope;
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(to_stored(src[i], false, e.slope, e.inter, inv));
}

// Encodes voxels [first, first + count) into @p dst (count * bytes of the type).
class VoxelEncoder {
 public:
  VoxelEncoder(const float* src, Encoding e, bool exact) : src_(src), e_(e), exact_(exact) {}

  void encode(int64_t first, int64_t count, std::uint8_t* dst) {
    const float* s = src_ + first;
    switch (e_.type) {
      case NiftiDataType::kUint8: put<uint8_t>(s, dst, count); break;
      case NiftiDataType::kInt16: put<int16_t>(s, dst, count); break;
      case NiftiDataType::kUint16: put<uint16_t>(s, dst, count); break;
      case NiftiDataType::kInt32: put<int32_t>(s, dst, count); break;
      case NiftiDataType::kFloat32: std::memcpy(dst, s, static_cast<size_t>(count) * sizeof(float)); break;
      case NiftiDataType::kFloat64: {
        for (int64_t i = 0; i < count; ++i) {
          const double v = s[i];
          std::memcpy(dst + 8 * i, &v, 8);
        }
        break;
      }
      case NiftiDataType::kAuto: break;
    }
  }
  int64_t clamped() const { return clamped_; }
  int64_t nans() const { return nans_; }

 private:
  template <typename T>
  void put(const float* s, std::uint8_t* dst, int64_t count) {
    // dst is only byte-aligned in general (a gzip block boundary): convert into aligned scratch.
    thread_local std::vector<T> scratch;
    T* out = reinterpret_cast<uintptr_t>(dst) % alignof(T) == 0 ? reinterpret_cast<T*>(dst)
                                                                   : (scratch.resize(count), scratch.data());
    if (exact_) {
      store_exact<T>(s, out, count, e_);
    } else {
      int64_t clamped = 0, nans = 0;
      store_rounded<T>(s, out, count, clamped, nans);
      if (clamped || nans) {
        clamped_ += clamped;
        nans_ += nans;
      }
    }
    if (out != reinterpret_cast<T*>(dst)) std::memcpy(dst, out, static_cast<size_t>(count) * sizeof(T));
  }

  const float* src_;
  Encoding e_;
  bool exact_;
  std::atomic<int64_t> clamped_{0}, nans_{0};
};

// The file as one byte stream: header + extender, then the encoded voxels. fill() produces any
// byte range on demand (from several threads), so the voxels are never held twice in memory.
class NiftiByteStream {
 public:
  NiftiByteStream(std::string head, VoxelEncoder& encoder, int64_t voxels, int64_t bytes_per_voxel)
      : head_(std::move(head)), encoder_(encoder), voxels_(voxels), nb_(bytes_per_voxel) {}

  std::uint64_t size() const { return head_.size() + static_cast<std::uint64_t>(voxels_ * nb_); }

  void fill(std::uint64_t offset, std::size_t length, std::uint8_t* dst) {
    if (offset < head_.size()) {
      const std::size_t n = std::min<std::size_t>(length, head_.size() - offset);
      std::memcpy(dst, head_.data() + offset, n);
      offset += n;
      dst += n;
      length -= n;
    }
    if (length == 0) return;
    const std::uint64_t begin = offset - head_.size(), end = begin + length;
    const int64_t first = static_cast<int64_t>(begin / nb_);
    const int64_t last = static_cast<int64_t>((end + nb_ - 1) / nb_);
    if (begin % nb_ == 0 && end % nb_ == 0) {
      encoder_.encode(first, last - first, dst);
      return;
    }
    thread_local std::vector<std::uint8_t> edge;
    edge.resize(static_cast<std::size_t>((last - first) * nb_));
    encoder_.encode(first, last - first, edge.data());
    std::memcpy(dst, edge.data() + (begin - static_cast<std::uint64_t>(first * nb_)), length);
  }

 private:
  std::string head_;
  VoxelEncoder& encoder_;
  int64_t voxels_, nb_;
};

std::string errno_text() { return std::strerror(errno); }

// Plain .nii: slabs of the stream encoded and written with pwrite() on several threads.
void write_plain(const fs::path& temp, const fs::path& target, NiftiByteStream& stream, int threads) {
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError("cannot write NIfTI file " + quoted(target) + ": opening " + quoted(temp) +
                  " failed: " + errno_text());
  }
  const std::uint64_t total = stream.size();
  constexpr std::uint64_t kSlab = 4u << 20;
  const std::size_t slabs = static_cast<std::size_t>((total + kSlab - 1) / kSlab);
  try {
    parallel_for(slabs, threads, [&](std::size_t i) {
      const std::uint64_t start = i * kSlab;
      const std::size_t length = static_cast<std::size_t>(std::min(kSlab, total - start));
      thread_local std::vector<std::uint8_t> buffer;
      buffer.resize(length);
      stream.fill(start, length, buffer.data());
      std::size_t done = 0;
      while (done < length) {
        const ssize_t w = ::pwrite(fd, buffer.data() + done, length - done, static_cast<off_t>(start + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          throw IoError("writing NIfTI file " + quoted(target) + " failed: " + errno_text());
        }
        done += static_cast<std::size_t>(w);
      }
    });
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) {
    throw IoError("writing NIfTI file " + quoted(target) + " failed: " + errno_text());
  }
}

// .nii.gz: one gzip member compressed in parallel (gzip.hpp), written in order.
std::uint64_t write_gzip(const fs::path& temp, const fs::path& target, NiftiByteStream& stream,
                         const NiftiWriteOptions& options) {
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError("cannot write NIfTI file " + quoted(target) + ": opening " + quoted(temp) +
                  " failed: " + errno_text());
  }
  std::uint64_t written = 0;
  GzipOptions gz;
  gz.level = options.gzip_level;
  gz.threads = options.threads;
  try {
    gzip_parallel(
        stream.size(),
        [&](std::uint64_t offset, std::size_t length, std::uint8_t* dst) { stream.fill(offset, length, dst); },
        [&](const std::uint8_t* p, std::size_t n) {
          while (n > 0) {
            const ssize_t w = ::write(fd, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) throw IoError("writing NIfTI file " + quoted(target) + " failed: " + errno_text());
            p += w;
            n -= static_cast<std::size_t>(w);
            written += static_cast<std::uint64_t>(w);
          }
        },
        gz);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) {
    throw IoError("writing NIfTI file " + quoted(target) + " failed: " + errno_text());
  }
  return written;
}

}  // namespace

bool is_nifti_path(const fs::path& path) {
  const std::string name = lower(path.filename().string());
  return (ends_with(name, ".nii") && name.size() > 4) ||
         (ends_with(name, ".nii.gz") && name.size() > 7);
}

Volume read_nifti(const fs::path& path) {
  init_library();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": it does not exist");
  }
  if (!fs::is_regular_file(path, ec)) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": not a regular file");
  }
  // Without a .nii/.nii.gz name nifti_image_read() would go looking for other files (x.hdr,
  // x.nii.gz next to x), so a name that is not NIfTI is refused up front.
  if (!is_nifti_path(path)) {
    throw NiftiError("cannot read " + quoted(path) +
                     " as NIfTI: expected a file name ending in .nii or .nii.gz");
  }

  // Header first, so unsupported files fail before their voxels are decompressed.
  NiftiImagePtr nim(nifti_image_read(path.c_str(), 0));
  if (!nim) throw NiftiError(describe_unreadable_header(path));
  if (nim->nifti_type != NIFTI_FTYPE_NIFTI1_1 && nim->nifti_type != NIFTI_FTYPE_NIFTI2_1) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) +
                     ": not a single-file NIfTI-1 or NIfTI-2 image (nifti_type " +
                     std::to_string(nim->nifti_type) +
                     "; ANALYZE 7.5 and .hdr/.img pairs are not supported)");
  }

  switch (nim->datatype) {
    case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16:
    case DT_INT32: case DT_UINT32: case DT_FLOAT32: case DT_FLOAT64:
      break;
    default:
      throw NiftiError("cannot read NIfTI file " + quoted(path) + ": unsupported datatype " +
                       datatype_name(nim->datatype) + " (code " + std::to_string(nim->datatype) +
                       "); supported: " + kSupportedReadTypes);
  }

  // dim[d] for d > dim[0] are unused (NIfTI-1 header docs) and often 0, so only dim[1..dim[0]]
  // count; a 2D image is one slice.
  const int64_t ndim = nim->dim[0];
  if (ndim < 1 || ndim > 7) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": invalid dim[0] = " +
                     std::to_string(ndim) + " (expected 1..7)");
  }
  for (int64_t d = 1; d <= ndim; ++d) {
    if (nim->dim[d] < 1) {
      throw NiftiError("cannot read NIfTI file " + quoted(path) + ": invalid dimensions " +
                       dims_text(*nim) + " (every dim[1..dim[0]] must be at least 1)");
    }
  }
  int64_t volumes = 1;
  for (int64_t d = 4; d <= ndim; ++d) volumes *= nim->dim[d];
  if (volumes != 1) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": it holds " +
                     std::to_string(volumes) + " volumes (dim " + dims_text(*nim) +
                     "); expected a 3D image or a 4D file with a single volume");
  }

  const int64_t nx = nim->dim[1], ny = ndim >= 2 ? nim->dim[2] : 1, nz = ndim >= 3 ? nim->dim[3] : 1;
  const int64_t n = nx * ny * nz;
  if (nim->nvox != n) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": nifti_clib counted " +
                     std::to_string(nim->nvox) + " voxels for dim " + dims_text(*nim));
  }

  if (nifti_image_load(nim.get()) != 0 || nim->data == nullptr) {
    const int64_t want = nim->nvox * nim->nbyper;
    std::string detail = "expected " + std::to_string(want) + " bytes of " +
                         datatype_name(nim->datatype) + " voxels (" + dims_text(*nim) +
                         ") from offset " + std::to_string(nim->iname_offset);
    const auto size = fs::file_size(path, ec);
    if (!ec && !ends_with(lower(path.filename().string()), ".gz")) {
      detail += ", but the file has " + std::to_string(size) + " bytes";
    }
    throw NiftiError("cannot read NIfTI file " + quoted(path) +
                     ": voxel data is truncated or unreadable: " + detail);
  }

  // NIfTI stores i fastest, then j, then k: exactly a contiguous [k][j][i] = [D,H,W] array.
  torch::Tensor data = torch::empty({nz, ny, nx}, torch::kFloat32);
  float* out = data.data_ptr<float>();
  const double slope = nim->scl_slope, inter = std::isfinite(nim->scl_inter) ? nim->scl_inter : 0.0;
  const bool scale = slope != 0.0 && std::isfinite(slope) && !(slope == 1.0 && inter == 0.0);
  switch (nim->datatype) {
    case DT_UINT8: convert_voxels<uint8_t>(nim->data, out, n, scale, slope, inter); break;
    case DT_INT8: convert_voxels<int8_t>(nim->data, out, n, scale, slope, inter); break;
    case DT_INT16: convert_voxels<int16_t>(nim->data, out, n, scale, slope, inter); break;
    case DT_UINT16: convert_voxels<uint16_t>(nim->data, out, n, scale, slope, inter); break;
    case DT_INT32: convert_voxels<int32_t>(nim->data, out, n, scale, slope, inter); break;
    case DT_UINT32: convert_voxels<uint32_t>(nim->data, out, n, scale, slope, inter); break;
    case DT_FLOAT32: convert_voxels<float>(nim->data, out, n, scale, slope, inter); break;
    case DT_FLOAT64: convert_voxels<double>(nim->data, out, n, scale, slope, inter); break;
    default: break;  // rejected above
  }

  // NIfTI-1 header docs, "method 3 / method 2 / method 1": the sform is the preferred mapping to
  // a standard space, the qform the scanner's rigid mapping, pixdim alone the ANALYZE fallback.
  Geometry geometry;
  VolumeInfo info;
  bool have_geometry = false;
  if (nim->sform_code > 0) {
    have_geometry = geometry_from_ras(nim->sto_xyz, geometry);
    if (have_geometry) {
      const double pix[3] = {nim->dx, nim->dy, nim->dz};
      const double sp[3] = {geometry.spacing_zyx[2], geometry.spacing_zyx[1],
                            geometry.spacing_zyx[0]};
      for (int c = 0; c < 3; ++c) {
        if (std::abs(std::abs(pix[c]) - sp[c]) > 1e-3 * sp[c]) {
          logger()->debug("NIfTI {}: sform column {} has length {} but pixdim[{}] is {}; using "
                          "the sform", path.string(), c, sp[c], c + 1, pix[c]);
        }
      }
    } else {
      logger()->warn("NIfTI {}: sform (code {}) is degenerate; trying the qform", path.string(),
                     nim->sform_code);
    }
  }
  if (!have_geometry && nim->qform_code > 0) {
    have_geometry = geometry_from_ras(nim->qto_xyz, geometry);
  }
  if (!have_geometry) {
    // NIfTI "method 1": x = pixdim[1]*i, y = pixdim[2]*j, z = pixdim[3]*k in RAS, origin 0.
    nifti_dmat44 m{};
    m.m[0][0] = positive_or_one(std::abs(nim->dx));
    m.m[1][1] = positive_or_one(std::abs(nim->dy));
    m.m[2][2] = positive_or_one(std::abs(nim->dz));
    m.m[3][3] = 1.0;
    geometry_from_ras(m, geometry);
    const std::string msg = "no usable sform or qform (codes " + std::to_string(nim->sform_code) +
                            ", " + std::to_string(nim->qform_code) +
                            "): orientation unknown, assumed RAS axes with pixdim spacing";
    logger()->warn("NIfTI {}: {}", path.string(), msg);
    info.warnings.push_back(msg);
  }

  logger()->debug("read NIfTI-{} {}: {} {}x{}x{}, spacing (z,y,x) ({}, {}, {}) mm",
                  nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 ? 2 : 1, path.string(),
                  datatype_name(nim->datatype), nx, ny, nz, geometry.spacing_zyx[0],
                  geometry.spacing_zyx[1], geometry.spacing_zyx[2]);
  return Volume(std::move(data), geometry.spacing_zyx, geometry.origin_lps, geometry.direction,
                std::move(info));
}

namespace {
const std::pair<const char*, NiftiDataType> kDatatypeNames[] = {
    {"uint8", NiftiDataType::kUint8},     {"int16", NiftiDataType::kInt16},
    {"uint16", NiftiDataType::kUint16},   {"int32", NiftiDataType::kInt32},
    {"float32", NiftiDataType::kFloat32}, {"float64", NiftiDataType::kFloat64},
    {"auto", NiftiDataType::kAuto},
};
}  // namespace

NiftiDataType parse_nifti_datatype(const std::string& name) {
  const std::string key = lower(name);
  std::string valid;
  for (const auto& [n, t] : kDatatypeNames) {
    if (key == n) return t;
    valid += (valid.empty() ? "" : ", ") + std::string(n);
  }
  throw ValueError("unknown NIfTI datatype '" + name + "'; valid: " + valid);
}

std::string nifti_datatype_name(NiftiDataType type) {
  for (const auto& [n, t] : kDatatypeNames) {
    if (t == type) return n;
  }
  return "?";
}

NiftiWriteResult write_nifti(const Volume& volume, const fs::path& path,
                             const NiftiWriteOptions& options) {
  init_library();
  if (options.version != 1 && options.version != 2) {
    throw ValueError("write_nifti " + quoted(path) + ": version must be 1 or 2, got " +
                     std::to_string(options.version));
  }
  if (options.gzip_level < 0 || options.gzip_level > 9) {
    throw ValueError("write_nifti " + quoted(path) + ": gzip level must be 0 to 9, got " +
                     std::to_string(options.gzip_level));
  }
  if (!is_nifti_path(path)) {
    throw NiftiError("cannot write " + quoted(path) +
                     " as NIfTI: expected a file name ending in .nii or .nii.gz");
  }
  if (volume.empty()) throw ValueError("write_nifti " + quoted(path) + ": the volume is empty");
  const int64_t nz = volume.depth(), ny = volume.rows(), nx = volume.cols();
  if (options.version == 1 && std::max({nx, ny, nz}) > kMaxNifti1Dim) {
    throw NiftiError("cannot write " + quoted(path) + " as NIfTI-1: dimensions " +
                     std::to_string(nx) + "x" + std::to_string(ny) + "x" + std::to_string(nz) +
                     " exceed NIfTI-1's limit of 32767; use version 2");
  }

  AtomicFile file(path, options.overwrite);  // refuses an existing target before any work

  // Voxels: our [D,H,W] contiguous float32 is NIfTI's i-fastest order already.
  const torch::Tensor voxels = volume.data().contiguous();
  const float* src = voxels.data_ptr<float>();
  const int64_t n = voxels.numel();
  const Encoding enc = choose_encoding(volume, src, n, options);
  const int datatype = nifti_datatype_code(enc.type);

  const int64_t dims[8] = {3, nx, ny, nz, 1, 1, 1, 1};
  NiftiImagePtr nim(nifti_make_new_nim(dims, datatype, 0));  // header only: voxels are streamed
  if (!nim) throw NiftiError("cannot write " + quoted(path) + ": building the NIfTI image failed");

  // Geometry: RAS = diag(-1,-1,1) * LPS affine.
  const auto lps = volume.affine_lps();
  nifti_dmat44 ras{};
  for (int r = 0; r < 3; ++r) {
    const double flip = r < 2 ? -1.0 : 1.0;
    for (int c = 0; c < 4; ++c) ras.m[r][c] = flip * lps[r][c];
  }
  ras.m[3][3] = 1.0;
  const Vec3& sp = volume.spacing_mm();  // (z,y,x)
  nim->dx = nim->pixdim[1] = sp[2];
  nim->dy = nim->pixdim[2] = sp[1];
  nim->dz = nim->pixdim[3] = sp[0];
  nim->xyz_units = NIFTI_UNITS_MM;
  nim->time_units = NIFTI_UNITS_UNKNOWN;
  // Both transforms, code 1 (scanner anatomical): the sform carries the exact affine (it may be
  // sheared), the qform its nearest rigid rotation for readers that only look at the qform.
  nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->sto_xyz = ras;
  nim->sto_ijk = nifti_dmat44_inverse(ras);
  nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
  double qdx = 0, qdy = 0, qdz = 0;
  nifti_dmat44_to_quatern(ras, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x,
                          &nim->qoffset_y, &nim->qoffset_z, &qdx, &qdy, &qdz, &nim->qfac);
  nim->pixdim[0] = nim->qfac;
  nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d,
                                         nim->qoffset_x, nim->qoffset_y, nim->qoffset_z, nim->dx,
                                         nim->dy, nim->dz, nim->qfac);
  nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
  // Explicit scaling, identity included (0 would mean the same, but some readers treat 0 as
  // "unset").
  nim->scl_slope = enc.slope;
  nim->scl_inter = enc.inter;
  std::strncpy(nim->descrip, "tomograd", sizeof(nim->descrip) - 1);

  // The file is assembled here rather than by nifti_image_write(): in nifti_clib 3.0.1 that
  // function treats NIFTI_FTYPE_NIFTI2_1 like a .hdr/.img pair (it reopens the same name for the
  // voxels, truncating the header, with vox_offset 0), nifti_set_filenames() silently turns the
  // type back into NIfTI-1, and no write error is ever reported. The library still converts the
  // nifti_image into the on-disk header struct; the voxels are encoded and written (or
  // compressed) here in parallel, which znzlib's single-threaded gzwrite cannot do.
  nim->nifti_type = options.version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
  // Header, then the 4-byte extender (all zero: no extensions follow), then the voxels; 352 and
  // 544 are both multiples of 16 as the NIfTI-1 spec asks of vox_offset in single files.
  std::string head;
  if (options.version == 2) {
    nifti_2_header header2{};
    nim->iname_offset = static_cast<int64_t>(sizeof(nifti_2_header)) + 4;
    if (nifti_convert_nim2n2hdr(nim.get(), &header2) != 0) {
      throw NiftiError("cannot write " + quoted(path) + ": building the NIfTI-2 header failed");
    }
    head.assign(reinterpret_cast<const char*>(&header2), sizeof(header2));
  } else {
    nifti_1_header header1{};
    nim->iname_offset = static_cast<int64_t>(sizeof(nifti_1_header)) + 4;
    if (nifti_convert_nim2n1hdr(nim.get(), &header1) != 0) {
      throw NiftiError("cannot write " + quoted(path) + ": building the NIfTI-1 header failed");
    }
    head.assign(reinterpret_cast<const char*>(&header1), sizeof(header1));
  }
  head.append(4, '\0');

  const bool exact = options.datatype == NiftiDataType::kAuto;
  VoxelEncoder encoder(src, enc, exact);
  NiftiByteStream stream(std::move(head), encoder, n, datatype_bytes(enc.type));
  NiftiWriteResult result;
  result.datatype = enc.type;
  result.scl_slope = enc.slope;
  result.scl_inter = enc.inter;
  const bool gzip = ends_with(lower(path.filename().string()), ".gz");
  if (gzip) {
    result.bytes = write_gzip(file.temp_path(), path, stream, options);
  } else {
    write_plain(file.temp_path(), path, stream, options.threads);
    result.bytes = stream.size();
  }
  if (encoder.clamped() > 0 || encoder.nans() > 0) {
    logger()->warn("write_nifti {}: {} value(s) outside the {} range were clamped and {} NaN "
                   "value(s) written as 0",
                   path.string(), encoder.clamped(), datatype_name(datatype), encoder.nans());
  }
  file.commit();
  logger()->debug("wrote NIfTI-{} {} ({} {}x{}x{}, scl_slope {} scl_inter {}, {} bytes)", options.version,
                  path.string(), datatype_name(datatype), nx, ny, nz, enc.slope, enc.inter, result.bytes);
  return result;
}

std::string nifti_library_version() {
#ifdef TOMOGRAD_HAVE_NIFTI2_IO_VERSION
  // nifti_clib releases after 3.0.1 ship their version as macros.
  return std::string("nifti_clib NIFTI2_IO ") + NIFTI2_IO_VERSION_MAJOR + "." +
         NIFTI2_IO_VERSION_MINOR + "." + NIFTI2_IO_VERSION_PATCH;
#else
  // nifti_clib 3.0.1 (Debian bookworm) has no version macro, and nifti_disp_lib_version() prints
  // to stdout, which a library must not touch. The shared object's name carries the same number
  // (libnifti2.so.2.1.0 is "NIFTI2_IO version 2.1.0"), so report the file actually loaded.
  static const std::string version = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&nifti_image_read), &info) != 0 && info.dli_fname) {
      std::error_code ec;
      const fs::path real = fs::canonical(info.dli_fname, ec);
      const std::string name = (ec ? fs::path(info.dli_fname) : real).filename().string();
      const auto pos = name.find(".so.");
      if (name.rfind("libnifti2", 0) == 0 && pos != std::string::npos) {
        return "nifti_clib NIFTI2_IO " + name.substr(pos + 4);
      }
    }
    return std::string("nifti_clib NIFTI2_IO (version unknown, linked statically)");
  }();
  return version;
#endif
}

}  // namespace tomograd::io
