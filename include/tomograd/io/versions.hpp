#pragma once
/// @file The versions of the libraries io reads and writes files with (for `tomograd doctor`
/// and bug reports), so that no app includes their headers.
#include <string>
#include <utility>
#include <vector>

namespace tomograd::io {

/// ("dcmtk", ...), ("opencv", ...), ("nifti", ...), ("openjpeg", ...), ("libpng", ...), ("zlib", ...): the
/// libraries linked at run time (DCMTK's and niftilib's as compiled in).
std::vector<std::pair<std::string, std::string>> library_versions();

}  // namespace tomograd::io
