// NIfTI reading: our own header check (sizes against the file before anything is allocated),
// then nifti_clib for the header fields and the voxels.
#include <dlfcn.h>
#include <nifti2_io.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include "nifti_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/io/limits.hpp"
#include "tomograd/io/nifti_base.hpp"

#if __has_include(<nifti2_io_version.h>)
#include <nifti2_io_version.h>
#define TOMOGRAD_HAVE_NIFTI2_IO_VERSION 1
#endif

namespace fs = std::filesystem;

namespace tomograd::io {

using detail::datatype_name;
using detail::ends_with;
using detail::lower;
using detail::quoted;

namespace {

const char* kSupportedReadTypes = "uint8, int8, int16, uint16, int32, uint32, float32, float64";

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
// Splits a NIfTI index-to-RAS affine (index order i, j, k) into spacing, LPS origin and unit
// direction columns. LPS = diag(-1,-1,1) * RAS. The spacing is the length of each affine column
// rather than pixdim, so that ImageGeometry::affine_lps() reproduces the file's affine exactly even when
// an sform's scale disagrees with pixdim. Returns false for a degenerate matrix.
bool geometry_from_ras(const nifti_dmat44& m, ImageGeometry& g) {
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
  g.spacing_mm = {norm[2], norm[1], norm[0]};
  return true;
}

double positive_or_one(double v) { return (v > 0 && std::isfinite(v)) ? v : 1.0; }


// The header fields that decide how many bytes the voxels take, read by us before nifti_clib
// sees the file (NIfTI-1: dim at byte 40, datatype 70, vox_offset 108; NIfTI-2: datatype 12,
// dim 16, vox_offset 168; either byte order).
struct RawHeader {
  int version = 0;
  int64_t dim[8] = {};
  int datatype = 0;
  double vox_offset = 0;
};

template <typename T>
T field(const unsigned char* h, std::size_t offset, bool swap) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, h + offset, sizeof(T));
  if (swap) std::reverse(b, b + sizeof(T));
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

std::optional<RawHeader> raw_header(const unsigned char* h, std::size_t n) {
  RawHeader r;
  for (bool swap : {false, true}) {
    const int32_t size = n >= 4 ? field<int32_t>(h, 0, swap) : 0;
    if (size == 348 && n >= 348) {
      r.version = 1;
      for (int d = 0; d < 8; ++d) r.dim[d] = field<int16_t>(h, 40 + 2 * d, swap);
      r.datatype = field<int16_t>(h, 70, swap);
      r.vox_offset = field<float>(h, 108, swap);
      return r;
    }
    if (size == 540 && n >= 540) {
      r.version = 2;
      for (int d = 0; d < 8; ++d) r.dim[d] = field<int64_t>(h, 16 + 8 * d, swap);
      r.datatype = field<int16_t>(h, 12, swap);
      r.vox_offset = static_cast<double>(field<int64_t>(h, 168, swap));
      return r;
    }
  }
  return std::nullopt;
}

// Throws when @p voxels of @p nbyper bytes each, read as float32 (4 more bytes a voxel), exceed
// max_image_bytes(); @p what starts the message ("cannot read NIfTI file '...': dim ... of ...").
void check_decoded_size(const std::string& what, std::uint64_t voxels, int64_t nbyper) {
  const auto decoded = checked_product({static_cast<int64_t>(std::min<std::uint64_t>(voxels, INT64_MAX)), 4 + nbyper});
  if (nbyper > 0 && (!decoded || *decoded > max_image_bytes())) {
    throw NiftiError(what + " needs " + (decoded ? format_bytes(*decoded) : "more than 2^64 bytes") +
                     " to read as float32, more than the " + format_bytes(max_image_bytes()) +
                     " a reader may allocate");
  }
}

// Checks the sizes a header declares against the file before nifti_clib allocates anything:
// vox_offset + voxels * bytes per voxel must lie inside a .nii file, and inside what a .nii.gz
// file can inflate to (deflate's 1032:1 bound), so a gzip bomb is refused without inflating it;
// the decoded image must fit max_image_bytes(). Headers it cannot parse are left to nifti_clib.
void check_declared_size(const fs::path& path) {
  gzFile gz = gzopen(path.c_str(), "rb");  // reads plain files unchanged
  if (gz == nullptr) return;
  unsigned char h[540] = {};
  const int n = gzread(gz, h, sizeof h);
  gzclose(gz);
  const auto header = raw_header(h, n > 0 ? static_cast<std::size_t>(n) : 0);
  // nifti_clib goes on after a short header read (found by fuzz_nifti: garbage dims, then an
  // allocation of 2^63 bytes), so a header we cannot read is refused here.
  if (!header) throw NiftiError(describe_unreadable_header(path));
  // nifti_clib 3.0.1 indexes its dim[8] arrays with a NIfTI-2 file's dim[0] before checking it
  // (found by fuzz_nifti: a stack overflow), so the range is checked here first.
  if (header->dim[0] < 1 || header->dim[0] > 7) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": invalid dim[0] = " + std::to_string(header->dim[0]) +
                     " (expected 1..7)");
  }
  // Unsupported types are refused before nifti_clib, which prints its own "** ERROR" lines to
  // stderr for codes it does not know, whatever its debug level.
  switch (header->datatype) {
    case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16:
    case DT_INT32: case DT_UINT32: case DT_FLOAT32: case DT_FLOAT64:
      break;
    default:
      throw NiftiError("cannot read NIfTI file " + quoted(path) + ": unsupported datatype " +
                       datatype_name(header->datatype) + " (code " + std::to_string(header->datatype) +
                       "); supported: " + kSupportedReadTypes);
  }
  int nbyper = 0, swapsize = 0;
  nifti_datatype_sizes(header->datatype, &nbyper, &swapsize);
  std::uint64_t voxels = 1;
  std::string dims;
  // nifti_clib turns a dim[d] below 1 into 1 (nifti_convert_n*hdr2nim), so the product here does
  // the same: counting such a dim as 0 let a 1x1x10^9x0x0x0 header through to a 4 GB calloc
  // (found by fuzz_nifti in CI).
  for (int d = 1; d <= header->dim[0]; ++d) {
    const auto p = checked_product({static_cast<int64_t>(voxels), std::max<int64_t>(header->dim[d], 1)});
    voxels = p ? *p : UINT64_MAX;
    dims += (d > 1 ? "x" : "") + std::to_string(header->dim[d]);
  }
  const double offset = std::isfinite(header->vox_offset) ? std::max(header->vox_offset, 0.0) : 0.0;
  const auto data = checked_product({static_cast<int64_t>(std::min<std::uint64_t>(voxels, INT64_MAX)), nbyper});
  const double needed = offset + (data ? static_cast<double>(*data) : 1e30);
  std::error_code ec;
  const std::uint64_t file_bytes = fs::file_size(path, ec);
  const bool gzip = ends_with(lower(path.filename().string()), ".gz");
  const double room = static_cast<double>(file_bytes) * (gzip ? static_cast<double>(kMaxDeflateRatio) : 1.0);
  const std::string what = "cannot read NIfTI file " + quoted(path) + ": dim " + dims + " of " +
                           datatype_name(header->datatype) + " (" +
                           (data ? format_bytes(*data) : std::string("over 2^64 bytes")) + " of voxels) from vox_offset " +
                           std::to_string(static_cast<int64_t>(std::min(offset, 9e18)));
  if (!ec && needed > room) {
    throw NiftiError(what + " needs " + (needed < 1.8e19 ? format_bytes(static_cast<std::uint64_t>(needed))
                                                          : std::string("more than 2^64 bytes")) +
                     ", but the file has " + format_bytes(file_bytes) +
                     (gzip ? " of gzip data, which inflates to at most " +
                                 format_bytes(file_bytes * kMaxDeflateRatio) : std::string()) +
                     " (truncated file or wrong dim?)");
  }
  check_decoded_size(what, voxels, nbyper);
}

