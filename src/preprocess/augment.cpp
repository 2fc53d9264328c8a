#include "tomograd/preprocess/augment.hpp"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "mat_view.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/random.hpp"

namespace tomograd::preprocess {

namespace {

torch::Tensor as_image(const torch::Tensor& image, const char* what) {
  if (!image.defined() || image.dim() != 3) {
    throw ValueError(std::string(what) + ": expected an image [C,H,W]");
  }
  return image.to(torch::kFloat32).contiguous();
}

/// Per-channel minimum and maximum.
std::pair<std::vector<float>, std::vector<float>> channel_range(const torch::Tensor& x) {
  auto flat = x.reshape({x.size(0), -1});
  auto mn = std::get<0>(flat.min(1)).contiguous(), mx = std::get<0>(flat.max(1)).contiguous();
  return {std::vector<float>(mn.data_ptr<float>(), mn.data_ptr<float>() + mn.numel()),
          std::vector<float>(mx.data_ptr<float>(), mx.data_ptr<float>() + mx.numel())};
}

torch::Tensor as_volume(const torch::Tensor& volume, const char* what) {
  if (!volume.defined() || volume.dim() != 4) {
    throw ValueError(std::string(what) + ": expected a volume [C,D,H,W]");
  }
  return volume.to(torch::kFloat32).contiguous();
}

int cv_interp(Interpolation i) {
  switch (i) {
    case Interpolation::kNearest: return cv::INTER_NEAREST;
    case Interpolation::kCubic: return cv::INTER_CUBIC;
    case Interpolation::kArea: return cv::INTER_AREA;
    case Interpolation::kLinear: break;
  }
  return cv::INTER_LINEAR;
}

}  // namespace

double Range::sample(std::mt19937_64& rng) const {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double t = u(rng);
  return low + (high - low) * t;
}

std::mt19937_64 sample_rng(uint64_t seed, uint64_t index) { return std::mt19937_64(derive_seed(seed, index)); }

torch::Tensor flip_horizontal(const torch::Tensor& image) {
  return as_image(image, "flip").flip({-1}).contiguous();
}

torch::Tensor affine_warp(const torch::Tensor& image_in, const AffineParams& p, Interpolation interp) {
  torch::Tensor image = as_image(image_in, "affine");
  const int h = static_cast<int>(image.size(1)), w = static_cast<int>(image.size(2));
  // OpenCV's angle is counter-clockwise with the y axis pointing down, as displayed.
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f((w - 1) / 2.0f, (h - 1) / 2.0f), p.rotate_deg, p.scale);
  m.at<double>(0, 2) += p.translate_x_px;
  m.at<double>(1, 2) += p.translate_y_px;
  auto [mn, mx] = channel_range(image);
  torch::Tensor out = torch::empty_like(image);
  for (int64_t c = 0; c < image.size(0); ++c) {
    cv::Mat dst = detail::mat_f32(out, c);
    cv::warpAffine(detail::mat_f32(image, c), dst, m, dst.size(), cv_interp(interp), cv::BORDER_CONSTANT,
                   cv::Scalar(mn[c]));
  }
  return out;
}

torch::Tensor adjust_gamma(const torch::Tensor& image_in, double gamma) {
  if (!(gamma > 0)) throw ValueError("gamma must be > 0, got " + std::to_string(gamma));
  torch::Tensor image = as_image(image_in, "gamma");
  auto flat = image.reshape({image.size(0), -1});
  auto lo = std::get<0>(flat.min(1, true)).unsqueeze(-1), hi = std::get<0>(flat.max(1, true)).unsqueeze(-1);
  auto range = (hi - lo).clamp_min(1e-12);
  return (((image - lo) / range).clamp(0.0, 1.0).pow(gamma) * range + lo).contiguous();
}

torch::Tensor adjust_brightness_contrast(const torch::Tensor& image_in, double brightness, double contrast) {
  torch::Tensor image = as_image(image_in, "brightness_contrast");
  auto flat = image.reshape({image.size(0), -1});
  auto mean = flat.mean(1, true).unsqueeze(-1);
  auto range = std::get<0>(flat.max(1, true)).unsqueeze(-1) - std::get<0>(flat.min(1, true)).unsqueeze(-1);
  return ((image - mean) * contrast + mean + range * brightness).contiguous();
}

torch::Tensor add_gaussian_noise(const torch::Tensor& image_in, double std_fraction, std::mt19937_64& rng) {
  torch::Tensor out = (image_in.defined() && image_in.dim() == 4 ? as_volume(image_in, "noise") : as_image(image_in, "noise"))
                          .clone();
  auto [mn, mx] = channel_range(out);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int64_t plane = out[0].numel();
  float* d = out.data_ptr<float>();
  for (int64_t c = 0; c < out.size(0); ++c) {
    const float s = static_cast<float>(std_fraction) * (mx[c] - mn[c]);
    for (int64_t i = 0; i < plane; ++i) d[c * plane + i] += s * n(rng);
  }
  return out;
}

