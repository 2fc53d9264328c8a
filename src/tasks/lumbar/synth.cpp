// Synthetic lumbar spine MRI in the RSNA 2024 layout (generative model: docs/synthetic_lumbar.md).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
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

// Paints the anatomy on the grid given by broadcastable coordinate tensors (x, y, z in mm, the
// internal frame) and adds scanner effects. @p shape is the [D,H,W] of the result.
Rendered render_grid(const LumbarPhantomParams& p, const Contrast& c, double gain, const torch::Tensor& x,
                     const torch::Tensor& y, const torch::Tensor& z, std::vector<int64_t> shape, const double spacing[3], torch::Generator& gen) {
  // Coordinates stay broadcastable ([D,1,1], [1,H,1], [1,1,W]): only masks become full size.
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor zs = z - p.spine_offset_mm;  // relative to the spine's midline
  torch::Tensor img = torch::zeros(shape, opts);
  auto paint = [&](const torch::Tensor& mask, double v) { img = torch::where(mask, torch::full_like(img, v), img); };

  // Narrowing profiles along y: a Gaussian bump of 7 mm at each disc.
  torch::Tensor canal_shrink = torch::zeros_like(y), left_shrink = torch::zeros_like(y),
                right_shrink = torch::zeros_like(y);
  for (int l = 0; l < lumbar::kLevels; ++l) {
    const torch::Tensor prof = torch::exp(-((y - disc_y(l)) / 7.0).pow(2));
    canal_shrink = canal_shrink + narrowing(p, 0, l) * prof;
    left_shrink = left_shrink + narrowing(p, 3, l) * prof;
    right_shrink = right_shrink + narrowing(p, 4, l) * prof;
  }

  torch::Tensor body = ((x - 10.0) / 135.0).pow(2) + (z / 160.0).pow(2) <= 1.0;
  paint(body, c.soft);
  paint(body & (x > 95.0), c.fat);
  paint(body & (x > 42.0) & (x <= 95.0) & (zs.abs() < 60.0), c.muscle);
  // Posterior elements (laminae, facets, ligamenta flava) around the canal and foramina.
  paint(body & (x >= kBodyX + kBodyA - 2.0) & (x < 48.0) & (zs.abs() < 26.0), c.post);

  // Vertebral bodies L1-L5 and S1, discs L1/L2 ... L5/S1 (thinner when the canal is stenotic:
  // disc degeneration goes with it), marrow texture.
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
  paint(pedicles, c.pedicle);
  torch::Tensor disc_value = torch::full_like(img, c.disc);
  if (c.csf > 0.5) {  // T2: degenerated (stenotic-level) discs lose water signal
    for (int l = 0; l < lumbar::kLevels; ++l) {
      const torch::Tensor near = (y - disc_y(l)).abs() < kDiscHalfHeight + 1.0;
      disc_value = torch::where(near, torch::full_like(img, c.disc * (1.0 - 0.35 * narrowing(p, 0, l))), disc_value);
    }
  }
  img = torch::where(discs, disc_value, img);
  paint(cortex, c.cortex);
  const double sp_marrow[3] = {spacing[0], spacing[1], spacing[2]};
  torch::Tensor texture = smooth_noise(gen, shape[0], shape[1], shape[2], sp_marrow, 1.5);
  img = torch::where(marrow, c.marrow + 0.04 * texture, img);

  // Spinal canal: the disc bulge and ligamentum flavum move its front and back in by up to half
  // its depth each; facet hypertrophy closes each lateral recess from the side.
  const double depth = kCanalBack - kCanalFront;
  torch::Tensor front = kCanalFront + 0.5 * depth * canal_shrink;
  torch::Tensor back = kCanalBack - 0.5 * depth * canal_shrink;
  torch::Tensor left_w = kCanalHalfWidth - 7.0 * left_shrink, right_w = kCanalHalfWidth - 7.0 * right_shrink;
  torch::Tensor csf = body & (x > front) & (x < back) & (zs > -left_w) & (zs < right_w);
  paint(csf, c.csf);
  // Conus medullaris above L1/L2; below it the cauda equina is left out.
  paint(csf & ((x - (kCanalFront + kCanalBack) / 2).abs() < 4.0) & (zs.abs() < 5.0) & (y < disc_y(0) - 10.0), c.cord);

  // Neural foramina between the pedicles at each disc: fat with the exiting root, shrunk toward
  // its centre by foraminal narrowing on that side (z < 0 is the patient's left).
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
  paint(fat, c.foramen_fat);
  paint(root, c.root);

  // Scanner: gain, smooth multiplicative bias field (coil sensitivity), Gaussian noise.
  torch::Tensor bias = 1.0 + 0.10 * smooth_noise(gen, shape[0], shape[1], shape[2], spacing, 120.0);
  img = img * bias * gain;
  img = img + 0.015 * gain * torch::randn(shape, gen, opts);
  img = (img * 1000.0).clamp(0.0, 4000.0).round();
  return {img, csf, fat & ~root};
}

