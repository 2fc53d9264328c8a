// dynunet3d: MONAI's DynUNet encoder names and shapes, hand-counted parameter totals (basic and
// residual blocks), anisotropic strides, the lumbar head, MONAI-named weights, overfitting.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "nets3d_testing.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/dynunet3d.hpp"
#include "tomograd/models/registry.hpp"

using namespace tomograd;
using namespace tomograd::models;
using namespace tomograd::models::testing;

namespace {

// Three levels (input block, one downsample, bottleneck), filters 4, 8, 16.
DynUNet3dOptions tiny(bool res) {
  DynUNet3dOptions o;
  o.layout.kernel_size = {{3, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  o.layout.strides = {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}};
  o.layout.filters = {4, 8, 16};
  o.layout.res_block = res;
  return o;
}

}  // namespace

TEST_CASE("dynunet3d: MONAI key names, shapes and hand-counted parameter totals", "[models]") {
  // Read in Project-MONAI/MONAI:
  //   monai/networks/nets/dynunet.py (01de79f3): filters rule line 106
  //     min(2 ** (5 + i), 320 if 3D); input_block / downsamples / bottleneck lines 107-109, built by
  //     get_input_block (in -> f[0], k[0], s[0]), get_downsamples (f[i] -> f[i+1], k[1:-1],
  //     s[1:-1], an nn.ModuleList) and get_bottleneck (f[-2] -> f[-1], k[-1], s[-1]).
  //   monai/networks/blocks/dynunet_block.py (06b28e5b): UnetResBlock (line 25; conv1 line 55,
  //     conv2 line 66, norm1/norm2 lines 78-79, conv3 1x1x1 + norm3 when in != out or stride != 1,
  //     lines 80-96); UnetBasicBlock (line 114) the same without conv3/norm3; get_conv_layer:
  //     Convolution(..., bias=False) -> child `conv`; norm "instance" with affine (weight, bias).
  // Hand count, 1 input channel, filters (4, 8, 16), 3x3x3 kernels:
  //   input_block  (1 -> 4):  conv1 4*1*27 = 108 + norm1 8 + conv2 4*4*27 = 432 + norm2 8  = 556
  //   downsamples.0 (4 -> 8): conv1 8*4*27 = 864 + 16 + conv2 8*8*27 = 1728 + 16            = 2624
  //   bottleneck  (8 -> 16):  conv1 16*8*27 = 3456 + 32 + conv2 16*16*27 = 6912 + 32        = 10432
  //   backbone 13612; head fc 16 -> 1: 17; total 13629.
  //   Residual blocks add conv3 + norm3: 4*1 + 8, 8*4 + 16, 16*8 + 32 = 220 -> 13849.
  DynUNet3d basic(tiny(false));
  CHECK(basic->parameter_count() == 13629);
  CHECK(basic->embedding_dim() == 16);
  check_keys(*basic, {{"input_block.conv1.conv.weight", {4, 1, 3, 3, 3}},
                      {"input_block.norm1.weight", {4}},
                      {"input_block.conv2.conv.weight", {4, 4, 3, 3, 3}},
                      {"downsamples.0.conv1.conv.weight", {8, 4, 3, 3, 3}},
                      {"downsamples.0.norm2.bias", {8}},
                      {"bottleneck.conv2.conv.weight", {16, 16, 3, 3, 3}}});
  DynUNet3d res(tiny(true));
  CHECK(res->parameter_count() == 13849);
  check_keys(*res, {{"input_block.conv3.conv.weight", {4, 1, 1, 1, 1}},
                    {"input_block.norm3.weight", {4}},
                    {"downsamples.0.conv3.conv.weight", {8, 4, 1, 1, 1}},
                    {"bottleneck.norm3.bias", {16}}});
  CHECK(res->named_buffers().is_empty());  // instance norm keeps no running statistics, as in MONAI
}

TEST_CASE("dynunet3d: defaults, anisotropic strides, lumbar head, MONAI names load", "[models]") {
  register_builtin_models();
  ModelSpec spec;
  spec.arch = "dynunet3d";
  spec.in_channels = 2;
  spec.head = lumbar_head();
  CHECK(spec.dynunet3d.level_filters() == std::vector<int64_t>{32, 64, 128, 256, 320});
  ModelPtr model = create_model(spec);
  CHECK(model->embedding_dim() == 320);
  check_lumbar_head(*model, torch::randn({2, 2, 16, 32, 32}));
  ModelPtr fresh = create_model(spec);
  check_monai_names_load(*model, *fresh,
                         {"upsamples.0.transp_conv.conv.weight", "output_block.conv.conv.weight",
                          "output_block.conv.conv.bias"});

  // Anisotropic: keep the 8 slices, halve rows and columns; 1x3x3 kernels on the first level
  // (padding (k - s + 1) // 2 = 0, 1, 1 keeps the shape).
  DynUNet3dOptions o = tiny(true);
  o.layout.kernel_size = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  o.layout.strides = {{1, 1, 1}, {1, 2, 2}, {2, 2, 2}};
  DynUNet3d aniso(o);
  CHECK(aniso->named_parameters()["input_block.conv1.conv.weight"].sizes() == torch::IntArrayRef({4, 1, 1, 3, 3}));
  torch::NoGradGuard no_grad;
  aniso->eval();
  CHECK(aniso->forward(torch::randn({1, 1, 8, 16, 16})).sizes() == torch::IntArrayRef({1, 1}));

  o.layout.strides.pop_back();
  CHECK_THROWS_WITH(DynUNet3d(o), Catch::Contains("dynunet3d.strides"));
}

TEST_CASE("dynunet3d: batch norm, binary head, overfits one tiny batch", "[models][slow]") {
  torch::manual_seed(7);
  DynUNet3dOptions o = tiny(true);
  o.in_channels = 2;
  o.layout.norm = "batch";
  o.head = binary_head();
  DynUNet3d binary(o);
  binary->eval();
  CHECK(binary->forward(torch::randn({3, 2, 16, 16, 16})).sizes() == torch::IntArrayRef({3, 1}));

  o.head = HeadOptions{};
  o.layout.norm = "instance";
  DynUNet3d model(o);
  // Instance norm rescales every map, so the head needs a larger step than the BatchNorm nets.
  check_overfits(*model, torch::randn({2, 2, 16, 16, 16}), 3e-3);
}
