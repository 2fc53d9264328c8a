#include "tomograd/preprocess/transform.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/policy.hpp"
#include "tomograd/preprocess/slices.hpp"
#include "transform_fields.hpp"

namespace tomograd::preprocess {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

using detail::check_option;

void check_p(double p, const std::string& where) { check_option(p >= 0 && p <= 1, where, "p", "in [0, 1]"); }

/// Applies a spatial operation to the mask: as float with nearest neighbours, back to its dtype.
template <class Fn>
void move_mask(AugmentSample& s, Fn&& fn) {
  if (!s.mask.defined()) return;
  const auto dtype = s.mask.scalar_type();
  const bool two_d = s.mask.dim() == 2;
  torch::Tensor m = (two_d ? s.mask.unsqueeze(0) : s.mask).to(torch::kFloat32);
  m = fn(m);
  if (two_d) m = m.squeeze(0);
  s.mask = m.to(dtype).contiguous();
}

/// inside_mask_only: puts back the voxels of @p before where the sample's mask is 0 in every
/// layer (e.g. the background around the brain keeps its constant value). No mask: no-op.
void keep_outside_mask(AugmentSample& s, const torch::Tensor& before, bool inside_mask_only, const std::string& name) {
  if (!inside_mask_only || !s.mask.defined()) return;
  torch::Tensor inside = s.mask.ne(0);
  if (inside.dim() == 3) inside = inside.any(0);
  if (inside.dim() != 2 || inside.size(0) != s.image.size(1) || inside.size(1) != s.image.size(2)) {
    throw ValueError(name + ": inside_mask_only needs a mask [H,W] or [K,H,W] matching the image [C,H,W]");
  }
  s.image = torch::where(inside.unsqueeze(0), s.image, before.to(s.image.scalar_type())).contiguous();
}

/// The common part: probability p, then the transform-specific step.
template <class Options>
class TransformBase : public Transform {
 public:
  explicit TransformBase(Options o) : o_(std::move(o)) {}
  std::string name() const override { return transform_name(TransformConfig(o_)); }
  void apply(AugmentSample& s, std::mt19937_64& rng) const override {
    if (!s.image.defined() || s.image.dim() != 3) throw ValueError(name() + ": expected an image [C,H,W]");
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (u(rng) < o_.p) run(s, rng);
  }

 protected:
  virtual void run(AugmentSample& s, std::mt19937_64& rng) const = 0;
  Options o_;
};

class FlipTransform : public TransformBase<FlipOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64&) const override {
    s.image = flip_horizontal(s.image);
    move_mask(s, [](const torch::Tensor& m) { return flip_horizontal(m); });
  }
};

class AffineTransform : public TransformBase<AffineOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    AffineParams p;
    p.rotate_deg = o_.rotate_deg.sample(rng);
    p.scale = o_.scale.sample(rng);
    p.translate_x_px = o_.translate_frac.sample(rng) * static_cast<double>(s.image.size(2));
    p.translate_y_px = o_.translate_frac.sample(rng) * static_cast<double>(s.image.size(1));
    s.image = affine_warp(s.image, p, Interpolation::kLinear);
    move_mask(s, [&](const torch::Tensor& m) { return affine_warp(m, p, Interpolation::kNearest); });
  }
};

class GammaTransform : public TransformBase<GammaOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    const torch::Tensor before = s.image;
    s.image = adjust_gamma(s.image, o_.gamma.sample(rng));
    keep_outside_mask(s, before, o_.inside_mask_only, name());
  }
};

class BrightnessContrastTransform : public TransformBase<BrightnessContrastOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    const double b = o_.brightness.sample(rng), c = o_.contrast.sample(rng);
    const torch::Tensor before = s.image;
    s.image = adjust_brightness_contrast(s.image, b, c);
    keep_outside_mask(s, before, o_.inside_mask_only, name());
  }
};

class NoiseTransform : public TransformBase<NoiseOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    const double sd = o_.std.sample(rng);
    const torch::Tensor before = s.image;
    s.image = add_gaussian_noise(s.image, sd, rng);
    keep_outside_mask(s, before, o_.inside_mask_only, name());
  }
};

class BlurTransform : public TransformBase<BlurOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override { s.image = gaussian_blur(s.image, o_.sigma_px.sample(rng)); }
};

class SharpenTransform : public TransformBase<SharpenOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    s.image = sharpen(s.image, o_.amount.sample(rng), o_.sigma_px);
  }
};

class ClaheTransform : public TransformBase<ClaheOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    s.image = clahe(s.image, o_.clip_limit.sample(rng), o_.tiles);
  }
};

class ElasticTransform : public TransformBase<ElasticOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    const double alpha = o_.alpha_px.sample(rng);
    torch::Tensor field = elastic_field(s.image.size(1), s.image.size(2), alpha, o_.sigma_px, rng);
    s.image = displace(s.image, field, Interpolation::kLinear);
    move_mask(s, [&](const torch::Tensor& m) { return displace(m, field, Interpolation::kNearest); });
  }
};