int64_t nearest_slice(double z, double spacing, int64_t n) {
  return std::clamp<int64_t>(std::lround(z / spacing + (n - 1) / 2.0), 0, n - 1);
}

// Rewrites one file of write_dicom_series() under its RSNA name, with its InstanceNumber and the
// study's FrameOfReferenceUID (all three series share the patient frame, PS3.3 C.7.4.1).
void finalize_instance(const fs::path& written, const fs::path& target, int instance_number,
                       const std::string& frame_uid) {
  DcmFileFormat ff;
  OFCondition st = ff.loadFile(written.string().c_str());
  if (st.bad()) throw IoError("cannot re-read '" + written.string() + "': " + st.text());
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(instance_number).c_str());
  ds->putAndInsertString(DCM_FrameOfReferenceUID, frame_uid.c_str());
  fs::path tmp = target;
  tmp += ".tmp";
  st = ff.saveFile(tmp.string().c_str(), EXS_LittleEndianExplicit);
  if (st.bad()) throw IoError("cannot write '" + tmp.string() + "': " + st.text());
  fs::rename(tmp, target);
  fs::remove(written);
}

std::string fmt(double v, const char* f) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
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

LumbarPhantom render_lumbar_phantom(const LumbarPhantomParams& p) {
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

  // Axial blocks: 3 slices per disc, columns toward the patient's left, rows posterior, slices
  // feet to head (LPS), centred on the spine.
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

  // Label points (pixel coordinates of the image they are annotated on).
  const double canal_mid_x = (kCanalFront + kCanalBack) / 2;
  auto sag_col = [&](double x) { return x / px + (n - 1) / 2.0; };
  auto sag_row = [&](double y) { return y / px + (n - 1) / 2.0; };
  const int64_t mid = nearest_slice(p.spine_offset_mm, sp, d);
  const int64_t left = nearest_slice(p.spine_offset_mm - kForamenZ, sp, d);
  const int64_t right = nearest_slice(p.spine_offset_mm + kForamenZ, sp, d);
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
      out.points.push_back(pt);
    }
  }
  return out;
}

