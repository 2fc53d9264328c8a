#include "tomograd/io/versions.hpp"

#include <openjpeg.h>
#include <zlib.h>

#include <opencv2/core/utility.hpp>

#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"

namespace tomograd::io {

std::vector<std::pair<std::string, std::string>> library_versions() {
  return {{"dcmtk", dcmtk_version()},
          {"opencv", cv::getVersionString()},
          {"nifti", nifti_library_version()},
          {"openjpeg", opj_version()},
          {"zlib", zlibVersion()}};
}

}  // namespace tomograd::io
