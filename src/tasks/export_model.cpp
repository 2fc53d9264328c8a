// The model of a run's config for TorchScript export (any task: only the model: section is read).
#include "tomograd/tasks/common/export_model.hpp"

#include <sstream>

#include "tomograd/core/error.hpp"
#include "tomograd/models/registry.hpp"

namespace tomograd::tasks {

namespace {

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    std::size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 1) {
      throw ValueError("--shape '" + text + "': expected positive integers C,H,W or C,D,H,W, e.g. 1,256,256");
    }
    shape.push_back(v);
  }
  if (shape.size() != 3 && shape.size() != 4) {
    throw ValueError("--shape '" + text + "': expected C,H,W (2D models) or C,D,H,W (3D models)");
  }
  return shape;
}

// The example input's shape without the batch: --shape, else the in-plane size the run was
// preprocessed to (preprocess.resize), else, for simple_cnn, the one size it accepts.
std::vector<int64_t> example_shape(const std::string& text, ConfigReader& root, const models::ModelSpec& spec,
                                   int dims) {
  if (!text.empty()) {
    std::vector<int64_t> shape = parse_shape(text);
    if (static_cast<int>(shape.size()) != dims + 1) {
      throw ValueError("--shape '" + text + "': " + spec.arch + " is a " + std::to_string(dims) +
                       "D model, expected " + (dims == 3 ? "C,D,H,W" : "C,H,W"));
    }
    if (shape[0] != spec.in_channels) {
      throw ValueError("--shape '" + text + "': the model has " + std::to_string(spec.in_channels) +
                       " input channels (model.in_channels in " + root.source() + ")");
    }
    return shape;
  }
  if (dims == 3) {
    throw ValueError(spec.arch + " is a 3D model: pass the example volume size with --shape C,D,H,W, e.g. --shape " +
                     std::to_string(spec.in_channels) + ",32,128,128");
  }
  ConfigReader resize = root.child("preprocess").child("resize");
  int64_t height = 0, width = 0;
  resize.get("height", height).get("width", width);
  if (height > 0 && width > 0) return {spec.in_channels, height, width};
  if (spec.arch == "simple_cnn") return {spec.in_channels, spec.simple_cnn.input_size[0], spec.simple_cnn.input_size[1]};
  throw ValueError(root.source() + " has no preprocess.resize {height, width}: pass the example size with --shape "
                   "C,H,W, e.g. --shape " + std::to_string(spec.in_channels) + ",256,256");
}

}  // namespace

train::ExportModel model_for_export(ConfigReader& root, const std::string& shape) {
  // Only the model section: a task's config has other sections this command does not read.
  if (!root.has("model")) throw ConfigError(root.source() + ": no 'model:' section to build the model from");
  ConfigReader model_section = root.child("model");
  models::ModelSpec spec = models::decode_model_spec(model_section);
  spec.pretrained.path.clear();  // the checkpoint holds every weight
  if (spec.head.metadata_dim > 0) {
    throw ValueError("cannot export " + spec.arch + ": its head fuses a metadata vector (model.head.metadata_dim " +
                     std::to_string(spec.head.metadata_dim) + "), the exported module takes one input tensor");
  }
  models::register_builtin_models();
  const int dims = models::ModelRegistry::global().get(spec.arch).spatial_dims;
  train::ExportModel m;
  m.example_shape = example_shape(shape, root, spec, dims);
  models::ModelPtr model = models::create_model(spec);
  m.module = model;
  m.forward = [model](const torch::Tensor& x) { return model->forward(x); };
  m.output_shape = model->head_options().output_shape();
  m.arch = spec.arch;
  return m;
}

}  // namespace tomograd::tasks
