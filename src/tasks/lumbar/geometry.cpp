// Lumbar series in patient space: slice positions, point <-> pixel mapping, display axes and
// box sampling, and the labelled points of a study.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/tasks/lumbar/geometry.hpp"
#include "vec3.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;

using geom::add;
using geom::cross;
using geom::dot;
using geom::scaled;
using geom::sub;

int SeriesImage::slice_of_instance(int instance_number) const {
  const auto it = std::find(instance_numbers.begin(), instance_numbers.end(), instance_number);
  return it == instance_numbers.end() ? -1 : static_cast<int>(it - instance_numbers.begin());
}

Vec3 SeriesImage::pixel_to_lps(int slice, double x, double y) const {
  const Vec3& o = positions.at(static_cast<std::size_t>(slice));
  return add(o, add(scaled(col_dir, x * col_spacing), scaled(row_dir, y * row_spacing)));
}

SeriesImage::Pixel SeriesImage::lps_to_pixel(const Vec3& p) const {
  Pixel best;
  best.distance_mm = 1e300;
  for (std::size_t k = 0; k < positions.size(); ++k) {
    const double d = std::abs(dot(sub(p, positions[k]), normal));
    if (d < best.distance_mm) {
      best.distance_mm = d;
      best.slice = static_cast<int>(k);
    }
  }
  const Vec3 v = sub(p, positions[static_cast<std::size_t>(best.slice)]);
  best.x = dot(v, col_dir) / col_spacing;
  best.y = dot(v, row_dir) / row_spacing;
  return best;
}

SeriesImage load_series_image(const fs::path& dir, const std::string& series_id, const std::string& description) {
  io::DicomScanOptions so;
  so.threads = 1;
  so.show_progress = false;
  const auto all = io::scan_dicom(dir, so);
  // One series per folder in the RSNA layout; if a folder holds more, the largest is used.
  const auto it = std::max_element(all.begin(), all.end(), [](const io::DicomSeries& a, const io::DicomSeries& b) {
    return a.frames.size() < b.frames.size();
  });
  const io::SeriesGeometry geom = io::series_geometry(*it);
  io::DicomReadOptions ro;
  ro.threads = 1;
  ro.show_progress = false;
  ro.log_warnings = false;  // axial series are one short stack per disc: gaps are expected
  const Volume v = io::read_dicom_series(*it, ro);
  SeriesImage s;
  s.series_id = series_id;
  s.description = description;
  const auto pct = preprocess::percentiles_of(v.data(), {1.0, 99.0});
  s.data = ((v.data() - pct[0]) / std::max(pct[1] - pct[0], 1e-6)).to(torch::kFloat32).contiguous();
  const Mat3& d = v.direction();
  s.col_dir = {d[0][0], d[1][0], d[2][0]};
  s.row_dir = {d[0][1], d[1][1], d[2][1]};
  s.normal = cross(s.col_dir, s.row_dir);
  s.col_spacing = v.spacing_mm()[2];
  s.row_spacing = v.spacing_mm()[1];
  s.slice_thickness = v.info().slice_thickness_mm;
  s.instance_numbers = v.info().instance_numbers;
  for (int64_t k = 0; k < v.depth(); ++k) {
    const std::size_t f = k < static_cast<int64_t>(geom.order.size()) ? geom.order[static_cast<std::size_t>(k)] : 0;
    const auto& pos = f < it->frames.size() ? it->frames[f].position : std::nullopt;
    s.positions.push_back(pos && geom.order.size() == static_cast<std::size_t>(v.depth()) ? *pos
                                                                                           : v.index_to_lps(k, 0, 0));
  }
  if (s.instance_numbers.size() != static_cast<std::size_t>(v.depth())) {
    s.instance_numbers.clear();
    for (int64_t k = 0; k < v.depth(); ++k) s.instance_numbers.push_back(static_cast<int>(k + 1));
  }
  std::vector<double> gaps;
  for (std::size_t k = 1; k < s.positions.size(); ++k) {
    gaps.push_back(std::abs(dot(sub(s.positions[k], s.positions[k - 1]), s.normal)));
  }
  if (!gaps.empty()) {
    std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2), gaps.end());
    s.slice_spacing = std::max(gaps[gaps.size() / 2], 1e-3);
  } else {
    s.slice_spacing = std::max(v.spacing_mm()[0], 1e-3);
  }
  return s;
}

