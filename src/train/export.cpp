// TorchScript export by tracing (what torch.jit.trace does, driven from C++).
#include "tomograd/train/export.hpp"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/script.h>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"

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

}  // namespace

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
