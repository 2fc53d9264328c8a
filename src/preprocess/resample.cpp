#include "tomograd/preprocess/resample.hpp"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd::preprocess {

namespace {

int cv_flag(Interpolation i) {
  switch (i) {
    case Interpolation::kNearest: return cv::INTER_NEAREST;
    case Interpolation::kLinear: return cv::INTER_LINEAR;
    case Interpolation::kCubic: return cv::INTER_CUBIC;
    case Interpolation::kArea: return cv::INTER_AREA;
  }
  return cv::INTER_LINEAR;
}

/// Moves the origin so the new grid covers the same field of view (voxel centres at
/// (i + 0.5) * spacing from the common edge).
Vec3 shifted_origin(const Volume& v, const Vec3& new_spacing) {
  Vec3 origin = v.origin_lps();
  const Mat3& d = v.direction();
  // Index axis c of direction() is (x, y, z) for c = 0, 1, 2; spacing is (z, y, x).
  const double delta[3] = {0.5 * (new_spacing[2] - v.spacing_mm()[2]), 0.5 * (new_spacing[1] - v.spacing_mm()[1]),
                           0.5 * (new_spacing[0] - v.spacing_mm()[0])};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) origin[r] += d[r][c] * delta[c];
  }
  return origin;
}

/// floor(d / 2) for either sign (C++ division truncates toward zero).
int64_t floor_half(int64_t d) { return d >= 0 ? d / 2 : -((-d + 1) / 2); }

void require_positive(const char* what, int64_t height, int64_t width) {
  if (height <= 0 || width <= 0) {
    throw ValueError(std::string(what) + ": size must be positive, got " + std::to_string(height) + "x" +
                     std::to_string(width));
  }
}

}  // namespace

Interpolation parse_interpolation(const std::string& name) {
  if (name == "nearest") return Interpolation::kNearest;
  if (name == "linear") return Interpolation::kLinear;
  if (name == "cubic") return Interpolation::kCubic;
  if (name == "area") return Interpolation::kArea;
  throw ValueError("unknown interpolation '" + name + "' (valid: nearest, linear, cubic, area)");
}

std::string to_string(Interpolation i) {
  switch (i) {
    case Interpolation::kNearest: return "nearest";
    case Interpolation::kLinear: return "linear";
    case Interpolation::kCubic: return "cubic";
    case Interpolation::kArea: return "area";
  }
  return "linear";
}

torch::Tensor resize_slices(const torch::Tensor& x_in, int64_t height, int64_t width, Interpolation interp) {
  if (height <= 0 || width <= 0) {
    throw ValueError("resize: target size must be positive, got " + std::to_string(height) + "x" + std::to_string(width));
  }
  if (x_in.dim() < 2) throw ValueError("resize: expected at least 2 dimensions [..., H, W]");
  const bool is_u8 = x_in.scalar_type() == torch::kUInt8;
  torch::Tensor x = is_u8 ? x_in.contiguous() : x_in.to(torch::kFloat32).contiguous();
  const int64_t h = x.size(-2), w = x.size(-1);
  std::vector<int64_t> out_sizes(x.sizes().begin(), x.sizes().end());
  out_sizes[out_sizes.size() - 2] = height;
  out_sizes[out_sizes.size() - 1] = width;
  if (h == height && w == width) return x.clone();
  torch::Tensor out = torch::empty(out_sizes, x.options());
  const int64_t planes = x.numel() / (h * w);
  const int type = is_u8 ? CV_8U : CV_32F;
  const std::size_t elem = is_u8 ? 1 : 4;
  auto* src_base = static_cast<uint8_t*>(x.data_ptr());
  auto* dst_base = static_cast<uint8_t*>(out.data_ptr());
  const int flag = cv_flag(interp);
  parallel_for(static_cast<std::size_t>(planes), planes >= 8 ? 0 : 1, [&](std::size_t p) {
    cv::Mat src(static_cast<int>(h), static_cast<int>(w), type, src_base + p * h * w * elem);
    cv::Mat dst(static_cast<int>(height), static_cast<int>(width), type, dst_base + p * height * width * elem);
    cv::resize(src, dst, dst.size(), 0, 0, flag);
  });
  return out;
}

