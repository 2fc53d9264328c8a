#pragma once
/// @file Decoding of the preprocessing sections of a YAML config: `preprocess`, `slices`,
/// `augment` (the only place in this layer that reads YAML, with src/preprocess/transform_fields.cpp
/// where each augmentation transform's options are declared once). Every key is documented in
/// configs/preprocess_head_ct.yaml; unknown keys are errors naming the dotted path, e.g.
/// "cfg.yaml: unknown key 'augment.policies[0].transforms[1].sigma'".
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/config.hpp"
#include "tomograd/preprocess/policy.hpp"
#include "tomograd/preprocess/preprocess.hpp"
#include "tomograd/preprocess/slices.hpp"

namespace tomograd::preprocess {

/// Everything this layer reads from a config.
struct PreprocessConfig {
  PreprocessOptions preprocess;
  SliceOptions slices;
  AugmentConfig augment;
  /// Validates the three parts (ConfigError).
  void validate() const;
};

/// Reads the `preprocess`, `slices` and `augment` sections of @p root (absent sections keep
/// their defaults) and validates them. Does not call root.finish(): a task's config holds other
/// sections too. Throws ConfigError with the file and dotted key.
PreprocessConfig read_preprocess_config(ConfigReader& root);

/// Loads a file that holds only these sections (other top-level keys are errors), after
/// applying @p overrides ("augment.enabled=false"). Throws ConfigError.
PreprocessConfig load_preprocess_config(const std::filesystem::path& path,
                                        const std::vector<std::string>& overrides = {});

/// Reads one transform entry ({name: gamma, p: 0.5, gamma: [0.9, 1.1]}) from @p reader (a map
/// reader at its dotted path). Throws ConfigError listing the valid names for an unknown one.
TransformConfig read_transform(ConfigReader& reader);

}  // namespace tomograd::preprocess
