// Synthetic lumbar cohort in the RSNA 2024 layout: per-study parameters, the DICOM series of each
// study and the CSV files (generative model: docs/synthetic_lumbar.md; one phantom: synth.cpp).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

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

void check_options(const LumbarSynthOptions& o) {
  if (o.studies < 1) throw ValueError("--studies must be at least 1, got " + std::to_string(o.studies));
  if (!(o.scale > 0) || o.scale > 2) throw ValueError("--scale must be in (0, 2], got " + std::to_string(o.scale));
  if (!(o.missing_fraction >= 0) || o.missing_fraction > 1) {
    throw ValueError("missing fraction must be in [0, 1], got " + std::to_string(o.missing_fraction));
  }
}

/// Draws study @p i from its own stream, so that a study depends only on (seed, index); test
/// study j is drawn as study (studies + j). @p used_ids keeps study and series ids unique.
void draw_study(const LumbarSynthOptions& o, std::size_t i, int64_t size, std::set<int64_t>& used_ids,
                LumbarStudyRow& r, LumbarPhantomParams& p) {
  // Degeneration is commoner at the lower levels (L4/L5, L5/S1).
  constexpr double kLevelBias[lumbar::kLevels] = {-0.35, -0.2, 0.0, 0.25, 0.3};
  std::mt19937_64 rng(derive_seed(o.seed, 1000 + i));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> gauss(0.0, 1.0);
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

/// The three series of one study as <images>/<study>/<series>/<instance>.dcm.
void write_study(const fs::path& images, const LumbarStudyRow& r, const LumbarPhantom& ph) {
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
    const fs::path dir = images / study / std::to_string(r.series_id[s]);
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
}

/// train.csv, the series descriptions and the label coordinates (and the test set's files).
void write_cohort_csvs(const LumbarSynthOptions& o, const std::vector<LumbarStudyRow>& rows,
                       const std::vector<std::vector<LumbarLabelPoint>>& points) {
  const Overwrite ow = o.force ? Overwrite::kAllow : Overwrite::kNever;
  CsvTable descriptions({"study_id", "series_id", "series_description"}, {});
  std::vector<std::string> header{"study_id"};
  for (int c = 0; c < lumbar::kConditions; ++c) {
    for (int l = 0; l < lumbar::kLevels; ++l) header.push_back(std::string(lumbar::kConditionKeys[c]) + "_" + lumbar::kLevelKeys[l]);
  }
  CsvTable train(header, {});
  CsvTable test_descriptions = descriptions, test_solution = train;
  CsvTable coords({"study_id", "series_id", "instance_number", "condition", "level", "x", "y"}, {});
  for (std::size_t i = 0; i < rows.size(); ++i) {
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
}

}  // namespace

std::vector<LumbarStudyRow> synthesize_lumbar_cohort(const LumbarSynthOptions& o) {
  check_options(o);
  train::require_empty_dir(o.out, o.force, "use --force to write into it");
  if (o.test_studies < 0) throw ValueError("--test-studies must be >= 0, got " + std::to_string(o.test_studies));
  ensure_directory(o.out / "train_images");
  if (o.test_studies > 0) ensure_directory(o.out / "test_images");

  const std::size_t n = static_cast<std::size_t>(o.studies + o.test_studies);
  std::vector<LumbarPhantomParams> params(n);
  std::vector<LumbarStudyRow> rows(n);
  std::set<int64_t> used_ids;
  const int64_t size = std::max<int64_t>(32, std::lround(512 * o.scale));
  for (std::size_t i = 0; i < n; ++i) draw_study(o, i, size, used_ids, rows[i], params[i]);

  std::vector<std::vector<LumbarLabelPoint>> points(n);
  ProgressBar bar(o.show_progress ? o.studies : 0, "synthesizing", "studies");
  parallel_for(n, o.threads, [&](std::size_t i) {
    const LumbarPhantom ph = render_lumbar_phantom(params[i]);
    const bool train_study = i < static_cast<std::size_t>(o.studies);
    write_study(o.out / (train_study ? "train_images" : "test_images"), rows[i], ph);
    points[i] = ph.points;
    bar.tick();
  });
  bar.finish();
  write_cohort_csvs(o, rows, points);
  logger()->info("wrote {} synthetic lumbar studies to '{}'", rows.size(), o.out.string());
  return rows;
}

}  // namespace tomograd::tasks
