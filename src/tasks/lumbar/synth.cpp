// Synthetic lumbar spine MRI in the RSNA 2024 layout (generative model: docs/synthetic_lumbar.md):
// one study's phantom. The cohort written as DICOM and CSV files: synth_cohort.cpp.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "../synth_common.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/tasks/lumbar/synth.hpp"
#include "tomograd/train/run_dir.hpp"

namespace fs = std::filesystem;

namespace tomograd::tasks {

namespace {

using synth::smooth_noise;
using synth::superellipsoid;

// Internal frame (mm): x anterior->posterior, y superior->inferior, z patient's left->right, as in
// the BMD phantom; LPS = (-z, x, -y). Sagittal and axial grids share it, so their DICOM positions
// agree.
constexpr double kBodyHalfHeight = 14.0, kDiscHalfHeight = 5.0;
constexpr double kPitch = 2 * kBodyHalfHeight + 2 * kDiscHalfHeight;  // 38 mm per motion segment
constexpr double kBodyX = -5.0, kBodyA = 19.0, kBodyC = 24.0;         // body centre and half depth/width
constexpr double kCanalFront = 16.0, kCanalBack = 32.0, kCanalHalfWidth = 10.0;
constexpr double kForamenX = 24.0, kForamenZ = 18.0, kForamenZHalf = 6.0;  // |z - spine| in [12, 24]
constexpr double kForamenA = 5.5, kForamenB = 9.0;                  // AP and SI semi-axes
constexpr double kAxialCentreX = 8.0;                                // axial FOV centred between body and canal

// Narrowing fraction of each severity (Normal/Mild spans a little narrowing), ± 0.07 jitter.
constexpr double kNarrowing[3] = {0.1, 0.5, 0.85};

// Vertebra centre (0 = L1 ... 5 = S1) and disc centre (0 = L1/L2 ... 4 = L5/S1) along y.
double body_y(int v) { return (v - 2.5) * kPitch; }
double disc_y(int level) { return body_y(level) + kPitch / 2; }

struct Contrast {
  double soft, fat, muscle, post, marrow, cortex, disc, csf, cord, foramen_fat, root, pedicle;
};
// T1: fat bright, CSF dark. T2 (fast spin echo): CSF bright, fat intermediate, degenerated disc darker.
constexpr Contrast kT1{0.38, 0.95, 0.42, 0.30, 0.62, 0.08, 0.32, 0.12, 0.38, 0.92, 0.35, 0.55};
constexpr Contrast kT2{0.30, 0.62, 0.22, 0.18, 0.42, 0.05, 0.58, 0.95, 0.45, 0.55, 0.25, 0.40};

double narrowing(const LumbarPhantomParams& p, int condition, int level) {
  const int i = lumbar::label_index(condition, level);
  return std::clamp(kNarrowing[p.severity[i]] + 0.07 * p.narrowing_jitter[i], 0.0, 0.95);
}

struct Rendered {
  torch::Tensor img, csf, foramen_fat;
};

/// The image being painted: a mask sets its voxels to a value.
struct Canvas {
  torch::Tensor img;
  void paint(const torch::Tensor& mask, double v) { img = torch::where(mask, torch::full_like(img, v), img); }
};

/// Narrowing profiles along y: a Gaussian bump of 7 mm at each disc.
struct Shrink {
  torch::Tensor canal, left, right;
};

Shrink shrink_profiles(const LumbarPhantomParams& p, const torch::Tensor& y) {
  Shrink s{torch::zeros_like(y), torch::zeros_like(y), torch::zeros_like(y)};
  for (int l = 0; l < lumbar::kLevels; ++l) {
    const torch::Tensor prof = torch::exp(-((y - disc_y(l)) / 7.0).pow(2));
    s.canal = s.canal + narrowing(p, 0, l) * prof;
    s.left = s.left + narrowing(p, 3, l) * prof;
    s.right = s.right + narrowing(p, 4, l) * prof;
  }
  return s;
}

// Vertebral bodies L1-L5 and S1, discs L1/L2 ... L5/S1 (thinner when the canal is stenotic:
// disc degeneration goes with it), pedicles, marrow texture.
void paint_spine(Canvas& cv, const LumbarPhantomParams& p, const Contrast& c, const torch::Tensor& x,
                 const torch::Tensor& y, const torch::Tensor& zs, const std::vector<int64_t>& shape,
                 const double spacing[3], torch::Generator& gen) {
  torch::Tensor marrow = torch::zeros(shape, torch::kBool), cortex = torch::zeros(shape, torch::kBool),
                discs = torch::zeros(shape, torch::kBool), pedicles = torch::zeros(shape, torch::kBool);
  const torch::Tensor xb = x - kBodyX;
  for (int v = 0; v < 6; ++v) {
    const double yc = body_y(v);
    torch::Tensor outer = superellipsoid(xb, y - yc, zs, kBodyA, kBodyHalfHeight, kBodyC, 4.0);
    torch::Tensor inner = superellipsoid(xb, y - yc, zs, kBodyA - 1.5, kBodyHalfHeight - 1.5, kBodyC - 1.5, 4.0);
    marrow = marrow | inner;
    cortex = cortex | (outer & ~inner);
    pedicles = pedicles | ((x >= kBodyX + kBodyA - 2.0) & (x < kForamenX + 4.0) & ((y - yc).abs() < 10.0) &
                           (zs.abs() >= kForamenZ - kForamenZHalf) & (zs.abs() < kForamenZ + kForamenZHalf));
    if (v < lumbar::kLevels) {
      const double dh = kDiscHalfHeight * (1.0 - 0.25 * narrowing(p, 0, v));
      discs = discs | superellipsoid(xb, y - disc_y(v), zs, kBodyA - 1, dh, kBodyC - 1, 4.0);
    }
  }
  cv.paint(pedicles, c.pedicle);
  torch::Tensor disc_value = torch::full_like(cv.img, c.disc);
  if (c.csf > 0.5) {  // T2: degenerated (stenotic-level) discs lose water signal
    for (int l = 0; l < lumbar::kLevels; ++l) {
      const torch::Tensor near = (y - disc_y(l)).abs() < kDiscHalfHeight + 1.0;
      disc_value = torch::where(near, torch::full_like(cv.img, c.disc * (1.0 - 0.35 * narrowing(p, 0, l))), disc_value);
    }
  }
  cv.img = torch::where(discs, disc_value, cv.img);
  cv.paint(cortex, c.cortex);
  const double sp_marrow[3] = {spacing[0], spacing[1], spacing[2]};
  torch::Tensor texture = smooth_noise(gen, shape[0], shape[1], shape[2], sp_marrow, 1.5);
  cv.img = torch::where(marrow, c.marrow + 0.04 * texture, cv.img);
}

// Spinal canal: the disc bulge and ligamentum flavum move its front and back in by up to half
// its depth each; facet hypertrophy closes each lateral recess from the side. Returns its CSF.
torch::Tensor paint_canal(Canvas& cv, const Contrast& c, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor& zs, const torch::Tensor& body, const Shrink& shrink) {
  const double depth = kCanalBack - kCanalFront;
  torch::Tensor front = kCanalFront + 0.5 * depth * shrink.canal;
  torch::Tensor back = kCanalBack - 0.5 * depth * shrink.canal;
  torch::Tensor left_w = kCanalHalfWidth - 7.0 * shrink.left, right_w = kCanalHalfWidth - 7.0 * shrink.right;
  torch::Tensor csf = body & (x > front) & (x < back) & (zs > -left_w) & (zs < right_w);
  cv.paint(csf, c.csf);
  // Conus medullaris above L1/L2; below it the cauda equina is left out.
  cv.paint(csf & ((x - (kCanalFront + kCanalBack) / 2).abs() < 4.0) & (zs.abs() < 5.0) & (y < disc_y(0) - 10.0), c.cord);
  return csf;
}

// Neural foramina between the pedicles at each disc: fat with the exiting root, shrunk toward
// its centre by foraminal narrowing on that side (z < 0 is the patient's left). Returns the fat
// around the roots.
torch::Tensor paint_foramina(Canvas& cv, const LumbarPhantomParams& p, const Contrast& c, const torch::Tensor& x,
                             const torch::Tensor& y, const torch::Tensor& zs, const std::vector<int64_t>& shape) {
  torch::Tensor fat = torch::zeros(shape, torch::kBool), root = torch::zeros(shape, torch::kBool);
  const torch::Tensor in_slab = (zs.abs() - kForamenZ).abs() < kForamenZHalf;
  for (int l = 0; l < lumbar::kLevels; ++l) {
    const double yf = disc_y(l) - 1.0;
    for (int side = 0; side < 2; ++side) {  // 0 left, 1 right
      const double f = narrowing(p, 1 + side, l);
      const double a = kForamenA * (1.0 - 0.6 * f), b = kForamenB * (1.0 - 0.7 * f);
      torch::Tensor in = in_slab & (side == 0 ? zs < 0 : zs > 0) &
                         (((x - kForamenX) / a).pow(2) + ((y - yf) / b).pow(2) <= 1.0);
      fat = fat | in;
      root = root | (in & ((x - kForamenX).pow(2) + (y - (yf - 4.0)).pow(2) <= 4.0));
    }
  }
  cv.paint(fat, c.foramen_fat);
  cv.paint(root, c.root);
  return fat & ~root;
}

// Paints the anatomy on the grid given by broadcastable coordinate tensors (x, y, z in mm, the
// internal frame) and adds scanner effects. @p shape is the [D,H,W] of the result.
Rendered render_grid(const LumbarPhantomParams& p, const Contrast& c, double gain, const torch::Tensor& x,
                     const torch::Tensor& y, const torch::Tensor& z, std::vector<int64_t> shape, const double spacing[3], torch::Generator& gen) {
  // Coordinates stay broadcastable ([D,1,1], [1,H,1], [1,1,W]): only masks become full size.
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor zs = z - p.spine_offset_mm;  // relative to the spine's midline
  Canvas cv{torch::zeros(shape, opts)};
  const Shrink shrink = shrink_profiles(p, y);

  torch::Tensor body = ((x - 10.0) / 135.0).pow(2) + (z / 160.0).pow(2) <= 1.0;
  cv.paint(body, c.soft);
  cv.paint(body & (x > 95.0), c.fat);
  cv.paint(body & (x > 42.0) & (x <= 95.0) & (zs.abs() < 60.0), c.muscle);
  // Posterior elements (laminae, facets, ligamenta flava) around the canal and foramina.
  cv.paint(body & (x >= kBodyX + kBodyA - 2.0) & (x < 48.0) & (zs.abs() < 26.0), c.post);
  paint_spine(cv, p, c, x, y, zs, shape, spacing, gen);
  const torch::Tensor csf = paint_canal(cv, c, x, y, zs, body, shrink);
  const torch::Tensor foramen_fat = paint_foramina(cv, p, c, x, y, zs, shape);

  // Scanner: gain, smooth multiplicative bias field (coil sensitivity), Gaussian noise.
  torch::Tensor bias = 1.0 + 0.10 * smooth_noise(gen, shape[0], shape[1], shape[2], spacing, 120.0);
  torch::Tensor img = cv.img * bias * gain;
  img = img + 0.015 * gain * torch::randn(shape, gen, opts);
  img = (img * 1000.0).clamp(0.0, 4000.0).round();
  return {img, csf, foramen_fat};
}

int64_t nearest_slice(double z, double spacing, int64_t n) {
  return std::clamp<int64_t>(std::lround(z / spacing + (n - 1) / 2.0), 0, n - 1);
}

}  // namespace

std::string lumbar_series_description(LumbarSeries series) {
  switch (series) {
    case LumbarSeries::kSagittalT1: return "Sagittal T1";
    case LumbarSeries::kSagittalT2: return "Sagittal T2/STIR";
    case LumbarSeries::kAxialT2: return "Axial T2";
  }
  return "";
}

namespace {

void check_params(const LumbarPhantomParams& p) {
  if (p.size < 16) throw ValueError("lumbar phantom size must be at least 16, got " + std::to_string(p.size));
  if (p.sagittal_slices < 5) {
    throw ValueError("lumbar phantom needs at least 5 sagittal slices, got " + std::to_string(p.sagittal_slices));
  }
  if (!(p.sagittal_spacing_mm > 0) || !(p.axial_spacing_mm > 0) || !(p.fov_mm > 0) || !(p.axial_fov_mm > 0)) {
    throw ValueError("lumbar phantom spacings and fields of view must be positive");
  }
  for (int s : p.severity) {
    if (s < 0 || s > 2) throw ValueError("lumbar severity must be 0, 1 or 2, got " + std::to_string(s));
  }
}

// Axial blocks: 3 slices per disc, columns toward the patient's left, rows posterior, slices
// feet to head (LPS), centred on the spine.
void render_axial_blocks(const LumbarPhantomParams& p, torch::Generator& gen, LumbarPhantom& out) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t n = p.size;
  const double pa = p.axial_fov_mm / static_cast<double>(n), sa = p.axial_spacing_mm;
  const double ax_spacing[3] = {sa, pa, pa};
  torch::Tensor xa = (kAxialCentreX + (torch::arange(n, opts) - (n - 1) / 2.0) * pa).view({1, n, 1});
  torch::Tensor za = (p.spine_offset_mm - (torch::arange(n, opts) - (n - 1) / 2.0) * pa).view({1, 1, n});
  for (int l = 0; l < lumbar::kLevels; ++l) {
    // k = 0 is the inferior slice: y = disc + sa, then disc, then disc - sa.
    torch::Tensor ya = (disc_y(l) + sa - torch::arange(3, opts) * sa).view({3, 1, 1});
    Rendered ax = render_grid(p, kT2, p.gain_axial, xa, ya, za, {3, n, n}, ax_spacing, gen);
    const Vec3 origin{-p.spine_offset_mm - (n - 1) / 2.0 * pa, kAxialCentreX - (n - 1) / 2.0 * pa,
                      -(disc_y(l) + sa)};
    VolumeInfo info;
    info.modality = "MR";
    info.series_description = "Axial T2";
    info.field_strength_t = 1.5;
    info.slice_thickness_mm = 0.9 * sa;
    out.axial_t2.emplace_back(ax.img, Vec3{sa, pa, pa}, origin, identity_direction(), info);
    out.axial_csf_mask.push_back(ax.csf);
  }
}

// Label points (pixel coordinates of the image they are annotated on).
std::vector<LumbarLabelPoint> label_points(const LumbarPhantomParams& p) {
  const int64_t n = p.size, d = p.sagittal_slices;
  const double px = p.fov_mm / static_cast<double>(n), sp = p.sagittal_spacing_mm;
  const double pa = p.axial_fov_mm / static_cast<double>(n);
  const double canal_mid_x = (kCanalFront + kCanalBack) / 2;
  auto sag_col = [&](double x) { return x / px + (n - 1) / 2.0; };
  auto sag_row = [&](double y) { return y / px + (n - 1) / 2.0; };
  const int64_t mid = nearest_slice(p.spine_offset_mm, sp, d);
  const int64_t left = nearest_slice(p.spine_offset_mm - kForamenZ, sp, d);
  const int64_t right = nearest_slice(p.spine_offset_mm + kForamenZ, sp, d);
  std::vector<LumbarLabelPoint> points;
  for (int c = 0; c < lumbar::kConditions; ++c) {
    for (int l = 0; l < lumbar::kLevels; ++l) {
      LumbarLabelPoint pt;
      pt.condition = c;
      pt.level = l;
      if (c == 0) {
        pt.series = LumbarSeries::kSagittalT2;
        pt.slice = mid;
        pt.x = sag_col(canal_mid_x);
        pt.y = sag_row(disc_y(l));
      } else if (c <= 2) {
        pt.series = LumbarSeries::kSagittalT1;
        pt.slice = c == 1 ? left : right;
        pt.x = sag_col(kForamenX);
        pt.y = sag_row(disc_y(l) - 1.0);
      } else {
        // The lateral recess: front of the canal, 7 mm off the midline on that side.
        pt.series = LumbarSeries::kAxialT2;
        pt.slice = 1;
        const double z = p.spine_offset_mm + (c == 3 ? -7.0 : 7.0);
        pt.x = -(z - p.spine_offset_mm) / pa + (n - 1) / 2.0;
        pt.y = (kCanalFront + 3.0 - kAxialCentreX) / pa + (n - 1) / 2.0;
      }
      // Sagittal instances are numbered as the slices; axial ones head to feet, L1/L2 first.
      pt.instance_number = pt.series == LumbarSeries::kAxialT2 ? 3 * l + (2 - static_cast<int>(pt.slice)) + 1
                                                               : static_cast<int>(pt.slice) + 1;
      points.push_back(pt);
    }
  }
  return points;
}

}  // namespace

