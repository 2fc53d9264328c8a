#include "tomograd/core/blas.hpp"

#include <ATen/Version.h>
#include <dlfcn.h>

#include <atomic>
#include <filesystem>

#include "tomograd/core/log.hpp"

namespace tomograd {

namespace {

/// The value of @p key in LibTorch's build configuration ("  - BLAS_INFO=generic"), or empty.
std::string build_setting(const std::string& config, const std::string& key) {
  const auto at = config.find(key + "=");
  if (at == std::string::npos) return {};
  const auto begin = at + key.size() + 1;
  const auto end = config.find_first_of(", \n", begin);
  return config.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

/// The file (symbolic links resolved) of the loaded object that @p symbol lives in, or empty.
std::string object_file(void* symbol) {
  Dl_info info{};
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return {};
  std::error_code ec;
  const auto real = std::filesystem::canonical(info.dli_fname, ec);
  return ec ? info.dli_fname : real.string();
}

}  // namespace

BlasInfo describe_blas(const std::string& build_blas, const std::string& library, const std::string& openblas_config,
                       int openblas_parallel, const std::string& blis_version) {
  BlasInfo b;
  if (build_blas == "mkl") {
    // A PyTorch wheel's LibTorch links MKL in and calls it directly; any libblas.so.3 that another
    // library (OpenCV's LAPACK) brought in is not what LibTorch multiplies with.
    b.name = "mkl (inside LibTorch)";
    return b;
  }
  b.library = library;
  if (!openblas_config.empty()) {
    static const char* const kThreads[] = {"sequential", "pthreads", "OpenMP threads"};
    b.name = openblas_config;
    if (b.name.rfind("OpenBLAS", 0) != 0) b.name = "OpenBLAS " + b.name;
    if (openblas_parallel >= 0 && openblas_parallel <= 2) b.name += std::string(" (") + kThreads[openblas_parallel] + ")";
  } else if (!blis_version.empty()) {
    b.name = "BLIS " + blis_version;
  } else if (library.empty() || library.find("libtorch") != std::string::npos) {
    // No system BLAS: LibTorch carries its own (a PyTorch wheel's MKL), or has none.
    b.name = build_blas.empty() ? "unknown (LibTorch names none)" : build_blas + " (inside LibTorch)";
  } else if (library.find("/blas/libblas.so") != std::string::npos) {
    // Debian's libblas3 installs Netlib's reference implementation in .../blas/; the optimised
    // ones live in their own folders (openblas-pthread/, openblas-openmp/, blis-openmp/, atlas/).
    b.name = "reference BLAS (Netlib)";
    b.reference = true;
  } else if (library.find("atlas") != std::string::npos) {
    b.name = "ATLAS";
  } else {
    b.name = "system BLAS";
  }
  return b;
}

const BlasInfo& blas_info() {
  static const BlasInfo info = [] {
    // The sgemm_ that LibTorch's generic BLAS calls resolves, as here, to the first loaded object
    // that defines it. Asking that object (not the process) whether it is OpenBLAS matters: with
    // Netlib's libblas.so.3 and OpenBLAS's liblapack.so.3 (two separate alternatives), OpenBLAS is
    // loaded too, but its sgemm_ is not the one called.
    const std::string library = object_file(dlsym(RTLD_DEFAULT, "sgemm_"));
    std::string config;
    std::string blis;
    int parallel = -1;
    if (void* handle = library.empty() ? nullptr : dlopen(library.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
      using CharFn = char* (*)();
      using IntFn = int (*)();
      if (auto f = reinterpret_cast<CharFn>(dlsym(handle, "openblas_get_config")); f && f()) config = f();
      if (auto f = reinterpret_cast<IntFn>(dlsym(handle, "openblas_get_parallel"))) parallel = f();
      if (auto f = reinterpret_cast<CharFn>(dlsym(handle, "bli_info_get_version_str")); f && f()) blis = f();
      dlclose(handle);
    }
    return describe_blas(build_setting(at::show_config(), "BLAS_INFO"), library, config, parallel, blis);
  }();
  return info;
}

std::string blas_advice(const BlasInfo& info) {
  if (!info.reference) return {};
  return "LibTorch multiplies matrices with the reference BLAS " + info.library +
         " (Netlib, unoptimised: linear layers and attention run about 10x slower than with OpenBLAS); "
         "install an optimised one: apt-get install libopenblas0-openmp";
}

void warn_if_reference_blas() {
  static std::atomic<bool> told{false};
  const std::string advice = blas_advice(blas_info());
  if (!advice.empty() && !told.exchange(true)) logger()->warn("{}", advice);
}

}  // namespace tomograd
