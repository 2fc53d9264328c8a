#include "tomograd/models/registry.hpp"

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/models/densenet3d.hpp"
#include "tomograd/models/dynunet3d.hpp"
#include "tomograd/models/resnet.hpp"
#include "tomograd/models/resnet3d.hpp"
#include "tomograd/models/segresnet3d.hpp"
#include "tomograd/models/simple_cnn.hpp"
#include "tomograd/models/swinunetr3d.hpp"
#include "tomograd/models/vit3d.hpp"

namespace tomograd::models {

ModelRegistry& ModelRegistry::global() {
  static ModelRegistry registry;
  return registry;
}

void ModelRegistry::add(ModelEntry entry) {
  if (entry.name.empty() || !entry.build) throw ValueError("model registry: an entry needs a name and a builder");
  if (entries_.count(entry.name)) throw ValueError("model registry: '" + entry.name + "' is already registered");
  std::string name = entry.name;
  entries_.emplace(std::move(name), std::move(entry));
}

bool ModelRegistry::contains(const std::string& name) const { return entries_.count(name) > 0; }

const ModelEntry& ModelRegistry::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string valid;
    for (const auto& n : names()) valid += (valid.empty() ? "" : ", ") + n;
    throw ConfigError("unknown model '" + name + "'; valid names: " +
                      (valid.empty() ? "(none registered: call register_builtin_models())" : valid));
  }
  return it->second;
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

namespace {

using Builder = std::function<ModelPtr(const ModelSpec&)>;

/// A builder for a network whose options are {in_channels, layout, head}, the layout taken from
/// the spec's @p layout field (simple_cnn, segresnet3d, dynunet3d, vit3d, swinunetr3d).
template <class Net, class Options, class Layout>
Builder with_layout(Layout ModelSpec::*layout) {
  return [layout](const ModelSpec& spec) -> ModelPtr {
    Options o;
    o.in_channels = spec.in_channels;
    o.layout = spec.*layout;
    o.head = spec.head;
    return Net(o).ptr();
  };
}

// Variants are data: one builder per family, parameterized by the layer counts.
Builder resnet(ResNetOptions variant) {
  return [variant](const ModelSpec& spec) -> ModelPtr {
    ResNetOptions o = variant;
    o.in_channels = spec.in_channels;
    o.head = spec.head;
    return ResNet(o).ptr();
  };
}

Builder resnet3d(ResNet3dOptions variant) {
  return [variant](const ModelSpec& spec) -> ModelPtr {
    ResNet3dOptions o = variant;
    o.in_channels = spec.in_channels;
    o.stem = spec.resnet3d;
    o.head = spec.head;
    return ResNet3d(o).ptr();
  };
}

Builder densenet3d(DenseNet3dOptions variant) {
  return [variant](const ModelSpec& spec) -> ModelPtr {
    DenseNet3dOptions o = variant.with(spec.densenet3d);
    o.in_channels = spec.in_channels;
    o.head = spec.head;
    return DenseNet3d(o).ptr();
  };
}

void register_2d_models(ModelRegistry& registry) {
  registry.add({"resnet18", "2D ResNet-18 (torchvision names; BasicBlock 2-2-2-2, embedding 512)", 2,
                resnet(ResNetOptions::resnet18())});
  registry.add({"resnet34", "2D ResNet-34 (torchvision names; BasicBlock 3-4-6-3, embedding 512)", 2,
                resnet(ResNetOptions::resnet34())});
  registry.add({"resnet50", "2D ResNet-50 (torchvision names; Bottleneck 3-4-6-3, embedding 2048)", 2,
                resnet(ResNetOptions::resnet50())});
  registry.add({"resnet101", "2D ResNet-101 (torchvision names; Bottleneck 3-4-23-3, embedding 2048)", 2,
                resnet(ResNetOptions::resnet101())});
  registry.add({"simple_cnn", "2D SimpleCNN: conv blocks (simple_cnn.widths) + MLP (simple_cnn.hidden); "
                              "fixed input size (simple_cnn.input_size)",
                2, with_layout<SimpleCnn, SimpleCnnOptions>(&ModelSpec::simple_cnn)});
}

void register_3d_models(ModelRegistry& registry) {
  registry.add({"resnet3d_10", "3D ResNet-10 (MONAI/MedicalNet names; BasicBlock3D 1-1-1-1, embedding 512)", 3,
                resnet3d(ResNet3dOptions::resnet3d10())});
  registry.add({"resnet3d_18", "3D ResNet-18 (MONAI/MedicalNet names; BasicBlock3D 2-2-2-2, embedding 512)", 3,
                resnet3d(ResNet3dOptions::resnet3d18())});
  registry.add({"resnet3d_34", "3D ResNet-34 (MONAI/MedicalNet names; BasicBlock3D 3-4-6-3, embedding 512)", 3,
                resnet3d(ResNet3dOptions::resnet3d34())});
  // MONAI's 3D networks (issue 15): names follow MONAI so its state dicts load by name.
  registry.add({"densenet121_3d", "3D DenseNet-121 (MONAI names; growth 32, blocks 6-12-24-16, embedding 1024)", 3,
                densenet3d(DenseNet3dOptions::densenet121())});
  registry.add({"densenet169_3d", "3D DenseNet-169 (MONAI names; growth 32, blocks 6-12-32-32, embedding 1664)", 3,
                densenet3d(DenseNet3dOptions::densenet169())});
  registry.add({"densenet201_3d", "3D DenseNet-201 (MONAI names; growth 32, blocks 6-12-48-32, embedding 1920)", 3,
                densenet3d(DenseNet3dOptions::densenet201())});
  registry.add({"segresnet3d", "SegResNet encoder (MONAI names; segresnet3d.init_filters, blocks_down; embedding "
                               "init_filters*2^(levels-1), 64 by default)",
                3, with_layout<SegResNet3d, SegResNet3dOptions>(&ModelSpec::segresnet3d)});
  registry.add({"dynunet3d", "DynUNet (nnU-Net) encoder (MONAI names; dynunet3d.kernel_size, strides, filters per "
                             "level; embedding = last filters, 320 by default)",
                3, with_layout<DynUNet3d, DynUNet3dOptions>(&ModelSpec::dynunet3d)});
  registry.add({"vit3d", "3D ViT (MONAI names; vit3d.patch_size, hidden_size, num_layers, num_heads; mean-pooled "
                         "tokens, embedding hidden_size, 768 by default)",
                3, with_layout<ViT3d, ViT3dOptions>(&ModelSpec::vit3d)});
  registry.add({"swinunetr3d", "SwinUNETR's Swin encoder (MONAI names swinViT.*; shifted 3D windows; embedding "
                               "16*feature_size, 384 by default)",
                3, with_layout<SwinUNETR3d, SwinUNETR3dOptions>(&ModelSpec::swinunetr3d)});
}

}  // namespace

