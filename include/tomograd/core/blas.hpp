#pragma once
/// @file Which BLAS this process's LibTorch multiplies matrices with. Debian's LibTorch is built
/// against the generic BLAS interface (BLAS_INFO=generic) and calls whatever libblas.so.3 the
/// system's alternatives point to: Netlib's reference implementation unless an optimised one
/// (OpenBLAS, BLIS) is installed. Linear layers and attention then run about ten times slower.
/// A PyTorch-installed LibTorch carries MKL (x86) or OpenBLAS (ARM) inside.
#include <string>

namespace tomograd {

struct BlasInfo {
  std::string name;     ///< "OpenBLAS 0.3.21 ... (OpenMP threads)", "reference BLAS (Netlib)", "MKL (inside LibTorch)"
  std::string library;  ///< the file whose sgemm_ is called, symbolic links resolved; empty when there is none
  bool reference = false;  ///< Netlib's unoptimised reference implementation
};

/// The BLAS described from facts gathered elsewhere: @p build_blas is LibTorch's BLAS_INFO,
/// @p library the file whose sgemm_ the process calls (resolved; LibTorch's own or empty when it
/// carries the BLAS inside),
/// @p openblas_config what openblas_get_config() returns (empty when not OpenBLAS),
/// @p openblas_parallel openblas_get_parallel() (0 sequential, 1 pthreads, 2 OpenMP; -1 unknown),
/// @p blis_version bli_info_get_version_str() (empty when not BLIS).
BlasInfo describe_blas(const std::string& build_blas, const std::string& library, const std::string& openblas_config,
                       int openblas_parallel, const std::string& blis_version);

/// The BLAS of this process (looked up once; LibTorch must be loaded, as it is in any caller).
const BlasInfo& blas_info();

/// One line saying what to install when @p info is the reference BLAS; empty otherwise.
std::string blas_advice(const BlasInfo& info);

/// Logs blas_advice() as a warning, once per process, when the BLAS is the reference one.
void warn_if_reference_blas();

}  // namespace tomograd
