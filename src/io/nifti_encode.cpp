// Voxel encoding for write_nifti(): kAuto's lossless integer fit (as dcm2niix stores DICOM data)
// and the conversion into the stored type.
#include "nifti_encode.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "nifti_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd::io::detail {

namespace {

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

// The header's precision for scl_slope/scl_inter: float32 in NIfTI-1, float64 in NIfTI-2.
double header_value(double v, int version) {
  return version == 1 ? static_cast<double>(static_cast<float>(v)) : v;
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

}  // namespace

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

Encoding choose_encoding(const ImageView& image, const float* src, int64_t n,
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
  const double slope = header_value(image.info().rescale_slope, options.version);
  const double inter = header_value(image.info().rescale_intercept, options.version);
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

template <typename T>
void VoxelEncoder::put(const float* s, std::uint8_t* dst, int64_t count) {
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

void VoxelEncoder::encode(int64_t first, int64_t count, std::uint8_t* dst) {
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

}  // namespace tomograd::io::detail
