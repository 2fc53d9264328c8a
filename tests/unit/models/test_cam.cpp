// Class activation maps and the head-only forward they rest on.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tomograd/core/error.hpp"
#include "tomograd/models/cam.hpp"
#include "tomograd/models/registry.hpp"

using namespace tomograd;
using namespace tomograd::models;

namespace {
ModelPtr tiny_resnet(HeadType type, int64_t outputs) {
  register_builtin_models();
  ModelSpec spec;
  spec.arch = "resnet18";
  spec.in_channels = 1;
  spec.head.type = type;
  spec.head.num_outputs = outputs;
  spec.head.hidden = 8;
  return create_model(spec);
}
}  // namespace

TEST_CASE("head_forward(features(x)) equals forward(x), feature maps pool to features", "[models][cam]") {
  torch::manual_seed(0);
  auto model = tiny_resnet(HeadType::kRegression, 2);
  model->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({3, 1, 64, 64});
  auto maps = model->feature_maps(x);
  CHECK(maps.sizes() == torch::IntArrayRef({3, 512, 2, 2}));
  CHECK(torch::allclose(maps.mean({2, 3}), model->features(x), 1e-5, 1e-6));
  CHECK(torch::allclose(model->head_forward(model->features(x)), model->forward(x), 1e-5, 1e-6));
}

TEST_CASE("grad_cam: [N,H,W] in [0,1], follows the evidence, leaves parameters without gradients", "[models][cam]") {
  torch::manual_seed(1);
  auto model = tiny_resnet(HeadType::kBinary, 1);
  model->eval();
  auto x = torch::randn({2, 1, 64, 64});
  auto cam = grad_cam(*model, x, 0);
  CHECK(cam.sizes() == torch::IntArrayRef({2, 64, 64}));
  CHECK(cam.min().item<float>() >= 0.0f);
  CHECK(cam.max().item<float>() <= 1.0f + 1e-6f);
  for (const auto& p : model->parameters()) CHECK_FALSE(p.grad().defined());
  // Same input, same map; the map of each image does not depend on the other images (eval mode).
  CHECK(torch::allclose(cam, grad_cam(*model, x, 0)));
  CHECK(torch::allclose(cam[1], grad_cam(*model, x.slice(0, 1, 2), 0)[0], 1e-4, 1e-5));
  CHECK_THROWS_AS(grad_cam(*model, x, 1), ValueError);
  CHECK_THROWS_AS(grad_cam(*model, x[0], 0), ValueError);
}

TEST_CASE("grad_cam is refused for models without feature maps", "[models][cam]") {
  register_builtin_models();
  ModelSpec spec;
  spec.arch = "resnet3d_10";
  auto model = create_model(spec);
  CHECK_THROWS_WITH(grad_cam(*model, torch::zeros({1, 1, 8, 32, 32}).squeeze(2), 0),
                    Catch::Contains("no spatial feature maps") || Catch::Contains("expected"));
}
