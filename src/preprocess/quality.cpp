#include "tomograd/preprocess/quality.hpp"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "mat_view.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd::preprocess {

namespace {

std::string fixed_text(double v, int precision = 2) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

}  // namespace

void SliceQualityOptions::validate() const {
  if (!(min_brain_fraction >= 0 && min_brain_fraction <= 1)) throw ConfigError("quality.min_brain_fraction must be in [0, 1]");
  if (!(min_contrast_hu >= 0)) throw ConfigError("quality.min_contrast_hu must be >= 0");
  if (!(asymmetry_keep > 0)) throw ConfigError("quality.asymmetry_keep must be > 0");
  if (!(smooth_mm >= 0)) throw ConfigError("quality.smooth_mm must be >= 0");
}

std::string SliceQualityReport::summary() const {
  int64_t asym = 0;
  for (const auto& s : slices) asym += (s.kept && s.reason == "asymmetric") ? 1 : 0;
  std::map<std::string, int> reasons;
  for (const auto& d : dropped) reasons[d.second.substr(0, d.second.find(' ', d.second.find(' ') + 1))]++;
  std::string out = "kept " + std::to_string(kept.size()) + " of " + std::to_string(slices.size()) + " slices";
  if (asym > 0) out += " (" + std::to_string(asym) + " kept for asymmetry)";
  if (!dropped.empty()) {
    out += "; dropped:";
    bool first = true;
    for (const auto& [r, n] : reasons) {
      out += (first ? " " : ", ") + std::to_string(n) + " " + r;
      first = false;
    }
  }
  return out;
}

nlohmann::json SliceQualityReport::to_json() const {
  nlohmann::json j;
  j["kept"] = kept;
  j["dropped"] = nlohmann::json::array();
  for (const auto& [i, r] : dropped) j["dropped"].push_back({{"index", i}, {"reason", r}});
  j["slices"] = nlohmann::json::array();
  for (const auto& s : slices) {
    j["slices"].push_back({{"index", s.index}, {"brain_area_mm2", s.brain_area_mm2}, {"brain_fraction", s.brain_fraction},
                           {"contrast_hu", s.contrast_hu}, {"asymmetry", s.asymmetry}, {"kept", s.kept},
                           {"reason", s.reason}});
  }
  return j;
}

SliceQualityReport SliceQualityReport::from_json(const nlohmann::json& j) {
  SliceQualityReport r;
  r.kept = j.at("kept").get<std::vector<int64_t>>();
  for (const auto& d : j.at("dropped")) r.dropped.emplace_back(d.at("index").get<int64_t>(), d.at("reason").get<std::string>());
  for (const auto& s : j.at("slices")) {
    SliceQuality q;
    q.index = s.at("index").get<int64_t>();
    q.brain_area_mm2 = s.at("brain_area_mm2").get<double>();
    q.brain_fraction = s.at("brain_fraction").get<double>();
    q.contrast_hu = s.at("contrast_hu").get<double>();
    q.asymmetry = s.at("asymmetry").get<double>();
    q.kept = s.at("kept").get<bool>();
    q.reason = s.at("reason").get<std::string>();
    r.slices.push_back(q);
  }
  return r;
}

