// The LibTorch API of io (tomograd::io), readers: every reader of io_base for Volume. A Volume
// read here views the Image the torch-free reader filled (core/volume_image.hpp): no copy.
#include "tomograd/io/volume_io.hpp"

#include "tomograd/core/volume_image.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

Volume read_dicom_series(const DicomSeries& series, const DicomReadOptions& options) {
  return to_volume(read_dicom_image(series, options));
}

Volume read_dicom(const fs::path& input, const std::string& selector, const DicomReadOptions& options) {
  return to_volume(read_dicom_image(input, selector, options));
}

Volume read_nifti(const fs::path& path) { return to_volume(read_nifti_image(path)); }

Volume load_volume(const fs::path& path, const std::string& series_selector, const DicomReadOptions& options) {
  return to_volume(load_image(path, series_selector, options));
}

}  // namespace tomograd::io