torch::Tensor gaussian_blur(const torch::Tensor& image_in, double sigma_px) {
  torch::Tensor image = as_image(image_in, "blur");
  if (sigma_px <= 0) return image.clone();
  torch::Tensor out = torch::empty_like(image);
  for (int64_t c = 0; c < image.size(0); ++c) {
    cv::Mat dst = detail::mat_f32(out, c);
    cv::GaussianBlur(detail::mat_f32(image, c), dst, cv::Size(0, 0), sigma_px, sigma_px, cv::BORDER_REFLECT);
  }
  return out;
}

torch::Tensor sharpen(const torch::Tensor& image_in, double amount, double sigma_px) {
  torch::Tensor image = as_image(image_in, "sharpen");
  return (image + amount * (image - gaussian_blur(image, sigma_px))).contiguous();
}

torch::Tensor clahe(const torch::Tensor& image_in, double clip_limit, int tiles) {
  if (!(clip_limit > 0) || tiles < 1) throw ValueError("clahe: clip_limit must be > 0 and tiles >= 1");
  torch::Tensor image = as_image(image_in, "clahe");
  auto [mn, mx] = channel_range(image);
  torch::Tensor out = torch::empty_like(image);
  auto op = cv::createCLAHE(clip_limit, cv::Size(tiles, tiles));  // one per call: not shareable
  for (int64_t c = 0; c < image.size(0); ++c) {
    const double range = std::max(1e-12, static_cast<double>(mx[c]) - mn[c]);
    cv::Mat u16, eq;
    detail::mat_f32(image, c).convertTo(u16, CV_16U, 65535.0 / range, -mn[c] * 65535.0 / range);
    op->apply(u16, eq);
    cv::Mat dst = detail::mat_f32(out, c);
    eq.convertTo(dst, CV_32F, range / 65535.0, mn[c]);
  }
  return out;
}

torch::Tensor elastic_field(int64_t height, int64_t width, double alpha_px, double sigma_px, std::mt19937_64& rng) {
  if (height <= 0 || width <= 0 || !(sigma_px > 0)) throw ValueError("elastic_field: sizes and sigma must be positive");
  torch::Tensor field = torch::empty({2, height, width}, torch::kFloat32);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  float* d = field.data_ptr<float>();
  for (int64_t i = 0; i < field.numel(); ++i) d[i] = u(rng);
  for (int64_t c = 0; c < 2; ++c) {
    cv::Mat m = detail::mat_f32(field, c);
    cv::GaussianBlur(m, m, cv::Size(0, 0), sigma_px, sigma_px, cv::BORDER_REFLECT);
  }
  const float peak = field.abs().max().item<float>();
  if (peak > 0) field.mul_(static_cast<float>(alpha_px) / peak);
  return field;
}

torch::Tensor displace(const torch::Tensor& image_in, const torch::Tensor& field_in, Interpolation interp) {
  torch::Tensor image = as_image(image_in, "displace");
  torch::Tensor field = field_in.to(torch::kFloat32).contiguous();
  if (field.dim() != 3 || field.size(0) != 2 || field.size(1) != image.size(1) || field.size(2) != image.size(2)) {
    throw ValueError("displace: field must be [2,H,W] matching the image");
  }
  const int64_t h = image.size(1), w = image.size(2);
  auto xs = torch::arange(w, torch::kFloat32).view({1, -1}).expand({h, w});
  auto ys = torch::arange(h, torch::kFloat32).view({-1, 1}).expand({h, w});
  torch::Tensor map_x = (xs + field[0]).contiguous(), map_y = (ys + field[1]).contiguous();
  auto [mn, mx] = channel_range(image);
  torch::Tensor out = torch::empty_like(image);
  for (int64_t c = 0; c < image.size(0); ++c) {
    cv::Mat dst = detail::mat_f32(out, c);
    cv::remap(detail::mat_f32(image, c), dst, detail::mat_f32_2d(map_x), detail::mat_f32_2d(map_y), cv_interp(interp),
              cv::BORDER_CONSTANT, cv::Scalar(mn[c]));
  }
  return out;
}

// ---- Volumes ----------------------------------------------------------------------------------

