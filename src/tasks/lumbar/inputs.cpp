// The inputs of a lumbar classifier: the studies loaded in parallel, 2.5D crops around the level
// points or a 3D box around the spine, the training samples with their augmentations, and the
// model's probabilities on a list of studies.
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "../common.hpp"
#include "pipeline_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/core/zip_directory.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/tasks/lumbar/augment.hpp"
#include "tomograd/tasks/lumbar/training.hpp"
#include "tomograd/train/run_dir.hpp"
#include "vec3.hpp"

namespace tomograd::tasks::lumbar::internal {
namespace fs = std::filesystem;

using geom::add;
using geom::dot;
using geom::scaled;
using geom::sub;

/// checkpoints/best.pt of a training folder, or last.pt when the monitored metric was never
/// defined (e.g. a validation fold without labels).
fs::path best_checkpoint(const fs::path& dir) { return train::RunDir(dir).best_or_last_checkpoint(); }

models::ModelPtr make_model(const models::ModelSpec& spec, bool pretrained) {
  models::register_builtin_models();
  models::ModelSpec s = spec;
  if (!pretrained) s.pretrained.path.clear();
  return models::create_model(s);
}


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

namespace {

/// @p p moved along the normal onto the nearest slice of @p s (so a 2.5D stack is centred on a slice).
Vec3 snap(const SeriesImage& s, const Vec3& p) {
  const auto px = s.lps_to_pixel(p);
  const Vec3& o = s.positions[static_cast<std::size_t>(px.slice)];
  return sub(p, scaled(s.normal, dot(sub(p, o), s.normal)));
}

}  // namespace

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


namespace {

/// A small in-plane rotation of @p x [..., H, W] about the crop centre, every channel and depth
/// alike, by an angle drawn from [-max_deg, max_deg].
torch::Tensor rotate_in_plane(const torch::Tensor& x, double max_deg, std::mt19937_64& rng) {
  namespace F = torch::nn::functional;
  std::uniform_real_distribution<double> angle(-max_deg, max_deg);
  const double a = angle(rng) * M_PI / 180.0;
  const int64_t h = x.size(-2), w = x.size(-1);
  const auto shape = x.sizes().vec();
  const torch::Tensor flat = x.reshape({1, -1, h, w});
  const torch::Tensor theta =
      torch::tensor({{std::cos(a), -std::sin(a), 0.0}, {std::sin(a), std::cos(a), 0.0}}, torch::kFloat32).unsqueeze(0);
  const torch::Tensor grid = F::affine_grid(theta, {1, flat.size(1), h, w}, /*align_corners=*/false);
  return F::grid_sample(flat, grid, F::GridSampleFuncOptions().padding_mode(torch::kZeros).align_corners(false))
      .reshape(shape);
}

}  // namespace

ItemDataset::ItemDataset(std::vector<const Item*> items, InputOptions in, bool augment)
    : items_(std::move(items)), in_(std::move(in)), augment_(augment), margin_(margin_px(in_)) {}

train::Sample ItemDataset::get(std::size_t i, uint64_t seed) const {
  const Item& it = *items_.at(i);
  // Every draw comes from the sample's seed (the loader derives it from the run's seed, the epoch
  // and the sample), in a fixed order; optional augmentations draw only when enabled.
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
  if (augment_ && in_.rotate_deg > 0) x = rotate_in_plane(x, in_.rotate_deg, rng);
  // A left-right mirror swaps the left and right labels too, so it never teaches a wrong label.
  const bool mirrored = augment_ && in_.flip_lr > 0 && u(rng) < in_.flip_lr;
  if (mirrored) x = mirror_input(x, in_);
  if (augment_) {
    x = deform_input(x, in_, rng);
    std::normal_distribution<double> z(0.0, 1.0);
    x = x * static_cast<float>(std::exp(in_.gain * z(rng)));
    if (in_.noise > 0) {
      torch::Generator g = at::detail::createCPUGenerator(seed);
      x = x + torch::randn(x.sizes(), g) * static_cast<float>(in_.noise);
    }
  }
  const std::array<int, 25> grades = mirrored ? mirror_grades(it.grades) : it.grades;
  train::Sample s;
  s.input = x;
  s.target = torch::zeros({25}, torch::kLong);
  s.mask = torch::zeros({25}, torch::kBool);
  for (int k = 0; k < 25; ++k) {
    if (grades[static_cast<std::size_t>(k)] >= 0) {
      s.target[k] = grades[static_cast<std::size_t>(k)];
      s.mask[k] = true;
    }
  }
  if (it.meta.defined()) s.meta = it.meta;
  s.patient_id = it.study_id;
  return s;
}

bool read_cached_input(const fs::path& file, Item& item) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return false;
  try {
    zip::check_zip_file(file);  // before miniz allocates what the archive's directory declares
    std::vector<torch::Tensor> t;
    torch::load(t, file.string());
    if (t.size() != 3 || t[0].sizes() != t[1].sizes()) {
      throw IoError(file.string() + ": " + std::to_string(t.size()) +
                    " tensors, expected 3 (labelled and predicted crops of one shape, metadata)");
    }
    item.labelled = t[0];
    item.input = t[1];
    if (t[2].numel() > 0) item.meta = t[2];
    return true;
  } catch (const IoError& e) {
    logger()->warn("{}; rebuilding it", e.what());
  } catch (const c10::Error& e) {
    const std::string why = e.what_without_backtrace();
    logger()->warn("{}: not a complete input cache file ({}); rebuilding it", file.string(), why.substr(0, why.find('\n')));
  }
  return false;
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

}  // namespace tomograd::tasks::lumbar::internal
