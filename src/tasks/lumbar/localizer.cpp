// The level localizer of a lumbar run: every sagittal T2 slice over the whole field of view ->
// the five spinal canal points and the slice's offset from the midline; the other 20 label
// points at their mean offset from their level's canal point. Trained once per run (fold 0 held
// out, its error in mm reported).
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "../common.hpp"
#include "pipeline_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/trainer.hpp"
#include "vec3.hpp"

namespace tomograd::tasks::lumbar::internal {
namespace fs = std::filesystem;

namespace {

using geom::add;
using geom::dot;
using geom::norm;
using geom::scaled;
using geom::sub;

/// The series the localizer reads: sagittal T2, else sagittal T1.
const SeriesImage* localizer_series(const StudyImages& st) {
  if (st.t2) return &*st.t2;
  if (st.t1) return &*st.t1;
  return nullptr;
}


LocalizerView localizer_view(const SeriesImage& s, int64_t size) {
  LocalizerView v;
  v.axes = display_axes(s, "sagittal");
  const int64_t rows = s.data.size(1), cols = s.data.size(2);
  v.extent = std::max(rows * s.row_spacing, cols * s.col_spacing);
  v.depth_extent = std::max(1.0, static_cast<double>(s.depth()) * s.slice_spacing);
  const double step = v.extent / static_cast<double>(size);
  std::vector<torch::Tensor> xs;
  for (int64_t k = 0; k < s.depth(); ++k) {
    const Vec3 c = s.pixel_to_lps(static_cast<int>(k), (cols - 1) / 2.0, (rows - 1) / 2.0);
    v.centres.push_back(c);
    xs.push_back(sample_box(s, c, v.axes, {3, size, size}, {s.slice_spacing, step, step}));
  }
  v.x = torch::stack(xs);
  return v;
}

/// Localizer targets of each slice: (row, col) of the five spinal canal points relative to the
/// slice centre (in field-of-view units), then the slice's offset from the midline (in depth
/// units). Missing levels are masked; studies without any spinal point give no samples.
void localizer_samples(const LocalizerView& v, const LevelPoints& pts, const std::string& study,
                       std::vector<train::Sample>& out) {
  const auto centre = spinal_centre(pts);
  if (!centre) return;
  const Vec3& mid = *centre;
  for (std::size_t k = 0; k < v.centres.size(); ++k) {
    torch::Tensor y = torch::zeros({11}, torch::kFloat32);
    torch::Tensor m = torch::zeros({11}, torch::kBool);
    for (int l = 0; l < 5; ++l) {
      const auto& p = pts[static_cast<std::size_t>(l)];
      if (!p) continue;
      const Vec3 d = sub(*p, v.centres[k]);
      y[2 * l] = dot(d, v.axes[1]) / v.extent;
      y[2 * l + 1] = dot(d, v.axes[2]) / v.extent;
      m[2 * l] = m[2 * l + 1] = true;
    }
    y[10] = dot(sub(v.centres[k], mid), v.axes[0]) / v.depth_extent;
    m[10] = true;
    train::Sample s;
    s.input = v.x[static_cast<int64_t>(k)];
    s.target = y;
    s.mask = m;
    s.patient_id = study;
    out.push_back(std::move(s));
  }
}

/// The five spinal canal points predicted from every slice of @p v.
std::array<Vec3, 5> localize(models::Model& model, const LocalizerView& v, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const torch::Tensor out = model.forward(v.x.to(device)).to(torch::kCPU).to(torch::kFloat64).contiguous();
  const int64_t d = out.size(0);
  std::vector<double> mids;
  for (int64_t k = 0; k < d; ++k) {
    mids.push_back(dot(v.centres[static_cast<std::size_t>(k)], v.axes[0]) - out[k][10].item<double>() * v.depth_extent);
  }
  std::vector<double> sorted = mids;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  const double mid = sorted[sorted.size() / 2];
  // In-plane positions: the mean over the (up to) three slices nearest the midline.
  std::vector<std::pair<double, int64_t>> near;
  for (int64_t k = 0; k < d; ++k) {
    near.emplace_back(std::abs(dot(v.centres[static_cast<std::size_t>(k)], v.axes[0]) - mid), k);
  }
  std::sort(near.begin(), near.end());
  near.resize(std::min<std::size_t>(near.size(), 3));
  std::array<Vec3, 5> pts;
  for (int l = 0; l < 5; ++l) {
    double u = 0, w = 0;
    for (const auto& [dist, k] : near) {
      u += out[k][2 * l].item<double>();
      w += out[k][2 * l + 1].item<double>();
    }
    u /= near.size();
    w /= near.size();
    const Vec3& c = v.centres[static_cast<std::size_t>(near[0].second)];
    Vec3 p = add(c, scaled(v.axes[0], mid - dot(c, v.axes[0])));
    p = add(p, add(scaled(v.axes[1], u * v.extent), scaled(v.axes[2], w * v.extent)));
    pts[static_cast<std::size_t>(l)] = p;
  }
  return pts;
}

/// Mean displacement of each label point from the spinal canal point of its level.
using Offsets = std::array<Vec3, 25>;

Offsets mean_offsets(const std::vector<LevelPoints>& all) {
  Offsets sum{};
  std::array<int, 25> n{};
  for (const auto& pts : all) {
    for (int c = 1; c < 5; ++c) {
      for (int l = 0; l < 5; ++l) {
        const auto& p = pts[static_cast<std::size_t>(c * 5 + l)];
        const auto& s = pts[static_cast<std::size_t>(l)];
        if (!p || !s) continue;
        sum[static_cast<std::size_t>(c * 5 + l)] = add(sum[static_cast<std::size_t>(c * 5 + l)], sub(*p, *s));
        ++n[static_cast<std::size_t>(c * 5 + l)];
      }
    }
  }
  for (std::size_t i = 0; i < 25; ++i) {
    if (n[i]) sum[i] = scaled(sum[i], 1.0 / n[i]);
  }
  return sum;
}

nlohmann::json offsets_json(const Offsets& o) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& v : o) j.push_back({v[0], v[1], v[2]});
  return j;
}

