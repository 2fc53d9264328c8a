// Synthetic head CT for brain-metastasis classification (generative model:
// docs/synthetic_metastasis.md). The head is preprocess::make_head_phantom(); this file adds the
// pose, the lesions, beam hardening and noise, and writes cohorts.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/train/run_dir.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/preprocess/phantom.hpp"
#include "tomograd/tasks/metastasis/synth.hpp"

namespace fs = std::filesystem;

namespace tomograd::tasks {

namespace {

// What int16 stores with RescaleIntercept -1024 and slope 1, clipped to the 12-bit range most
// scanners write (-1024..3071 HU).
constexpr double kMinHu = -1024.0, kMaxHu = 3071.0;
// Lesions keep this much parenchyma between their surface and CSF, ventricles or skull.
constexpr double kClearanceMm = 2.0;
// Gap between the surfaces of two lesions of one patient.
constexpr double kLesionGapMm = 4.0;
// Random voxels drawn per lesion before giving up on placing it (about a third are parenchyma).
constexpr int kPlacementTries = 20000;

// Uniform [0, 1) from the raw 64-bit stream: std::uniform_real_distribution and std::shuffle are
// implementation-defined, and cohorts should not change with the standard library.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
double uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }

// World (LPS) position of a fractional voxel index of an axial volume with identity direction.
struct Grid {
  Vec3 origin;   // (x,y,z) LPS of voxel [0,0,0]
  Vec3 spacing;  // (z,y,x) as Volume stores it
  int64_t d, h, w;
  double x(double i) const { return origin[0] + i * spacing[2]; }
  double y(double j) const { return origin[1] + j * spacing[1]; }
  double z(double k) const { return origin[2] + k * spacing[0]; }
};

// Whether a sphere of radius @p radius_mm at @p c lies in the parenchyma with the clearance:
// every voxel centre within radius + clearance + half a voxel diagonal (a voxel centre may sit
// that far from what the voxel covers) is parenchyma, and that ball lies inside the volume.
bool fits(const Grid& g, const uint8_t* parenchyma, const Vec3& c, double radius_mm) {
  const double half_diag = 0.5 * std::sqrt(g.spacing[0] * g.spacing[0] + g.spacing[1] * g.spacing[1] +
                                           g.spacing[2] * g.spacing[2]);
  const double reach = radius_mm + kClearanceMm + half_diag;
  const double fk = (c[2] - g.origin[2]) / g.spacing[0], fj = (c[1] - g.origin[1]) / g.spacing[1],
               fi = (c[0] - g.origin[0]) / g.spacing[2];
  const double rk = reach / g.spacing[0], rj = reach / g.spacing[1], ri = reach / g.spacing[2];
  const int64_t k0 = static_cast<int64_t>(std::floor(fk - rk)), k1 = static_cast<int64_t>(std::ceil(fk + rk));
  const int64_t j0 = static_cast<int64_t>(std::floor(fj - rj)), j1 = static_cast<int64_t>(std::ceil(fj + rj));
  const int64_t i0 = static_cast<int64_t>(std::floor(fi - ri)), i1 = static_cast<int64_t>(std::ceil(fi + ri));
  if (k0 < 0 || j0 < 0 || i0 < 0 || k1 >= g.d || j1 >= g.h || i1 >= g.w) return false;
  for (int64_t k = k0; k <= k1; ++k) {
    for (int64_t j = j0; j <= j1; ++j) {
      for (int64_t i = i0; i <= i1; ++i) {
        const double dz = g.z(k) - c[2], dy = g.y(j) - c[1], dx = g.x(i) - c[0];
        if (dx * dx + dy * dy + dz * dz > reach * reach) continue;
        if (!parenchyma[(k * g.h + j) * g.w + i]) return false;
      }
    }
  }
  return true;
}

// Draws one lesion's appearance, then its place by rejection: a random parenchyma voxel, a random
// point in it, kept if the lesion fits there.
MetastasisLesion draw_lesion(std::mt19937_64& rng, const Grid& g, const uint8_t* parenchyma,
                             const std::vector<MetastasisLesion>& placed, const MetastasisPhantomParams& p) {
  MetastasisLesion l;
  // Log-uniform (3-15 mm by default): small metastases are the common ones.
  l.diameter_mm = p.lesion_min_mm * std::pow(p.lesion_max_mm / p.lesion_min_mm, uniform01(rng));
  // Central necrosis (ring enhancement) needs a lesion large enough to outgrow its blood supply.
  const bool ring = uniform01(rng) < 0.6 && l.diameter_mm >= 6.0;
  l.kind = ring ? LesionKind::kRing : LesionKind::kHyperdense;
  l.rim_hu = uniform(rng, p.enhancement_min_hu, p.enhancement_max_hu);
  l.core_hu = ring ? uniform(rng, -15.0, -5.0) : 0.0;
  l.rim_mm = ring ? std::clamp(0.25 * l.diameter_mm, 1.5, 3.0) : 0.0;
  const double r = l.diameter_mm / 2;
  const uint64_t voxels = static_cast<uint64_t>(g.d * g.h * g.w);
  for (int t = 0; t < kPlacementTries; ++t) {
    const auto v = static_cast<int64_t>(rng() % voxels);
    if (!parenchyma[v]) continue;
    const int64_t k = v / (g.h * g.w), j = (v / g.w) % g.h, i = v % g.w;
    const Vec3 c{g.x(i + uniform(rng, -0.5, 0.5)), g.y(j + uniform(rng, -0.5, 0.5)),
                 g.z(k + uniform(rng, -0.5, 0.5))};
    bool apart = true;
    for (const auto& o : placed) {
      const double dx = o.center_lps_mm[0] - c[0], dy = o.center_lps_mm[1] - c[1], dz = o.center_lps_mm[2] - c[2];
      if (std::sqrt(dx * dx + dy * dy + dz * dz) < r + o.diameter_mm / 2 + kLesionGapMm) apart = false;
    }
    if (apart && fits(g, parenchyma, c, r)) {
      l.center_lps_mm = c;
      return l;
    }
  }
  throw ValueError("render_metastasis_phantom: no room for a " + std::to_string(l.diameter_mm) +
                   " mm lesion in the parenchyma after " + std::to_string(kPlacementTries) + " draws");
}

// Adds a lesion with partial volume: each voxel is supersampled (about 0.5 mm apart), so a lesion
// smaller than a voxel still raises it by contrast × covered fraction, as a scanner averages.
void paint_lesion(const Grid& g, const MetastasisLesion& l, float* hu, uint8_t* mask) {
  const double r = l.diameter_mm / 2;
  const double r_core = l.kind == LesionKind::kRing ? std::max(0.0, r - l.rim_mm) : 0.0;
  const Vec3& c = l.center_lps_mm;
  const double fk = (c[2] - g.origin[2]) / g.spacing[0], fj = (c[1] - g.origin[1]) / g.spacing[1],
               fi = (c[0] - g.origin[0]) / g.spacing[2];
  auto range = [](double f, double rad, int64_t n, int64_t& lo, int64_t& hi) {
    lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(f - rad - 0.5)));
    hi = std::min<int64_t>(n - 1, static_cast<int64_t>(std::ceil(f + rad + 0.5)));
  };
  int64_t k0, k1, j0, j1, i0, i1;
  range(fk, r / g.spacing[0], g.d, k0, k1);
  range(fj, r / g.spacing[1], g.h, j0, j1);
  range(fi, r / g.spacing[2], g.w, i0, i1);
  auto samples = [](double s) { return static_cast<int>(std::clamp(std::ceil(s / 0.5), 1.0, 16.0)); };
  const int nz = samples(g.spacing[0]), ny = samples(g.spacing[1]), nx = samples(g.spacing[2]);
  const double total = static_cast<double>(nz) * ny * nx;
  for (int64_t k = k0; k <= k1; ++k) {
    for (int64_t j = j0; j <= j1; ++j) {
      for (int64_t i = i0; i <= i1; ++i) {
        int in = 0, core = 0;
        for (int a = 0; a < nz; ++a) {
          const double dz = g.z(k - 0.5 + (a + 0.5) / nz) - c[2];
          for (int b = 0; b < ny; ++b) {
            const double dy = g.y(j - 0.5 + (b + 0.5) / ny) - c[1];
            for (int e = 0; e < nx; ++e) {
              const double dx = g.x(i - 0.5 + (e + 0.5) / nx) - c[0];
              const double d2 = dx * dx + dy * dy + dz * dz;
              in += d2 <= r * r;
              core += d2 <= r_core * r_core;
            }
          }
        }
        if (in == 0) continue;
        const double f_in = in / total, f_core = core / total;
        const int64_t v = (k * g.h + j) * g.w + i;
        hu[v] += static_cast<float>(l.rim_hu * (f_in - f_core) + l.core_hu * f_core);
        if (f_in >= 0.5) mask[v] = 1;
      }
    }
  }
  // A lesion smaller than half a voxel still gets the voxel holding its centre in the mask.
  const int64_t k = std::clamp<int64_t>(std::lround(fk), 0, g.d - 1), j = std::clamp<int64_t>(std::lround(fj), 0, g.h - 1),
                i = std::clamp<int64_t>(std::lround(fi), 0, g.w - 1);
  mask[(k * g.h + j) * g.w + i] = 1;
}