void check_path(const fs::path& path) {
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
}

void check_image(const nifti_image& nim, const fs::path& path) {
  if (nim.nifti_type != NIFTI_FTYPE_NIFTI1_1 && nim.nifti_type != NIFTI_FTYPE_NIFTI2_1) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) +
                     ": not a single-file NIfTI-1 or NIfTI-2 image (nifti_type " +
                     std::to_string(nim.nifti_type) +
                     "; ANALYZE 7.5 and .hdr/.img pairs are not supported)");
  }

  switch (nim.datatype) {
    case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16:
    case DT_INT32: case DT_UINT32: case DT_FLOAT32: case DT_FLOAT64:
      break;
    default:
      throw NiftiError("cannot read NIfTI file " + quoted(path) + ": unsupported datatype " +
                       datatype_name(nim.datatype) + " (code " + std::to_string(nim.datatype) +
                       "); supported: " + kSupportedReadTypes);
  }

  // dim[d] for d > dim[0] are unused (NIfTI-1 header docs) and often 0, so only dim[1..dim[0]]
  // count; a 2D image is one slice.
  const int64_t ndim = nim.dim[0];
  if (ndim < 1 || ndim > 7) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": invalid dim[0] = " +
                     std::to_string(ndim) + " (expected 1..7)");
  }
  for (int64_t d = 1; d <= ndim; ++d) {
    if (nim.dim[d] < 1) {
      throw NiftiError("cannot read NIfTI file " + quoted(path) + ": invalid dimensions " +
                       dims_text(nim) + " (every dim[1..dim[0]] must be at least 1)");
    }
  }
  int64_t volumes = 1;  // products checked: nifti_clib does not bound NIfTI-2's int64 dims
  for (int64_t d = 4; d <= ndim; ++d) {
    if (__builtin_mul_overflow(volumes, nim.dim[d], &volumes)) volumes = INT64_MAX;
  }
  if (volumes != 1) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": it holds " +
                     std::to_string(volumes) + " volumes (dim " + dims_text(nim) +
                     "); expected a 3D image or a 4D file with a single volume");
  }

  const int64_t nx = nim.dim[1], ny = ndim >= 2 ? nim.dim[2] : 1, nz = ndim >= 3 ? nim.dim[3] : 1;
  int64_t n = 0;
  if (__builtin_mul_overflow(nx, ny, &n) || __builtin_mul_overflow(n, nz, &n) || nim.nvox != n) {
    throw NiftiError("cannot read NIfTI file " + quoted(path) + ": nifti_clib counted " +
                     std::to_string(nim.nvox) + " voxels for dim " + dims_text(nim));
  }
  // Second line of defence, on the numbers nifti_image_load will allocate by.
  check_decoded_size("cannot read NIfTI file " + quoted(path) + ": dim " + dims_text(nim) + " of " +
                         datatype_name(nim.datatype),
                     static_cast<std::uint64_t>(n), nim.nbyper);
}