void register_builtin_models(ModelRegistry& registry) {
  if (registry.contains("resnet18")) return;
  register_2d_models(registry);
  register_3d_models(registry);
}

ModelSpec spec_for_weights(const std::string& arch, const StateDict& weights) {
  ModelSpec spec;
  spec.arch = arch;
  const ModelEntry& entry = ModelRegistry::global().get(arch);
  const std::string input_key = entry.build(spec)->input_conv() + ".weight";
  if (const torch::Tensor* w = find_weight(weights, input_key); w && w->dim() >= 3) spec.in_channels = w->size(1);
  if (const torch::Tensor* fc = find_weight(weights, "fc.weight"); fc && fc->dim() == 2 && fc->size(0) > 1) {
    spec.head.type = HeadType::kMultiClass;
    spec.head.num_classes = fc->size(0);
  }
  return spec;
}

ModelPtr create_model(const ModelSpec& spec, WeightLoadReport* report) {
  spec.validate();
  ModelPtr model = ModelRegistry::global().get(spec.arch).build(spec);
  if (!spec.pretrained.path.empty()) {
    WeightLoadReport r = load_weights(*model, std::filesystem::path(spec.pretrained.path), spec.pretrained.load);
    if (report) *report = std::move(r);
  }
  logger()->debug("model {}: {} parameters, embedding {}", spec.arch, model->parameter_count(),
                  model->embedding_dim());
  return model;
}

}  // namespace tomograd::models