// Beam hardening and calibration inside the skull: an in-plane bowl (cupping, the centre reads
// low because the beam hardens through the skull; Brooks & Di Chiro 1976), a constant offset and
// a linear drift, all over the bounding box of the brain mask. Only + - * / so the field is
// bit-identical whatever the thread count.
torch::Tensor skull_field(const MetastasisPhantomParams& p, const torch::Tensor& brain) {
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t d = brain.size(0), h = brain.size(1), w = brain.size(2);
  auto extent = [&](int64_t dim, double& centre, double& half) {
    std::vector<int64_t> others;
    for (int64_t o = 0; o < 3; ++o) {
      if (o != dim) others.push_back(o);
    }
    torch::Tensor idx = brain.amax(others).nonzero();
    const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    centre = (lo + hi) / 2.0;
    half = std::max(1.0, (hi - lo) / 2.0 + 0.5);
  };
  double ck, hk, cj, hj, ci, hi;
  extent(0, ck, hk);
  extent(1, cj, hj);
  extent(2, ci, hi);
  torch::Tensor zn = ((torch::arange(d, f) - ck) / hk).view({d, 1, 1});
  torch::Tensor yn = ((torch::arange(h, f) - cj) / hj).view({1, h, 1});
  torch::Tensor xn = ((torch::arange(w, f) - ci) / hi).view({1, 1, w});
  torch::Tensor rho2 = (xn * xn + yn * yn).clamp_max(1.0);
  torch::Tensor field = p.offset_hu + 0.5 * (p.gradient_hu[0] * xn + p.gradient_hu[1] * yn + p.gradient_hu[2] * zn) -
                        p.cupping_hu * (1.0 - rho2);
  return field.expand({d, h, w}) * brain.to(torch::kFloat32);
}

}  // namespace