void load_voxels(nifti_image* nim, const fs::path& path) {
  std::error_code ec;
  if (nifti_image_load(nim) != 0 || nim->data == nullptr) {
    const auto want = checked_product({nim->nvox, nim->nbyper});
    std::string detail = "expected " + (want ? std::to_string(*want) : std::string("over 2^64")) + " bytes of " +
                         datatype_name(nim->datatype) + " voxels (" + dims_text(*nim) +
                         ") from offset " + std::to_string(nim->iname_offset);
    const auto size = fs::file_size(path, ec);
    if (!ec && !ends_with(lower(path.filename().string()), ".gz")) {
      detail += ", but the file has " + std::to_string(size) + " bytes";
    }
    throw NiftiError("cannot read NIfTI file " + quoted(path) +
                     ": voxel data is truncated or unreadable: " + detail);
  }
}

Image float_voxels(const nifti_image& nim) {
  const int64_t n = nim.nvox;
  const int64_t nx = nim.dim[1], ny = nim.dim[0] >= 2 ? nim.dim[2] : 1, nz = nim.dim[0] >= 3 ? nim.dim[3] : 1;
  // NIfTI stores i fastest, then j, then k: exactly a contiguous [k][j][i] = [D,H,W] array.
  Image image({nz, ny, nx});
  float* out = image.data();
  const double slope = nim.scl_slope, inter = std::isfinite(nim.scl_inter) ? nim.scl_inter : 0.0;
  const bool scale = slope != 0.0 && std::isfinite(slope) && !(slope == 1.0 && inter == 0.0);
  switch (nim.datatype) {
    case DT_UINT8: convert_voxels<uint8_t>(nim.data, out, n, scale, slope, inter); break;
    case DT_INT8: convert_voxels<int8_t>(nim.data, out, n, scale, slope, inter); break;
    case DT_INT16: convert_voxels<int16_t>(nim.data, out, n, scale, slope, inter); break;
    case DT_UINT16: convert_voxels<uint16_t>(nim.data, out, n, scale, slope, inter); break;
    case DT_INT32: convert_voxels<int32_t>(nim.data, out, n, scale, slope, inter); break;
    case DT_UINT32: convert_voxels<uint32_t>(nim.data, out, n, scale, slope, inter); break;
    case DT_FLOAT32: convert_voxels<float>(nim.data, out, n, scale, slope, inter); break;
    case DT_FLOAT64: convert_voxels<double>(nim.data, out, n, scale, slope, inter); break;
    default: break;  // rejected above
  }
  return image;
}

