#pragma once
/// @file ModelSpec: everything needed to build a model by name, decoded from a config's `model:`
/// section.
///
/// ```yaml
/// model:
///   arch: resnet18            # a registry name: tomograd weights inspect --help lists them
///   in_channels: 1
///   head: {type: regression, num_outputs: 1, hidden: 0, dropout: 0.0, metadata_dim: 0}
///   simple_cnn: {widths: [32, 64, 128, 256], input_size: [256, 256], hidden: 512}
///   resnet3d: {conv1_t_size: 7, conv1_t_stride: 1, no_max_pool: false}
///   pretrained: {path: resnet18-f37072fd.pth, strict: false, adapt_input_channels: true,
///                input_channel_mode: sum, reinit_head: true}
/// ```
#include <string>

#include "tomograd/core/config.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/resnet3d.hpp"
#include "tomograd/models/simple_cnn.hpp"
#include "tomograd/models/weight_loading.hpp"

namespace tomograd::models {

/// A model by registry name plus its options. Family-specific sections (simple_cnn, resnet3d)
/// are used only by that family.
struct ModelSpec {
  std::string arch = "resnet18";  ///< registry name
  int64_t in_channels = 1;        ///< 1 for CT slices, 3 for 2.5D stacks, k in general
  HeadOptions head;
  SimpleCnnLayout simple_cnn;     ///< used by simple_cnn
  ResNet3dStem resnet3d;          ///< used by resnet3d_*
  PretrainedOptions pretrained;   ///< loaded by create_model when path is not empty

  /// Throws ConfigError naming the field for out-of-range values (the arch name is checked by
  /// the registry).
  void validate() const;
};

/// Decodes a `model:` map (keys above; absent keys keep their defaults), rejects unknown keys
/// (ConfigReader::finish on every level) and validates. Throws ConfigError with the dotted key.
ModelSpec decode_model_spec(ConfigReader& reader);

}  // namespace tomograd::models
