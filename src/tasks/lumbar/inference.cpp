// `lumbar infer`: the run's localizer places the 25 label points of every study, every trained
// fold's classifier is applied and their probabilities averaged into a competition submission.
#include <torch/torch.h>

#include <algorithm>

#include "../common.hpp"
#include "dicom_out.hpp"
#include "pipeline_impl.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/tasks/lumbar/inference.hpp"
#include "tomograd/tasks/lumbar/training.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/run_dir.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;
using namespace internal;

namespace {

/// A predicted point on the series its condition is labelled on.
struct PointRow {
  std::string series_id;  ///< empty: no series to place the point on
  int instance = 0;
  double x = 0, y = 0;
};

/// The classifier of every trained fold of @p run, on @p device, in evaluation mode.
std::vector<models::ModelPtr> fold_models(const fs::path& run, const LumbarConfig& config, const torch::Device& device) {
  std::vector<models::ModelPtr> models;
  for (int k = 0; k < config.data.folds; ++k) {
    const fs::path ckpt = best_checkpoint(run / ("fold_" + std::to_string(k)));
    if (!fs::is_regular_file(ckpt)) continue;
    auto m = make_model(config.model, false);
    train::load_checkpoint(ckpt, *m, nullptr, false);
    m->to(device);
    m->eval();
    models.push_back(m);
  }
  if (models.empty()) throw IoError(run.string() + ": no trained fold (fold_<K>/checkpoints/best.pt)");
  return models;
}

/// The study ids of @p ds in the order of its series descriptions file.
std::vector<std::string> study_ids(const LumbarDataset& ds, const fs::path& data, const std::string& split) {
  std::vector<std::string> ids;
  for (const auto& s : ds.series) {
    if (std::find(ids.begin(), ids.end(), s.study_id) == ids.end()) ids.push_back(s.study_id);
  }
  if (ids.empty()) throw ValueError(data.string() + ": no study in " + split + "_series_descriptions.csv");
  return ids;
}

void write_submission(const std::vector<std::string>& ids, const torch::Tensor& prob, const fs::path& submission,
                      bool force) {
  CsvTable sub({"row_id", "normal_mild", "moderate", "severe"}, {});
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (int c = 0; c < 5; ++c) {
      for (int l = 0; l < 5; ++l) {
        const auto p = prob[static_cast<int64_t>(i)][c * 5 + l];
        const double s = p.sum().item<double>();
        sub.add_row({ids[i] + "_" + condition_keys()[static_cast<std::size_t>(c)] + "_" +
                         level_keys()[static_cast<std::size_t>(l)],
                     detail::num(p[0].item<double>() / s), detail::num(p[1].item<double>() / s),
                     detail::num(p[2].item<double>() / s)});
      }
    }
  }
  detail::write_csv(submission, sub, force);
}

void write_points(const std::vector<std::string>& ids, const std::vector<std::array<PointRow, 25>>& placed,
                  const fs::path& coordinates, bool force) {
  CsvTable t({"study_id", "series_id", "instance_number", "condition", "level", "x", "y"}, {});
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (std::size_t k = 0; k < 25; ++k) {
      const PointRow& p = placed[i][k];
      if (p.series_id.empty()) continue;
      t.add_row({ids[i], p.series_id, std::to_string(p.instance), kConditionNames[k / 5], kLevelNames[k % 5],
                 detail::num(p.x), detail::num(p.y)});
    }
  }
  detail::write_csv(coordinates, t, force);
}

}  // namespace

std::size_t infer(const fs::path& run, const fs::path& data, const std::string& split, const fs::path& submission,
                  const fs::path& coordinates, bool force, const std::string& device_name, const fs::path& dicom_out) {
  if (!fs::is_regular_file(run / "config.yaml")) {
    throw IoError(run.string() + ": not a lumbar run directory (no config.yaml; runs are written by lumbar train)");
  }
  LumbarConfig config = load_config(run / "config.yaml");
  if (!device_name.empty()) config.train.device = device_name;
  const Localizer loc = load_localizer(run, config);
  const torch::Device device = loc.device;
  const std::vector<models::ModelPtr> models = fold_models(run, config, device);
  if (!force) {
    for (const auto& f : {submission, coordinates}) {
      if (!f.empty() && fs::exists(f)) throw IoError(f.string() + " exists; pass --force to replace it");
    }
  }
  if (!dicom_out.empty()) {
    check_dicom_out_input(config.input);
    train::require_empty_dir(dicom_out, force, "pass --force to write into it");
  }
  const LumbarDataset ds = read_dataset(data, split, true);
  const std::vector<std::string> ids = study_ids(ds, data, split);
  std::vector<Item> items(ids.size());
  std::vector<std::array<PointRow, 25>> placed(ids.size());
  std::vector<std::vector<GradedCrop>> crops(ids.size());
  for_each_study(ds, ids, config.data.threads, "inputs", [&](std::size_t i, const StudyImages& st) {
    const LevelPoints points = loc.points(st);
    items[i].study_id = ids[i];
    items[i].input = build_input(st, points, config.input, margin_px(config.input));
    items[i].meta = metadata_of(st, config.input);
    if (!dicom_out.empty()) crops[i] = graded_crops(st, points, config.input);
    for (std::size_t k = 0; k < 25; ++k) {
      // The series each condition is labelled on: canal on T2, foramina on T1, recesses on axial.
      const auto& s = k < 5 ? st.t2 : (k < 15 ? st.t1 : st.axial);
      if (!s || !points[k]) continue;
      const auto px = s->lps_to_pixel(*points[k]);
      placed[i][k] = {s->series_id, s->instance_numbers[static_cast<std::size_t>(px.slice)], px.x, px.y};
    }
  });
  std::vector<const Item*> ptrs;
  for (const auto& it : items) ptrs.push_back(&it);
  torch::Tensor prob = torch::zeros({static_cast<int64_t>(items.size()), 25, 3});
  for (const auto& m : models) prob += predict_items(*m, ptrs, config.input, device);
  prob = (prob / static_cast<double>(models.size())).to(torch::kFloat64).contiguous();
  write_submission(ids, prob, submission, force);
  if (!coordinates.empty()) write_points(ids, placed, coordinates, force);
  std::size_t images = 0;
  for (std::size_t i = 0; i < ids.size() && !dicom_out.empty(); ++i) {
    images += write_study_dicom(ds, ids[i], items[i].input, crops[i], prob[static_cast<int64_t>(i)], config.input,
                                margin_px(config.input), dicom_out, force);
  }
  if (!dicom_out.empty()) logger()->info("--dicom-out: {} Secondary Capture image(s) in {}", images, dicom_out.string());
  logger()->info("{} studies x 25 rows written to {} ({} fold model(s) averaged)", ids.size(), submission.string(),
                 models.size());
  return ids.size();
}

}  // namespace tomograd::tasks::lumbar
