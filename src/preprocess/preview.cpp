#include "tomograd/preprocess/preview.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <cmath>

#include "mat_view.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/preprocess/augment.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/preprocess/policy.hpp"

namespace tomograd::preprocess {

namespace {

/// [H,W] float -> 8-bit grey tile of tile x tile pixels, mapping [lo, hi] to [0, 255].
cv::Mat grey_tile(const torch::Tensor& plane, double lo, double hi, int tile) {
  torch::Tensor p = plane.to(torch::kFloat32).contiguous();
  cv::Mat u8;
  const double range = std::max(hi - lo, 1e-6);
  detail::mat_f32_2d(p).convertTo(u8, CV_8U, 255.0 / range, -lo * 255.0 / range);
  cv::Mat resized, bgr;
  cv::resize(u8, resized, cv::Size(tile, tile), 0, 0, cv::INTER_AREA);
  cv::cvtColor(resized, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

cv::Mat heat_tile(const torch::Tensor& diff, double scale, int tile) {
  torch::Tensor p = diff.to(torch::kFloat32).contiguous();
  cv::Mat u8, resized, color;
  detail::mat_f32_2d(p).convertTo(u8, CV_8U, 255.0 / std::max(scale, 1e-6));
  cv::resize(u8, resized, cv::Size(tile, tile), 0, 0, cv::INTER_AREA);
  cv::applyColorMap(resized, color, cv::COLORMAP_JET);
  return color;
}

void caption(cv::Mat& tile, const std::string& text) {
  cv::rectangle(tile, cv::Rect(0, 0, tile.cols, 16), cv::Scalar(0, 0, 0), cv::FILLED);
  cv::putText(tile, text, cv::Point(3, 12), cv::FONT_HERSHEY_SIMPLEX, 0.38, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
}

std::string short_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

PreviewSummary write_preview(const Volume& raw_in, const PreprocessConfig& config, const PreviewOptions& o,
                             const std::filesystem::path& out) {
  if (o.samples < 0 || o.tile_px < 32) throw ValueError("preview: samples must be >= 0 and tiles >= 32 px");
  if (o.overwrite == Overwrite::kNever && std::filesystem::exists(out)) {
    throw IoError("refusing to overwrite '" + out.string() + "' (use --force)");
  }
  AugmentationPolicy policy(config.augment);
  const Pipeline* pipeline = policy.enabled() ? policy.pipeline_for(o.label) : nullptr;
  if (o.samples > 0 && policy.enabled() && !policy.labels().empty() && pipeline == nullptr) {
    std::string labels;
    for (const auto& l : policy.labels()) labels += (labels.empty() ? "" : ", ") + l;
    throw ValueError("preview: no augmentation policy applies to label '" + o.label + "' (labels: " + labels + ")");
  }
  const int samples = pipeline ? o.samples : 0;
  if (!pipeline) logger()->warn("preview: no augmentation configured for label '{}'; showing preprocessing only", o.label);

  PreprocessedStudy study = preprocess_volume(raw_in, config.preprocess);
  // The raw column shows the same anatomy orientation as the preprocessed one.
  Volume raw = raw_in;
  if (config.preprocess.reorient == "canonical") raw = reorient(raw, canonical_orientation(raw));
  else if (config.preprocess.reorient != "none") raw = reorient(raw, config.preprocess.reorient);
  const int64_t depth = study.data.size(1);
  std::vector<int64_t> slices = o.slices;
  if (slices.empty()) {
    const auto& kept = study.quality.kept.empty() ? std::vector<int64_t>{depth / 2} : study.quality.kept;
    for (int i = 1; i <= 3; ++i) slices.push_back(kept[(kept.size() * i) / 4]);
    slices.erase(std::unique(slices.begin(), slices.end()), slices.end());
  }
  for (int64_t s : slices) {
    if (s < 0 || s >= depth) {
      throw ValueError("preview: slice " + std::to_string(s) + " is outside [0, " + std::to_string(depth) + ")");
    }
  }
  const int t = o.tile_px;
  const int cols = 2 + 2 * samples;
  cv::Mat canvas(static_cast<int>(slices.size()) * t, cols * t, CV_8UC3, cv::Scalar(0, 0, 0));
  for (std::size_t row = 0; row < slices.size(); ++row) {
    const int64_t s = slices[row];
    const int64_t raw_s = std::clamp<int64_t>(std::llround((s + 0.5) * raw.depth() / depth - 0.5), 0, raw.depth() - 1);
    torch::Tensor pre = study.data.select(1, s).contiguous();  // [C,H,W]
    const double lo = pre[0].min().item<double>(), hi = pre[0].max().item<double>();
    std::vector<cv::Mat> tiles;
    tiles.push_back(grey_tile(raw.data()[raw_s], o.raw_window.low(), o.raw_window.high(), t));
    caption(tiles.back(), "raw z=" + std::to_string(raw_s) + " W" + short_text(o.raw_window.center) + "/" + short_text(o.raw_window.width));
    tiles.push_back(grey_tile(pre[0], lo, hi, t));
    caption(tiles.back(), "preprocessed z=" + std::to_string(s) + " " + study.channels.at(0));
    for (int k = 0; k < samples; ++k) {
      auto rng = sample_rng(o.seed, static_cast<uint64_t>(s) * 1000 + static_cast<uint64_t>(k));
      AugmentSample sample{pre.clone(), study.mask.defined() ? study.mask[s].clone() : torch::Tensor()};
      pipeline->apply(sample, rng);
      torch::Tensor diff = (sample.image[0] - pre[0]).abs();
      const double dmax = diff.max().item<double>();
      tiles.push_back(grey_tile(sample.image[0], lo, hi, t));
      caption(tiles.back(), "aug " + std::to_string(k + 1) + " seed " + std::to_string(o.seed));
      tiles.push_back(heat_tile(diff, std::max(dmax, 1e-6), t));
      caption(tiles.back(), "|diff| max " + short_text(dmax));
    }
    for (int c = 0; c < static_cast<int>(tiles.size()); ++c) {
      tiles[c].copyTo(canvas(cv::Rect(c * t, static_cast<int>(row) * t, t, t)));
    }
  }
  std::vector<uchar> png;
  if (!cv::imencode(".png", canvas, png)) throw IoError("preview: PNG encoding failed for '" + out.string() + "'");
  write_file_atomic(out, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()), o.overwrite);
  PreviewSummary summary;
  summary.slices = slices;
  summary.samples = samples;
  summary.width = canvas.cols;
  summary.height = canvas.rows;
  return summary;
}

}  // namespace tomograd::preprocess
