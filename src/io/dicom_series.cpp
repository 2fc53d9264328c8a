// Series selection and slice geometry (from headers alone).
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom_base.hpp"

namespace tomograd::io {

const DicomSeries& select_series(const std::vector<DicomSeries>& series, const std::string& selector) {
  auto listing = [&] {
    std::string s;
    for (std::size_t i = 0; i < series.size(); ++i) {
      s += "\n  [" + std::to_string(i) + "] " + series[i].info.series_uid + "  '" +
           series[i].info.series_description + "'  " + series[i].info.modality + "  " +
           std::to_string(series[i].frames.size()) + " slices";
    }
    return s;
  };
  if (series.empty()) throw DicomError("no series to select from");
  if (selector.empty()) {
    if (series.size() == 1) return series[0];
    throw DicomError("input holds " + std::to_string(series.size()) +
                     " series; pick one by UID, description or index (--series):" + listing());
  }
  for (const auto& s : series) {
    if (s.info.series_uid == selector) return s;
  }
  const DicomSeries* match = nullptr;
  int matches = 0;
  for (const auto& s : series) {
    if (s.info.series_description == selector) {
      match = &s;
      ++matches;
    }
  }
  if (matches == 1) return *match;
  if (matches > 1) {
    throw DicomError("series description '" + selector + "' matches " + std::to_string(matches) +
                     " series; use the UID or index:" + listing());
  }
  if (!selector.empty() && selector.size() < 10 &&
      std::all_of(selector.begin(), selector.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::size_t idx = std::stoul(selector);
    if (idx < series.size()) return series[idx];
  }
  throw DicomError("no series matches '" + selector + "' (UID, description or index):" + listing());
}

namespace {

using Problem = std::function<void(const std::string&)>;

// Row and column direction cosines from the first frame that has ImageOrientationPatient, and
// the in-plane spacing from the first that has PixelSpacing.
bool in_plane_geometry(const std::vector<DicomFrame>& frames, SeriesGeometry& g, Vec3& row_dir, Vec3& col_dir,
                       const Problem& problem) {
  std::optional<std::array<double, 6>> iop;
  std::optional<std::array<double, 2>> ps;
  for (const auto& f : frames) {
    if (!iop && f.orientation) iop = f.orientation;
    if (!ps && f.pixel_spacing) ps = f.pixel_spacing;
  }
  row_dir = {1, 0, 0};
  col_dir = {0, 1, 0};
  if (iop) {
    row_dir = {(*iop)[0], (*iop)[1], (*iop)[2]};
    col_dir = {(*iop)[3], (*iop)[4], (*iop)[5]};
    auto normalize = [](Vec3& v) {
      double len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      if (len > 0) for (double& x : v) x /= len;
    };
    normalize(row_dir);
    normalize(col_dir);
    const bool differs = std::any_of(frames.begin(), frames.end(), [&](const DicomFrame& f) {
      if (!f.orientation) return false;
      for (int a = 0; a < 6; ++a) {
        if (std::abs((*f.orientation)[a] - (*iop)[a]) > 1e-3) return true;
      }
      return false;
    });
    if (differs) problem("ImageOrientationPatient differs between slices");
  } else {
    g.warnings.push_back("ImageOrientationPatient missing: assuming an axial identity orientation");
  }
  if (ps) {
    g.spacing_mm[1] = (*ps)[0];
    g.spacing_mm[2] = (*ps)[1];
  } else {
    g.warnings.push_back("PixelSpacing missing: assuming 1 mm");
  }
  if (!(g.spacing_mm[1] > 0) || !(g.spacing_mm[2] > 0)) {
    g.warnings.push_back("PixelSpacing not positive: assuming 1 mm");
    g.spacing_mm[1] = g.spacing_mm[2] = 1.0;
  }
  return iop.has_value();
}

// Sorts along the normal when every frame has a position, else by InstanceNumber and frame.
void sort_frames(const DicomSeries& series, const std::vector<double>& dist, bool all_positions,
                 SeriesGeometry& g) {
  const auto& frames = series.frames;
  g.order.resize(frames.size());
  std::iota(g.order.begin(), g.order.end(), 0);
  if (all_positions) {
    std::stable_sort(g.order.begin(), g.order.end(), [&](std::size_t a, std::size_t b) {
      if (dist[a] != dist[b]) return dist[a] < dist[b];
      return frames[a].instance_number < frames[b].instance_number;
    });
    return;
  }
  if (series.instances.size() != 1) {
    g.warnings.push_back("ImagePositionPatient missing on some slices: sorted by InstanceNumber");
  }
  std::stable_sort(g.order.begin(), g.order.end(), [&](std::size_t a, std::size_t b) {
    if (frames[a].instance_number != frames[b].instance_number) {
      return frames[a].instance_number < frames[b].instance_number;
    }
    return frames[a].frame < frames[b].frame;
  });
}

// Slice spacing from positions, never from SliceThickness (which may overlap or leave gaps):
// drops duplicate positions and reports gaps and non-uniform steps.
void slice_spacing(const std::vector<DicomFrame>& frames, const std::vector<double>& dist, SeriesGeometry& g,
                   const Problem& problem) {
  std::vector<std::size_t> kept{g.order[0]};
  std::vector<double> steps;
  for (std::size_t i = 1; i < g.order.size(); ++i) {
    double step = dist[g.order[i]] - dist[kept.back()];
    if (std::abs(step) < 1e-3) {
      problem("duplicate slice position " + std::to_string(dist[g.order[i]]) + " mm along the normal (InstanceNumber " +
              std::to_string(frames[g.order[i]].instance_number) + "): dropped");
      continue;
    }
    kept.push_back(g.order[i]);
    steps.push_back(step);
  }
  g.order = kept;
  if (steps.empty()) return;
  std::vector<double> sorted = steps;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  const double median = sorted[sorted.size() / 2];
  g.spacing_mm[0] = median;
  bool nonuniform = false;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] > 1.5 * median) {
      const double ratio = steps[i] / median;  // > 1.5; may be huge for absurd positions
      const long missing = ratio < 1e9 ? std::lround(ratio) - 1 : 999999999L;
      problem("missing slice(s): gap of " + std::to_string(steps[i]) + " mm after slice " + std::to_string(i) +
              " where " + std::to_string(median) + " mm is expected (about " + std::to_string(missing) +
              " slice(s) missing)");
    } else if (std::abs(steps[i] - median) > 0.01 * median + 1e-3) {
      nonuniform = true;
    }
  }
  if (nonuniform) problem("non-uniform slice spacing (median " + std::to_string(median) + " mm)");
}

}  // namespace

