#pragma once
/// @file Weight files on disk: PyTorch `.pth`/`.pt` (zip and legacy), safetensors, LibTorch
/// archives. Reading never runs code from the file.
///
/// Read:
/// - **PyTorch zip** (`torch.save` since 1.6; torchvision's published weights): the zip's
///   `data.pkl` is unpickled by tomograd's own reader of the subset torch.save writes (dicts,
///   OrderedDict, lists, tuples, numbers, strings, tensors rebuilt by
///   `torch._utils._rebuild_tensor_v2` from `archive/data/<key>` storages). Nested dicts are
///   flattened with dots (`{"model": {"fc.weight": t}}` → `model.fc.weight`).
/// - **PyTorch legacy** (`torch.save(..., _use_new_zipfile_serialization=False)`, before 1.6).
/// - **LibTorch archives** written by C++ `torch::save(module, path)`: the same zip layout with
///   pickled TorchScript objects; submodules become dotted names.
/// - **safetensors** (header length, JSON header, raw little-endian data).
/// Any other global (numpy scalars, arbitrary classes) or pickle opcode is an IoError naming the
/// file and the global or opcode.
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

namespace tomograd::models {

/// Named tensors in file order, as a PyTorch state_dict.
using StateDict = torch::OrderedDict<std::string, torch::Tensor>;

/// The container format of a weight file.
enum class WeightsFormat {
  kTorchZip,     ///< torch.save / torch::save zip archive
  kTorchLegacy,  ///< torch.save with _use_new_zipfile_serialization=False
  kSafetensors   ///< https://github.com/huggingface/safetensors
};

/// "pytorch-zip", "pytorch-legacy" or "safetensors".
std::string to_string(WeightsFormat format);

/// Detects the format from the first bytes. Throws IoError naming the file when it is missing,
/// unreadable or none of the formats (e.g. a text file).
WeightsFormat detect_weights_format(const std::filesystem::path& path);

/// The content of a weight file.
struct WeightsFile {
  WeightsFormat format = WeightsFormat::kTorchZip;
  StateDict tensors;                            ///< CPU tensors, file order
  std::map<std::string, std::string> metadata;  ///< safetensors `__metadata__` (empty otherwise)
};

/// Reads every tensor of a weight file. Throws IoError naming the file and the problem
/// (truncated, unsupported opcode or global, storage out of range, ...).
WeightsFile read_weights_file(const std::filesystem::path& path);

/// Shorthand for read_weights_file(path).tensors.
StateDict read_weights(const std::filesystem::path& path);

/// Writes a safetensors file (atomically; tensors made contiguous and moved to the CPU).
/// Throws IoError on failure, ValueError for a dtype safetensors lacks.
void write_safetensors(const std::filesystem::path& path, const StateDict& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// Writes a PyTorch zip file that Python's `torch.load` reads as a `collections.OrderedDict` of
/// tensors, i.e. what `torch.save(model.state_dict(), path)` writes, so
/// `torchvision.models.resnet18().load_state_dict(torch.load(path))` works for our ResNet.
/// Atomic. Throws IoError on failure.
void write_torch_state_dict(const std::filesystem::path& path, const StateDict& tensors);

/// Writes @p tensors as safetensors when the extension is `.safetensors`, else as a PyTorch zip.
void save_weights(const std::filesystem::path& path, const StateDict& tensors);

/// PyTorch's name of a dtype: "float32", "int64", "bfloat16", "bool", ...
std::string dtype_name(torch::Dtype dtype);

/// Parameters and buffers of @p module with their dotted names, as PyTorch's
/// `module.state_dict()` (parameters first, then buffers; values share memory with the module).
StateDict module_state_dict(const torch::nn::Module& module);

}  // namespace tomograd::models
