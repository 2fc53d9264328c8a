// TorchScript export by tracing (what torch.jit.trace does, driven from C++).
#include "tomograd/train/export.hpp"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/script.h>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/run_dir.hpp"

namespace tomograd::train {

namespace {

// Mirrors the C++ module tree as TorchScript modules holding the very same tensors, so the
// tracer can turn every parameter use into an attribute access (self.layer1.0.conv1.weight).
// Type names must be identifiers and unique: they are derived from the submodule path
// ("layer1.0" becomes M_layer1_0).
void mirror(torch::nn::Module& source, torch::jit::Module& target, const std::string& path) {
  for (auto& p : source.named_parameters(/*recurse=*/false)) target.register_parameter(p.key(), p.value(), false);
  for (auto& b : source.named_buffers(/*recurse=*/false)) target.register_buffer(b.key(), b.value());
  for (auto& child : source.named_children()) {
    std::string sub_path = path + "_" + child.key();
    std::string type_name = "M" + sub_path;
    for (char& c : type_name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    torch::jit::Module sub("__torch__.tomograd." + type_name);
    mirror(*child.value(), sub, sub_path);
    target.register_module(child.key(), sub);
  }
}

// The C++ tracer records sizes read as plain integers (x.size(0) in a view) as constants, so a
// trace can be specialised to the example's batch size. Running the reloaded file on one more
// sample tells the user now instead of at deployment.
bool runs_at_other_batch(const std::filesystem::path& file, const ExportModel& model, const torch::Tensor& example) {
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

}  // namespace

ExportResult export_run(const ExportRequest& request, const ExportModelFactory& build) {
  std::error_code ec;
  const RunDir run = RunDir::open(request.run, {}, "training", "a train command");
  ConfigReader config = run.config();
  if (std::filesystem::exists(request.out, ec) && !request.force) {
    throw IoError("'" + request.out.string() + "' already exists; pass --force to overwrite it");
  }
  ExportResult result;
  result.checkpoint = run.checkpoint(request.checkpoint);
  ExportModel model = build(config, request.shape);
  result.arch = model.arch;
  result.input_shape = model.example_shape;
  result.input_shape.insert(result.input_shape.begin(), request.batch);
  result.output_shape = model.output_shape;
  result.output_shape.insert(result.output_shape.begin(), request.batch);
  result.epoch = load_checkpoint(result.checkpoint, *model.module, nullptr).epoch;
  torch::manual_seed(0);
  const torch::Tensor example = torch::randn(result.input_shape);
  if (request.out.has_parent_path()) ensure_directory(request.out.parent_path());
  result.max_abs_diff = export_torchscript(*model.module, model.forward, example, request.out);
  // Tracing reuses the same kernels, so anything beyond float rounding means a broken export.
  if (!(result.max_abs_diff <= 1e-4)) {
    logger()->warn("the exported module differs from the C++ model by up to {}", result.max_abs_diff);
  }
  result.any_batch = runs_at_other_batch(request.out, model, example);
  if (!result.any_batch) {
    logger()->warn("the exported module only runs at batch size {} (the trace fixed it); export with --batch set to "
                   "the batch size you will run",
                   request.batch);
  }
  return result;
}

double export_torchscript(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          const torch::Tensor& example, const std::filesystem::path& path) {
  module.eval();
  torch::NoGradGuard no_grad;
  torch::jit::Module script("__torch__.tomograd.Model");
  mirror(module, script, "");
  torch::Tensor expected = forward(example);

  std::shared_ptr<torch::jit::Graph> graph;
  try {
    auto traced = torch::jit::tracer::trace(
        {example},
        [&](torch::jit::Stack inputs) -> torch::jit::Stack { return {forward(inputs.at(0).toTensor())}; },
        [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/true, /*force_outplace=*/false,
        &script);
    graph = std::get<0>(traced)->graph;
  } catch (const c10::Error& e) {
    torch::jit::tracer::abandon();
    throw Error(std::string("TorchScript tracing failed: ") + e.what_without_backtrace());
  }
  auto fn = script._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*script.type()->name(), "forward"), graph);
  script.type()->addMethod(fn);

  AtomicFile file(path, Overwrite::kAllow);
  script.save(file.temp_path().string());
  torch::jit::Module loaded = torch::jit::load(file.temp_path().string());
  loaded.eval();
  torch::Tensor got = loaded.forward({example}).toTensor();
  if (got.sizes() != expected.sizes()) throw Error("exported module returns shape " + c10::str(got.sizes()));
  const double diff = (got - expected).abs().max().item<double>();
  file.commit();
  return diff;
}

}  // namespace tomograd::train
