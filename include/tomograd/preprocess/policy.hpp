#pragma once
/// @file Class-conditional augmentation policies: per label a probability and a Pipeline.
///
/// Example (configs/preprocess_head_ct.yaml): positives are augmented 70% of the time with a
/// mild gamma and a blur, negatives 50% of the time with a wider gamma, CLAHE and sharpening;
/// label "*" catches every other label.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tomograd/preprocess/transform.hpp"

namespace tomograd::preprocess {

/// The policy for one label.
struct PolicyRule {
  std::string label = "*";      ///< the label as written in the manifest, or "*" for any other
  double p = 1.0;               ///< probability that a sample with this label is augmented
  int64_t slice_jitter = 0;     ///< 2.5D: move the centre slice by up to this many slices
  std::vector<TransformConfig> transforms;
};

/// Augmentation settings (the `augment` section of a config).
struct AugmentConfig {
  bool enabled = true;
  std::vector<PolicyRule> policies;
  /// Throws ConfigError for duplicate labels, p outside [0,1], negative jitter or bad transform
  /// options (the message names augment.policies[i]...).
  void validate() const;
};

/// The configured policies, ready to apply from any number of threads.
class AugmentationPolicy {
 public:
  AugmentationPolicy() = default;
  explicit AugmentationPolicy(const AugmentConfig& config);

  /// Index of the rule for @p label (exact match first, then "*"), or -1 when none applies.
  int rule_index(const std::string& label) const;
  /// Draws u ~ U(0,1) (whenever a rule applies); when u < p runs that rule's pipeline on
  /// @p sample. Returns whether the sample was augmented.
  bool apply(AugmentSample& sample, const std::string& label, std::mt19937_64& rng) const;
  /// Slice jitter for @p label (see jitter_slice()); returns @p center when none is configured.
  int64_t jitter(int64_t center, int64_t depth, const std::string& label, std::mt19937_64& rng) const;
  bool enabled() const { return enabled_; }
  /// The pipeline of the rule for @p label (ignoring its probability), or nullptr when none
  /// applies. For previews that show what augmentation does.
  const Pipeline* pipeline_for(const std::string& label) const;
  /// The configured labels, in order.
  std::vector<std::string> labels() const;

 private:
  bool enabled_ = false;
  std::vector<PolicyRule> rules_;
  std::vector<Pipeline> pipelines_;
};

}  // namespace tomograd::preprocess
