// PNG export: windowing, file names, and the PNG encoding itself through libpng.
#include "tomograd/io/png_export_base.hpp"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

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

// libpng reports errors by longjmp; the message is kept here for the exception thrown later.
struct PngError {
  char message[256] = "";
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// One greyscale image to an open file with the settings cv::imwrite used for PNG before io_base
// dropped OpenCV (and the ~280 shared libraries its image codecs load): the Sub filter, zlib
// level 1 and the run-length strategy, 16-bit samples given in host order (little-endian here)
// and swapped to PNG's big-endian; the files are byte for byte the same. Returns false with
// @p error set on failure. Nothing in this frame has a destructor: libpng unwinds by longjmp.
bool encode_png(std::FILE* out, png_bytep* rows, int height, int width, int bit_depth, PngError& error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error, on_png_warning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, out);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  png_set_compression_level(png, Z_BEST_SPEED);
  png_set_compression_strategy(png, Z_RLE);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), bit_depth,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  if (bit_depth == 16) png_set_swap(png);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

// Writes one slice's grey levels (8 or 16 bit) as a PNG file at @p path; IoError naming
// @p target otherwise.
void write_png(const fs::path& path, const fs::path& target, const std::vector<uint16_t>& grey, int height,
               int width, int bit_depth) {
  std::vector<uint8_t> bytes;
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  if (bit_depth == 8) {
    bytes.assign(grey.begin(), grey.end());  // levels are 0..255 here
    for (int y = 0; y < height; ++y) rows[y] = bytes.data() + static_cast<std::size_t>(y) * width;
  } else {
    auto* words = reinterpret_cast<png_bytep>(const_cast<uint16_t*>(grey.data()));
    for (int y = 0; y < height; ++y) rows[y] = words + static_cast<std::size_t>(y) * width * 2;
  }
  PngError error;
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) {
    throw IoError("cannot write PNG '" + target.string() + "': " + std::strerror(errno));
  }
  const bool encoded = encode_png(out, rows.data(), height, width, bit_depth, error);
  const bool closed = std::fclose(out) == 0;
  if (!encoded || !closed) {
    throw IoError("cannot write PNG '" + target.string() + "': " +
                  (encoded ? std::string(std::strerror(errno)) : std::string(error.message)));
  }
}

}  // namespace

std::vector<uint16_t> window_slice(const ImageView& image, int64_t slice, const Window& window, int bit_depth) {
  check_bit_depth(bit_depth);
  check_window(window);
  if (image.empty()) throw ValueError("window_slice: the volume is empty");
  if (slice < 0 || slice >= image.depth()) {
    throw ValueError("window_slice: slice " + std::to_string(slice) + " is out of range [0, " +
                     std::to_string(image.depth()) + ")");
  }
  const double maxval = bit_depth == 8 ? 255.0 : 65535.0;
  const double low = window.low(), range = window.high() - window.low();
  const int64_t pixels = image.rows() * image.cols();
  const float* v = image.data() + slice * pixels;
  std::vector<uint16_t> out(static_cast<size_t>(pixels));
  for (size_t i = 0; i < out.size(); ++i) {
    double t = (static_cast<double>(v[i]) - low) / range;
    // NaN voxels (outside a reconstruction's field of view, say) render black.
    if (std::isnan(t)) t = 0.0;
    t = std::clamp(t, 0.0, 1.0);
    out[i] = static_cast<uint16_t>(std::round(t * maxval));
  }
  return out;
}

std::vector<fs::path> export_png(const ImageView& image, const fs::path& outdir,
                                 const PngExportOptions& options) {
  check_bit_depth(options.bit_depth);
  check_window(options.window);
  if (image.empty()) throw ValueError("export_png: the volume is empty");
  const int64_t depth = image.depth();
  const auto& instances = image.info().instance_numbers;
  if (!instances.empty() && static_cast<int64_t>(instances.size()) != depth) {
    throw ValueError("export_png: VolumeInfo::instance_numbers has " +
                     std::to_string(instances.size()) + " entries for " + std::to_string(depth) +
                     " slices");
  }

  const std::string study =
      sanitize_id(first_non_empty(options.study_id, image.info().study_uid, "study"));
  const std::string series =
      sanitize_id(first_non_empty(options.series_id, image.info().series_uid, "series"));

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

  const int rows = static_cast<int>(image.rows()), cols = static_cast<int>(image.cols());
  for (int64_t k = 0; k < depth; ++k) {
    const std::vector<uint16_t> grey = window_slice(image, k, options.window, options.bit_depth);
    AtomicFile file(paths[k], options.overwrite);
    write_png(file.temp_path(), paths[k], grey, rows, cols, options.bit_depth);
    file.commit();
  }
  logger()->debug("exported {} PNG slice(s) ({}-bit, window {}/{}) to {}", depth,
                  options.bit_depth, options.window.center, options.window.width, outdir.string());
  return paths;
}

double quantile_linear(std::vector<float>& values, double q) {
  if (values.empty()) throw ValueError("quantile of no values");
  if (!(q >= 0.0 && q <= 1.0)) throw ValueError("quantile must be in [0, 1], got " + std::to_string(q));
  if (std::any_of(values.begin(), values.end(), [](float v) { return std::isnan(v); })) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  // torch::quantile's arithmetic (ATen's quantile_compute, linear): rank = q * (n - 1) in
  // double, the values at floor and ceil of the rank, and ATen's lerp between them, whose CPU
  // kernel is fused multiply-adds (checked bit for bit against torch.quantile on this LibTorch).
  const double rank = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(rank);
  const auto above = static_cast<std::size_t>(std::ceil(rank));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(below), values.end());
  const double lo = values[below];
  const double hi = above == below ? lo : *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(below) + 1,
                                                            values.end());
  const double weight = rank - static_cast<double>(below);
  return weight < 0.5 ? std::fma(weight, hi - lo, lo) : std::fma(-(hi - lo), 1.0 - weight, hi);
}

Window auto_window(const ImageView& image) {
  const auto& info = image.info();
  if (!info.window_centers.empty() && !info.window_widths.empty() && info.window_widths[0] > 0) {
    return Window{info.window_centers[0], info.window_widths[0]};
  }
  if (image.empty()) throw ValueError("auto window of an empty image");
  std::vector<float> values(image.data(), image.data() + image.numel());
  const double lo = quantile_linear(values, 0.005);
  double hi = quantile_linear(values, 0.995);
  if (hi <= lo) hi = lo + 1.0;
  return Window{(lo + hi) / 2.0, hi - lo};
}

}  // namespace tomograd::io
