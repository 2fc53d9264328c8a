#pragma once
/// @file Loading a state dict into a model by name, with a report of what matched.
///
/// Keys are matched by name after stripping wrapper prefixes the model lacks (`module.` from
/// DataParallel/DistributedDataParallel, `model.` and `state_dict.` from training frameworks,
/// `_orig_mod.` from torch.compile, `backbone.` from feature-extractor wrappers), and a ResNet
/// saved as `nn.Sequential(*list(resnet.children())[:-1])` (RadImageNet's PyTorch release:
/// `backbone.0.weight`, `backbone.4.0.conv1.weight`, ...) is mapped to torchvision's names
/// (conv1, bn1, layer1 ... layer4). Then, per key:
/// - same shape: copied (dtype converted) → matched;
/// - the input convolution's weight with another channel count: adapted (adapt_input_conv);
/// - a head parameter of another shape: the whole head keeps a fresh initialization;
/// - anything else: skipped (an error when strict).
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/models/model.hpp"
#include "tomograd/models/weights_file.hpp"

namespace tomograd::models {

/// How the first convolution's pretrained kernel is mapped to another number of input channels.
///
/// Source channel i is assigned to target channels (Cs source, Ct target channels): when
/// Ct < Cs, to channel i mod Ct (channels are folded); when Ct > Cs, to every j with
/// j mod Cs == i, split evenly between them (channels are repeated).
enum class InputChannelMode {
  /// Sum of the assigned kernels: the response to a grey image copied into every input channel
  /// is unchanged. For 1 channel: the sum of the RGB kernels (timm's convention).
  kSum,
  /// kSum divided by Cs. For 1 channel: the mean of the RGB kernels.
  kMean
};

/// "sum" or "mean".
std::string to_string(InputChannelMode mode);
/// Parses "sum" or "mean"; throws ConfigError listing them otherwise.
InputChannelMode parse_input_channel_mode(const std::string& name);

/// Options for loading weights into a model.
struct WeightLoadOptions {
  /// Fail (ValueError) unless every model key is loaded (or adapted/re-initialized below) and
  /// every file key is used. Missing `num_batches_tracked` buffers (checkpoints older than
  /// PyTorch 0.4.1) are tolerated, as PyTorch does.
  bool strict = false;
  bool adapt_input_channels = true;  ///< adapt the input convolution to in_channels()
  InputChannelMode input_channel_mode = InputChannelMode::kSum;
  bool reinit_head = true;  ///< a head of another size keeps a fresh initialization
};

/// Where pretrained weights come from (empty path = none) and how they are loaded.
struct PretrainedOptions {
  std::string path;
  WeightLoadOptions load;
};

/// What happened to a key present in both the model and the file with different shapes.
enum class MismatchAction { kAdapted, kReinitialized, kSkipped };
/// "adapted", "reinitialized" or "skipped".
std::string to_string(MismatchAction action);

/// A key with different shapes in the model and the file.
struct ShapeMismatch {
  std::string key;                   ///< the model's name
  std::vector<int64_t> model_shape;
  std::vector<int64_t> file_shape;
  MismatchAction action = MismatchAction::kSkipped;
};

/// The outcome of matching a state dict against a model.
struct WeightLoadReport {
  std::string source;                   ///< the file, when loaded from one
  std::vector<std::string> matched;     ///< model keys copied unchanged
  std::vector<std::string> missing;     ///< model keys absent from the file
  std::vector<std::string> unexpected;  ///< file keys (as in the file) the model lacks
  std::vector<ShapeMismatch> mismatched;

  /// True when every key matched one to one with the same shape.
  bool exact() const;
  /// "matched 120, missing 0, unexpected 2, mismatched 2 (conv1.weight adapted, ...)".
  std::string summary() const;
};

/// Maps a pretrained first-convolution kernel [O,Cs,k...] to [O,in_channels,k...] (see
/// InputChannelMode). Throws ValueError if @p weight has fewer than 3 dimensions or
/// in_channels < 1.
torch::Tensor adapt_input_conv(const torch::Tensor& weight, int64_t in_channels,
                               InputChannelMode mode = InputChannelMode::kSum);

/// The file tensor that would be loaded into model key @p key (exact name, else after stripping
/// wrapper prefixes such as `module.`); nullptr when there is none.
const torch::Tensor* find_weight(const StateDict& weights, const std::string& key);

/// Matches @p weights against @p model without changing it (what load_weights would do).
/// Strictness is not enforced here.
WeightLoadReport match_weights(const Model& model, const StateDict& weights,
                               const WeightLoadOptions& options = {});

/// Loads @p weights into @p model (parameters and buffers, on the model's device and dtype).
/// Throws ValueError when strict and the report is not clean, or when no key matched at all
/// (a wrong file is never silently ignored).
WeightLoadReport load_weights(Model& model, const StateDict& weights,
                              const WeightLoadOptions& options = {});

/// Reads @p path (any format of weights_file.hpp) and loads it; logs the report's summary.
WeightLoadReport load_weights(Model& model, const std::filesystem::path& path,
                              const WeightLoadOptions& options = {});

}  // namespace tomograd::models
