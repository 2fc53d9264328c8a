// The multi-tensor Adam/AdamW must do exactly what LibTorch's per-parameter loop does.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/optim.hpp"

using namespace tomograd;
using namespace tomograd::train;

namespace {

struct TwoLayerImpl : torch::nn::Module {
  TwoLayerImpl() {
    a = register_module("a", torch::nn::Linear(5, 7));
    b = register_module("b", torch::nn::Linear(7, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b(torch::relu(a(x))); }
  torch::nn::Linear a{nullptr}, b{nullptr};
};
TORCH_MODULE(TwoLayer);

// Trains a copy of the same network for @p steps with either optimizer; layer b is frozen for the
// first two steps, so the parameters' step counts differ (the scalar-list path).
std::vector<torch::Tensor> train_copy(const std::string& name, bool foreach, int steps) {
  torch::manual_seed(3);
  TwoLayer net;
  OptimOptions o;
  o.name = name;
  o.lr = 0.05;
  o.weight_decay = 0.01;
  o.foreach = foreach;
  auto opt = make_optimizer(*net, o, make_param_groups(*net, {"a."}));
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({16, 5}), y = torch::randn({16, 2});
  for (int s = 0; s < steps; ++s) {
    for (auto& p : net->b->parameters()) p.set_requires_grad(s >= 2);
    zero_grad_to_none(*opt);
    torch::mse_loss(net->forward(x), y).backward();
    opt->step();
  }
  std::vector<torch::Tensor> out;
  for (auto& p : net->parameters()) out.push_back(p.detach().clone());
  return out;
}

}  // namespace

TEST_CASE("multi-tensor Adam and AdamW match LibTorch's per-parameter loop", "[train]") {
  for (const std::string name : {"adamw", "adam"}) {
    INFO(name);
    const auto fused = train_copy(name, true, 6), loop = train_copy(name, false, 6);
    REQUIRE(fused.size() == loop.size());
    for (std::size_t i = 0; i < fused.size(); ++i) {
      INFO("parameter " << i << ", largest difference " << (fused[i] - loop[i]).abs().max().item<float>());
      CHECK(torch::allclose(fused[i], loop[i], 1e-6, 1e-7));
    }
    // And it trained: the weights moved from their initial values.
    torch::manual_seed(3);
    TwoLayer fresh;
    CHECK_FALSE(torch::allclose(fresh->parameters()[0], fused[0]));
  }
}

TEST_CASE("zero_grad_to_none drops gradients instead of zeroing them", "[train]") {
  TwoLayer net;
  auto opt = make_optimizer(*net, OptimOptions{}, make_param_groups(*net, {}));
  net->forward(torch::randn({2, 5})).sum().backward();
  CHECK(net->a->weight.grad().defined());
  zero_grad_to_none(*opt);
  for (auto& p : net->parameters()) CHECK_FALSE(p.grad().defined());
}