Offsets offsets_from_json(const nlohmann::json& j, const fs::path& file) {
  Offsets o{};
  if (!j.is_array() || j.size() != 25) throw IoError(file.string() + ": expected 25 offsets");
  for (std::size_t i = 0; i < 25; ++i) o[i] = {j[i][0].get<double>(), j[i][1].get<double>(), j[i][2].get<double>()};
  return o;
}
}  // namespace

LevelPoints Localizer::points(const StudyImages& st, const LevelPoints& labelled) const {
  const SeriesImage* s = localizer_series(st);
  if (!s) return labelled;
  return points(localizer_view(*s, size), labelled);
}

LevelPoints Localizer::points(const LocalizerView& view, const LevelPoints& labelled) const {
  LevelPoints out = labelled;
  const auto spinal = localize(*model, view, device);
  for (int c = 0; c < 5; ++c) {
    for (int l = 0; l < 5; ++l) {
      auto& p = out[static_cast<std::size_t>(c * 5 + l)];
      if (!p) p = add(spinal[static_cast<std::size_t>(l)], offsets[static_cast<std::size_t>(c * 5 + l)]);
    }
  }
  return out;
}

Localizer load_localizer(const fs::path& run, const LumbarConfig& config) {
  Localizer loc;
  loc.size = config.localizer.size;
  loc.model = make_model(config.localizer.model, false);
  const fs::path ckpt = best_checkpoint(run / "localizer");
  if (!fs::is_regular_file(ckpt)) throw IoError(ckpt.string() + ": the run has no trained localizer");
  train::load_checkpoint(ckpt, *loc.model, nullptr, false);
  loc.offsets = offsets_from_json(nlohmann::json::parse(read_file(run / "localizer" / "offsets.json")),
                                  run / "localizer" / "offsets.json");
  loc.device = train::parse_device(config.train.device);
  loc.model->to(loc.device);
  loc.model->eval();
  return loc;
}

