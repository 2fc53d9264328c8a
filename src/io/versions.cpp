#include "tomograd/io/versions.hpp"

#include <openjpeg.h>
#include <png.h>
#include <zlib.h>

#include <opencv2/core/utility.hpp>

#include "tomograd/io/dicom_base.hpp"
#include "tomograd/io/nifti_base.hpp"

namespace tomograd::io {

std::vector<std::pair<std::string, std::string>> library_versions() {
  return {{"dcmtk", dcmtk_version()},
          {"opencv", cv::getVersionString()},
          {"nifti", nifti_library_version()},
          {"openjpeg", opj_version()},
          {"libpng", png_get_libpng_ver(nullptr)},
          {"zlib", zlibVersion()}};
}

}  // namespace tomograd::io