Volume resize_in_plane(const Volume& v, int64_t height, int64_t width, Interpolation interp) {
  if (v.empty()) throw ValueError("resize: the volume is empty");
  Vec3 sp = v.spacing_mm();
  sp[1] = sp[1] * static_cast<double>(v.rows()) / static_cast<double>(height);
  sp[2] = sp[2] * static_cast<double>(v.cols()) / static_cast<double>(width);
  Volume out(resize_slices(v.data(), height, width, interp), sp, shifted_origin(v, sp), v.direction(), v.info());
  return out;
}

KeepAspectLayout keep_aspect_layout(int64_t rows, int64_t cols, int64_t height, int64_t width) {
  require_positive("resize (keep_aspect): image", rows, cols);
  require_positive("resize (keep_aspect): target", height, width);
  KeepAspectLayout l;
  // Compare height / rows with width / cols in integers so the limiting side is exact (no
  // 31.999 that rounds the wrong way) and ties pick the rows, deterministically.
  if (height * cols <= width * rows) {
    l.scale = static_cast<double>(height) / static_cast<double>(rows);
    l.rows = height;
    l.cols = std::clamp<int64_t>(std::llround(static_cast<double>(cols) * l.scale), 1, width);
  } else {
    l.scale = static_cast<double>(width) / static_cast<double>(cols);
    l.cols = width;
    l.rows = std::clamp<int64_t>(std::llround(static_cast<double>(rows) * l.scale), 1, height);
  }
  l.pad_top = (height - l.rows) / 2;
  l.pad_left = (width - l.cols) / 2;
  return l;
}

torch::Tensor resize_slices_keep_aspect(const torch::Tensor& x, int64_t height, int64_t width, Interpolation interp,
                                        double fill) {
  if (x.dim() < 2) throw ValueError("resize: expected at least 2 dimensions [..., H, W]");
  const KeepAspectLayout l = keep_aspect_layout(x.size(-2), x.size(-1), height, width);
  const torch::Tensor scaled = resize_slices(x, l.rows, l.cols, interp);
  if (l.rows == height && l.cols == width) return scaled;
  return crop_slices(scaled, -l.pad_top, -l.pad_left, height, width, fill);
}

Volume resize_in_plane_keep_aspect(const Volume& v, int64_t height, int64_t width, Interpolation interp) {
  if (v.empty()) throw ValueError("resize: the volume is empty");
  const KeepAspectLayout l = keep_aspect_layout(v.rows(), v.cols(), height, width);
  const Volume scaled = resize_in_plane(v, l.rows, l.cols, interp);
  return crop_in_plane(scaled, -l.pad_top, -l.pad_left, height, width);
}

torch::Tensor crop_slices(const torch::Tensor& x, int64_t top, int64_t left, int64_t height, int64_t width,
                          double fill) {
  if (height <= 0 || width <= 0) {
    throw ValueError("crop: size must be positive, got " + std::to_string(height) + "x" + std::to_string(width));
  }
  if (x.dim() < 2) throw ValueError("crop: expected at least 2 dimensions [..., H, W]");
  const int64_t rows = x.size(-2), cols = x.size(-1);
  std::vector<int64_t> out_sizes(x.sizes().begin(), x.sizes().end());
  out_sizes[out_sizes.size() - 2] = height;
  out_sizes[out_sizes.size() - 1] = width;
  torch::Tensor out = torch::full(out_sizes, fill, x.options()).contiguous();
  // The overlap of the window with the image, in image coordinates.
  const int64_t r0 = std::max<int64_t>(0, top), r1 = std::min(rows, top + height);
  const int64_t c0 = std::max<int64_t>(0, left), c1 = std::min(cols, left + width);
  if (r0 < r1 && c0 < c1) {
    out.narrow(-2, r0 - top, r1 - r0).narrow(-1, c0 - left, c1 - c0)
        .copy_(x.narrow(-2, r0, r1 - r0).narrow(-1, c0, c1 - c0));
  }
  return out;
}

std::pair<int64_t, int64_t> center_crop_offsets(int64_t rows, int64_t cols, int64_t height, int64_t width) {
  return {floor_half(rows - height), floor_half(cols - width)};
}