namespace {

/// Fits the localizer model on @p tr (validation @p va, may be empty) into RUN/localizer/.
void fit_localizer(const LumbarConfig& config, std::vector<train::Sample> tr, std::vector<train::Sample> va,
                   const fs::path& dir) {
  seed_everything(config.train.seed);
  auto model = make_model(config.localizer.model, true);
  train::TensorDataset train_ds(std::move(tr)), val_ds(std::move(va));
  train::RandomSampler train_sampler(train_ds.size(), config.localizer.batch_size, true, config.train.seed);
  train::RandomSampler val_sampler(val_ds.size(), config.localizer.batch_size, false, config.train.seed);
  train::LossOptions lo;
  lo.name = "mse";
  train::OptimOptions oo;
  oo.name = "adamw";
  oo.lr = config.localizer.lr;
  train::TrainOptions to = config.train;
  to.epochs = config.localizer.epochs;
  to.monitor = val_ds.size() ? "val_loss" : "train_loss";
  to.monitor_mode = "min";
  to.extra_best.clear();
  to.early_stopping_patience = 0;
  train::SchedulerOptions so;
  so.name = "none";
  train::Trainer trainer(model, [model](const train::Batch& b) { return model->forward(b.input); },
                         train::make_loss(lo), oo, so, train::Curriculum(std::vector<train::CurriculumStage>{}), to, dir,
                         config.yaml);
  trainer.fit(train_ds, train_sampler, val_ds.size() ? &val_ds : nullptr, val_ds.size() ? &val_sampler : nullptr);
}

/// Writes RUN/localizer/error.csv and error.json: the distance in mm between the labelled and
/// the predicted points of the held-out (fold 0) studies, per label point.
void write_localizer_error(const fs::path& out, const LumbarConfig& config, const std::vector<int>& fold,
                           const std::vector<LevelPoints>& labelled,
                           const std::vector<std::optional<LocalizerView>>& held_views) {
  const fs::path dir = out / "localizer";
  const Localizer loc = load_localizer(out, config);
  std::vector<std::array<double, 25>> errors;
  std::size_t held = 0;
  for (std::size_t i = 0; i < fold.size(); ++i) {
    if (fold[i] != 0) continue;
    ++held;
    if (!held_views[i]) continue;  // no sagittal series: nothing to place
    const LevelPoints pred = loc.points(*held_views[i]);
    auto& row = errors.emplace_back();
    for (std::size_t k = 0; k < 25; ++k) {
      row[k] = labelled[i][k] && pred[k] ? norm(sub(*labelled[i][k], *pred[k])) : std::nan("");
    }
  }
  CsvTable t({"condition", "level", "n", "mean_mm", "median_mm", "max_mm"}, {});
  nlohmann::json j;
  j["studies"] = held;
  j["split"] = "fold 0 (held out from the localizer's training)";
  for (std::size_t k = 0; k < 25; ++k) {
    std::vector<double> e;
    for (const auto& row : errors) {
      if (std::isfinite(row[k])) e.push_back(row[k]);
    }
    std::sort(e.begin(), e.end());
    const std::string c = condition_keys()[k / 5], l = level_keys()[k % 5];
    double mean = 0;
    for (double v : e) mean += v;
    mean = e.empty() ? std::nan("") : mean / e.size();
    const double median = e.empty() ? std::nan("") : e[e.size() / 2];
    t.add_row({c, l, std::to_string(e.size()), detail::num(mean), detail::num(median),
               detail::num(e.empty() ? std::nan("") : e.back())});
    j["mean_mm"][c][l] = std::isfinite(mean) ? nlohmann::json(mean) : nlohmann::json(nullptr);
  }
  detail::write_csv(dir / "error.csv", t, true);
  write_file_atomic(dir / "error.json", j.dump(2) + "\n", Overwrite::kAllow);
  logger()->info("localizer error on {} held-out studies written to {}", held, (dir / "error.csv").string());
}

}  // namespace

void train_localizer(const LumbarConfig& config, const LumbarDataset& ds, const std::vector<std::string>& ids,
                     const std::vector<int>& fold, const fs::path& out) {
  const fs::path dir = out / "localizer";
  std::vector<std::vector<train::Sample>> per_study(ids.size());
  std::vector<LevelPoints> labelled(ids.size());
  // The held-out (fold 0) studies' views are kept for the error measurement after training.
  std::vector<std::optional<LocalizerView>> held_views(ids.size());
  for_each_study(ds, ids, config.data.threads, "localizer inputs", [&](std::size_t i, const StudyImages& st) {
    labelled[i] = labelled_points(ds, st);
    if (const SeriesImage* s = localizer_series(st)) {
      LocalizerView view = localizer_view(*s, config.localizer.size);
      localizer_samples(view, labelled[i], ids[i], per_study[i]);
      if (fold[i] == 0) held_views[i] = std::move(view);
    }
  });
  std::vector<train::Sample> tr, va;
  std::vector<LevelPoints> train_points;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto& dst = fold[i] == 0 ? va : tr;
    for (auto& s : per_study[i]) dst.push_back(std::move(s));
    if (fold[i] != 0) train_points.push_back(labelled[i]);
  }
  if (tr.empty()) throw ValueError(ds.dir.string() + ": no training study has a labelled spinal canal point");
  logger()->info("localizer: {} training slices, {} validation slices", tr.size(), va.size());
  fit_localizer(config, std::move(tr), std::move(va), dir);
  // In a data-parallel job rank 0 alone writes the localizer's files; the others wait for them.
  train::run_on_main_process([&] {
    write_file_atomic(dir / "offsets.json", offsets_json(mean_offsets(train_points)).dump(2) + "\n", Overwrite::kAllow);
    write_localizer_error(out, config, fold, labelled, held_views);
  });
}

}  // namespace tomograd::tasks::lumbar::internal
