// Lumbar training and inference: the level localizer, 2.5D / 3D inputs around the levels, the
// 25 x 3 classifiers trained per fold with the weighted, masked cross-entropy, out-of-fold
// predictions, and the ensemble of folds that writes a submission.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "../common.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/tasks/lumbar_eval.hpp"
#include "tomograd/tasks/lumbar_synth.hpp"
#include "tomograd/tasks/lumbar_train.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/trainer.hpp"
#include "vec3.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;

namespace {

using geom::add;
using geom::dot;
using geom::norm;
using geom::scaled;
using geom::sub;

/// checkpoints/best.pt of a training folder, or last.pt when the monitored metric was never
/// defined (e.g. a validation fold without labels).
fs::path best_checkpoint(const fs::path& dir) {
  const fs::path best = detail::checkpoint_path(dir, "best");
  return fs::is_regular_file(best) ? best : detail::checkpoint_path(dir, "last");
}

models::ModelPtr make_model(const models::ModelSpec& spec, bool pretrained) {
  models::register_builtin_models();
  models::ModelSpec s = spec;
  if (!pretrained) s.pretrained.path.clear();
  return models::create_model(s);
}

/// The series the localizer reads: sagittal T2, else sagittal T1.
const SeriesImage* localizer_series(const StudyImages& st) {
  if (st.t2) return &*st.t2;
  if (st.t1) return &*st.t1;
  return nullptr;
}

/// The mean of the labelled (or predicted) spinal canal points, the midline of the lumbar levels;
/// empty when there is none.
std::optional<Vec3> spinal_centre(const LevelPoints& pts) {
  Vec3 sum{0, 0, 0};
  int n = 0;
  for (int l = 0; l < 5; ++l) {
    if (pts[static_cast<std::size_t>(l)]) {
      sum = add(sum, *pts[static_cast<std::size_t>(l)]);
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return scaled(sum, 1.0 / n);
}

// ---- Localizer --------------------------------------------------------------------------------

/// Every slice of a sagittal series as a 2.5D stack over the whole field of view, in display axes.
struct LocalizerView {
  torch::Tensor x;            ///< [D,3,S,S]
  std::vector<Vec3> centres;  ///< centre of each slice
  std::array<Vec3, 3> axes;
  double extent = 1, depth_extent = 1;
};

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

/// The localizer of a run: model, label offsets and device.
struct Localizer {
  models::ModelPtr model;
  Offsets offsets{};
  int64_t size = 64;
  torch::Device device{torch::kCPU};

  /// All 25 points: the labelled ones where given, the rest predicted (spinal canal points from
  /// the model, the others at the mean offset from their level's spinal point).
  LevelPoints points(const StudyImages& st, const LevelPoints& labelled = {}) const {
    const SeriesImage* s = localizer_series(st);
    if (!s) return labelled;
    return points(localizer_view(*s, size), labelled);
  }

  /// The same from a study's localizer view (already sampled).
  LevelPoints points(const LocalizerView& view, const LevelPoints& labelled = {}) const {
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
};

// ---- Classifier inputs --------------------------------------------------------------------------

/// @p p moved along the normal onto the nearest slice of @p s (so a 2.5D stack is centred on a slice).
Vec3 snap(const SeriesImage& s, const Vec3& p) {
  const auto px = s.lps_to_pixel(p);
  const Vec3& o = s.positions[static_cast<std::size_t>(px.slice)];
  return sub(p, scaled(s.normal, dot(sub(p, o), s.normal)));
}

/// The classifier input of a study with crops @p margin pixels wider on each side than the model
/// sees (room for the training shift): [C, P, P] (2.5D) or [2, D, P1, P2] (volume).
torch::Tensor build_input(const StudyImages& st, const LevelPoints& pts, const InputOptions& in, int64_t margin) {
  const int64_t window = 2 * in.context + 1;
  if (in.kind == "volume") {
    const auto& sh = in.volume_shape;
    const auto& sp = in.volume_spacing_mm;
    const auto centre = spinal_centre(pts);
    std::vector<torch::Tensor> channels;
    for (const auto* s : {&st.t1, &st.t2}) {
      if (!*s || !centre) {
        channels.push_back(torch::zeros({sh[0], sh[1] + 2 * margin, sh[2] + 2 * margin}));
        continue;
      }
      channels.push_back(sample_box(**s, *centre, display_axes(**s, "sagittal"),
                                    {sh[0], sh[1] + 2 * margin, sh[2] + 2 * margin}, {sp[0], sp[1], sp[2]}));
    }
    return torch::stack(channels);
  }
  const int64_t side = in.crop_px + 2 * margin;
  const double step = in.crop_mm / static_cast<double>(in.crop_px);
  auto crop = [&](const std::optional<SeriesImage>& s, const std::optional<Vec3>& p, const std::string& plane) {
    if (!s || !p) return torch::zeros({window, side, side});
    return sample_box(*s, snap(*s, *p), display_axes(*s, plane), {window, side, side}, {s->slice_spacing, step, step});
  };
  // Level-major: every level's crops are contiguous channels (shared-level models split them).
  std::vector<torch::Tensor> blocks;
  for (int l = 0; l < 5; ++l) {
    if (in.kind == "sagittal" || in.kind == "combined") {
      blocks.push_back(crop(st.t2, pts[static_cast<std::size_t>(l)], "sagittal"));
      blocks.push_back(crop(st.t1, pts[static_cast<std::size_t>(5 + l)], "sagittal"));
      blocks.push_back(crop(st.t1, pts[static_cast<std::size_t>(10 + l)], "sagittal"));
    }
    if (in.kind == "axial" || in.kind == "combined") {
      // The level centre on the axial images: between the two lateral recesses.
      const auto& a = pts[static_cast<std::size_t>(15 + l)];
      const auto& b = pts[static_cast<std::size_t>(20 + l)];
      std::optional<Vec3> c = a && b ? std::optional<Vec3>(scaled(add(*a, *b), 0.5)) : pts[static_cast<std::size_t>(l)];
      blocks.push_back(crop(st.axial, c, "axial"));
    }
  }
  return torch::cat(blocks, 0);
}

torch::Tensor metadata_of(const StudyImages& st, const InputOptions& in) {
  if (in.metadata_dim() != 4) return {};  // none, or the level one-hot added by run_model()
  auto v = [](const std::optional<SeriesImage>& s, bool thickness) {
    if (!s) return 0.0f;
    return static_cast<float>((thickness ? std::max(s->slice_thickness, s->slice_spacing) : s->row_spacing) / 10.0);
  };
  return torch::tensor({v(st.t1, true), v(st.t1, false), v(st.t2, true), v(st.t2, false)});
}

int64_t margin_px(const InputOptions& in) {
  const double step = in.kind == "volume" ? std::min(in.volume_spacing_mm[1], in.volume_spacing_mm[2])
                                          : in.crop_mm / static_cast<double>(in.crop_px);
  return static_cast<int64_t>(std::ceil(in.jitter_mm / step));
}

/// A PNG of one study's classifier input (the crop the model sees, without the margin): one row
/// per 2.5D crop (its 2 context + 1 slices side by side), or per volume channel (every depth).
std::string input_preview_png(const torch::Tensor& input, const InputOptions& in, int64_t margin) {
  torch::Tensor x = input.narrow(-2, margin, input.size(-2) - 2 * margin).narrow(-1, margin, input.size(-1) - 2 * margin);
  const int64_t cols = in.kind == "volume" ? x.size(1) : 2 * in.context + 1;
  x = x.reshape({-1, x.size(-2), x.size(-1)});
  const int64_t rows = x.size(0) / cols, h = x.size(1), w = x.size(2);
  // [rows, cols, h, w] -> [rows * h, cols * w] with a 1-pixel grid line.
  torch::Tensor tiles = torch::ones({rows, cols, h + 1, w + 1}) * 0.5f;
  tiles.narrow(2, 0, h).narrow(3, 0, w).copy_(x.reshape({rows, cols, h, w}));
  torch::Tensor img = tiles.permute({0, 2, 1, 3}).reshape({rows * (h + 1), cols * (w + 1)});
  img = (img.clamp(0, 1) * 255).to(torch::kUInt8).contiguous();
  cv::Mat m(static_cast<int>(img.size(0)), static_cast<int>(img.size(1)), CV_8UC1, img.data_ptr<uint8_t>());
  std::vector<uchar> png;
  cv::imencode(".png", m, png);
  return std::string(png.begin(), png.end());
}

/// One study's classifier input (with margin) and labels.
struct Item {
  std::string study_id;
  torch::Tensor input;     ///< crops at the localizer's points (what inference sees)
  torch::Tensor labelled;  ///< training: crops at the labelled points (the localizer's where unlabelled)
  torch::Tensor meta;
  std::array<int, 25> grades{};
};

/// Classifier samples: a random shift inside the margin, gain and noise while training; the
/// centre otherwise.
class ItemDataset : public train::Dataset {
 public:
  ItemDataset(std::vector<const Item*> items, InputOptions in, bool augment)
      : items_(std::move(items)), in_(std::move(in)), augment_(augment), margin_(margin_px(in_)) {}
  std::size_t size() const override { return items_.size(); }
  std::string patient_of(std::size_t i) const override { return items_.at(i)->study_id; }
  train::Sample get(std::size_t i, uint64_t seed) const override {
    const Item& it = *items_.at(i);
    std::mt19937_64 rng(seed);
    // Training mixes crops at the labelled points with crops at the localizer's points, so the
    // model also learns from the placement errors it meets at inference; evaluation uses the
    // localizer's points only, as inference does.
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const bool labelled = augment_ && it.labelled.defined() && u(rng) >= in_.predicted_points;
    const torch::Tensor& source = labelled ? it.labelled : it.input;
    // uniform_below, not std::uniform_int_distribution (whose draws differ between standard libraries).
    auto shift = [&] { return static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(2 * margin_ + 1))); };
    const int64_t dy = augment_ ? shift() : margin_, dx = augment_ ? shift() : margin_;
    const int64_t h = source.size(-2) - 2 * margin_, w = source.size(-1) - 2 * margin_;
    torch::Tensor x = source.narrow(-2, dy, h).narrow(-1, dx, w).clone();
    if (augment_ && in_.rotate_deg > 0) {
      // A small in-plane rotation about the crop centre (every channel and depth alike).
      std::uniform_real_distribution<double> angle(-in_.rotate_deg, in_.rotate_deg);
      const double a = angle(rng) * M_PI / 180.0;
      const auto shape = x.sizes().vec();
      const torch::Tensor flat = x.reshape({1, -1, h, w});
      const torch::Tensor theta = torch::tensor({{std::cos(a), -std::sin(a), 0.0}, {std::sin(a), std::cos(a), 0.0}},
                                                torch::kFloat32)
                                      .unsqueeze(0);
      namespace F = torch::nn::functional;
      const torch::Tensor grid =
          F::affine_grid(theta, {1, flat.size(1), h, w}, /*align_corners=*/false);
      x = F::grid_sample(flat, grid, F::GridSampleFuncOptions().padding_mode(torch::kZeros).align_corners(false))
              .reshape(shape);
    }
    if (augment_) {
      std::normal_distribution<double> z(0.0, 1.0);
      x = x * static_cast<float>(std::exp(in_.gain * z(rng)));
      if (in_.noise > 0) {
        torch::Generator g = at::detail::createCPUGenerator(seed);
        x = x + torch::randn(x.sizes(), g) * static_cast<float>(in_.noise);
      }
    }
    train::Sample s;
    s.input = x;
    s.target = torch::zeros({25}, torch::kLong);
    s.mask = torch::zeros({25}, torch::kBool);
    for (int k = 0; k < 25; ++k) {
      if (it.grades[static_cast<std::size_t>(k)] >= 0) {
        s.target[k] = it.grades[static_cast<std::size_t>(k)];
        s.mask[k] = true;
      }
    }
    if (it.meta.defined()) s.meta = it.meta;
    s.patient_id = it.study_id;
    return s;
  }

 private:
  std::vector<const Item*> items_;
  InputOptions in_;
  bool augment_;
  int64_t margin_;
};

}  // namespace

torch::Tensor run_model(models::Model& model, const torch::Tensor& x, const torch::Tensor& meta, const InputOptions& in) {
  if (in.model_tasks() == 25) return model.forward(x, meta).reshape({-1, 25, 3});
  const int64_t n = x.size(0);
  const torch::Tensor levels = torch::eye(5, x.options()).repeat({n, 1});
  const torch::Tensor out = model.forward(x.reshape({n * 5, x.size(1) / 5, x.size(2), x.size(3)}), levels);
  return out.reshape({n, 5, 5, 3}).permute({0, 2, 1, 3}).reshape({n, 25, 3});  // [level][condition] -> [condition][level]
}

namespace {

/// Competition rows of labelled cells from [N,25,3] probabilities.
std::vector<eval::LumbarRow> competition_rows(const torch::Tensor& prob, const std::vector<std::string>& ids,
                                              const torch::Tensor& targets, const torch::Tensor& masks) {
  std::vector<eval::LumbarRow> rows;
  const torch::Tensor p = prob.to(torch::kFloat64).contiguous();
  for (int64_t n = 0; n < p.size(0); ++n) {
    for (int64_t k = 0; k < 25; ++k) {
      if (!masks[n][k].item<bool>()) continue;
      eval::LumbarRow r;
      r.study_id = ids[static_cast<std::size_t>(n)];
      r.condition = k < 5 ? eval::LumbarCondition::kSpinal
                          : (k < 15 ? eval::LumbarCondition::kForaminal : eval::LumbarCondition::kSubarticular);
      r.severity = static_cast<int>(targets[n][k].item<int64_t>());
      for (int64_t c = 0; c < 3; ++c) r.probabilities[static_cast<std::size_t>(c)] = p[n][k][c].item<double>();
      rows.push_back(r);
    }
  }
  return rows;
}

std::map<std::string, double> score_metrics(const eval::LumbarScore& s) {
  auto v = [](const eval::MetricValue& m) { return m.defined() ? m.value() : std::nan(""); };
  return {{"val_score", v(s.score)},
          {"val_spinal", v(s.spinal)},
          {"val_foraminal", v(s.foraminal)},
          {"val_subarticular", v(s.subarticular)},
          {"val_any_severe_spinal", v(s.any_severe_spinal)}};
}

}  // namespace

torch::Tensor adjacent_level_consistency(const torch::Tensor& outputs, const train::Batch&) {
  const torch::Tensor p = torch::softmax(outputs.reshape({-1, 5, 5, 3}), -1);
  const torch::Tensor e = p.select(-1, 1) + 2 * p.select(-1, 2);  // [N, condition, level]
  return (e.slice(2, 1, 5) - e.slice(2, 0, 4)).pow(2).mean();
}

namespace {

/// Loads the studies of @p ids in parallel (progress bar), calling @p fn(index, study).
void for_each_study(const LumbarDataset& ds, const std::vector<std::string>& ids, int threads, const std::string& what,
                    const std::function<void(std::size_t, const StudyImages&)>& fn) {
  ProgressBar bar(static_cast<int64_t>(ids.size()), what, "studies");
  std::mutex m;
  std::vector<std::string> problems;
  parallel_for(ids.size(), threads > 0 ? threads : hardware_threads(), [&](std::size_t i) {
    try {
      const StudyImages st = load_study(ds, ids[i]);
      fn(i, st);
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(m);
      problems.push_back(e.what());
    }
    std::lock_guard<std::mutex> lock(m);
    bar.tick();
  });
  bar.finish();
  detail::throw_if_problems(ds.dir.string(), problems, "nothing was written");
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

/// Trains the localizer on the studies outside fold 0 and reports its error on fold 0.
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
  write_file_atomic(dir / "offsets.json", offsets_json(mean_offsets(train_points)).dump(2) + "\n", Overwrite::kAllow);

  // Error in mm on the held-out studies (fold 0), per label point.
  const Localizer loc = load_localizer(out, config);
  std::vector<std::array<double, 25>> errors;
  std::size_t held = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
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

std::map<std::string, int> read_folds(const fs::path& file) {
  const CsvTable t = CsvTable::read(file);
  std::map<std::string, int> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) out[t.at(r, t.column_index("study_id"))] = std::stoi(t.at(r, t.column_index("fold")));
  return out;
}

torch::Tensor predict_items(models::Model& model, const std::vector<const Item*>& items, const InputOptions& in,
                            const torch::Device& device) {
  torch::NoGradGuard no_grad;
  ItemDataset ds(items, in, false);
  std::vector<torch::Tensor> out;
  for (std::size_t start = 0; start < items.size(); start += 16) {
    std::vector<torch::Tensor> xs, ms;
    for (std::size_t i = start; i < std::min(items.size(), start + 16); ++i) {
      const auto s = ds.get(i, 0);
      xs.push_back(s.input);
      if (s.meta.defined()) ms.push_back(s.meta);
    }
    const torch::Tensor meta = ms.empty() ? torch::Tensor() : torch::stack(ms).to(device);
    out.push_back(torch::softmax(run_model(model, torch::stack(xs).to(device), meta, in), -1).to(torch::kCPU));
  }
  return out.empty() ? torch::zeros({0, 25, 3}) : torch::cat(out);
}

}  // namespace

double train(const LumbarConfig& config, const fs::path& out, const std::vector<int>& only, bool force,
             const fs::path& localizer_from) {
  if (out.empty()) throw ValueError("train: no run directory given (--out)");
  if (config.data.dir.empty()) throw ValueError("train: no dataset folder (--data or data.dir)");
  const LumbarDataset ds = read_dataset(config.data.dir, "train", true);
  std::vector<std::string> ids;
  for (const auto& l : ds.labels) ids.push_back(l.study_id);
  // A run may be filled fold by fold, always with the same configuration.
  const bool existing = fs::is_regular_file(out / "config.yaml");
  if (existing) {
    if (read_file(out / "config.yaml") != config.yaml && !force) {
      throw ValueError(out.string() + " was trained with another configuration (see its config.yaml); use another "
                       "--out, or --force to train into it anyway");
    }
  } else {
    detail::require_empty_dir(out, force, "pass --force to train into it");
  }
  for (int k : only) {
    if (k < 0 || k >= config.data.folds) {
      throw ValueError("--fold " + std::to_string(k) + " is outside 0.." + std::to_string(config.data.folds - 1));
    }
  }
  fs::create_directories(out);
  write_file_atomic(out / "config.yaml", config.yaml, Overwrite::kAllow);
  if (!localizer_from.empty()) {
    for (const char* f : {"folds.csv", "localizer/offsets.json"}) {
      if (!fs::is_regular_file(localizer_from / f)) {
        throw IoError(localizer_from.string() + ": no " + f + " (--localizer takes a run trained by lumbar train)");
      }
    }
    if (fs::exists(out / "localizer")) fs::remove_all(out / "localizer");
    fs::copy(localizer_from / "localizer", out / "localizer", fs::copy_options::recursive);
    fs::copy_file(localizer_from / "folds.csv", out / "folds.csv", fs::copy_options::overwrite_existing);
  }
  std::vector<int> fold;
  if (fs::is_regular_file(out / "folds.csv")) {
    const auto known = read_folds(out / "folds.csv");
    for (const auto& id : ids) {
      const auto it = known.find(id);
      if (it == known.end()) throw ValueError(out.string() + "/folds.csv has no fold for study " + id + " of the data");
      if (it->second < 0 || it->second >= config.data.folds) {
        throw ValueError(out.string() + "/folds.csv puts study " + id + " in fold " + std::to_string(it->second) +
                         " but data.folds is " + std::to_string(config.data.folds));
      }
      fold.push_back(it->second);
    }
  } else {
    fold = assign_folds(ds.labels, config.data.folds, config.data.fold_seed);
    CsvTable t({"study_id", "fold"}, {});
    for (std::size_t i = 0; i < ids.size(); ++i) t.add_row({ids[i], std::to_string(fold[i])});
    detail::write_csv(out / "folds.csv", t, true);
  }
  if (!fs::is_regular_file(best_checkpoint(out / "localizer")) || (force && localizer_from.empty())) {
    if (fs::exists(out / "localizer")) fs::remove_all(out / "localizer");
    train_localizer(config, ds, ids, fold, out);
  }
  const Localizer loc = load_localizer(out, config);

  // Classifier inputs of every study, cached in RUN/inputs/ for the run's later folds: valid while
  // the configuration (enforced above), the localizer and the dataset's CSV files stay the same.
  const fs::path cache = out / "inputs";
  auto contents = [](const fs::path& f) { return fs::is_regular_file(f) ? read_file(f) : std::string(); };
  const std::string fingerprint = train::fnv1a_hex(
      contents(ds.dir / "train_series_descriptions.csv") + contents(ds.dir / "train_label_coordinates.csv") +
      contents(out / "localizer" / "offsets.json") + contents(best_checkpoint(out / "localizer")) + config.yaml);
  if (fs::exists(cache) && (!fs::is_regular_file(cache / "fingerprint") || read_file(cache / "fingerprint") != fingerprint)) {
    fs::remove_all(cache);
  }
  fs::create_directories(cache);
  write_file_atomic(cache / "fingerprint", fingerprint, Overwrite::kAllow);
  std::vector<Item> items(ids.size());
  std::vector<std::string> missing;
  std::vector<std::size_t> missing_index;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    items[i].study_id = ids[i];
    items[i].grades = ds.labels[i].grades;
    const fs::path file = cache / (ids[i] + ".pt");
    if (!fs::is_regular_file(file)) {
      missing.push_back(ids[i]);
      missing_index.push_back(i);
      continue;
    }
    std::vector<torch::Tensor> t;
    torch::load(t, file.string());
    items[i].labelled = t.at(0);
    items[i].input = t.at(1);
    if (t.at(2).numel() > 0) items[i].meta = t.at(2);
  }
  if (missing.size() < ids.size()) {
    logger()->info("{} of {} studies' inputs read from {}", ids.size() - missing.size(), ids.size(), cache.string());
  }
  const int64_t margin = margin_px(config.input);
  for_each_study(ds, missing, config.data.threads, "classifier inputs", [&](std::size_t j, const StudyImages& st) {
    Item& it = items[missing_index[j]];
    const LevelPoints predicted = loc.points(st);
    LevelPoints pts = labelled_points(ds, st);
    for (std::size_t k = 0; k < 25; ++k) {
      if (!pts[k]) pts[k] = predicted[k];
    }
    it.labelled = build_input(st, pts, config.input, margin);
    it.input = build_input(st, predicted, config.input, margin);
    it.meta = metadata_of(st, config.input);
    // Written to a temporary name and renamed, so an interrupted run never leaves half a file.
    const fs::path file = cache / (it.study_id + ".pt");
    const fs::path tmp = cache / (it.study_id + ".pt.tmp");
    torch::save(std::vector<torch::Tensor>{it.labelled, it.input, it.meta.defined() ? it.meta : torch::zeros({0})},
                tmp.string());
    fs::rename(tmp, file);
  });