class RandomCropTransform : public TransformBase<RandomCropOptions> {
 public:
  using TransformBase::TransformBase;
  void run(AugmentSample& s, std::mt19937_64& rng) const override {
    const int64_t h = s.image.size(1), w = s.image.size(2);
    // Always three draws (scale, row, column), so later transforms see the same stream whatever
    // the sizes are.
    const double scale = o_.scale.sample(rng);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double uy = u(rng), ux = u(rng);
    const int64_t ch = std::clamp<int64_t>(std::llround(scale * static_cast<double>(h)), 1, h);
    const int64_t cw = std::clamp<int64_t>(std::llround(scale * static_cast<double>(w)), 1, w);
    const int64_t top = std::min(h - ch, static_cast<int64_t>(uy * static_cast<double>(h - ch + 1)));
    const int64_t left = std::min(w - cw, static_cast<int64_t>(ux * static_cast<double>(w - cw + 1)));
    const bool resize = o_.resize_back && (ch != h || cw != w);
    s.image = crop_slices(s.image.to(torch::kFloat32), top, left, ch, cw);
    if (resize) s.image = resize_slices(s.image, h, w, Interpolation::kLinear);
    move_mask(s, [&](const torch::Tensor& m) {
      torch::Tensor c = crop_slices(m, top, left, ch, cw);
      return resize ? resize_slices(c, h, w, Interpolation::kNearest) : c;
    });
  }
};

}  // namespace

const std::vector<std::string>& transform_names() {
  static const std::vector<std::string> names{"flip",  "affine", "gamma", "brightness_contrast", "noise",
                                              "blur",  "sharpen", "clahe", "elastic", "random_crop"};
  return names;
}

std::string transform_name(const TransformConfig& config) { return transform_names().at(config.index()); }

// validate_transform() and transform_to_json() are in transform_fields.cpp, with the field tables.

std::unique_ptr<Transform> make_transform(const TransformConfig& config) {
  validate_transform(config, transform_name(config));
  return std::visit(Overloaded{
                        [](const FlipOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<FlipTransform>(o); },
                        [](const AffineOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<AffineTransform>(o); },
                        [](const GammaOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<GammaTransform>(o); },
                        [](const BrightnessContrastOptions& o) -> std::unique_ptr<Transform> {
                          return std::make_unique<BrightnessContrastTransform>(o);
                        },
                        [](const NoiseOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<NoiseTransform>(o); },
                        [](const BlurOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<BlurTransform>(o); },
                        [](const SharpenOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<SharpenTransform>(o); },
                        [](const ClaheOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<ClaheTransform>(o); },
                        [](const ElasticOptions& o) -> std::unique_ptr<Transform> { return std::make_unique<ElasticTransform>(o); },
                        [](const RandomCropOptions& o) -> std::unique_ptr<Transform> {
                          return std::make_unique<RandomCropTransform>(o);
                        },
                    },
                    config);
}

Pipeline::Pipeline(const std::vector<TransformConfig>& configs) {
  for (const auto& c : configs) transforms_.push_back(make_transform(c));
}

void Pipeline::apply(AugmentSample& sample, std::mt19937_64& rng) const {
  for (const auto& t : transforms_) t->apply(sample, rng);
}

std::vector<std::string> Pipeline::names() const {
  std::vector<std::string> out;
  for (const auto& t : transforms_) out.push_back(t->name());
  return out;
}

void AugmentConfig::validate() const {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const auto& r = policies[i];
    const std::string where = "augment.policies[" + std::to_string(i) + "]";
    if (!seen.insert(r.label).second) throw ConfigError(where + ": label '" + r.label + "' appears twice");
    check_p(r.p, where);
    check_option(r.slice_jitter >= 0, where, "slice_jitter", ">= 0");
    for (std::size_t k = 0; k < r.transforms.size(); ++k) {
      validate_transform(r.transforms[k], where + ".transforms[" + std::to_string(k) + "] (" +
                                              transform_name(r.transforms[k]) + ")");
    }
  }
}

AugmentationPolicy::AugmentationPolicy(const AugmentConfig& config) : enabled_(config.enabled), rules_(config.policies) {
  config.validate();
  for (const auto& r : rules_) pipelines_.emplace_back(r.transforms);
}

int AugmentationPolicy::rule_index(const std::string& label) const {
  int wildcard = -1;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].label == label) return static_cast<int>(i);
    if (rules_[i].label == "*") wildcard = static_cast<int>(i);
  }
  return wildcard;
}

bool AugmentationPolicy::apply(AugmentSample& sample, const std::string& label, std::mt19937_64& rng) const {
  if (!enabled_) return false;
  const int i = rule_index(label);
  if (i < 0) return false;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (u(rng) >= rules_[i].p) return false;
  pipelines_[i].apply(sample, rng);
  return true;
}

const Pipeline* AugmentationPolicy::pipeline_for(const std::string& label) const {
  const int i = rule_index(label);
  return i < 0 ? nullptr : &pipelines_[i];
}

std::vector<std::string> AugmentationPolicy::labels() const {
  std::vector<std::string> out;
  for (const auto& r : rules_) out.push_back(r.label);
  return out;
}

int64_t AugmentationPolicy::jitter(int64_t center, int64_t depth, const std::string& label, std::mt19937_64& rng) const {
  const int i = enabled_ ? rule_index(label) : -1;
  return jitter_slice(center, depth, i < 0 ? 0 : rules_[i].slice_jitter, rng);
}

}  // namespace tomograd::preprocess
