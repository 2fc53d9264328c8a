// IO benchmark.
//   bench_io [DIR [SLICES [SIZE [REPEATS]]]]
//     reads a generated 512x512x40 uncompressed CT series into a float HU volume, single-threaded
//     and with all threads; compare with bench/pydicom_read.py (bench/run_io_bench.sh).
//   bench_io --write-ct DIR [SLICES [SIZE]]
//     writes a head CT phantom (skull, brain, table, 10 HU noise, integer HU) as an uncompressed
//     int16 DICOM series: the input of bench/run_convert_bench.sh.
//   bench_io --convert DICOM_DIR OUT.nii[.gz] [REPEATS [THREADS [GZIP_LEVEL]]]
//     times DICOM -> NIfTI inside the process (what `tomograd convert` does after start-up):
//     read_dicom, then write_nifti with the default (auto) data type; best of REPEATS.
// Each mode prints one JSON line.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/preprocess/phantom.hpp"

namespace fs = std::filesystem;
using namespace tomograd;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int write_ct(int argc, char** argv) {
  const fs::path dir = argv[2];
  preprocess::HeadPhantomOptions po;
  po.depth = argc > 3 ? std::atoi(argv[3]) : 200;
  po.rows = po.cols = argc > 4 ? std::atoi(argv[4]) : 512;
  po.spacing_mm = {1.0, 250.0 / static_cast<double>(po.rows), 250.0 / static_cast<double>(po.cols)};
  po.noise_hu = 10.0;
  po.seed = 1;
  const auto t0 = std::chrono::steady_clock::now();
  preprocess::HeadPhantom p = preprocess::make_head_phantom(po);
  // Integer HU, as a scanner stores them: the writer then uses slope 1, intercept -1024.
  Volume ct(torch::round(p.ct.data()), p.ct.spacing_mm(), p.ct.origin_lps(), p.ct.direction(), p.ct.info());
  io::DicomWriteOptions w;
  w.series_description = "bench head CT";
  auto files = io::write_dicom_series(ct, dir, w);
  std::cout << nlohmann::json{{"files", files.size()}, {"slices", po.depth}, {"size", po.rows},
                              {"seconds", seconds_since(t0)}}.dump()
            << std::endl;
  return 0;
}

int convert(int argc, char** argv) {
  const fs::path in = argv[2], out = argv[3];
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  io::NiftiWriteOptions w;
  w.datatype = io::NiftiDataType::kAuto;
  w.overwrite = Overwrite::kAllow;
  w.threads = argc > 5 ? std::atoi(argv[5]) : 0;
  w.gzip_level = argc > 6 ? std::atoi(argv[6]) : 1;
  io::DicomReadOptions r;
  r.threads = w.threads;
  r.show_progress = false;
  double best_read = 1e9, best_write = 1e9, best_total = 1e9;
  io::NiftiWriteResult result;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Volume v = io::read_dicom(in, "", r);
    const double read = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    result = io::write_nifti(v, out, w);
    const double write = seconds_since(t1);
    best_read = std::min(best_read, read);
    best_write = std::min(best_write, write);
    best_total = std::min(best_total, read + write);
  }
  std::cout << nlohmann::json{{"output", out.filename().string()},
                              {"threads", w.threads == 0 ? hardware_threads() : w.threads},
                              {"gzip_level", w.gzip_level},
                              {"datatype", io::nifti_datatype_name(result.datatype)},
                              {"bytes", result.bytes},
                              {"read_seconds", best_read},
                              {"write_seconds", best_write},
                              {"seconds", best_total}}.dump()
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  set_progress_enabled(false);
  if (argc > 2 && std::strcmp(argv[1], "--write-ct") == 0) return write_ct(argc, argv);
  if (argc > 3 && std::strcmp(argv[1], "--convert") == 0) return convert(argc, argv);
  fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "tomograd-bench-io";
  const int64_t slices = argc > 2 ? std::atoi(argv[2]) : 40;
  const int64_t size = argc > 3 ? std::atoi(argv[3]) : 512;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
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
      double s = seconds_since(t0);
      if (v.depth() != slices) return 1;
      best = std::min(best, s);
    }
    std::string key = threads == 1 ? "single_thread" : "all_threads";
    out[key] = {{"seconds", best}, {"slices_per_s", slices / best}, {"mb_per_s", mb / best}};
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