SeriesGeometry series_geometry(const DicomSeries& series, bool strict) {
  SeriesGeometry g;
  const auto& frames = series.frames;
  const Problem problem = [&](const std::string& msg) {
    if (strict) throw DicomError("series " + series.info.series_uid + ": " + msg + " (--strict)");
    g.warnings.push_back(msg);
  };
  Vec3 row_dir, col_dir;
  const bool have_orientation = in_plane_geometry(frames, g, row_dir, col_dir, problem);
  const Vec3 normal{row_dir[1] * col_dir[2] - row_dir[2] * col_dir[1],
                    row_dir[2] * col_dir[0] - row_dir[0] * col_dir[2],
                    row_dir[0] * col_dir[1] - row_dir[1] * col_dir[0]};
  const bool all_positions = std::all_of(frames.begin(), frames.end(),
                                         [](const DicomFrame& f) { return f.position.has_value(); });
  std::vector<double> dist(frames.size(), 0.0);
  if (all_positions) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Vec3& p = *frames[i].position;
      dist[i] = p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    }
  }
  sort_frames(series, dist, all_positions, g);
  const double thickness = series.info.slice_thickness_mm;
  g.spacing_mm[0] = thickness > 0 && std::isfinite(thickness) ? thickness : 1.0;
  if (all_positions && frames.size() > 1) slice_spacing(frames, dist, g, problem);
  if (have_orientation) {
    for (int r = 0; r < 3; ++r) {
      g.direction[r][0] = row_dir[r];
      g.direction[r][1] = col_dir[r];
      g.direction[r][2] = normal[r];
    }
  }
  if (!g.order.empty() && frames[g.order[0]].position) g.origin_lps = *frames[g.order[0]].position;
  return g;
}

}  // namespace tomograd::io
