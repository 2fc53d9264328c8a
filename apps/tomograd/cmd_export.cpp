// tomograd export RUN --out model.pt: a trained run's model as a TorchScript file
// (train::export_run with the model of the run's config).
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "tomograd/models/model.hpp"
#include "tomograd/tasks/common/export_model.hpp"
#include "tomograd/train/export.hpp"

namespace tomograd::app {

namespace {

struct ExportModelOptions {
  std::string run, out, checkpoint = "best", shape;
  int64_t batch = 1;
  bool force = false;
};

void run_export_model(const ExportModelOptions& o) {
  train::ExportRequest request;
  request.run = o.run;
  request.out = o.out;
  request.checkpoint = o.checkpoint;
  request.shape = o.shape;
  request.batch = o.batch;
  request.force = o.force;
  const train::ExportResult r = train::export_run(request, tasks::model_for_export);
  std::cout << "wrote " << o.out << ": " << r.arch << " from " << r.checkpoint.string() << " (epoch " << r.epoch
            << ")\n"
            << "input " << models::shape_string(r.input_shape) << " float32, output "
            << models::shape_string(r.output_shape) << "\n"
            << "max abs difference TorchScript vs C++: " << std::setprecision(3) << r.max_abs_diff << "\n"
            << "batch size: " << (r.any_batch ? "any" : std::to_string(o.batch) + " only") << "\n";
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