std::vector<LumbarStudyRow> synthesize_lumbar_cohort(const LumbarSynthOptions& o) {
  if (o.studies < 1) throw ValueError("--studies must be at least 1, got " + std::to_string(o.studies));
  if (!(o.scale > 0) || o.scale > 2) throw ValueError("--scale must be in (0, 2], got " + std::to_string(o.scale));
  if (!(o.missing_fraction >= 0) || o.missing_fraction > 1) {
    throw ValueError("missing fraction must be in [0, 1], got " + std::to_string(o.missing_fraction));
  }
  train::require_empty_dir(o.out, o.force, "use --force to write into it");
  if (o.test_studies < 0) throw ValueError("--test-studies must be >= 0, got " + std::to_string(o.test_studies));
  ensure_directory(o.out / "train_images");
  if (o.test_studies > 0) ensure_directory(o.out / "test_images");

  // Draws per study from its own stream, so a study depends only on (seed, index); test study j
  // is drawn as study (studies + j).
  const std::size_t n = static_cast<std::size_t>(o.studies + o.test_studies);
  auto split_of = [&o](std::size_t i) { return i < static_cast<std::size_t>(o.studies) ? "train" : "test"; };
  std::vector<LumbarPhantomParams> params(n);
  std::vector<LumbarStudyRow> rows(n);
  std::set<int64_t> used_ids;
  const int64_t size = std::max<int64_t>(32, std::lround(512 * o.scale));
  // Degeneration is commoner at the lower levels (L4/L5, L5/S1).
  constexpr double kLevelBias[lumbar::kLevels] = {-0.35, -0.2, 0.0, 0.25, 0.3};
  for (std::size_t i = 0; i < n; ++i) {
    std::mt19937_64 rng(derive_seed(o.seed, 1000 + i));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> gauss(0.0, 1.0);
    LumbarStudyRow& r = rows[i];
    LumbarPhantomParams& p = params[i];
    // Ids in [4,000,000, 4,290,000,000] by uniform_below (std::uniform_int_distribution's draws
    // differ between standard libraries, and the ids order the studies that folds are dealt from).
    auto id_draw = [&] { return int64_t{4'000'000} + static_cast<int64_t>(uniform_below(rng, 4'286'000'001ULL)); };
    auto unique_id = [&] {
      int64_t id = id_draw();
      while (!used_ids.insert(id).second) id = id_draw();  // collisions: practically never
      return id;
    };
    r.study_id = unique_id();
    for (auto& s : r.series_id) s = unique_id();
    r.age_years = 20.0 + 70.0 * u(rng);
    // Latent degeneration: age, a study effect, the level and noise; thresholds chosen for about
    // 70/20/10 % (latent sd ≈ 1.22).
    const double age_z = (r.age_years - 55.0) / 20.2, study_effect = 0.4 * gauss(rng);
    for (int c = 0; c < lumbar::kConditions; ++c) {
      for (int l = 0; l < lumbar::kLevels; ++l) {
        const int k = lumbar::label_index(c, l);
        const double latent = 0.53 * age_z + study_effect + kLevelBias[l] + gauss(rng);
        p.severity[k] = latent < 0.64 ? 0 : latent < 1.57 ? 1 : 2;
        p.narrowing_jitter[k] = 2.0 * u(rng) - 1.0;
        r.severity[k] = u(rng) < o.missing_fraction ? -1 : p.severity[k];
      }
    }
    p.size = size;
    p.sagittal_slices = 15 + static_cast<int64_t>(u(rng) * 6);  // 15..20
    p.sagittal_spacing_mm = 3.3 + 0.7 * u(rng);
    p.fov_mm = 280.0 + 40.0 * u(rng);
    p.axial_fov_mm = 180.0 + 40.0 * u(rng);
    p.spine_offset_mm = 6.0 * u(rng) - 3.0;
    p.gain_t1 = std::exp(0.2 * gauss(rng));
    p.gain_t2 = std::exp(0.2 * gauss(rng));
    p.gain_axial = std::exp(0.2 * gauss(rng));
    p.seed = derive_seed(o.seed, 100000 + i);
    r.size = p.size;
    r.sagittal_slices = p.sagittal_slices;
  }

  std::vector<std::vector<LumbarLabelPoint>> points(n);
  ProgressBar bar(o.show_progress ? o.studies : 0, "synthesizing", "studies");
  parallel_for(n, o.threads, [&](std::size_t i) {
    const LumbarStudyRow& r = rows[i];
    LumbarPhantom ph = render_lumbar_phantom(params[i]);
    const std::string study = std::to_string(r.study_id);
    const std::string frame_uid = study + ".1";
    io::DicomWriteOptions w;
    w.modality = "MR";
    w.patient_id = study;
    w.study_uid = study;
    w.study_id = "1";
    w.rescale_intercept = 0.0;
    w.rescale_slope = 1.0;
    w.overwrite = Overwrite::kAllow;  // only our own IM*.dcm, renamed right away
    for (int s = 0; s < 3; ++s) {
      const auto series = static_cast<LumbarSeries>(s);
      const fs::path dir = o.out / (std::string(split_of(i)) + "_images") / study / std::to_string(r.series_id[s]);
      w.series_uid = std::to_string(r.series_id[s]);
      w.series_description = lumbar_series_description(series);
      w.series_number = s + 1;
      if (series != LumbarSeries::kAxialT2) {
        const Volume& v = series == LumbarSeries::kSagittalT1 ? ph.sagittal_t1 : ph.sagittal_t2;
        const auto files = io::write_dicom_series(v, dir / ".writing", w);
        for (std::size_t k = 0; k < files.size(); ++k) {
          finalize_instance(files[k], dir / (std::to_string(k + 1) + ".dcm"), static_cast<int>(k + 1), frame_uid);
        }
      } else {
        for (int l = 0; l < lumbar::kLevels; ++l) {
          const auto files = io::write_dicom_series(ph.axial_t2[static_cast<std::size_t>(l)], dir / ".writing", w);
          for (int k = 0; k < 3; ++k) {
            const int instance = 3 * l + (2 - k) + 1;
            finalize_instance(files[static_cast<std::size_t>(k)], dir / (std::to_string(instance) + ".dcm"), instance,
                              frame_uid);
          }
        }
      }
      fs::remove_all(dir / ".writing");
    }
    points[i] = ph.points;
    bar.tick();
  });
  bar.finish();

  const Overwrite ow = o.force ? Overwrite::kAllow : Overwrite::kNever;
  CsvTable descriptions({"study_id", "series_id", "series_description"}, {});
  std::vector<std::string> header{"study_id"};
  for (int c = 0; c < lumbar::kConditions; ++c) {
    for (int l = 0; l < lumbar::kLevels; ++l) header.push_back(std::string(lumbar::kConditionKeys[c]) + "_" + lumbar::kLevelKeys[l]);
  }
  CsvTable train(header, {});
  CsvTable test_descriptions = descriptions, test_solution = train;
  CsvTable coords({"study_id", "series_id", "instance_number", "condition", "level", "x", "y"}, {});
  for (std::size_t i = 0; i < n; ++i) {
    const LumbarStudyRow& r = rows[i];
    const std::string study = std::to_string(r.study_id);
    const bool test = i >= static_cast<std::size_t>(o.studies);
    for (int s = 0; s < 3; ++s) {
      (test ? test_descriptions : descriptions)
          .add_row({study, std::to_string(r.series_id[s]), lumbar_series_description(static_cast<LumbarSeries>(s))});
    }
    std::vector<std::string> row{study};
    for (int sev : r.severity) row.push_back(sev < 0 ? "" : lumbar::kGradeNames[sev]);
    (test ? test_solution : train).add_row(row);
    if (test) continue;  // as in the competition, no coordinates for test studies
    for (const LumbarLabelPoint& pt : points[i]) {
      if (r.severity[lumbar::label_index(pt.condition, pt.level)] < 0) continue;  // unlabelled: no point either
      coords.add_row({study, std::to_string(r.series_id[static_cast<int>(pt.series)]),
                      std::to_string(pt.instance_number), lumbar::kConditionNames[pt.condition],
                      lumbar::kLevelNames[pt.level], fmt(pt.x, "%.3f"), fmt(pt.y, "%.3f")});
    }
  }
  write_file_atomic(o.out / "train_series_descriptions.csv", descriptions.to_string(), ow);
  write_file_atomic(o.out / "train.csv", train.to_string(), ow);
  write_file_atomic(o.out / "train_label_coordinates.csv", coords.to_string(), ow);
  if (o.test_studies > 0) {
    write_file_atomic(o.out / "test_series_descriptions.csv", test_descriptions.to_string(), ow);
    write_file_atomic(o.out / "test_solution.csv", test_solution.to_string(), ow);
  }
  logger()->info("wrote {} synthetic lumbar studies to '{}'", rows.size(), o.out.string());
  return rows;
}

}  // namespace tomograd::tasks