Volume crop_in_plane(const Volume& v, int64_t height, int64_t width) {
  if (v.empty()) throw ValueError("crop: the volume is empty");
  const auto [top, left] = center_crop_offsets(v.rows(), v.cols(), height, width);
  return crop_in_plane(v, top, left, height, width);
}

Volume crop_in_plane(const Volume& v, int64_t top, int64_t left, int64_t height, int64_t width) {
  if (v.empty()) throw ValueError("crop: the volume is empty");
  return Volume(crop_slices(v.data(), top, left, height, width), v.spacing_mm(),
                v.index_to_lps(0, static_cast<double>(top), static_cast<double>(left)), v.direction(), v.info());
}

CropMode parse_crop_mode(const std::string& name) {
  if (name == "center") return CropMode::kCenter;
  if (name == "mask") return CropMode::kMask;
  throw ValueError("unknown crop mode '" + name + "' (valid: center, mask)");
}

std::string to_string(CropMode mode) { return mode == CropMode::kMask ? "mask" : "center"; }

std::pair<int64_t, int64_t> mask_crop_offsets(const torch::Tensor& mask, int64_t height, int64_t width) {
  require_positive("crop", height, width);
  if (mask.dim() < 2) throw ValueError("crop: expected a mask with at least 2 dimensions [..., H, W]");
  const int64_t rows = mask.size(-2), cols = mask.size(-1);
  const auto centred = center_crop_offsets(rows, cols, height, width);
  // Union over slices (and any leading axes): one [H,W] plane, then its occupied rows and columns.
  const torch::Tensor plane = mask.ne(0).reshape({-1, rows, cols}).any(0);
  const torch::Tensor used_rows = torch::nonzero(plane.any(1)).view(-1);
  const torch::Tensor used_cols = torch::nonzero(plane.any(0)).view(-1);
  if (used_rows.numel() == 0) {
    logger()->warn("crop: the brain mask is empty; using the centre crop");
    return centred;
  }
  // The window's centre (top + (height - 1) / 2) on the box's centre ((first + last) / 2),
  // rounded down like the centre crop, then kept inside the image.
  auto place = [](int64_t first, int64_t last, int64_t size, int64_t window, int64_t centre_offset) {
    if (window > size) return centre_offset;
    return std::clamp<int64_t>(floor_half(first + last - (window - 1)), 0, size - window);
  };
  return {place(used_rows[0].item<int64_t>(), used_rows[-1].item<int64_t>(), rows, height, centred.first),
          place(used_cols[0].item<int64_t>(), used_cols[-1].item<int64_t>(), cols, width, centred.second)};
}

Volume resample_to_spacing(const Volume& v, const Vec3& spacing_mm, Interpolation interp) {
  if (v.empty()) throw ValueError("resample: the volume is empty");
  if (interp != Interpolation::kLinear && interp != Interpolation::kNearest) {
    throw ValueError("resample_to_spacing supports linear and nearest interpolation, got " + to_string(interp));
  }
  const std::array<int64_t, 3> sizes{v.depth(), v.rows(), v.cols()};
  Vec3 sp = v.spacing_mm();
  std::vector<int64_t> target(3);
  for (int a = 0; a < 3; ++a) {
    if (spacing_mm[a] > 0) {
      target[a] = std::max<int64_t>(1, static_cast<int64_t>(std::llround(sizes[a] * v.spacing_mm()[a] / spacing_mm[a])));
      sp[a] = v.spacing_mm()[a] * static_cast<double>(sizes[a]) / static_cast<double>(target[a]);
    } else {
      target[a] = sizes[a];
    }
  }
  namespace F = torch::nn::functional;
  auto opts = F::InterpolateFuncOptions().size(target);
  if (interp == Interpolation::kLinear) opts = opts.mode(torch::kTrilinear).align_corners(false);
  else opts = opts.mode(torch::kNearest);
  torch::Tensor t = F::interpolate(v.data().unsqueeze(0).unsqueeze(0), opts).squeeze(0).squeeze(0);
  return Volume(t, sp, shifted_origin(v, sp), v.direction(), v.info());
}

}  // namespace tomograd::preprocess
