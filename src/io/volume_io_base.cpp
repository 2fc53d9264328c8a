#include "tomograd/io/volume_io_base.hpp"

#include "tomograd/io/nifti_base.hpp"

namespace tomograd::io {

Image load_image(const std::filesystem::path& path, const std::string& series_selector,
                 const DicomReadOptions& options) {
  if (is_nifti_path(path)) return read_nifti_image(path);
  return read_dicom_image(path, series_selector, options);
}

}  // namespace tomograd::io
