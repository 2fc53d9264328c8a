#pragma once
/// @file The model registry: architectures by name, filled explicitly by
/// register_builtin_models() (no static self-registration, which static linking drops).
///
/// Built-in names: resnet18, resnet34, resnet50, resnet101 (2D), simple_cnn (2D),
/// resnet3d_10, resnet3d_18, resnet3d_34 (3D).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tomograd/models/model.hpp"
#include "tomograd/models/model_spec.hpp"

namespace tomograd::models {

/// One registered architecture.
struct ModelEntry {
  std::string name;         ///< e.g. "resnet18"
  std::string description;  ///< one line for --help and docs
  int spatial_dims = 2;     ///< 2: [N,C,H,W] input, 3: [N,C,D,H,W]
  /// Builds the model (without loading pretrained weights).
  std::function<ModelPtr(const ModelSpec&)> build;
};

/// Architectures by name.
class ModelRegistry {
 public:
  /// The process-wide registry used by create_model().
  static ModelRegistry& global();

  /// Adds an architecture. Throws ValueError if the name is taken or build is empty.
  void add(ModelEntry entry);
  bool contains(const std::string& name) const;
  /// Throws ConfigError "unknown model 'x'; valid names: a, b, ..." for an unknown name.
  const ModelEntry& get(const std::string& name) const;
  /// Registered names, sorted.
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ModelEntry> entries_;
};

/// Registers the built-in architectures into @p registry; a second call on the same registry
/// does nothing.
void register_builtin_models(ModelRegistry& registry = ModelRegistry::global());

/// A spec for @p arch shaped like a weight file, for inspecting how the file fits that
/// architecture: in_channels from the input convolution's weight, and a head sized like the
/// file's `fc` (one regression output for 1 row, else multiclass with its rows). Fields the file
/// does not determine keep the defaults. Throws ConfigError for an unknown arch.
ModelSpec spec_for_weights(const std::string& arch, const StateDict& weights);

/// Validates @p spec, builds spec.arch from the global registry and, when
/// spec.pretrained.path is set, loads those weights (report in @p report when not null).
/// Throws ConfigError (bad spec, unknown arch), IoError (weights file), ValueError (strict load).
ModelPtr create_model(const ModelSpec& spec, WeightLoadReport* report = nullptr);

}  // namespace tomograd::models
