// NIfTI writing: nifti_clib builds the header struct, the voxels are encoded and written (or
// gzip-compressed) here on several threads.
#include <fcntl.h>
#include <nifti2_io.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "nifti_encode.hpp"
#include "nifti_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/io/gzip.hpp"
#include "tomograd/io/nifti_base.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

using detail::datatype_name;
using detail::ends_with;
using detail::Encoding;
using detail::lower;
using detail::quoted;
using detail::VoxelEncoder;

namespace {

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

void check_write_options(const ImageView& image, const fs::path& path, const NiftiWriteOptions& options) {
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
  if (image.empty()) throw ValueError("write_nifti " + quoted(path) + ": the volume is empty");
  const int64_t nz = image.depth(), ny = image.rows(), nx = image.cols();
  if (options.version == 1 && std::max({nx, ny, nz}) > detail::kMaxNifti1Dim) {
    throw NiftiError("cannot write " + quoted(path) + " as NIfTI-1: dimensions " +
                     std::to_string(nx) + "x" + std::to_string(ny) + "x" + std::to_string(nz) +
                     " exceed NIfTI-1's limit of 32767; use version 2");
  }

}

// The header image: dimensions, type, both transforms (code 1, scanner) and the scaling.
detail::NiftiImagePtr header_image(const ImageView& image, const fs::path& path, const Encoding& enc, int datatype) {
  const int64_t nz = image.depth(), ny = image.rows(), nx = image.cols();
  const int64_t dims[8] = {3, nx, ny, nz, 1, 1, 1, 1};
  detail::NiftiImagePtr nim(nifti_make_new_nim(dims, datatype, 0));  // header only: voxels are streamed
  if (!nim) throw NiftiError("cannot write " + quoted(path) + ": building the NIfTI image failed");
  // Geometry: RAS = diag(-1,-1,1) * LPS affine.
  const auto lps = image.geometry().affine_lps();
  nifti_dmat44 ras{};
  for (int r = 0; r < 3; ++r) {
    const double flip = r < 2 ? -1.0 : 1.0;
    for (int c = 0; c < 4; ++c) ras.m[r][c] = flip * lps[r][c];
  }
  ras.m[3][3] = 1.0;
  const Vec3& sp = image.geometry().spacing_mm;  // (z,y,x)
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

  return nim;
}

// Header bytes for the file: the on-disk header struct, then the 4-byte extender.
std::string header_bytes(nifti_image* nim, const fs::path& path, const NiftiWriteOptions& options) {
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
    if (nifti_convert_nim2n2hdr(nim, &header2) != 0) {
      throw NiftiError("cannot write " + quoted(path) + ": building the NIfTI-2 header failed");
    }
    head.assign(reinterpret_cast<const char*>(&header2), sizeof(header2));
  } else {
    nifti_1_header header1{};
    nim->iname_offset = static_cast<int64_t>(sizeof(nifti_1_header)) + 4;
    if (nifti_convert_nim2n1hdr(nim, &header1) != 0) {
      throw NiftiError("cannot write " + quoted(path) + ": building the NIfTI-1 header failed");
    }
    head.assign(reinterpret_cast<const char*>(&header1), sizeof(header1));
  }
  head.append(4, '\0');

  return head;
}

}  // namespace

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

NiftiWriteResult write_nifti(const ImageView& image, const fs::path& path,
                             const NiftiWriteOptions& options) {
  detail::init_library();
  check_write_options(image, path, options);
  const int64_t nz = image.depth(), ny = image.rows(), nx = image.cols();
  AtomicFile file(path, options.overwrite);  // refuses an existing target before any work

  // Voxels: our [D,H,W] contiguous float32 is NIfTI's i-fastest order already.
  const float* src = image.data();
  const int64_t n = image.numel();
  const Encoding enc = detail::choose_encoding(image, src, n, options);
  const int datatype = detail::nifti_datatype_code(enc.type);
  detail::NiftiImagePtr nim = header_image(image, path, enc, datatype);
  std::string head = header_bytes(nim.get(), path, options);

  const bool exact = options.datatype == NiftiDataType::kAuto;
  VoxelEncoder encoder(src, enc, exact);
  NiftiByteStream stream(std::move(head), encoder, n, detail::datatype_bytes(enc.type));
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

}  // namespace tomograd::io
