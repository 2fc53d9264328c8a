#pragma once
/// @file Prediction heads shared by every model: what the last layers output, and their options.
///
/// A head maps the backbone embedding `[N,E]` (optionally concatenated with a small metadata
/// vector such as slice thickness and pixel spacing) to the task's output:
///
/// | type          | output shape        | typical loss                   |
/// |---------------|---------------------|--------------------------------|
/// | `regression`  | `[N, num_outputs]`  | MSE / L1 / Huber               |
/// | `binary`      | `[N, num_outputs]`  | BCE with logits (1 logit each) |
/// | `multiclass`  | `[N, num_classes]`  | cross-entropy on logits        |
/// | `multioutput` | `[N, num_tasks, num_classes]` | cross-entropy per task (e.g. 25 × 3) |
///
/// Layers (names as in torchvision, so `fc.*` loads from a torchvision checkpoint when the sizes
/// agree): `dropout` → optional `head_hidden` (Linear + ReLU, then dropout again) → `fc`.
#include <cstdint>
#include <string>
#include <vector>

namespace tomograd::models {

/// What a head predicts.
enum class HeadType { kRegression, kBinary, kMultiClass, kMultiOutput };

/// "regression", "binary", "multiclass" or "multioutput".
std::string to_string(HeadType type);

/// Parses a head type name (the inverse of to_string). Throws ConfigError listing the valid
/// names for anything else.
HeadType parse_head_type(const std::string& name);

/// Options of a model's head. Defaults: one regression output, no hidden layer, no dropout, no
/// metadata.
struct HeadOptions {
  HeadType type = HeadType::kRegression;
  int64_t num_outputs = 1;   ///< regression targets or independent binary logits (>= 1)
  int64_t num_classes = 2;   ///< classes (multiclass) or classes per task (multioutput), >= 2
  int64_t num_tasks = 1;     ///< tasks sharing the backbone (multioutput), >= 1
  int64_t hidden = 0;        ///< width of an optional hidden Linear+ReLU layer; 0 = none
  double dropout = 0.0;      ///< dropout probability before the hidden and the output layer
  int64_t metadata_dim = 0;  ///< length of the metadata vector fused before the head; 0 = none

  /// Number of units of the final `fc` layer (num_tasks * num_classes for multioutput).
  int64_t fc_outputs() const;
  /// Shape of one sample's output: {num_outputs}, {num_classes} or {num_tasks, num_classes}.
  std::vector<int64_t> output_shape() const;
  /// Throws ConfigError naming the field when a value is out of range.
  void validate() const;
};

}  // namespace tomograd::models