std::array<Vec3, 3> display_axes(const SeriesImage& s, const std::string& plane) {
  // Targets in LPS: sagittal depth +R, rows +I, cols +P; axial depth +S, rows +P, cols +L.
  Vec3 depth_t, row_t, col_t;
  if (plane == "sagittal") {
    depth_t = {-1, 0, 0};
    row_t = {0, 0, -1};
    col_t = {0, 1, 0};
  } else if (plane == "axial") {
    depth_t = {0, 0, 1};
    row_t = {0, 1, 0};
    col_t = {1, 0, 0};
  } else {
    throw ValueError("display_axes: plane must be sagittal or axial, got '" + plane + "'");
  }
  // The in-plane axis closest to the wanted row direction becomes the row axis.
  Vec3 row = s.row_dir, col = s.col_dir;
  if (std::abs(dot(s.col_dir, row_t)) > std::abs(dot(s.row_dir, row_t))) std::swap(row, col);
  if (dot(row, row_t) < 0) row = scaled(row, -1);
  if (dot(col, col_t) < 0) col = scaled(col, -1);
  Vec3 depth = s.normal;
  if (dot(depth, depth_t) < 0) depth = scaled(depth, -1);
  return {depth, row, col};
}

torch::Tensor sample_box(const SeriesImage& s, const Vec3& centre, const std::array<Vec3, 3>& axes,
                         const std::array<int64_t, 3>& shape, const std::array<double, 3>& step_mm) {
  const int64_t D = shape[0], H = shape[1], W = shape[2];
  torch::Tensor out = torch::zeros({D, H, W}, torch::kFloat32);
  if (s.positions.empty()) return out;
  const int64_t rows = s.data.size(1), cols = s.data.size(2);
  const float* src = s.data.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  // Slice offsets along the normal, for the nearest-slice search.
  std::vector<std::pair<double, int>> along;
  for (std::size_t k = 0; k < s.positions.size(); ++k) along.emplace_back(dot(s.positions[k], s.normal), static_cast<int>(k));
  std::sort(along.begin(), along.end());
  const double tolerance = 0.5 * std::max(s.slice_spacing, s.slice_thickness) + 1e-3;
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t r = 0; r < H; ++r) {
      for (int64_t c = 0; c < W; ++c) {
        Vec3 p = centre;
        p = add(p, scaled(axes[0], (static_cast<double>(d) - (D - 1) / 2.0) * step_mm[0]));
        p = add(p, scaled(axes[1], (static_cast<double>(r) - (H - 1) / 2.0) * step_mm[1]));
        p = add(p, scaled(axes[2], (static_cast<double>(c) - (W - 1) / 2.0) * step_mm[2]));
        const double t = dot(p, s.normal);
        auto it = std::lower_bound(along.begin(), along.end(), std::make_pair(t, -1));
        int k = -1;
        double best = 1e300;
        for (auto j : {it, it == along.begin() ? it : std::prev(it)}) {
          if (j == along.end()) continue;
          if (std::abs(j->first - t) < best) {
            best = std::abs(j->first - t);
            k = j->second;
          }
        }
        if (k < 0 || best > tolerance) continue;
        const Vec3 v = sub(p, s.positions[static_cast<std::size_t>(k)]);
        const double x = dot(v, s.col_dir) / s.col_spacing, y = dot(v, s.row_dir) / s.row_spacing;
        if (x < -0.5 || y < -0.5 || x > cols - 0.5 || y > rows - 0.5) continue;
        const int64_t x0 = static_cast<int64_t>(std::floor(x)), y0 = static_cast<int64_t>(std::floor(y));
        const double fx = x - x0, fy = y - y0;
        double acc = 0;
        for (int dy = 0; dy < 2; ++dy) {
          for (int dx = 0; dx < 2; ++dx) {
            const int64_t xx = std::clamp<int64_t>(x0 + dx, 0, cols - 1), yy = std::clamp<int64_t>(y0 + dy, 0, rows - 1);
            acc += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * src[(k * rows + yy) * cols + xx];
          }
        }
        dst[(d * H + r) * W + c] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

StudyImages load_study(const LumbarDataset& ds, const std::string& study_id) {
  StudyImages st;
  st.study_id = study_id;
  const auto& kinds = series_descriptions();
  for (const auto& row : ds.series) {
    if (row.study_id != study_id) continue;
    std::optional<SeriesImage>* slot = row.description == kinds[0]   ? &st.t1
                                       : row.description == kinds[1] ? &st.t2
                                                                     : &st.axial;
    if (*slot) continue;  // the first series of each description
    const fs::path dir = ds.series_dir(row.study_id, row.series_id);
    try {
      *slot = load_series_image(dir, row.series_id, row.description);
    } catch (const Error& e) {
      throw IoError("study " + study_id + ", series " + row.series_id + " (" + row.description + ", " + dir.string() +
                    "): " + e.what());
    }
  }
  return st;
}

LevelPoints labelled_points(const LumbarDataset& ds, const StudyImages& study) {
  LevelPoints pts;
  for (const auto& c : ds.coordinates) {
    if (c.study_id != study.study_id) continue;
    for (const auto* s : {&study.t1, &study.t2, &study.axial}) {
      if (!*s || (*s)->series_id != c.series_id) continue;
      const int slice = (*s)->slice_of_instance(c.instance_number);
      if (slice >= 0) pts[static_cast<std::size_t>(c.condition * 5 + c.level)] = (*s)->pixel_to_lps(slice, c.x, c.y);
    }
  }
  return pts;
}

}  // namespace tomograd::tasks::lumbar
