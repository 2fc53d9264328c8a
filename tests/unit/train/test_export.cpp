#include <catch2/catch.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "support/fixtures.hpp"
#include "tomograd/train/export.hpp"

using namespace tomograd;

namespace {
struct SmallConvImpl : torch::nn::Module {
  SmallConvImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3).padding(1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    head = register_module("head", torch::nn::Sequential(torch::nn::Linear(4, 3)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(bn(conv(x)));
    return head->forward(h.mean({2, 3}));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Sequential head{nullptr};
};
TORCH_MODULE(SmallConv);
}  // namespace

TEST_CASE("TorchScript export reproduces the C++ model", "[train]") {
  torch::manual_seed(0);
  SmallConv net;
  // Non-trivial BatchNorm statistics.
  net->train();
  for (int i = 0; i < 3; ++i) net->forward(torch::randn({4, 2, 8, 8}) * 2 + 1);
  test::TempDir tmp;
  auto example = torch::randn({2, 2, 8, 8});
  double diff = train::export_torchscript(*net, [&](const torch::Tensor& x) { return net->forward(x); }, example,
                                          tmp / "model.pt");
  CHECK(diff < 1e-6);
  // Another input, another batch size: the traced graph is not specialised to the example.
  auto module = torch::jit::load((tmp / "model.pt").string());
  auto other = torch::randn({5, 2, 12, 12});
  auto expected = net->forward(other);
  auto got = module.forward({other}).toTensor();
  CHECK(torch::allclose(got, expected, 1e-5, 1e-6));
  // Parameters keep their C++ names.
  bool found = false;
  for (const auto& p : module.named_parameters()) found = found || p.name == "conv.weight";
  CHECK(found);
}
