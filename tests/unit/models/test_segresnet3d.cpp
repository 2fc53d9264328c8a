// segresnet3d: MONAI's SegResNet encoder names and shapes, a hand-counted parameter total, the
// lumbar head, MONAI-named weights loading, overfitting one tiny batch.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "nets3d_testing.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/models/segresnet3d.hpp"

using namespace tomograd;
using namespace tomograd::models;
using namespace tomograd::models::testing;

namespace {

SegResNet3dOptions tiny_segresnet() {
  SegResNet3dOptions o;
  o.layout.init_filters = 8;
  o.layout.blocks_down = {1, 1};
  return o;
}

}  // namespace

TEST_CASE("segresnet3d: MONAI key names, shapes and a hand-counted parameter total", "[models]") {
  // Read in Project-MONAI/MONAI at 01ad2196:
  //   monai/networks/nets/segresnet.py: SegResNet.__init__ line 82 `self.convInit =
  //     get_conv_layer(spatial_dims, in_channels, init_filters)`; _make_down_layers (lines 90-110):
  //     level i has filters*2**i channels, pre_conv = get_conv_layer(c//2, c, stride=2) if i > 0
  //     else nn.Identity(), then blocks_down[i] ResBlocks, all in one nn.Sequential (so the
  //     ResBlocks are numbered from 1); dropout (lines 87-88) after convInit in forward.
  //   monai/networks/blocks/segresnet_block.py: get_conv_layer (lines 23-35) is
  //     Convolution(conv_only=True, bias=False) -> child `conv`; ResBlock (line 52, modules at
  //     79-83): norm1, norm2 (GroupNorm 8 groups), relu, conv1, conv2 (3x3x3, in -> in).
  // Hand count, init_filters 8, blocks_down (1, 1), 1 input channel:
  //   convInit.conv 8*1*27 = 216
  //   down_layers.0: Identity + ResBlock(8): norm1 16 + conv1 8*8*27 = 1728 + norm2 16 + conv2 1728 = 3488
  //   down_layers.1: pre_conv 16*8*27 = 3456 + ResBlock(16): 32 + 6912 + 32 + 6912 = 13888 -> 17344
  //   backbone 216 + 3488 + 17344 = 21048; head fc 16 -> 1: 17; total 21065, embedding 16.
  SegResNet3d model(tiny_segresnet());
  CHECK(model->parameter_count() == 21065);
  CHECK(model->embedding_dim() == 16);
  check_keys(*model, {{"convInit.conv.weight", {8, 1, 3, 3, 3}},
                      {"down_layers.0.1.norm1.weight", {8}},
                      {"down_layers.0.1.conv1.conv.weight", {8, 8, 3, 3, 3}},
                      {"down_layers.0.1.conv2.conv.weight", {8, 8, 3, 3, 3}},
                      {"down_layers.1.0.conv.weight", {16, 8, 3, 3, 3}},
                      {"down_layers.1.1.norm2.bias", {16}},
                      {"down_layers.1.1.conv2.conv.weight", {16, 16, 3, 3, 3}}});
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    CHECK((p.key().rfind("convInit.", 0) == 0 || p.key().rfind("down_layers.", 0) == 0 ||
           p.key().rfind("fc.", 0) == 0));
  }
  // Two levels: 16 -> 8 per axis.
  torch::NoGradGuard no_grad;
  model->eval();
  CHECK(model->forward(torch::randn({2, 1, 16, 16, 16})).sizes() == torch::IntArrayRef({2, 1}));
}

TEST_CASE("segresnet3d: MONAI defaults, lumbar head, MONAI names load, bad options", "[models]") {
  register_builtin_models();
  ModelSpec spec;
  spec.arch = "segresnet3d";
  spec.in_channels = 2;
  spec.head = lumbar_head();
  ModelPtr model = create_model(spec);
  CHECK(model->embedding_dim() == 64);  // 8 * 2^3
  check_lumbar_head(*model, torch::randn({2, 2, 16, 32, 32}));
  ModelPtr fresh = create_model(spec);
  check_monai_names_load(*model, *fresh,
                         {"up_layers.0.0.conv1.conv.weight", "up_samples.0.0.conv.weight", "conv_final.2.conv.weight"});

  spec.segresnet3d.init_filters = 12;
  CHECK_THROWS_WITH(create_model(spec), Catch::Contains("segresnet3d.init_filters"));
}

TEST_CASE("segresnet3d: binary head, overfits one tiny batch", "[models][slow]") {
  torch::manual_seed(5);
  SegResNet3dOptions o = tiny_segresnet();
  o.in_channels = 2;
  o.head = binary_head();
  o.layout.dropout = 0.1;
  SegResNet3d binary(o);
  binary->eval();
  CHECK(binary->forward(torch::randn({3, 2, 8, 16, 16})).sizes() == torch::IntArrayRef({3, 1}));

  o.head = HeadOptions{};
  o.layout.dropout = 0.0;
  SegResNet3d model(o);
  check_overfits(*model, torch::randn({2, 2, 16, 16, 16}));
}
