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
  torch::Tensor out = as_image(image_in, "noise").clone();
  auto [mn, mx] = channel_range(out);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int64_t plane = out.size(1) * out.size(2);
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

}  // namespace tomograd::preprocess