namespace {

/// [3,D,H,W] voxel coordinates (z, y, x) of every voxel.
torch::Tensor voxel_grid(int64_t d, int64_t h, int64_t w) {
  const auto z = torch::arange(d, torch::kFloat32).view({-1, 1, 1}).expand({d, h, w});
  const auto y = torch::arange(h, torch::kFloat32).view({1, -1, 1}).expand({d, h, w});
  const auto x = torch::arange(w, torch::kFloat32).view({1, 1, -1}).expand({d, h, w});
  return torch::stack({z, y, x});
}

/// Samples @p volume [C,D,H,W] at voxel coordinates @p at [3,D,H,W] (z, y, x); outside = channel min.
torch::Tensor sample_at(const torch::Tensor& volume, const torch::Tensor& at, Interpolation interp) {
  namespace F = torch::nn::functional;
  if (interp != Interpolation::kLinear && interp != Interpolation::kNearest) {
    throw ValueError("volume resampling: interpolation must be linear or nearest");
  }
  // grid_sample wants (x, y, z) normalised to [-1, 1] with align_corners (voxel centres at +-1).
  auto norm = [](const torch::Tensor& c, int64_t n) { return n > 1 ? c * (2.0f / static_cast<float>(n - 1)) - 1.0f : c * 0.0f; };
  const int64_t d = volume.size(1), h = volume.size(2), w = volume.size(3);
  const torch::Tensor grid = torch::stack({norm(at[2], w), norm(at[1], h), norm(at[0], d)}, -1).unsqueeze(0);
  const torch::Tensor lo = std::get<0>(volume.reshape({volume.size(0), -1}).min(1)).view({-1, 1, 1, 1});
  auto options = F::GridSampleFuncOptions().padding_mode(torch::kZeros).align_corners(true);
  if (interp == Interpolation::kNearest) options.mode(torch::kNearest);
  else options.mode(torch::kBilinear);  // trilinear on a 5D input
  const torch::Tensor out = F::grid_sample((volume - lo).unsqueeze(0), grid, options);
  return (out.squeeze(0) + lo).contiguous();
}

/// Gaussian smoothing of [N,D,H,W] along D, H and W (separable, replicated borders).
torch::Tensor smooth_3d(const torch::Tensor& x, double sigma) {
  namespace F = torch::nn::functional;
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  torch::Tensor k = torch::arange(-radius, radius + 1, torch::kFloat32);
  k = torch::exp(-(k * k) / static_cast<float>(2 * sigma * sigma));
  k = k / k.sum();
  torch::Tensor y = x.unsqueeze(1);  // [N,1,D,H,W]
  for (int axis = 0; axis < 3; ++axis) {
    std::vector<int64_t> shape{1, 1, 1, 1, 1};
    shape[static_cast<std::size_t>(2 + axis)] = 2 * radius + 1;
    std::vector<int64_t> pad(6, 0);  // (W left, W right, H..., D...)
    pad[static_cast<std::size_t>(2 * (2 - axis))] = pad[static_cast<std::size_t>(2 * (2 - axis) + 1)] = radius;
    y = F::conv3d(F::pad(y, F::PadFuncOptions(pad).mode(torch::kReplicate)), k.view(shape));
  }
  return y.squeeze(1);
}

}  // namespace

torch::Tensor elastic_field_3d(int64_t depth, int64_t height, int64_t width, double alpha_vox, double sigma_vox,
                               std::mt19937_64& rng) {
  if (depth <= 0 || height <= 0 || width <= 0 || !(sigma_vox > 0)) {
    throw ValueError("elastic_field_3d: sizes and sigma must be positive");
  }
  torch::Tensor field = torch::empty({3, depth, height, width}, torch::kFloat32);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  float* d = field.data_ptr<float>();
  for (int64_t i = 0; i < field.numel(); ++i) d[i] = u(rng);
  field = smooth_3d(field, sigma_vox).contiguous();
  const float peak = field.abs().max().item<float>();
  if (peak > 0) field.mul_(static_cast<float>(alpha_vox) / peak);
  return field;
}

torch::Tensor displace_volume(const torch::Tensor& volume_in, const torch::Tensor& field_in, Interpolation interp) {
  const torch::Tensor volume = as_volume(volume_in, "displace_volume");
  const torch::Tensor field = field_in.to(torch::kFloat32);
  if (field.dim() != 4 || field.size(0) != 3 || field.sizes().slice(1) != volume.sizes().slice(1)) {
    throw ValueError("displace_volume: field must be [3,D,H,W] matching the volume");
  }
  return sample_at(volume, voxel_grid(volume.size(1), volume.size(2), volume.size(3)) + field, interp);
}

torch::Tensor rotate_volume(const torch::Tensor& volume_in, const std::array<double, 3>& angles_deg,
                            Interpolation interp) {
  const torch::Tensor volume = as_volume(volume_in, "rotate_volume");
  const int64_t d = volume.size(1), h = volume.size(2), w = volume.size(3);
  // Rotation of (z, y, x) about one axis: the other two coordinates turn in their plane.
  auto about = [](int axis, double deg) {
    const double a = deg * M_PI / 180.0, c = std::cos(a), s = std::sin(a);
    torch::Tensor r = torch::eye(3, torch::kFloat64);
    const int i = (axis + 1) % 3, j = (axis + 2) % 3;
    r[i][i] = c;
    r[i][j] = -s;
    r[j][i] = s;
    r[j][j] = c;
    return r;
  };
  const torch::Tensor rot = about(2, angles_deg[2]).matmul(about(1, angles_deg[1])).matmul(about(0, angles_deg[0]));
  // Each output voxel p takes the input at R^-1 (p - centre) + centre (R^-1 = R^T).
  const torch::Tensor centre = torch::tensor({(d - 1) / 2.0, (h - 1) / 2.0, (w - 1) / 2.0}, torch::kFloat32).view({3, 1});
  const torch::Tensor p = voxel_grid(d, h, w).reshape({3, -1});
  const torch::Tensor src = rot.t().to(torch::kFloat32).matmul(p - centre) + centre;
  return sample_at(volume, src.reshape({3, d, h, w}), interp);
}

}  // namespace tomograd::preprocess
