// `lumbar infer`: the run's localizer places the 25 label points of every study, every trained
// fold's classifier is applied and their probabilities averaged into a competition submission.
#include <torch/torch.h>

#include <algorithm>
#include <array>

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
#include "tomograd/train/sharded.hpp"

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

void to_json(nlohmann::json& j, const PointRow& p) { j = {p.series_id, p.instance, p.x, p.y}; }

void from_json(const nlohmann::json& j, PointRow& p) {
  p.series_id = j.at(0).get<std::string>();
  p.instance = j.at(1).get<int>();
  p.x = j.at(2).get<double>();
  p.y = j.at(3).get<double>();
}

/// One study's results as the ranks of a data-parallel job send them to each other.
struct StudyResult {
  std::vector<double> prob;  ///< [25][3] fold-averaged probabilities, row-major
  std::array<PointRow, 25> placed;
};

void to_json(nlohmann::json& j, const StudyResult& r) { j = {r.prob, r.placed}; }

void from_json(const nlohmann::json& j, StudyResult& r) {
  r.prob = j.at(0).get<std::vector<double>>();
  r.placed = j.at(1).get<std::array<PointRow, 25>>();
}

/// What this process computed for its studies (all, or its rank's share): their inputs, crops
/// (--dicom-out), placed points and fold-averaged probabilities [n,25,3] float64.
struct ScoredStudies {
  std::vector<Item> items;
  std::vector<std::array<PointRow, 25>> placed;
  std::vector<std::vector<GradedCrop>> crops;
  torch::Tensor prob;
};

ScoredStudies score_studies(const LumbarDataset& ds, const std::vector<std::string>& ids, const Localizer& loc,
                            const std::vector<models::ModelPtr>& models, const LumbarConfig& config, bool with_crops) {
  ScoredStudies out;
  out.items.resize(ids.size());
  out.placed.resize(ids.size());
  out.crops.resize(ids.size());
  for_each_study(ds, ids, config.data.threads, "inputs", [&](std::size_t i, const StudyImages& st) {
    const LevelPoints points = loc.points(st);
    out.items[i].study_id = ids[i];
    out.items[i].input = build_input(st, points, config.input, margin_px(config.input));
    out.items[i].meta = metadata_of(st, config.input);
    if (with_crops) out.crops[i] = graded_crops(st, points, config.input);
    for (std::size_t k = 0; k < 25; ++k) {
      // The series each condition is labelled on: canal on T2, foramina on T1, recesses on axial.
      const auto& s = k < 5 ? st.t2 : (k < 15 ? st.t1 : st.axial);
      if (!s || !points[k]) continue;
      const auto px = s->lps_to_pixel(*points[k]);
      out.placed[i][k] = {s->series_id, s->instance_numbers[static_cast<std::size_t>(px.slice)], px.x, px.y};
    }
  });
  std::vector<const Item*> ptrs;
  for (const auto& it : out.items) ptrs.push_back(&it);
  torch::Tensor prob = torch::zeros({static_cast<int64_t>(out.items.size()), 25, 3});
  for (const auto& m : models) prob += predict_items(*m, ptrs, config.input, loc.device);
  out.prob = (prob / static_cast<double>(models.size())).to(torch::kFloat64).contiguous();
  return out;
}

/// The results of ScoredStudies as rows to gather.
std::vector<StudyResult> study_results(const ScoredStudies& s) {
  std::vector<StudyResult> out;
  for (std::size_t i = 0; i < s.items.size(); ++i) {
    const torch::Tensor row = s.prob[static_cast<int64_t>(i)].contiguous();
    out.push_back({std::vector<double>(row.data_ptr<double>(), row.data_ptr<double>() + row.numel()), s.placed[i]});
  }
  return out;
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
  // In a data-parallel job each rank reads and predicts a contiguous share of the studies; every
  // rank gets all results in the one-process order, and rank 0 writes the CSV files.
  ScoredStudies mine;
  std::size_t first = 0;
  const auto results = train::shard_and_gather<StudyResult>(ids.size(), device, [&](std::size_t b, std::size_t e) {
    first = b;
    const std::vector<std::string> share(ids.begin() + static_cast<std::ptrdiff_t>(b),
                                         ids.begin() + static_cast<std::ptrdiff_t>(e));
    mine = score_studies(ds, share, loc, models, config, !dicom_out.empty());
    return study_results(mine);
  });
  torch::Tensor prob = torch::empty({static_cast<int64_t>(results.size()), 25, 3}, torch::kFloat64);
  std::vector<std::array<PointRow, 25>> placed;
  for (std::size_t i = 0; i < results.size(); ++i) {
    prob[static_cast<int64_t>(i)].copy_(torch::tensor(results[i].prob, torch::kFloat64).reshape({25, 3}));
    placed.push_back(results[i].placed);
  }
  train::run_on_main_process([&] {
    write_submission(ids, prob, submission, force);
    if (!coordinates.empty()) write_points(ids, placed, coordinates, force);
  });
  // Each rank writes the DICOM results of the studies it predicted.
  std::size_t images = 0;
  for (std::size_t i = 0; i < mine.items.size() && !dicom_out.empty(); ++i) {
    images += write_study_dicom(ds, ids[first + i], mine.items[i].input, mine.crops[i], mine.prob[static_cast<int64_t>(i)],
                                config.input, margin_px(config.input), dicom_out, force);
  }
  if (!dicom_out.empty()) {
    logger()->info("--dicom-out: {} Secondary Capture image(s) in {}", images, dicom_out.string());
    train::wait_for_sharded_ranks();
  }
  logger()->info("{} studies x 25 rows written to {} ({} fold model(s) averaged)", ids.size(), submission.string(),
                 models.size());
  return ids.size();
}

}  // namespace tomograd::tasks::lumbar
