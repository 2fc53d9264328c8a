// tomograd export RUN --out model.pt: a trained run's model as a TorchScript file.
#include <torch/script.h>
#include <torch/torch.h>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/export.hpp"

namespace fs = std::filesystem;

namespace tomograd::app {

namespace {

struct ExportModelOptions {
  std::string run, out, checkpoint = "best", shape;
  int64_t batch = 1;
  bool force = false;
};

// "best", "last", "final" or any other tag (best_f1, a curriculum stage) name a file in
// RUN/checkpoints; anything that looks like a path is used as given.
fs::path checkpoint_path(const fs::path& run, const std::string& which) {
  const bool is_name = which.find('/') == std::string::npos && fs::path(which).extension() != ".pt";
  const fs::path path = is_name ? run / "checkpoints" / (which + ".pt") : fs::path(which);
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  std::string available;
  for (const auto& e : fs::directory_iterator(run / "checkpoints", ec)) {
    if (e.path().extension() == ".pt") available += (available.empty() ? "" : ", ") + e.path().stem().string();
  }
  throw IoError("checkpoint '" + path.string() + "' does not exist (--checkpoint " + which + "); " +
                (available.empty() ? "the run has no checkpoints in '" + (run / "checkpoints").string() + "'"
                                   : "available: " + available));
}

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
std::vector<int64_t> example_shape(const ExportModelOptions& o, ConfigReader& root, const models::ModelSpec& spec,
                                   int dims) {
  if (!o.shape.empty()) {
    std::vector<int64_t> shape = parse_shape(o.shape);
    if (static_cast<int>(shape.size()) != dims + 1) {
      throw ValueError("--shape '" + o.shape + "': " + spec.arch + " is a " + std::to_string(dims) +
                       "D model, expected " + (dims == 3 ? "C,D,H,W" : "C,H,W"));
    }
    if (shape[0] != spec.in_channels) {
      throw ValueError("--shape '" + o.shape + "': the model has " + std::to_string(spec.in_channels) +
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

// The C++ tracer records sizes read as plain integers (x.size(0) in a view) as constants, so a
// trace can be specialised to the example's batch size. Running the reloaded file on one more
// sample tells the user now instead of at deployment.
bool runs_at_other_batch(const fs::path& file, models::Model& model, const torch::Tensor& example) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::cat({example, example.narrow(0, 0, 1)});
  try {
    torch::jit::Module loaded = torch::jit::load(file.string());
    loaded.eval();
    const torch::Tensor got = loaded.forward({x}).toTensor();
    const torch::Tensor expected = model.forward(x);
    return got.sizes() == expected.sizes() && torch::allclose(got, expected, 1e-3, 1e-4);
  } catch (const std::exception&) {  // c10::Error, or the interpreter's JITException
    return false;
  }
}

void run_export_model(const ExportModelOptions& o) {
  const fs::path run = o.run;
  std::error_code ec;
  if (!fs::is_directory(run, ec)) throw IoError("run directory '" + run.string() + "' does not exist");
  const fs::path config = run / "config.yaml";
  if (!fs::is_regular_file(config, ec)) {
    throw IoError("'" + config.string() + "' does not exist: is '" + run.string() + "' a training run directory?");
  }
  if (fs::exists(o.out, ec) && !o.force) throw IoError("'" + o.out + "' already exists; pass --force to overwrite it");
  const fs::path checkpoint = checkpoint_path(run, o.checkpoint);

  // Only the model section: a task's config has other sections this command does not read.
  ConfigReader root(load_yaml_file(config), config.string());
  if (!root.has("model")) throw ConfigError(config.string() + ": no 'model:' section to build the model from");
  ConfigReader model_section = root.child("model");
  models::ModelSpec spec = models::decode_model_spec(model_section);
  spec.pretrained.path.clear();  // the checkpoint holds every weight
  if (spec.head.metadata_dim > 0) {
    throw ValueError("cannot export " + spec.arch + ": its head fuses a metadata vector (model.head.metadata_dim " +
                     std::to_string(spec.head.metadata_dim) + "), the exported module takes one input tensor");
  }
  models::register_builtin_models();
  const int dims = models::ModelRegistry::global().get(spec.arch).spatial_dims;
  std::vector<int64_t> shape = example_shape(o, root, spec, dims);
  shape.insert(shape.begin(), o.batch);

  models::ModelPtr model = models::create_model(spec);
  const train::CheckpointMeta meta = train::load_checkpoint(checkpoint, *model, nullptr);
  torch::manual_seed(0);
  const torch::Tensor example = torch::randn(shape);
  const fs::path out = o.out;
  if (out.has_parent_path()) ensure_directory(out.parent_path());
  const double diff =
      train::export_torchscript(*model, [&](const torch::Tensor& x) { return model->forward(x); }, example, out);
  std::vector<int64_t> output = model->head_options().output_shape();
  output.insert(output.begin(), o.batch);
  // Tracing reuses the same kernels, so anything beyond float rounding means a broken export.
  if (!(diff <= 1e-4)) logger()->warn("the exported module differs from the C++ model by up to {}", diff);
  const bool any_batch = runs_at_other_batch(out, *model, example);
  if (!any_batch) {
    logger()->warn("the exported module only runs at batch size {} (the trace fixed it); export with --batch set to "
                   "the batch size you will run",
                   o.batch);
  }
  std::cout << "wrote " << out.string() << ": " << spec.arch << " from " << checkpoint.string() << " (epoch "
            << meta.epoch << ")\n"
            << "input " << models::shape_string(shape) << " float32, output " << models::shape_string(output) << "\n"
            << "max abs difference TorchScript vs C++: " << std::setprecision(3) << diff << "\n"
            << "batch size: " << (any_batch ? "any" : std::to_string(o.batch) + " only") << "\n";
}

}  // namespace

void setup_export(CLI::App& app) {
  auto o = std::make_shared<ExportModelOptions>();
  auto* cmd = app.add_subcommand(
      "export",
      "Export a trained model as TorchScript, loadable with torch::jit::load (C++) or torch.jit.load\n"
      "(Python) without tomograd. Rebuilds the model from RUN/config.yaml's model: section, loads a\n"
      "checkpoint, traces forward() on a random example input and checks that the reloaded file gives\n"
      "the same outputs (the max abs difference is printed), and whether it runs at other batch sizes\n"
      "(multi-output heads may be fixed to --batch). Parameters keep their tomograd names (conv1.weight).\n"
      "Examples:\n"
      "  tomograd export runs/bmd_resnet18 --out bmd.pt\n"
      "  tomograd export runs/ich_3d --out ich.pt --checkpoint final --shape 1,32,128,128\n"
      "  tomograd export runs/bmd_resnet18 --out bmd_f1.pt --checkpoint runs/bmd_resnet18/checkpoints/best_f1.pt "
      "--force");
  cmd->add_option("run", o->run, "training run directory holding config.yaml and checkpoints/, e.g. runs/bmd_resnet18")
      ->required();
  cmd->add_option("--out", o->out,
                  "TorchScript file to write, e.g. --out model.pt (required; an existing file is kept unless --force)")
      ->required();
  cmd->add_option("--checkpoint", o->checkpoint,
                  "best, last or final (RUN/checkpoints/<name>.pt; another tag such as best_f1 works too) or the "
                  "path of a .pt checkpoint, e.g. --checkpoint last (default: best)")
      ->capture_default_str();
  cmd->add_option("--shape", o->shape,
                  "example input without the batch: C,H,W for 2D models, C,D,H,W for 3D models, e.g. --shape 1,256,256 "
                  "(default for 2D models: model.in_channels and preprocess.resize height,width from config.yaml, "
                  "or simple_cnn's input_size; 3D models and other configs without a resize need --shape)");
  cmd->add_option("--batch", o->batch, "batch size of the example input, e.g. --batch 4 (default: 1)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--force", o->force, "overwrite --out if it exists (default: refuse)");
  cmd->callback([o] { run_export_model(*o); });
}

}  // namespace tomograd::app
