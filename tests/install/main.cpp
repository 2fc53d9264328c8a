// Uses the installed headers and libraries: a NIfTI round trip through tomograd::io.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "tomograd/io/nifti.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  tomograd::Volume v(torch::arange(24, torch::kFloat32).reshape({2, 3, 4}), {2.0, 1.0, 1.0});
  tomograd::io::write_nifti(v, argv[1]);
  tomograd::Volume r = tomograd::io::read_nifti(argv[1]);
  bool ok = torch::equal(r.data(), v.data());
  std::cout << (ok ? "downstream ok" : "downstream MISMATCH") << std::endl;
  return ok ? 0 : 1;
}