ImageGeometry image_geometry(const nifti_image& nim, const fs::path& path, VolumeInfo& info) {
  // NIfTI-1 header docs, "method 3 / method 2 / method 1": the sform is the preferred mapping to
  // a standard space, the qform the scanner's rigid mapping, pixdim alone the ANALYZE fallback.
  ImageGeometry geometry;
  bool have_geometry = false;
  if (nim.sform_code > 0) {
    have_geometry = geometry_from_ras(nim.sto_xyz, geometry);
    if (have_geometry) {
      const double pix[3] = {nim.dx, nim.dy, nim.dz};
      const double sp[3] = {geometry.spacing_mm[2], geometry.spacing_mm[1],
                            geometry.spacing_mm[0]};
      for (int c = 0; c < 3; ++c) {
        if (std::abs(std::abs(pix[c]) - sp[c]) > 1e-3 * sp[c]) {
          logger()->debug("NIfTI {}: sform column {} has length {} but pixdim[{}] is {}; using "
                          "the sform", path.string(), c, sp[c], c + 1, pix[c]);
        }
      }
    } else {
      logger()->warn("NIfTI {}: sform (code {}) is degenerate; trying the qform", path.string(),
                     nim.sform_code);
    }
  }
  if (!have_geometry && nim.qform_code > 0) {
    have_geometry = geometry_from_ras(nim.qto_xyz, geometry);
  }
  if (!have_geometry) {
    // NIfTI "method 1": x = pixdim[1]*i, y = pixdim[2]*j, z = pixdim[3]*k in RAS, origin 0.
    nifti_dmat44 m{};
    m.m[0][0] = positive_or_one(std::abs(nim.dx));
    m.m[1][1] = positive_or_one(std::abs(nim.dy));
    m.m[2][2] = positive_or_one(std::abs(nim.dz));
    m.m[3][3] = 1.0;
    geometry_from_ras(m, geometry);
    const std::string msg = "no usable sform or qform (codes " + std::to_string(nim.sform_code) +
                            ", " + std::to_string(nim.qform_code) +
                            "): orientation unknown, assumed RAS axes with pixdim spacing";
    logger()->warn("NIfTI {}: {}", path.string(), msg);
    info.warnings.push_back(msg);
  }
  return geometry;
}

}  // namespace

bool is_nifti_path(const fs::path& path) {
  const std::string name = lower(path.filename().string());
  return (ends_with(name, ".nii") && name.size() > 4) ||
         (ends_with(name, ".nii.gz") && name.size() > 7);
}

Image read_nifti_image(const fs::path& path) {
  detail::init_library();
  check_path(path);
  // Sizes first, so a file that cannot hold what it declares fails before any allocation; then
  // the header, so unsupported files fail before their voxels are decompressed.
  check_declared_size(path);
  detail::NiftiImagePtr nim(nifti_image_read(path.c_str(), 0));
  if (!nim) throw NiftiError(describe_unreadable_header(path));
  check_image(*nim, path);
  load_voxels(nim.get(), path);
  Image image = float_voxels(*nim);
  const ImageGeometry geometry = image_geometry(*nim, path, image.info());
  logger()->debug("read NIfTI-{} {}: {} {}, spacing (z,y,x) ({}, {}, {}) mm",
                  nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 ? 2 : 1, path.string(),
                  datatype_name(nim->datatype), dims_text(*nim), geometry.spacing_mm[0],
                  geometry.spacing_mm[1], geometry.spacing_mm[2]);
  image.set_geometry(geometry);
  return image;
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
