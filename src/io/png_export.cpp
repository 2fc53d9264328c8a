#include "tomograd/io/png_export.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

namespace {

void check_bit_depth(int bit_depth) {
  if (bit_depth != 8 && bit_depth != 16) {
    throw ValueError("PNG bit depth must be 8 or 16, got " + std::to_string(bit_depth));
  }
}

void check_window(const Window& window) {
  if (!(window.width > 0) || !std::isfinite(window.width) || !std::isfinite(window.center)) {
    throw ValueError("window width must be positive and finite, got center " +
                     std::to_string(window.center) + ", width " + std::to_string(window.width));
  }
}

// File names must survive every filesystem and shell: UIDs are digits and dots already, but
// user-given study/series IDs may hold spaces, slashes or non-ASCII text.
std::string sanitize_id(const std::string& id) {
  std::string out = id;
  for (char& c : out) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!keep) c = '_';
  }
  return out;
}

std::string first_non_empty(const std::string& a, const std::string& b, const char* fallback) {
  if (!a.empty()) return a;
  if (!b.empty()) return b;
  return fallback;
}

}  // namespace

std::vector<uint16_t> window_slice(const Volume& volume, int64_t slice, const Window& window,
                                   int bit_depth) {
  check_bit_depth(bit_depth);
  check_window(window);
  if (volume.empty()) throw ValueError("window_slice: the volume is empty");
  if (slice < 0 || slice >= volume.depth()) {
    throw ValueError("window_slice: slice " + std::to_string(slice) + " is out of range [0, " +
                     std::to_string(volume.depth()) + ")");
  }
  const double maxval = bit_depth == 8 ? 255.0 : 65535.0;
  const double low = window.low(), range = window.high() - window.low();
  const torch::Tensor plane = volume.data()[slice].contiguous();
  const float* v = plane.data_ptr<float>();
  std::vector<uint16_t> out(static_cast<size_t>(plane.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    double t = (static_cast<double>(v[i]) - low) / range;
    // NaN voxels (outside a reconstruction's field of view, say) render black.
    if (std::isnan(t)) t = 0.0;
    t = std::clamp(t, 0.0, 1.0);
    out[i] = static_cast<uint16_t>(std::round(t * maxval));
  }
  return out;
}

std::vector<fs::path> export_png(const Volume& volume, const fs::path& outdir,
                                 const PngExportOptions& options) {
  check_bit_depth(options.bit_depth);
  check_window(options.window);
  if (volume.empty()) throw ValueError("export_png: the volume is empty");
  const int64_t depth = volume.depth();
  const auto& instances = volume.info().instance_numbers;
  if (!instances.empty() && static_cast<int64_t>(instances.size()) != depth) {
    throw ValueError("export_png: VolumeInfo::instance_numbers has " +
                     std::to_string(instances.size()) + " entries for " + std::to_string(depth) +
                     " slices");
  }

  const std::string study =
      sanitize_id(first_non_empty(options.study_id, volume.info().study_uid, "study"));
  const std::string series =
      sanitize_id(first_non_empty(options.series_id, volume.info().series_uid, "series"));

  // All names first: a duplicate instance number or an existing file is reported before any
  // file is written, so a refused export leaves the folder as it was.
  std::vector<fs::path> paths;
  paths.reserve(static_cast<size_t>(depth));
  std::map<int, int64_t> seen;
  for (int64_t k = 0; k < depth; ++k) {
    const int number = instances.empty() ? static_cast<int>(k + 1) : instances[k];
    if (auto [it, inserted] = seen.emplace(number, k); !inserted) {
      throw ValueError("export_png: slices " + std::to_string(it->second) + " and " +
                       std::to_string(k) + " share instance number " + std::to_string(number) +
                       " (file names would collide)");
    }
    paths.push_back(outdir / (study + "_" + series + "_" + std::to_string(number) + ".png"));
  }
  ensure_directory(outdir);
  if (options.overwrite == Overwrite::kNever) {
    for (const auto& p : paths) {
      std::error_code ec;
      if (fs::exists(p, ec)) {
        throw IoError("refusing to overwrite existing file '" + p.string() +
                      "' (choose another output folder or remove it first)");
      }
    }
  }

  const int rows = static_cast<int>(volume.rows()), cols = static_cast<int>(volume.cols());
  for (int64_t k = 0; k < depth; ++k) {
    const std::vector<uint16_t> grey = window_slice(volume, k, options.window, options.bit_depth);
    cv::Mat image;
    if (options.bit_depth == 8) {
      image.create(rows, cols, CV_8UC1);
      auto* dst = image.ptr<uint8_t>();
      for (size_t i = 0; i < grey.size(); ++i) dst[i] = static_cast<uint8_t>(grey[i]);
    } else {
      image.create(rows, cols, CV_16UC1);
      std::copy(grey.begin(), grey.end(), image.ptr<uint16_t>());
    }
    AtomicFile file(paths[k], options.overwrite);
    bool ok = false;
    std::string reason;
    try {
      // The temporary name ends in ".png", from which OpenCV picks the encoder.
      ok = cv::imwrite(file.temp_path().string(), image);
    } catch (const cv::Exception& e) {
      reason = std::string(": ") + e.what();
    }
    if (!ok) throw IoError("cannot write PNG '" + paths[k].string() + "'" + reason);
    file.commit();
  }
  logger()->debug("exported {} PNG slice(s) ({}-bit, window {}/{}) to {}", depth,
                  options.bit_depth, options.window.center, options.window.width, outdir.string());
  return paths;
}

}  // namespace tomograd::io