LumbarPhantom render_lumbar_phantom(const LumbarPhantomParams& p) {
  check_params(p);
  auto gen = at::detail::createCPUGenerator(p.seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  LumbarPhantom out;
  const int64_t n = p.size, d = p.sagittal_slices;

  // Sagittal grid (shared by T1 and T2): slices left to right, rows inferior, columns posterior.
  const double px = p.fov_mm / static_cast<double>(n), sp = p.sagittal_spacing_mm;
  const double sag_spacing[3] = {sp, px, px};
  torch::Tensor zs = ((torch::arange(d, opts) - (d - 1) / 2.0) * sp).view({d, 1, 1});
  torch::Tensor ys = ((torch::arange(n, opts) - (n - 1) / 2.0) * px).view({1, n, 1});
  torch::Tensor xs = ((torch::arange(n, opts) - (n - 1) / 2.0) * px).view({1, 1, n});
  const Mat3 sag_dir{{{0, 0, -1}, {1, 0, 0}, {0, -1, 0}}};
  const Vec3 sag_origin{(d - 1) / 2.0 * sp, -(n - 1) / 2.0 * px, (n - 1) / 2.0 * px};
  auto sag_info = [&](const std::string& desc) {
    VolumeInfo info;
    info.modality = "MR";
    info.series_description = desc;
    info.field_strength_t = 1.5;
    info.slice_thickness_mm = 0.9 * sp;
    return info;
  };
  Rendered t1 = render_grid(p, kT1, p.gain_t1, xs, ys, zs, {d, n, n}, sag_spacing, gen);
  Rendered t2 = render_grid(p, kT2, p.gain_t2, xs, ys, zs, {d, n, n}, sag_spacing, gen);
  out.sagittal_t1 = Volume(t1.img, {sp, px, px}, sag_origin, sag_dir, sag_info("Sagittal T1"));
  out.sagittal_t2 = Volume(t2.img, {sp, px, px}, sag_origin, sag_dir, sag_info("Sagittal T2/STIR"));
  out.sagittal_csf_mask = t2.csf;
  out.foramen_fat_mask = t1.foramen_fat;
  render_axial_blocks(p, gen, out);
  out.points = label_points(p);
  return out;
}

}  // namespace tomograd::tasks
