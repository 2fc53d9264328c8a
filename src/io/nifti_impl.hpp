#pragma once
// Private helpers shared by the NIfTI reader and writer (nifti_clib may appear here, never in
// include/).
#include <nifti2_io.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

namespace tomograd::io::detail {

// nifti_clib keeps its options in process-wide globals. Set them once: debug level 0 silences
// its fprintf(stderr) diagnostics (we throw our own messages naming the file), and upper-case
// extensions (".NII.GZ") are accepted because is_nifti_path() accepts them.
inline void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    nifti_set_debug_level(0);
    nifti_set_allow_upper_fext(1);
  });
}

struct NiftiImageDeleter {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NiftiImagePtr = std::unique_ptr<nifti_image, NiftiImageDeleter>;

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

inline std::string datatype_name(int datatype) {
  switch (datatype) {
    case DT_UINT8: return "uint8";
    case DT_INT8: return "int8";
    case DT_INT16: return "int16";
    case DT_UINT16: return "uint16";
    case DT_INT32: return "int32";
    case DT_UINT32: return "uint32";
    case DT_FLOAT32: return "float32";
    case DT_FLOAT64: return "float64";
    default: return nifti_datatype_string(datatype);  // e.g. "RGB24", "COMPLEX64"
  }
}

// NIfTI-1 stores dimensions as int16.
constexpr int64_t kMaxNifti1Dim = 32767;

}  // namespace tomograd::io::detail
