#include <ATen/Version.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "tomograd/core/blas.hpp"

using namespace tomograd;

TEST_CASE("the BLAS is named from what is loaded: OpenBLAS, BLIS, reference, or inside LibTorch", "[core]") {
  // Debian's alternatives: libblas3 (Netlib) in .../blas/, libopenblas0-openmp in .../openblas-openmp/.
  const std::string netlib = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0";
  BlasInfo ref = describe_blas("generic", netlib, "", -1, "");
  CHECK(ref.reference);
  CHECK(ref.name == "reference BLAS (Netlib)");
  CHECK(ref.library == netlib);
  CHECK_THAT(blas_advice(ref), Catch::Contains(netlib) && Catch::Contains("apt-get install libopenblas0-openmp"));

  BlasInfo open = describe_blas("generic", "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3",
                                "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64", 2, "");
  CHECK_FALSE(open.reference);
  CHECK(open.name == "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64 (OpenMP threads)");
  CHECK(blas_advice(open).empty());
  // openblas_get_config() of some builds leaves the name out; openblas_get_parallel may be missing.
  CHECK(describe_blas("generic", "/x/libblas.so.3", "0.3.26 NO_AFFINITY", -1, "").name == "OpenBLAS 0.3.26 NO_AFFINITY");
  CHECK(describe_blas("generic", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3", "OpenBLAS 0.3.21", 1, "")
            .name == "OpenBLAS 0.3.21 (pthreads)");

  CHECK(describe_blas("generic", "/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3", "", -1, "0.9.0").name ==
        "BLIS 0.9.0");
  CHECK(describe_blas("generic", "/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3", "", -1, "").name == "ATLAS");
  CHECK(describe_blas("generic", "/opt/vendor/libblas.so.3", "", -1, "").name == "system BLAS");
  // A PyTorch wheel's LibTorch links MKL in: sgemm_ is LibTorch's own, not exported at all, or
  // another library's (a Netlib libblas that OpenCV's LAPACK loaded), which LibTorch never calls.
  CHECK(describe_blas("mkl", "/venv/torch/lib/libtorch_cpu.so", "", -1, "").name == "mkl (inside LibTorch)");
  CHECK(describe_blas("mkl", "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "", -1, "").name == "mkl (inside LibTorch)");
  BlasInfo mkl = describe_blas("mkl", "", "", -1, "");
  CHECK(mkl.name == "mkl (inside LibTorch)");
  CHECK_FALSE(mkl.reference);
  CHECK(blas_advice(mkl).empty());
}

TEST_CASE("this process's BLAS is found where LibTorch calls a system one", "[core]") {
  const BlasInfo& b = blas_info();
  INFO(b.name << " " << b.library);
  CHECK_FALSE(b.name.empty());
  if (at::show_config().find("BLAS_INFO=generic") != std::string::npos) {
    // Debian's LibTorch: the sgemm_ it calls comes from the libblas.so.3 it was linked against,
    // whichever of the alternatives that is; Netlib's is the reference one.
    REQUIRE_FALSE(b.library.empty());
    CHECK(std::filesystem::is_regular_file(b.library));
    CHECK(b.reference == (b.library.find("/blas/libblas.so") != std::string::npos));
  }
  CHECK(&blas_info() == &b);  // looked up once
}
