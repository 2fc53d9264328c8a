// densenet121_3d and its family: MONAI's names and shapes, a hand-counted parameter total, the
// lumbar head, overfitting one tiny batch, transitions on 16 slices.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "nets3d_testing.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/densenet3d.hpp"
#include "tomograd/models/registry.hpp"

using namespace tomograd;
using namespace tomograd::models;
using namespace tomograd::models::testing;

namespace {

// init 8, growth 4, blocks (2, 2), bn_size 2, 1 channel, one regression output.
DenseNet3dOptions tiny_densenet() {
  DenseNet3dOptions o = DenseNet3dOptions::variant(8, 4, {2, 2});
  o.layout.bn_size = 2;
  return o;
}

}  // namespace

TEST_CASE("densenet3d: MONAI key names, shapes and a hand-counted parameter total", "[models]") {
  // Read in Project-MONAI/MONAI monai/networks/nets/densenet.py (commit 014f7dff):
  //   _DenseLayer (lines 23-58, `layers` built at 43-54): Sequential `layers` = norm1(in), relu1,
  //     conv1(in -> bn_size*k, 1, no bias), norm2(bn_size*k), relu2, conv2(bn_size*k -> k, 3, no bias)
  //   _DenseBlock (lines 61-79): children denselayer1..n, in += k after each
  //   _Transition (lines 82-99, modules at 96-99): norm, relu, conv(in -> in//2, 1, no bias), pool (avg 2)
  //   DenseNet.__init__ (features at lines 141-171): features.conv0 (7, stride 2, pad 3, no bias), norm0,
  //     relu0, pool0 (max 3/2/1), denseblock{i}, transition{i} between blocks, norm5 last;
  //     class_layers (line 174): relu, pool, flatten, out (Linear)  [replaced by our head `fc`]
  // Hand count, init 8, k 4, blocks (2, 2), bn_size 2 (bottleneck 8), 1 input channel:
  //   conv0 8*1*343 = 2744, norm0 2*8 = 16
  //   denseblock1.denselayer1 (in 8):  norm1 16 + conv1 8*8 = 64 + norm2 16 + conv2 4*8*27 = 864 -> 960
  //   denseblock1.denselayer2 (in 12): norm1 24 + conv1 12*8 = 96 + norm2 16 + conv2 864       -> 1000
  //   transition1 (16 -> 8): norm 32 + conv 16*8 = 128                                        -> 160
  //   denseblock2: as denseblock1 (in 8 -> 16)                                                 -> 1960
  //   norm5 2*16 = 32;  backbone 2744 + 16 + 1960 + 160 + 1960 + 32 = 6872
  //   head fc 16 -> 1: 17;  total 6889, embedding 16.
  DenseNet3d model(tiny_densenet());
  CHECK(model->parameter_count() == 6889);
  CHECK(model->embedding_dim() == 16);
  check_keys(*model, {{"features.conv0.weight", {8, 1, 7, 7, 7}},
                      {"features.norm0.weight", {8}},
                      {"features.norm0.running_mean", {8}},
                      {"features.denseblock1.denselayer1.layers.norm1.weight", {8}},
                      {"features.denseblock1.denselayer1.layers.conv1.weight", {8, 8, 1, 1, 1}},
                      {"features.denseblock1.denselayer2.layers.conv1.weight", {8, 12, 1, 1, 1}},
                      {"features.denseblock1.denselayer2.layers.norm2.running_var", {8}},
                      {"features.denseblock1.denselayer2.layers.conv2.weight", {4, 8, 3, 3, 3}},
                      {"features.transition1.norm.weight", {16}},
                      {"features.transition1.conv.weight", {8, 16, 1, 1, 1}},
                      {"features.denseblock2.denselayer1.layers.conv2.weight", {4, 8, 3, 3, 3}},
                      {"features.norm5.weight", {16}},
                      {"features.norm5.num_batches_tracked", {}},
                      {"fc.weight", {1, 16}}});
  CHECK(model->input_conv() == "features.conv0");
  // No key outside MONAI's features.* besides our head.
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    CHECK((p.key().rfind("features.", 0) == 0 || p.key().rfind("fc.", 0) == 0));
  }
}

TEST_CASE("densenet121_3d: embedding 1024, lumbar shape with 16 slices, MONAI names load", "[models]") {
  register_builtin_models();
  ModelSpec spec;
  spec.arch = "densenet121_3d";
  spec.in_channels = 2;
  spec.head = lumbar_head();
  ModelPtr model = create_model(spec);
  CHECK(model->embedding_dim() == 1024);
  // 16 slices: 8 after conv0, 4 after pool0, then 2, 1 and 1 (a size-1 axis is kept) after the transitions.
  check_lumbar_head(*model, torch::randn({2, 2, 16, 32, 32}));

  ModelPtr fresh = create_model(spec);
  check_monai_names_load(*model, *fresh, {"class_layers.out.weight", "class_layers.out.bias"});

  spec.densenet3d.growth_rate = 16;  // overrides keep the variant's other values
  spec.densenet3d.block_config = {2, 2};
  CHECK(create_model(spec)->embedding_dim() == (64 + 2 * 16) / 2 + 2 * 16);
  spec.densenet3d.block_config = {2, 0};
  CHECK_THROWS_WITH(create_model(spec), Catch::Contains("densenet3d.block_config"));
}

TEST_CASE("densenet3d: binary and regression heads, overfits one tiny batch", "[models][slow]") {
  torch::manual_seed(3);
  DenseNet3dOptions o = tiny_densenet();
  o.in_channels = 2;
  o.head = binary_head();
  DenseNet3d binary(o);
  binary->eval();
  CHECK(binary->forward(torch::randn({3, 2, 16, 16, 16})).sizes() == torch::IntArrayRef({3, 1}));

  o.head = HeadOptions{};
  o.layout.dropout = 0.0;
  DenseNet3d model(o);
  check_overfits(*model, torch::randn({2, 2, 16, 16, 16}));
}
