// The LibTorch API of io (tomograd::io), writers: every writer of io_base for a Volume, through a
// view of its tensor (core/volume_image.hpp): no copy.
#include "tomograd/core/volume_image.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/io/png_export.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

std::vector<fs::path> write_dicom_series(const Volume& volume, const fs::path& dir, const DicomWriteOptions& options) {
  return write_dicom_series(view_of(volume), dir, options);
}

NiftiWriteResult write_nifti(const Volume& volume, const fs::path& path, const NiftiWriteOptions& options) {
  return write_nifti(view_of(volume), path, options);
}

std::vector<uint16_t> window_slice(const Volume& volume, int64_t slice, const Window& window, int bit_depth) {
  return window_slice(view_of(volume), slice, window, bit_depth);
}

std::vector<fs::path> export_png(const Volume& volume, const fs::path& outdir, const PngExportOptions& options) {
  return export_png(view_of(volume), outdir, options);
}

}  // namespace tomograd::io