  write_file_atomic(out / "input_preview.png", input_preview_png(items.at(0).labelled, config.input, margin),
                    Overwrite::kAllow);

  std::vector<int> todo = only;
  if (todo.empty()) {
    for (int k = 0; k < config.data.folds; ++k) todo.push_back(k);
  }
  double total = 0;
  for (int k : todo) {
    const fs::path dir = out / ("fold_" + std::to_string(k));
    if (fs::exists(dir / "checkpoints") && !force) {
      throw ValueError(dir.string() + " is already trained; pass --force to train it again");
    }
    if (fs::exists(dir)) fs::remove_all(dir);
    std::vector<const Item*> tr, va;
    for (std::size_t i = 0; i < items.size(); ++i) (fold[i] == k ? va : tr).push_back(&items[i]);
    logger()->info("fold {}: {} training studies, {} validation studies", k, tr.size(), va.size());
    ItemDataset train_ds(tr, config.input, true), val_ds(va, config.input, false);
    train::RandomSampler train_sampler(train_ds.size(), config.data.batch_size, true, config.train.seed + k);
    train::RandomSampler val_sampler(val_ds.size(), config.data.batch_size, false, config.train.seed);
    seed_everything(config.train.seed + static_cast<uint64_t>(k));
    auto model = make_model(config.model, true);
    train::LossFn loss = train::make_loss(config.loss);
    if (config.consistency > 0) loss = train::with_regularizer(loss, adjacent_level_consistency, config.consistency);
    train::MetricsFn metrics = [](const train::EvalOutputs& o) {
      const torch::Tensor p = torch::softmax(o.outputs.reshape({-1, 25, 3}), -1);
      const auto rows = competition_rows(p, o.patient_ids, o.targets.reshape({-1, 25}), o.masks.reshape({-1, 25}));
      if (rows.empty()) return std::map<std::string, double>{{"val_score", std::nan("")}};
      return score_metrics(eval::rsna_lumbar_score(rows));
    };
    const InputOptions in = config.input;
    train::Trainer trainer(model, [model, in](const train::Batch& b) { return run_model(*model, b.input, b.meta, in); }, loss,
                           config.optim, config.scheduler, train::Curriculum(config.curriculum), config.train, dir,
                           config.yaml);
    trainer.fit(train_ds, train_sampler, &val_ds, &val_sampler, metrics);

    // Out-of-fold predictions of the best checkpoint.
    auto best = make_model(config.model, false);
    train::load_checkpoint(best_checkpoint(dir), *best, nullptr, false);
    const torch::Device device = train::parse_device(config.train.device);
    best->to(device);
    best->eval();
    const torch::Tensor p = predict_items(*best, va, config.input, device).to(torch::kFloat64);
    std::vector<OofRow> rows;
    std::vector<eval::LumbarRow> scored;
    for (std::size_t i = 0; i < va.size(); ++i) {
      for (int c = 0; c < 5; ++c) {
        for (int l = 0; l < 5; ++l) {
          OofRow r;
          r.study_id = va[i]->study_id;
          r.condition = c;
          r.level = l;
          r.label = va[i]->grades[static_cast<std::size_t>(c * 5 + l)];
          r.fold = k;
          for (int g = 0; g < 3; ++g) {
            r.probabilities[static_cast<std::size_t>(g)] = p[static_cast<int64_t>(i)][c * 5 + l][g].item<double>();
          }
          if (r.label >= 0) {
            scored.push_back({r.study_id, eval::lumbar_condition_of(condition_keys()[static_cast<std::size_t>(c)]),
                              r.label, r.probabilities});
          }
          rows.push_back(r);
        }
      }
    }
    write_oof(dir / "oof.csv", rows, true);
    const auto s = eval::rsna_lumbar_score(scored);
    const double v = s.score.defined() ? s.score.value() : std::nan("");
    logger()->info("fold {}: out-of-fold score {} ({} studies)", k, detail::num(v), va.size());
    total += v;
  }
  return total / static_cast<double>(todo.size());
}

