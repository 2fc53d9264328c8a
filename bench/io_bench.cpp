// IO benchmark: read a generated 512x512x40 uncompressed CT series into a float HU volume,
// single-threaded and with all threads. Compare with bench/pydicom_read.py (bench/run_io_bench.sh).
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"

namespace fs = std::filesystem;
using namespace tomograd;

int main(int argc, char** argv) {
  fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "tomograd-bench-io";
  const int64_t slices = argc > 2 ? std::atoi(argv[2]) : 40;
  const int64_t size = argc > 3 ? std::atoi(argv[3]) : 512;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  set_progress_enabled(false);
  if (!fs::exists(dir / "IM0001.dcm")) {
    torch::manual_seed(0);
    auto hu = torch::randint(-1024, 3000, {slices, size, size}).to(torch::kFloat32);
    io::write_dicom_series(Volume(hu, {1.0, 0.5, 0.5}), dir);  // explicit VR little endian
  }
  const double mb = static_cast<double>(slices * size * size * 2) / 1e6;  // stored int16 bytes
  nlohmann::json out{{"slices", slices}, {"size", size}, {"repeats", repeats}, {"hardware_threads", hardware_threads()}};
  for (int threads : {1, 0}) {
    double best = 1e9;
    io::DicomReadOptions o;
    o.threads = threads;
    o.show_progress = false;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      Volume v = io::read_dicom(dir, "", o);  // header scan + decode + rescale + stack
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (v.depth() != slices) return 1;
      best = std::min(best, s);
    }
    std::string key = threads == 1 ? "single_thread" : "all_threads";
    out[key] = {{"seconds", best}, {"slices_per_s", slices / best}, {"mb_per_s", mb / best}};
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
