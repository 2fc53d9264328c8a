#include "tomograd/models/model.hpp"

#include <sstream>

#include "tomograd/core/error.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/model_spec.hpp"

namespace tomograd::models {

// ---- HeadOptions ------------------------------------------------------------------------------

namespace {
const std::vector<std::pair<HeadType, std::string>> kHeadTypeNames = {
    {HeadType::kRegression, "regression"},
    {HeadType::kBinary, "binary"},
    {HeadType::kMultiClass, "multiclass"},
    {HeadType::kMultiOutput, "multioutput"}};
}  // namespace

std::string to_string(HeadType type) {
  for (const auto& [t, name] : kHeadTypeNames) {
    if (t == type) return name;
  }
  return "unknown";
}

HeadType parse_head_type(const std::string& name) {
  std::string valid;
  for (const auto& [t, n] : kHeadTypeNames) {
    if (n == name) return t;
    valid += (valid.empty() ? "" : ", ") + n;
  }
  throw ConfigError("unknown head type '" + name + "'; valid: " + valid);
}

int64_t HeadOptions::fc_outputs() const {
  switch (type) {
    case HeadType::kRegression:
    case HeadType::kBinary:
      return num_outputs;
    case HeadType::kMultiClass:
      return num_classes;
    case HeadType::kMultiOutput:
      return num_tasks * num_classes;
  }
  return num_outputs;
}

std::vector<int64_t> HeadOptions::output_shape() const {
  if (type == HeadType::kMultiOutput) return {num_tasks, num_classes};
  return {fc_outputs()};
}

void HeadOptions::validate() const {
  auto fail = [](const std::string& key, const std::string& what) {
    throw ConfigError("head." + key + ": " + what);
  };
  if ((type == HeadType::kRegression || type == HeadType::kBinary) && num_outputs < 1) {
    fail("num_outputs", "expected >= 1, got " + std::to_string(num_outputs));
  }
  if ((type == HeadType::kMultiClass || type == HeadType::kMultiOutput) && num_classes < 2) {
    fail("num_classes", "expected >= 2, got " + std::to_string(num_classes));
  }
  if (type == HeadType::kMultiOutput && num_tasks < 1) {
    fail("num_tasks", "expected >= 1, got " + std::to_string(num_tasks));
  }
  if (hidden < 0) fail("hidden", "expected >= 0 (0 = no hidden layer), got " + std::to_string(hidden));
  if (!(dropout >= 0.0 && dropout < 1.0)) fail("dropout", "expected in [0, 1), got " + std::to_string(dropout));
  if (metadata_dim < 0) fail("metadata_dim", "expected >= 0, got " + std::to_string(metadata_dim));
}

// ---- Model ------------------------------------------------------------------------------------

std::string shape_string(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

void Model::build_head(int64_t in_channels, int64_t embedding_dim, const HeadOptions& head) {
  head.validate();
  head_ = head;
  in_channels_ = in_channels;
  embedding_dim_ = embedding_dim;
  dropout_ = register_module("head_dropout", Dropout(head.dropout));
  int64_t width = embedding_dim + head.metadata_dim;
  if (head.hidden > 0) {
    hidden_ = register_module("head_hidden", torch::nn::Linear(width, head.hidden));
    width = head.hidden;
  }
  fc_ = register_module("fc", torch::nn::Linear(width, head.fc_outputs()));
}

std::vector<std::string> Model::head_modules() const {
  if (hidden_) return {"head_hidden", "fc"};
  return {"fc"};
}

void Model::reset_head() {
  if (hidden_) hidden_->reset_parameters();
  fc_->reset_parameters();
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void Model::check_input(const torch::Tensor& x) const {
  const int64_t dims = spatial_dims() + 2;
  if (!x.defined() || x.dim() != dims || x.size(1) != in_channels_) {
    const char* layout = spatial_dims() == 2 ? "[N,C,H,W]" : "[N,C,D,H,W]";
    throw ValueError(std::string("model input: expected ") + layout + " with C=" +
                     std::to_string(in_channels_) + ", got " +
                     (x.defined() ? shape_string(x.sizes()) : std::string("an undefined tensor")));
  }
}

torch::Tensor Model::features(const torch::Tensor& x) {
  check_input(x);
  return embed(x);
}

torch::Tensor Model::feature_maps(const torch::Tensor&) {
  throw ValueError("this model has no spatial feature maps (class activation maps need a 2D CNN such as a ResNet)");
}

torch::Tensor Model::head_forward(const torch::Tensor& embedding) {
  if (head_.metadata_dim > 0) throw ValueError("head_forward: the head fuses metadata; use forward()");
  return run_head(embedding);
}

torch::Tensor Model::run_head(torch::Tensor z) {
  z = dropout_(z);
  if (hidden_) z = dropout_(torch::relu(hidden_(z)));
  z = fc_(z);
  // -1, not z.size(0): a traced graph then accepts any batch size.
  if (head_.type == HeadType::kMultiOutput) z = z.view({-1, head_.num_tasks, head_.num_classes});
  return z;
}

torch::Tensor Model::forward(const torch::Tensor& x, const torch::Tensor& metadata) {
  torch::Tensor z = features(x);
  if (head_.metadata_dim > 0) {
    if (!metadata.defined() || metadata.dim() != 2 || metadata.size(0) != x.size(0) ||
        metadata.size(1) != head_.metadata_dim) {
      throw ValueError("model metadata: expected [N," + std::to_string(head_.metadata_dim) + "] with N=" +
                       std::to_string(x.size(0)) + ", got " +
                       (metadata.defined() ? shape_string(metadata.sizes()) : std::string("none")));
    }
    z = torch::cat({z, metadata.to(z.dtype())}, 1);
  }
  return run_head(z);
}

// ---- ModelSpec --------------------------------------------------------------------------------

void ModelSpec::validate() const {
  if (arch.empty()) throw ConfigError("model.arch: expected a model name, got an empty string");
  if (in_channels < 1) throw ConfigError("model.in_channels: expected >= 1, got " + std::to_string(in_channels));
  head.validate();
}

ModelSpec decode_model_spec(ConfigReader& r) {
  ModelSpec spec;
  r.get("arch", spec.arch).get("in_channels", spec.in_channels);

  ConfigReader h = r.child("head");
  std::string type = to_string(spec.head.type);
  h.get("type", type);
  try {
    spec.head.type = parse_head_type(type);
  } catch (const ConfigError& e) {
    throw ConfigError(r.source() + ": key '" + h.dotted("type") + "': " + e.what());
  }
  h.get("num_outputs", spec.head.num_outputs)
      .get("num_classes", spec.head.num_classes)
      .get("num_tasks", spec.head.num_tasks)
      .get("hidden", spec.head.hidden)
      .get("dropout", spec.head.dropout)
      .get("metadata_dim", spec.head.metadata_dim);
  h.finish();

  ConfigReader s = r.child("simple_cnn");
  s.get("widths", spec.simple_cnn.widths).get("hidden", spec.simple_cnn.hidden);
  if (s.has("input_size")) {
    std::vector<int64_t> size;
    s.get("input_size", size);
    if (size.size() == 1) size.push_back(size[0]);
    if (size.size() != 2) {
      throw ConfigError(r.source() + ": key '" + s.dotted("input_size") + "' expected [rows, cols], got " +
                        std::to_string(size.size()) + " values");
    }
    spec.simple_cnn.input_size = {size[0], size[1]};
  }
  s.finish();

  ConfigReader t = r.child("resnet3d");
  t.get("conv1_t_size", spec.resnet3d.conv1_t_size)
      .get("conv1_t_stride", spec.resnet3d.conv1_t_stride)
      .get("no_max_pool", spec.resnet3d.no_max_pool);
  t.finish();

  ConfigReader dn = r.child("densenet3d");
  decode_densenet3d_layout(dn, spec.densenet3d);
  ConfigReader sr = r.child("segresnet3d");
  decode_segresnet3d_layout(sr, spec.segresnet3d);
  ConfigReader du = r.child("dynunet3d");
  decode_dynunet3d_layout(du, spec.dynunet3d);
  ConfigReader vt = r.child("vit3d");
  decode_vit3d_layout(vt, spec.vit3d);
  ConfigReader sw = r.child("swinunetr3d");
  decode_swinunetr3d_layout(sw, spec.swinunetr3d);

  ConfigReader p = r.child("pretrained");
  std::string mode = to_string(spec.pretrained.load.input_channel_mode);
  p.get("path", spec.pretrained.path)
      .get("strict", spec.pretrained.load.strict)
      .get("adapt_input_channels", spec.pretrained.load.adapt_input_channels)
      .get("input_channel_mode", mode)
      .get("reinit_head", spec.pretrained.load.reinit_head);
  try {
    spec.pretrained.load.input_channel_mode = parse_input_channel_mode(mode);
  } catch (const ConfigError& e) {
    throw ConfigError(r.source() + ": key '" + p.dotted("input_channel_mode") + "': " + e.what());
  }
  p.finish();
  r.finish();

  try {
    spec.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(r.source() + ": " + e.what());
  }
  return spec;
}

}  // namespace tomograd::models
