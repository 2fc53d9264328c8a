// Synthetic lumbar spine MRI for BMD regression (generative model: docs/synthetic_bmd.md).
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
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
#include "tomograd/tasks/bmd/synth.hpp"
#include "../synth_common.hpp"

namespace fs = std::filesystem;

namespace tomograd::tasks {

using synth::smooth_noise;
using synth::superellipsoid;

BmdPhantom render_bmd_phantom(const BmdPhantomParams& p) {
  const int64_t d = p.slices, h = p.size, w = p.size;
  const double px = p.fov_mm / static_cast<double>(p.size);
  const double spacing[3] = {p.slice_spacing_mm, px, px};
  auto gen = at::detail::createCPUGenerator(p.seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  // Patient coordinates in mm, centred: z left-right (slices), y superior->inferior (rows),
  // x anterior->posterior (columns).
  torch::Tensor z = ((torch::arange(d, opts) - (d - 1) / 2.0) * spacing[0]).view({d, 1, 1});
  torch::Tensor y = ((torch::arange(h, opts) - (h - 1) / 2.0) * px).view({1, h, 1});
  torch::Tensor x = ((torch::arange(w, opts) - (w - 1) / 2.0) * px).view({1, 1, w});
  z = z.expand({d, h, w});
  y = y.expand({d, h, w});
  x = x.expand({d, h, w});

  // Body outline: an elliptic cylinder (abdomen anterior, back posterior).
  torch::Tensor body = ((x - 10.0) / 135.0).pow(2) + (z / 160.0).pow(2) <= 1.0;
  torch::Tensor img = torch::zeros({d, h, w}, opts);
  img = torch::where(body, torch::full_like(img, 0.38), img);                      // abdomen / soft tissue
  torch::Tensor fat = body & (x > 95.0);                                            // subcutaneous fat (bright on T1)
  img = torch::where(fat, torch::full_like(img, 0.95), img);
  torch::Tensor muscle = body & (x > 42.0) & (x <= 95.0) & (z.abs() < 60.0);        // paraspinal muscle
  img = torch::where(muscle, torch::full_like(img, 0.42), img);

  // Vertebral bodies L1-L5 (height 28 mm) separated by discs (10 mm), column centred at x = -5.
  const double body_half_h = 14.0, disc_half_h = 5.0, pitch = 2 * body_half_h + 2 * disc_half_h;
  const double xc = -5.0, a = 19.0, c = 24.0;
  torch::Tensor marrow = torch::zeros({d, h, w}, torch::kBool);
  torch::Tensor cortex = torch::zeros({d, h, w}, torch::kBool);
  torch::Tensor discs = torch::zeros({d, h, w}, torch::kBool);
  for (int level = 0; level < 5; ++level) {
    const double yc = (level - 2) * pitch;
    torch::Tensor outer = superellipsoid(x - xc, y - yc, z, a, body_half_h, c, 4.0);
    torch::Tensor inner = superellipsoid(x - xc, y - yc, z, a - 1.5, body_half_h - 1.5, c - 1.5, 4.0);
    marrow = marrow | inner;
    cortex = cortex | (outer & ~inner);
    if (level < 4) discs = discs | superellipsoid(x - xc, y - yc - pitch / 2, z, a - 1, disc_half_h, c - 1, 4.0);
  }
  img = torch::where(discs, torch::full_like(img, 0.30), img);
  img = torch::where(cortex, torch::full_like(img, 0.08), img);                    // cortical bone: dark

  // Marrow: lower BMD = more fat = brighter, with coarser, stronger trabecular texture.
  const double deficit = std::clamp(1.15 - p.bmd_g_cm2, -0.3, 0.6);
  const double marrow_mean = 0.55 + 0.55 * deficit + p.marrow_offset;
  const double grain_mm = 1.2 + 3.0 * std::max(0.0, deficit + 0.25);
  const double texture_amp = 0.04 + 0.10 * std::max(0.0, deficit + 0.25);
  torch::Tensor texture = smooth_noise(gen, d, h, w, spacing, grain_mm);
  img = torch::where(marrow, marrow_mean + texture_amp * texture, img);

  // Spinal canal (CSF, dark on T1) behind the bodies, with the cord a little brighter.
  torch::Tensor canal = (x > xc + a + 3.0) & (x < xc + a + 19.0) & (z.abs() < 9.0) & body;
  img = torch::where(canal, torch::full_like(img, 0.12), img);
  torch::Tensor cord = canal & ((x - (xc + a + 11.0)).abs() < 4.0) & (z.abs() < 5.0) & (y < -pitch);
  img = torch::where(cord, torch::full_like(img, 0.35), img);

  // Scanner: gain, smooth multiplicative bias field (coil sensitivity), Gaussian noise.
  torch::Tensor bias = 1.0 + 0.18 * smooth_noise(gen, d, h, w, spacing, 120.0);
  img = img * bias * p.gain;
  img = img + 0.02 * p.gain * torch::randn({d, h, w}, gen, opts);
  img = (img * 1000.0).clamp(0.0, 4000.0).round();

  // Sagittal geometry (right-handed, as DICOM stores it): columns toward posterior, rows toward
  // inferior, slices from the patient's left to right.
  Mat3 dir{{{0, 0, -1}, {1, 0, 0}, {0, -1, 0}}};
  Vec3 origin{(d - 1) / 2.0 * spacing[0], -(w - 1) / 2.0 * px, (h - 1) / 2.0 * px};
  VolumeInfo info;
  info.modality = "MR";
  info.series_description = "T1 SAG";
  info.field_strength_t = 1.5;
  info.slice_thickness_mm = 4.0;
  BmdPhantom out{Volume(img, {spacing[0], px, px}, origin, dir, info), marrow, muscle};
  return out;
}

std::vector<BmdCohortRow> synthesize_bmd_cohort(const BmdSynthOptions& o) {
  if (o.patients < 1) throw ValueError("--patients must be at least 1, got " + std::to_string(o.patients));
  if (!(o.scale > 0) || o.scale > 2) throw ValueError("--scale must be in (0, 2], got " + std::to_string(o.scale));
  train::require_empty_dir(o.out, o.force, "use --force to write into it");
  ensure_directory(o.out / "images");

  std::mt19937_64 rng(derive_seed(o.seed, 0));
  std::normal_distribution<double> bmd_dist(1.0, 0.15), gain_dist(0.0, 0.25), marrow_dist(0.0, 0.03);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<BmdPhantomParams> params(static_cast<std::size_t>(o.patients));
  for (int i = 0; i < o.patients; ++i) {
    BmdPhantomParams& p = params[static_cast<std::size_t>(i)];
    p.bmd_g_cm2 = std::clamp(bmd_dist(rng), 0.6, 1.4);
    const int64_t base = u(rng) < 0.85 ? 512 : 1024;
    p.size = std::max<int64_t>(32, static_cast<int64_t>(std::lround(base * o.scale)));
    p.slices = 15 + static_cast<int64_t>(u(rng) * 12);  // 15..26
    p.gain = std::exp(gain_dist(rng));
    p.marrow_offset = marrow_dist(rng);
    p.fov_mm = 280.0 + 40.0 * u(rng);
    p.seed = derive_seed(o.seed, 1000 + static_cast<uint64_t>(i));
  }
  std::vector<BmdCohortRow> rows(params.size());
  ProgressBar bar(o.show_progress ? o.patients : 0, "synthesizing", "patients");
  parallel_for(params.size(), o.threads, [&](std::size_t i) {
    char id[32];
    std::snprintf(id, sizeof id, "BMD%04zu", i + 1);
    BmdPhantom ph = render_bmd_phantom(params[i]);
    io::DicomWriteOptions w;
    w.modality = "MR";
    w.patient_id = id;
    w.series_description = "T1 SAG";
    w.study_id = "1";
    w.rescale_intercept = 0.0;
    w.rescale_slope = 1.0;
    w.overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
    const fs::path rel = fs::path("images") / id;
    io::write_dicom_series(ph.volume, o.out / rel, w);
    rows[i] = {id, rel.string(), params[i].bmd_g_cm2, ph.volume.rows(), ph.volume.cols(), ph.volume.depth()};
    bar.tick();
  });
  bar.finish();
  CsvTable manifest({"patient_id", "path", "bmd"}, {}, (o.out / "manifest.csv").string());
  for (const auto& r : rows) {
    char bmd[32];
    std::snprintf(bmd, sizeof bmd, "%.4f", r.bmd_g_cm2);
    manifest.add_row({r.patient_id, r.path, bmd});
  }
  write_file_atomic(o.out / "manifest.csv", manifest.to_string(), o.force ? Overwrite::kAllow : Overwrite::kNever);
  logger()->info("wrote {} synthetic patients to '{}'", rows.size(), o.out.string());
  return rows;
}

}  // namespace tomograd::tasks