std::string lesion_kind_name(LesionKind kind) { return kind == LesionKind::kRing ? "ring" : "hyperdense"; }

MetastasisPhantom render_metastasis_phantom(const MetastasisPhantomParams& p) {
  if (p.size < 8 || p.slices < 1) {
    throw ValueError("render_metastasis_phantom: size must be >= 8 and slices >= 1, got " + std::to_string(p.size) +
                     " and " + std::to_string(p.slices));
  }
  if (!(p.fov_mm > 0) || !(p.slice_spacing_mm > 0) || !(p.head_scale > 0) || p.noise_hu < 0 || p.random_lesions < 0) {
    throw ValueError("render_metastasis_phantom: fov_mm, slice_spacing_mm and head_scale must be positive, "
                     "noise_hu and random_lesions non-negative");
  }
  for (const auto& l : p.lesions) {
    if (!(l.diameter_mm > 0) || l.rim_mm < 0) {
      throw ValueError("render_metastasis_phantom: lesion diameter_mm must be positive and rim_mm non-negative, got " +
                       std::to_string(l.diameter_mm) + " and " + std::to_string(l.rim_mm));
    }
  }
  const double px = p.fov_mm / static_cast<double>(p.size);
  preprocess::HeadPhantomOptions ho;
  ho.depth = p.slices;
  ho.rows = p.size;
  ho.cols = p.size;
  ho.spacing_mm = {p.slice_spacing_mm, px, px};
  ho.seed = derive_seed(p.seed, 1);
  ho.noise_hu = 0.0;  // noise comes last, after the lesions
  ho.head_scale = p.head_scale;
  ho.head_shift_mm = {0.0, p.shift_y_mm, p.shift_x_mm};
  ho.head_yaw_deg = p.yaw_deg;
  preprocess::HeadPhantom head = preprocess::make_head_phantom(ho);

  const Grid g{head.ct.origin_lps(), head.ct.spacing_mm(), p.slices, p.size, p.size};
  torch::Tensor hu = head.ct.data().clone().contiguous();
  torch::Tensor lesion_mask = torch::zeros({g.d, g.h, g.w}, torch::kUInt8);
  torch::Tensor parenchyma = head.parenchyma.contiguous();

  MetastasisPhantom out;
  out.lesions = p.lesions;
  if (p.random_lesions > 0) {
    std::mt19937_64 rng(derive_seed(p.seed, 2));
    for (int n = 0; n < p.random_lesions; ++n) {
      out.lesions.push_back(draw_lesion(rng, g, parenchyma.data_ptr<uint8_t>(), out.lesions, p));
    }
  }
  for (const auto& l : out.lesions) paint_lesion(g, l, hu.data_ptr<float>(), lesion_mask.data_ptr<uint8_t>());

  if (head.brain.any().item<bool>()) hu += skull_field(p, head.brain);
  if (p.noise_hu > 0) {
    auto gen = at::detail::createCPUGenerator(derive_seed(p.seed, 3));
    hu += torch::randn(hu.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)) * static_cast<float>(p.noise_hu);
  }
  hu = hu.round().clamp(kMinHu, kMaxHu);

  VolumeInfo info;
  info.modality = "CT";
  info.series_description = "HEAD AXIAL";
  info.slice_thickness_mm = p.slice_spacing_mm;
  info.window_centers = {40.0};  // brain window
  info.window_widths = {80.0};
  out.volume = Volume(hu, head.ct.spacing_mm(), head.ct.origin_lps(), head.ct.direction(), info);
  out.lesion_mask = lesion_mask;
  out.brain_mask = head.brain;
  out.parenchyma_mask = head.parenchyma;
  out.ventricle_mask = head.ventricles;
  return out;
}

