#pragma once
/// @file Named augmentation transforms with typed options, and a Pipeline of them.
///
/// Each transform has an options struct (defaults, a probability p and the ranges its
/// parameters are drawn from) and applies to an AugmentSample with an explicit generator.
/// Spatial transforms move the sample's mask too, with nearest-neighbour interpolation.
/// Intensity transforms with inside_mask_only leave voxels outside the sample's mask unchanged.
/// Transforms are immutable after construction: one Pipeline may serve many threads at once.
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "tomograd/preprocess/augment.hpp"

namespace tomograd::preprocess {

/// What transforms act on.
struct AugmentSample {
  torch::Tensor image;  ///< [C,H,W] float32
  torch::Tensor mask;   ///< optional [H,W] or [K,H,W] (any dtype); moved with spatial transforms
};

struct FlipOptions {
  double p = 0.5;
};
struct AffineOptions {
  double p = 1.0;
  Range rotate_deg{-10.0, 10.0};
  Range scale{0.9, 1.1};
  Range translate_frac{-0.05, 0.05};  ///< fraction of the width (x) and height (y)
};
struct GammaOptions {
  double p = 1.0;
  Range gamma{0.9, 1.1};
  bool inside_mask_only = false;  ///< with a mask: voxels where it is 0 (in every layer) stay as they were
};
struct BrightnessContrastOptions {
  double p = 1.0;
  Range brightness{-0.05, 0.05};  ///< fraction of the channel's range
  Range contrast{0.9, 1.1};
  bool inside_mask_only = false;  ///< with a mask: voxels where it is 0 (in every layer) stay as they were
};
struct NoiseOptions {
  double p = 1.0;
  Range std{0.0, 0.03};  ///< fraction of the channel's range
  bool inside_mask_only = false;  ///< with a mask: voxels where it is 0 (in every layer) stay as they were
};
struct BlurOptions {
  double p = 1.0;
  Range sigma_px{0.3, 1.0};
};
struct SharpenOptions {
  double p = 1.0;
  Range amount{0.2, 0.8};
  double sigma_px = 1.0;
};
struct ClaheOptions {
  double p = 1.0;
  Range clip_limit{1.0, 3.0};
  int tiles = 8;  ///< tiles per side
};
struct ElasticOptions {
  double p = 1.0;
  Range alpha_px{2.0, 6.0};  ///< largest displacement
  double sigma_px = 8.0;     ///< smoothness of the field
};
/// A random crop: one scale s drawn per sample keeps round(s * H) x round(s * W) pixels (the
/// aspect ratio is kept) at a uniformly drawn position, resized back to H x W (image linear,
/// mask nearest) unless resize_back is false (then the output is the crop's size).
struct RandomCropOptions {
  double p = 1.0;
  Range scale{0.8, 1.0};    ///< fraction of each side kept, in (0, 1]
  bool resize_back = true;  ///< resize the crop to the input size
};

/// One transform's options; the alternative picks the transform. New transforms are appended,
/// so the index of an alternative never changes.
using TransformConfig = std::variant<FlipOptions, AffineOptions, GammaOptions, BrightnessContrastOptions,
                                     NoiseOptions, BlurOptions, SharpenOptions, ClaheOptions, ElasticOptions,
                                     RandomCropOptions>;

/// Names in the order of TransformConfig's alternatives: flip, affine, gamma,
/// brightness_contrast, noise, blur, sharpen, clahe, elastic, random_crop.
const std::vector<std::string>& transform_names();

/// The name of the transform @p config configures.
std::string transform_name(const TransformConfig& config);

/// Throws ConfigError "<where>: <field> must be ..." for out-of-range options (p outside [0,1],
/// low > high, negative sigmas, gamma <= 0, ...).
void validate_transform(const TransformConfig& config, const std::string& where);

/// The options as JSON ({"name": ..., "p": ..., ranges as [low, high]}), for the canonical
/// configuration text and for logs.
nlohmann::json transform_to_json(const TransformConfig& config);

/// A transform ready to apply.
class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;
  /// Draws u ~ U(0,1) from @p rng; when u < p draws the parameters and transforms @p sample.
  virtual void apply(AugmentSample& sample, std::mt19937_64& rng) const = 0;
};

/// Builds the transform configured by @p config (validated first).
std::unique_ptr<Transform> make_transform(const TransformConfig& config);

/// Transforms applied in order.
class Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(const std::vector<TransformConfig>& configs);
  /// Applies every transform in order (each with its own probability).
  void apply(AugmentSample& sample, std::mt19937_64& rng) const;
  std::size_t size() const { return transforms_.size(); }
  std::vector<std::string> names() const;

 private:
  std::vector<std::shared_ptr<const Transform>> transforms_;
};

}  // namespace tomograd::preprocess
