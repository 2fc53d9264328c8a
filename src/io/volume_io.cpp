#include "tomograd/io/volume_io.hpp"

#include "tomograd/io/nifti.hpp"

namespace tomograd::io {

Volume load_volume(const std::filesystem::path& path, const std::string& series_selector,
                   const DicomReadOptions& options) {
  if (is_nifti_path(path)) return read_nifti(path);
  return read_dicom(path, series_selector, options);
}

}  // namespace tomograd::io