namespace {

void validate_synth_options(const MetastasisSynthOptions& o) {
  if (o.patients < 1) throw ValueError("--patients must be at least 1, got " + std::to_string(o.patients));
  if (!(o.scale > 0) || o.scale > 2) throw ValueError("--scale must be in (0, 2], got " + std::to_string(o.scale));
  if (!(o.prevalence >= 0) || o.prevalence > 1) {
    throw ValueError("--prevalence must be in [0, 1], got " + std::to_string(o.prevalence));
  }
  if (!(o.lesion_min_mm > 0) || !(o.lesion_max_mm >= o.lesion_min_mm)) {
    throw ValueError("--lesion-mm must be MIN MAX with 0 < MIN <= MAX, got " + std::to_string(o.lesion_min_mm) + " " +
                     std::to_string(o.lesion_max_mm));
  }
  if (!(o.enhancement_max_hu >= o.enhancement_min_hu)) {
    throw ValueError("--enhancement-hu must be MIN MAX with MIN <= MAX, got " + std::to_string(o.enhancement_min_hu) +
                     " " + std::to_string(o.enhancement_max_hu));
  }
}

/// labels.csv (patient_id,label) and lesions.csv (one row per lesion) of the cohort.
void write_cohort_tables(const MetastasisSynthOptions& o, const std::vector<MetastasisCohortRow>& rows) {
  const Overwrite ow = o.force ? Overwrite::kAllow : Overwrite::kNever;
  CsvTable labels_csv({"patient_id", "label"}, {}, (o.out / "labels.csv").string());
  CsvTable lesions_csv({"patient_id", "lesion", "kind", "x_mm", "y_mm", "z_mm", "diameter_mm", "rim_hu", "core_hu"}, {},
                       (o.out / "lesions.csv").string());
  auto num = [](double v) {
    char s[32];
    std::snprintf(s, sizeof s, "%.2f", v);
    return std::string(s);
  };
  for (const auto& r : rows) {
    labels_csv.add_row({r.patient_id, std::to_string(r.label)});
    for (std::size_t k = 0; k < r.lesions.size(); ++k) {
      const auto& l = r.lesions[k];
      lesions_csv.add_row({r.patient_id, std::to_string(k + 1), lesion_kind_name(l.kind), num(l.center_lps_mm[0]),
                           num(l.center_lps_mm[1]), num(l.center_lps_mm[2]), num(l.diameter_mm), num(l.rim_hu),
                           num(l.core_hu)});
    }
  }
  write_file_atomic(o.out / "labels.csv", labels_csv.to_string(), ow);
  write_file_atomic(o.out / "lesions.csv", lesions_csv.to_string(), ow);
}

}  // namespace

