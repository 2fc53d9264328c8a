// Preprocessing benchmark: a generated 512x512x40 head CT phantom through window, brain
// extraction, resize to 256x256 and z-score (inside the brain). Writes the phantom to DIR so
// bench/preprocess_numpy.py runs the same steps on the same voxels (bench/run_preprocess_bench.sh).
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/preprocess/brain_extraction.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/preprocess/morphology.hpp"
#include "tomograd/preprocess/phantom.hpp"
#include "tomograd/preprocess/resample.hpp"

namespace fs = std::filesystem;
using namespace tomograd;
using namespace tomograd::preprocess;

int main(int argc, char** argv) {
  const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "tomograd-bench-preprocess";
  const int64_t slices = argc > 2 ? std::atoi(argv[2]) : 40;
  const int64_t size = argc > 3 ? std::atoi(argv[3]) : 512;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
  logger()->set_level(spdlog::level::warn);
  ensure_directory(dir);
  HeadPhantomOptions po;
  po.depth = slices;
  po.rows = size;
  po.cols = size;
  po.spacing_mm = {4.0, 230.0 / size, 230.0 / size};
  po.seed = 1;
  HeadPhantom p = make_head_phantom(po);
  // The same voxels for the numpy implementation: raw little-endian float32 / uint8 + JSON.
  write_file_atomic(dir / "ct.f32", std::string_view(reinterpret_cast<const char*>(p.ct.data().data_ptr<float>()),
                                                     p.ct.data().numel() * 4), Overwrite::kAllow);
  write_file_atomic(dir / "brain.u8", std::string_view(reinterpret_cast<const char*>(p.brain.data_ptr<uint8_t>()),
                                                       p.brain.numel()), Overwrite::kAllow);
  write_file_atomic(dir / "ct.json",
                    nlohmann::json{{"shape", {slices, size, size}}, {"spacing_mm", po.spacing_mm}}.dump(),
                    Overwrite::kAllow);

  const Window brain_window{40, 80};
  const BrainExtractionOptions be;
  NormalizeOptions zs;
  double best = 1e9, best_extract = 1e9, dice_value = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor windowed = apply_window(p.ct.data(), brain_window);        // [D,H,W]
    BrainMask b = extract_brain(p.ct, be);
    const auto t1 = std::chrono::steady_clock::now();
    torch::Tensor masked = (windowed * b.mask.to(torch::kFloat32)).contiguous();
    torch::Tensor small = resize_slices(masked, 256, 256, Interpolation::kLinear);
    torch::Tensor small_mask = resize_slices(b.mask, 256, 256, Interpolation::kNearest);
    torch::Tensor out = normalize(small.unsqueeze(0), zs, small_mask);
    const auto t2 = std::chrono::steady_clock::now();
    if (out.size(1) != slices) return 1;
    best = std::min(best, std::chrono::duration<double>(t2 - t0).count());
    best_extract = std::min(best_extract, std::chrono::duration<double>(t1 - t0).count());
    dice_value = dice(b.mask, p.brain);
  }
  nlohmann::json j{{"slices", slices},
                   {"size", size},
                   {"repeats", repeats},
                   {"hardware_threads", hardware_threads()},
                   {"volume_seconds", best},
                   {"brain_extraction_seconds", best_extract},
                   {"ms_per_slice", 1000.0 * best / slices},
                   {"slices_per_s", slices / best},
                   {"dice", dice_value}};
  std::cout << j.dump() << std::endl;
  return 0;
}
