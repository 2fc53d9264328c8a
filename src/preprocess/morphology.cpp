#include "tomograd/preprocess/morphology.hpp"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "mask_ops.hpp"
#include "mat_view.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd::preprocess {

namespace {

void check_mask(const torch::Tensor& m, const char* what) {
  if (!m.defined() || m.dim() != 3) {
    throw ValueError(std::string(what) + ": expected a 3D mask [D,H,W], got " +
                     (m.defined() ? std::to_string(m.dim()) + "D" : std::string("nothing")));
  }
}

torch::Tensor as_mask(const torch::Tensor& m, const char* what) {
  check_mask(m, what);
  if (m.scalar_type() == torch::kUInt8 && m.is_contiguous()) return m;
  return to_mask(m);
}

/// The ball as one 2D kernel per slice offset dz (only the rows with at least one point).
struct SlicedBall {
  std::vector<int> dz;
  std::vector<cv::Mat> kernels;  // CV_8U, odd sizes, centred
};

SlicedBall sliced_ball(const Vec3& spacing, double radius_mm) {
  SlicedBall out;
  std::map<int, std::vector<std::array<int, 3>>> by_dz;
  for (const auto& o : ball_offsets(spacing, radius_mm)) by_dz[o[0]].push_back(o);
  for (const auto& [dz, offs] : by_dz) {
    int ry = 0, rx = 0;
    for (const auto& o : offs) {
      ry = std::max(ry, std::abs(o[1]));
      rx = std::max(rx, std::abs(o[2]));
    }
    cv::Mat k = cv::Mat::zeros(2 * ry + 1, 2 * rx + 1, CV_8U);
    for (const auto& o : offs) k.at<uint8_t>(o[1] + ry, o[2] + rx) = 1;
    out.dz.push_back(dz);
    out.kernels.push_back(k);
  }
  return out;
}

enum class Op { kErode, kDilate };

torch::Tensor morph(const torch::Tensor& mask_in, const Vec3& spacing, double radius_mm, Op op) {
  torch::Tensor mask = as_mask(mask_in, op == Op::kErode ? "erode" : "dilate");
  if (radius_mm <= 0) return mask.clone();
  const SlicedBall ball = sliced_ball(spacing, radius_mm);
  const int64_t depth = mask.size(0);
  torch::Tensor out = detail::new_mask(mask.sizes());  // every slice is written below
  parallel_for(static_cast<std::size_t>(depth), 0, [&](std::size_t zi) {
    const int64_t z = static_cast<int64_t>(zi);
    cv::Mat dst = detail::mat_u8(out, z);
    bool first = true;
    cv::Mat tmp;
    for (std::size_t b = 0; b < ball.dz.size(); ++b) {
      const int64_t src_z = z + ball.dz[b];
      if (src_z < 0 || src_z >= depth) continue;  // outside the volume constrains nothing
      const cv::Mat src = detail::mat_u8(mask, src_z);
      if (op == Op::kErode) cv::erode(src, first ? dst : tmp, ball.kernels[b]);
      else cv::dilate(src, first ? dst : tmp, ball.kernels[b]);
      if (!first) {
        if (op == Op::kErode) cv::bitwise_and(dst, tmp, dst);
        else cv::bitwise_or(dst, tmp, dst);
      }
      first = false;
    }
  });
  return out;
}

struct UnionFind {
  std::vector<int32_t> parent;
  explicit UnionFind(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int32_t find(int32_t a) {
    while (parent[a] != a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  }
  void unite(int32_t a, int32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (a < b) parent[b] = a;
    else parent[a] = b;
  }
};

}  // namespace

torch::Tensor to_mask(const torch::Tensor& t) {
  check_mask(t, "to_mask");
  if (t.scalar_type() == torch::kUInt8) return (t != 0).to(torch::kUInt8).contiguous();
  return t.ne(0).to(torch::kUInt8).contiguous();
}

std::vector<std::array<int, 3>> ball_offsets(const Vec3& spacing, double radius_mm) {
  if (!(radius_mm >= 0)) throw ValueError("structuring element radius must be >= 0 mm, got " + std::to_string(radius_mm));
  for (double s : spacing) {
    if (!(s > 0)) throw ValueError("voxel spacing must be positive");
  }
  const int rz = static_cast<int>(std::floor(radius_mm / spacing[0] + 1e-9));
  const int ry = static_cast<int>(std::floor(radius_mm / spacing[1] + 1e-9));
  const int rx = static_cast<int>(std::floor(radius_mm / spacing[2] + 1e-9));
  const double r2 = radius_mm * radius_mm * (1 + 1e-9);
  std::vector<std::array<int, 3>> out;
  for (int dz = -rz; dz <= rz; ++dz) {
    for (int dy = -ry; dy <= ry; ++dy) {
      for (int dx = -rx; dx <= rx; ++dx) {
        const double d2 = std::pow(dz * spacing[0], 2) + std::pow(dy * spacing[1], 2) + std::pow(dx * spacing[2], 2);
        if (d2 <= r2) out.push_back({dz, dy, dx});
      }
    }
  }
  return out;
}

torch::Tensor erode(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm) {
  return morph(mask, spacing_mm, radius_mm, Op::kErode);
}

torch::Tensor dilate(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm) {
  return morph(mask, spacing_mm, radius_mm, Op::kDilate);
}

torch::Tensor open(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm) {
  return dilate(erode(mask, spacing_mm, radius_mm), spacing_mm, radius_mm);
}

torch::Tensor close(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm) {
  return erode(dilate(mask, spacing_mm, radius_mm), spacing_mm, radius_mm);
}

Components label_components(const torch::Tensor& mask_in) {
  torch::Tensor mask = as_mask(mask_in, "label_components");
  const int64_t depth = mask.size(0), plane = mask.size(1) * mask.size(2);
  Components out;
  // Every voxel is written by connectedComponents (0 for background).
  out.labels = empty_for_fill(mask.sizes(), torch::kInt32);
  // 1. Per-slice 4-connected labelling (in parallel); labels local to each slice.
  std::vector<int32_t> local_count(static_cast<std::size_t>(depth), 0);
  parallel_for(static_cast<std::size_t>(depth), 0, [&](std::size_t z) {
    const cv::Mat src = detail::mat_u8(mask, static_cast<int64_t>(z));
    cv::Mat dst = detail::mat_i32(out.labels, static_cast<int64_t>(z));
    local_count[z] = cv::connectedComponents(src, dst, 4, CV_32S) - 1;
  });
  // 2. Global ids: slice offset + local label.
  std::vector<int32_t> offset(static_cast<std::size_t>(depth) + 1, 0);
  for (int64_t z = 0; z < depth; ++z) offset[z + 1] = offset[z] + local_count[z];
  const int32_t total = offset[depth];
  int32_t* lab = out.labels.data_ptr<int32_t>();
  parallel_for(static_cast<std::size_t>(depth), 0, [&](std::size_t z) {
    int32_t* p = lab + static_cast<int64_t>(z) * plane;
    const int32_t off = offset[z];
    for (int64_t i = 0; i < plane; ++i) {
      if (p[i] > 0) p[i] += off;
    }
  });
  // 3. Join labels that touch across neighbouring slices.
  UnionFind uf(static_cast<std::size_t>(total) + 1);
  for (int64_t z = 1; z < depth; ++z) {
    const int32_t* a = lab + (z - 1) * plane;
    const int32_t* b = lab + z * plane;
    int32_t last_a = 0, last_b = 0;
    for (int64_t i = 0; i < plane; ++i) {
      if (a[i] > 0 && b[i] > 0 && (a[i] != last_a || b[i] != last_b)) {
        uf.unite(a[i], b[i]);
        last_a = a[i];
        last_b = b[i];
      }
    }
  }
  // 4. Final numbering in order of the global ids (slice by slice, then OpenCV's order).
  std::vector<int32_t> final_id(static_cast<std::size_t>(total) + 1, 0);
  int32_t next = 0;
  for (int32_t g = 1; g <= total; ++g) {
    int32_t r = uf.find(g);
    if (final_id[r] == 0) final_id[r] = ++next;
    final_id[g] = final_id[r];
  }
  // Relabel slice by slice in parallel, each slice counting its own component sizes.
  std::vector<std::vector<int64_t>> slice_sizes(static_cast<std::size_t>(depth));
  parallel_for(static_cast<std::size_t>(depth), 0, [&](std::size_t z) {
    int32_t* p = lab + static_cast<int64_t>(z) * plane;
    std::vector<int64_t>& sizes = slice_sizes[z];
    if (local_count[z] == 0) return;  // an empty slice has only background
    sizes.assign(static_cast<std::size_t>(next) + 1, 0);
    for (int64_t i = 0; i < plane; ++i) {
      if (p[i] > 0) {
        p[i] = final_id[p[i]];
        ++sizes[p[i]];
      }
    }
  });
  out.sizes.assign(static_cast<std::size_t>(next) + 1, 0);
  for (const auto& sizes : slice_sizes) {
    for (std::size_t k = 0; k < sizes.size(); ++k) out.sizes[k] += sizes[k];
  }
  return out;
}

torch::Tensor largest_component(const torch::Tensor& mask) {
  Components c = label_components(mask);
  if (c.count() == 0) return torch::zeros(c.labels.sizes(), torch::kUInt8);
  const auto best = static_cast<int32_t>(std::max_element(c.sizes.begin() + 1, c.sizes.end()) - c.sizes.begin());
  const int32_t* lab = c.labels.data_ptr<int32_t>();
  return detail::make_mask(c.labels, [&](int64_t i) { return lab[i] == best; });
}

torch::Tensor fill_holes_2d(const torch::Tensor& mask_in) {
  torch::Tensor mask = as_mask(mask_in, "fill_holes_2d");
  torch::Tensor out = detail::new_mask(mask.sizes());  // every slice is written below
  const int rows = static_cast<int>(mask.size(1)), cols = static_cast<int>(mask.size(2));
  parallel_for(static_cast<std::size_t>(mask.size(0)), 0, [&](std::size_t z) {
    cv::Mat padded = cv::Mat::zeros(rows + 2, cols + 2, CV_8U);
    detail::mat_u8(mask, static_cast<int64_t>(z)).copyTo(padded(cv::Rect(1, 1, cols, rows)));
    // Flood the background from the frame: whatever it cannot reach is a hole.
    cv::floodFill(padded, cv::Point(0, 0), cv::Scalar(2), nullptr, cv::Scalar(0), cv::Scalar(0), 4);
    cv::Mat dst = detail::mat_u8(out, static_cast<int64_t>(z));
    cv::compare(padded(cv::Rect(1, 1, cols, rows)), 2, dst, cv::CMP_NE);
    dst &= 1;
  });
  return out;
}

torch::Tensor geodesic_dilate(const torch::Tensor& marker_in, const torch::Tensor& domain_in,
                              const Vec3& spacing_mm, int steps) {
  torch::Tensor domain = as_mask(domain_in, "geodesic_dilate");
  const torch::Tensor marker = as_mask(marker_in, "geodesic_dilate");
  if (!marker.sizes().equals(domain.sizes())) throw ValueError("geodesic_dilate: marker and domain differ in shape");
  const uint8_t* mk = marker.data_ptr<uint8_t>();
  const uint8_t* dm = domain.data_ptr<uint8_t>();
  torch::Tensor cur = detail::make_mask(marker, [&](int64_t i) { return (mk[i] & dm[i]) != 0; });
  const int64_t depth = cur.size(0);
  const double step_mm = std::min(spacing_mm[1], spacing_mm[2]);
  const cv::Mat cross = cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3));
  torch::Tensor next = detail::new_mask(cur.sizes());
  for (int k = 1; k <= steps; ++k) {
    const bool grow_z = std::floor(k * step_mm / spacing_mm[0] + 1e-9) > std::floor((k - 1) * step_mm / spacing_mm[0] + 1e-9);
    parallel_for(static_cast<std::size_t>(depth), 0, [&](std::size_t zi) {
      const int64_t z = static_cast<int64_t>(zi);
      cv::Mat dst = detail::mat_u8(next, z);
      cv::dilate(detail::mat_u8(cur, z), dst, cross);
      if (grow_z) {
        if (z > 0) cv::bitwise_or(dst, detail::mat_u8(cur, z - 1), dst);
        if (z + 1 < depth) cv::bitwise_or(dst, detail::mat_u8(cur, z + 1), dst);
      }
      cv::bitwise_and(dst, detail::mat_u8(domain, z), dst);
    });
    std::swap(cur, next);
  }
  return cur;
}

double mask_volume_ml(const torch::Tensor& mask, const Vec3& spacing_mm) {
  const double voxels = mask.scalar_type() == torch::kUInt8 && mask.is_contiguous()
                            ? static_cast<double>(detail::count_nonzero_u8(mask))
                            : mask.ne(0).sum().item<double>();
  return voxels * spacing_mm[0] * spacing_mm[1] * spacing_mm[2] / 1000.0;
}

double dice(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.sizes().equals(b.sizes())) throw ValueError("dice: masks differ in shape");
  const auto ma = a.ne(0), mb = b.ne(0);
  const double sa = ma.sum().item<double>(), sb = mb.sum().item<double>();
  if (sa + sb == 0) return 1.0;
  return 2.0 * ma.logical_and(mb).sum().item<double>() / (sa + sb);
}

}  // namespace tomograd::preprocess