std::size_t infer(const fs::path& run, const fs::path& data, const std::string& split, const fs::path& submission,
                  const fs::path& coordinates, bool force) {
  if (!fs::is_regular_file(run / "config.yaml")) {
    throw IoError(run.string() + ": not a lumbar run directory (no config.yaml; runs are written by lumbar train)");
  }
  const LumbarConfig config = load_config(run / "config.yaml");
  const Localizer loc = load_localizer(run, config);
  const torch::Device device = loc.device;
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
  if (!force) {
    for (const auto& f : {submission, coordinates}) {
      if (!f.empty() && fs::exists(f)) throw IoError(f.string() + " exists; pass --force to replace it");
    }
  }
  const LumbarDataset ds = read_dataset(data, split, true);
  std::vector<std::string> ids;
  for (const auto& s : ds.series) {
    if (std::find(ids.begin(), ids.end(), s.study_id) == ids.end()) ids.push_back(s.study_id);
  }
  if (ids.empty()) throw ValueError(data.string() + ": no study in " + split + "_series_descriptions.csv");
  std::vector<Item> items(ids.size());
  std::vector<LevelPoints> points(ids.size());
  struct PointRow {
    std::string series_id;  ///< empty: no series to place the point on
    int instance = 0;
    double x = 0, y = 0;
  };
  std::vector<std::array<PointRow, 25>> placed(ids.size());
  for_each_study(ds, ids, config.data.threads, "inputs", [&](std::size_t i, const StudyImages& st) {
    points[i] = loc.points(st);
    items[i].study_id = ids[i];
    items[i].input = build_input(st, points[i], config.input, margin_px(config.input));
    items[i].meta = metadata_of(st, config.input);
    for (std::size_t k = 0; k < 25; ++k) {
      // The series each condition is labelled on: canal on T2, foramina on T1, recesses on axial.
      const auto& s = k < 5 ? st.t2 : (k < 15 ? st.t1 : st.axial);
      if (!s || !points[i][k]) continue;
      const auto px = s->lps_to_pixel(*points[i][k]);
      placed[i][k] = {s->series_id, s->instance_numbers[static_cast<std::size_t>(px.slice)], px.x, px.y};
    }
  });
  std::vector<const Item*> ptrs;
  for (const auto& it : items) ptrs.push_back(&it);
  torch::Tensor prob = torch::zeros({static_cast<int64_t>(items.size()), 25, 3});
  for (auto& m : models) prob += predict_items(*m, ptrs, config.input, device);
  prob = (prob / static_cast<double>(models.size())).to(torch::kFloat64).contiguous();
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
  if (!coordinates.empty()) {
    CsvTable t({"study_id", "series_id", "instance_number", "condition", "level", "x", "y"}, {});
    for (std::size_t i = 0; i < ids.size(); ++i) {
      for (std::size_t k = 0; k < 25; ++k) {
        const PointRow& p = placed[i][k];
        if (p.series_id.empty()) continue;
        t.add_row({ids[i], p.series_id, std::to_string(p.instance), kLumbarConditionNames[k / 5],
                   kLumbarLevelNames[k % 5], detail::num(p.x), detail::num(p.y)});
      }
    }
    detail::write_csv(coordinates, t, force);
  }
  logger()->info("{} studies x 25 rows written to {} ({} fold model(s) averaged)", ids.size(), submission.string(),
                 models.size());
  return ids.size();
}

}  // namespace tomograd::tasks::lumbar
