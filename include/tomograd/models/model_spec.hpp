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
///   densenet3d: {growth_rate: 32, block_config: [6, 12, 24, 16], bn_size: 4, dropout: 0.0}
///   segresnet3d: {init_filters: 8, blocks_down: [1, 2, 2, 4], norm_groups: 8, dropout: 0.0}
///   dynunet3d: {kernel_size: [[3, 3, 3], ...], strides: [[1, 1, 1], [2, 2, 2], ...], filters: [],
///               norm: instance, res_block: false, dropout: 0.0}
///   vit3d: {img_size: [16, 64, 64], patch_size: [16, 16, 16], hidden_size: 768, mlp_dim: 3072,
///           num_layers: 12, num_heads: 12, dropout: 0.0, qkv_bias: false, pool: mean}
///   swinunetr3d: {feature_size: 24, depths: [2, 2, 2, 2], num_heads: [3, 6, 12, 24],
///                 window_size: [7, 7, 7], patch_size: [2, 2, 2], drop_rate: 0.0, attn_drop_rate: 0.0,
///                 dropout_path_rate: 0.0, normalize: true, downsample: merging}
///   pretrained: {path: resnet18-f37072fd.pth, strict: false, adapt_input_channels: true,
///                input_channel_mode: sum, reinit_head: true}
/// ```
#include <string>

#include "tomograd/core/config.hpp"
#include "tomograd/models/densenet3d.hpp"
#include "tomograd/models/dynunet3d.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/resnet3d.hpp"
#include "tomograd/models/segresnet3d.hpp"
#include "tomograd/models/simple_cnn.hpp"
#include "tomograd/models/swinunetr3d.hpp"
#include "tomograd/models/vit3d.hpp"
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
  DenseNet3dLayout densenet3d;    ///< used by densenet*_3d (0/empty = the variant's value)
  SegResNet3dLayout segresnet3d;  ///< used by segresnet3d
  DynUNet3dLayout dynunet3d;      ///< used by dynunet3d
  ViT3dLayout vit3d;              ///< used by vit3d
  SwinUNETR3dLayout swinunetr3d;  ///< used by swinunetr3d
  PretrainedOptions pretrained;   ///< loaded by create_model when path is not empty

  /// Throws ConfigError naming the field for out-of-range values (the arch name is checked by
  /// the registry).
  void validate() const;
};

/// Decodes a `model:` map (keys above; absent keys keep their defaults), rejects unknown keys
/// (ConfigReader::finish on every level) and validates. Throws ConfigError with the dotted key.
ModelSpec decode_model_spec(ConfigReader& reader);

}  // namespace tomograd::models