namespace {

/// One slice's brain area, contrast and left-right asymmetry. @p m is the slice's brain mask,
/// @p w its brain-windowed values in [0, 1].
void measure_slice(SliceQuality& q, const uint8_t* m, const float* w, int64_t rows, int64_t cols, double pixel_mm2,
                   double sigma_px) {
  int64_t n = 0;
  double sum = 0, sum2 = 0, col_sum = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      if (!m[i]) continue;
      ++n;
      sum += w[i];
      sum2 += static_cast<double>(w[i]) * w[i];
      col_sum += static_cast<double>(c);
    }
  }
  q.brain_area_mm2 = static_cast<double>(n) * pixel_mm2;
  if (n < 2) return;
  const double mean = sum / n;
  q.contrast_hu = 80.0 * std::sqrt(std::max(0.0, sum2 / n - mean * mean));
  // Mirror about the centroid column: c' = 2 * centroid - c.
  const double centroid = col_sum / n;
  cv::Mat smooth;
  cv::Mat src(static_cast<int>(rows), static_cast<int>(cols), CV_32F, const_cast<float*>(w));
  if (sigma_px > 0) cv::GaussianBlur(src, smooth, cv::Size(0, 0), sigma_px, sigma_px, cv::BORDER_REFLECT);
  else smooth = src;
  double diff = 0;
  int64_t pairs = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* srow = smooth.ptr<float>(static_cast<int>(r));
    for (int64_t c = 0; c < cols; ++c) {
      if (!m[r * cols + c]) continue;
      const int64_t mc = std::llround(2.0 * centroid - static_cast<double>(c));
      if (mc < 0 || mc >= cols || !m[r * cols + mc]) continue;
      diff += std::abs(srow[c] - srow[mc]);
      ++pairs;
    }
  }
  q.asymmetry = pairs > 0 ? diff / pairs : 0.0;
}

/// Keeps or drops a measured slice (brain_fraction set), with the reason.
void decide(SliceQuality& q, const SliceQualityOptions& o) {
  if (!o.enabled) {
    q.kept = true;
    return;
  }
  if (q.brain_area_mm2 <= 0) {
    q.reason = "no brain";
    return;
  }
  std::string why;
  if (q.brain_fraction < o.min_brain_fraction) {
    why = "little brain (" + fixed_text(100 * q.brain_fraction, 0) + "% of the largest slice's area < " +
          fixed_text(100 * o.min_brain_fraction, 0) + "%)";
  } else if (q.contrast_hu < o.min_contrast_hu) {
    why = "low contrast (" + fixed_text(q.contrast_hu, 1) + " HU < " + fixed_text(o.min_contrast_hu, 1) + " HU)";
  }
  if (why.empty()) {
    q.kept = true;
  } else if (q.asymmetry >= o.asymmetry_keep) {
    q.kept = true;
    q.reason = "asymmetric";
  } else {
    q.reason = why;
  }
}

}  // namespace

SliceQualityReport assess_slice_quality(const Volume& ct, const torch::Tensor& brain_mask, const SliceQualityOptions& o) {
  o.validate();
  if (!brain_mask.defined() || !brain_mask.sizes().equals(ct.data().sizes())) {
    throw ValueError("slice quality: the brain mask's shape differs from the volume's");
  }
  const int64_t depth = ct.depth(), rows = ct.rows(), cols = ct.cols();
  const double pixel_mm2 = ct.spacing_mm()[1] * ct.spacing_mm()[2];
  torch::Tensor mask = brain_mask.ne(0).to(torch::kUInt8).contiguous();
  // Brain window 40/80 -> [0,1]: contrast and asymmetry are about brain tissue, not bone.
  torch::Tensor windowed = (ct.data().clamp(0.0, 80.0) / 80.0).contiguous();
  SliceQualityReport report;
  report.slices.resize(static_cast<std::size_t>(depth));
  const double sigma_px = o.smooth_mm / std::min(ct.spacing_mm()[1], ct.spacing_mm()[2]);
  parallel_for(static_cast<std::size_t>(depth), 0, [&](std::size_t zi) {
    const int64_t z = static_cast<int64_t>(zi);
    SliceQuality& q = report.slices[zi];
    q.index = z;
    measure_slice(q, mask.data_ptr<uint8_t>() + z * rows * cols, windowed.data_ptr<float>() + z * rows * cols, rows,
                  cols, pixel_mm2, sigma_px);
  });
  double max_area = 0;
  for (const auto& q : report.slices) max_area = std::max(max_area, q.brain_area_mm2);
  for (auto& q : report.slices) {
    q.brain_fraction = max_area > 0 ? q.brain_area_mm2 / max_area : 0.0;
    decide(q, o);
    if (q.kept) report.kept.push_back(q.index);
    else report.dropped.emplace_back(q.index, q.reason);
  }
  // With the check off there is nothing to report (one line per study would flood cohort logs).
  if (o.enabled) logger()->info("slice quality: {}", report.summary());
  return report;
}

}  // namespace tomograd::preprocess