std::vector<MetastasisCohortRow> synthesize_metastasis_cohort(const MetastasisSynthOptions& o) {
  validate_synth_options(o);
  train::require_empty_dir(o.out, o.force, "use --force to write into it");
  ensure_directory(o.out / "CTs");

  // Exactly round(N·P) positives, in an order drawn from the seed (Fisher-Yates).
  const auto n = static_cast<std::size_t>(o.patients);
  const auto positives = static_cast<std::size_t>(std::llround(o.patients * o.prevalence));
  std::vector<int> labels(n, 0);
  std::fill(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(positives), 1);
  std::mt19937_64 order_rng(derive_seed(o.seed, 0));
  for (std::size_t i = n - 1; i > 0; --i) std::swap(labels[i], labels[order_rng() % (i + 1)]);

  // Every draw is made for every patient, in the same order, so anatomy, pose and scanner do not
  // depend on the label (nothing but the lesions tells positives from negatives).
  const int64_t size = std::max<int64_t>(32, static_cast<int64_t>(std::lround(512 * o.scale)));
  std::vector<MetastasisPhantomParams> params(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::mt19937_64 rng(derive_seed(o.seed, 1000 + i));
    MetastasisPhantomParams& p = params[i];
    p.size = size;
    p.fov_mm = 240.0;
    p.slices = 30 + static_cast<int64_t>(uniform01(rng) * 21);  // 30..50
    // Coverage 140-165 mm (skull base to vertex) in 0.5 mm steps of slice spacing, 3-5 mm.
    const double coverage_mm = uniform(rng, 140.0, 165.0);
    p.slice_spacing_mm = std::clamp(std::round(2.0 * coverage_mm / p.slices) / 2.0, 3.0, 5.0);
    p.head_scale = uniform(rng, 0.92, 1.08);
    p.yaw_deg = uniform(rng, -6.0, 6.0);
    p.shift_x_mm = uniform(rng, -10.0, 10.0);
    p.shift_y_mm = uniform(rng, -10.0, 10.0);
    p.noise_hu = uniform(rng, 3.0, 7.0);
    p.cupping_hu = uniform(rng, 0.0, 8.0);
    p.offset_hu = uniform(rng, -3.0, 3.0);
    p.gradient_hu = {uniform(rng, -4.0, 4.0), uniform(rng, -4.0, 4.0), uniform(rng, -4.0, 4.0)};
    const double c = uniform01(rng);
    const int count = c < 0.5 ? 1 : c < 0.8 ? 2 : 3;
    p.random_lesions = labels[i] ? count : 0;
    p.lesion_min_mm = o.lesion_min_mm;
    p.lesion_max_mm = o.lesion_max_mm;
    p.enhancement_min_hu = o.enhancement_min_hu;
    p.enhancement_max_hu = o.enhancement_max_hu;
    p.seed = rng();
  }

  std::vector<MetastasisCohortRow> rows(n);
  ProgressBar bar(o.show_progress ? o.patients : 0, "synthesizing", "patients");
  parallel_for(n, o.threads, [&](std::size_t i) {
    char id[32];
    std::snprintf(id, sizeof id, "MET%04zu", i + 1);
    MetastasisPhantom ph = render_metastasis_phantom(params[i]);
    io::DicomWriteOptions w;
    w.modality = "CT";
    w.patient_id = id;
    w.series_description = "HEAD AXIAL";
    w.study_id = "1";
    w.rescale_intercept = -1024.0;
    w.rescale_slope = 1.0;
    w.overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
    const fs::path rel = fs::path("CTs") / id;
    io::write_dicom_series(ph.volume, o.out / rel, w);
    MetastasisCohortRow& r = rows[i];
    r.patient_id = id;
    r.path = rel.generic_string();
    r.label = labels[i];
    r.rows = ph.volume.rows();
    r.cols = ph.volume.cols();
    r.slices = ph.volume.depth();
    r.slice_spacing_mm = params[i].slice_spacing_mm;
    r.lesions = ph.lesions;
    bar.tick();
  });
  bar.finish();

  write_cohort_tables(o, rows);
  logger()->info("wrote {} synthetic head CTs ({} with metastases) to '{}'", rows.size(), positives, o.out.string());
  return rows;
}

}  // namespace tomograd::tasks
