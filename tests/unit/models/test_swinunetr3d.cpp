// swinunetr3d: MONAI's SwinUNETR encoder names and shapes, a hand-counted parameter total, the
// relative position index, the shifted-window mask and one shifted Swin block against an
// independent NumPy reference, patch merging orders, the lumbar head, overfitting one tiny batch.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "nets3d_testing.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/models/swinunetr3d.hpp"

using namespace tomograd;
using namespace tomograd::models;
using namespace tomograd::models::testing;

namespace {

// Recorded from `/usr/bin/python3 tests/unit/models/attention_reference.py` (NumPy 1.24.2,
// Debian bookworm python3-numpy, float64), 2026-12-06. The script builds the index from pairs of
// window positions, labels the shifted-window regions band by band and runs attention window by
// window with explicit loops, independently of tomograd's code.
// relative_position_index for a (2, 2, 2) window (8 x 8):
const std::vector<int64_t> kRelativePositionIndex = {
    13, 12, 10, 9, 4, 3, 1, 0,
    14, 13, 11, 10, 5, 4, 2, 1,
    16, 15, 13, 12, 7, 6, 4, 3,
    17, 16, 14, 13, 8, 7, 5, 4,
    22, 21, 19, 18, 13, 12, 10, 9,
    23, 22, 20, 19, 14, 13, 11, 10,
    25, 24, 22, 21, 16, 15, 13, 12,
    26, 25, 23, 22, 17, 16, 14, 13};
// shifted-window mask on (4, 4, 6), window 2, shift 1: -100 entries per window (of 64):
const std::vector<int64_t> kMaskCounts = {
    0, 0, 32, 32, 32, 48, 32, 32, 48, 48, 48, 56};
// SwinBlock3d(4, 2 heads, window 2, shift 1) on reference_input({1, 3, 4, 5, 4}):
const std::vector<double> kSwinBlock = {
    0.360928337, 1.03663326, 1.52471861, 1.63570085, 1.7199059, 1.88309972,
    1.87513126, 1.59858532, 1.16938822, 0.880637997, 0.510162733, -0.00711557548,
    -0.555129858, -0.736083924, -0.890247278, -1.12822306, -1.22686843, -0.899904274,
    -0.538207044, -0.299879598, -0.062004722, 0.626961917, 1.16616879, 1.36033064,
    1.524978, 1.87167141, 2.00439001, 1.79591303, 1.44326657, 1.27675124,
    0.956296225, 0.397349841, -0.161825143, -0.425007593, -0.675292185, -1.015315,
    -1.2407582, -1.05197976, -0.799833811, -0.635482884, -0.463141764, 0.204022608,
    0.759107199, 1.0054508, 1.2537236, 1.71252919, 1.97050307, 1.88735658,
    1.64635199, 1.58301621, 1.33626383, 0.814017895, 0.258384161, -0.0410809252,
    -0.361636387, -0.798757579, -1.13960512, -1.07916093, -0.951571687, -0.895233266,
    -0.81052269, -0.199998338, 0.335821386, 0.601010401, 0.899931249, 1.44797807,
    1.81869251, 1.85654974, 1.73576444, 1.79394278, 1.65041599, 1.19704567,
    0.703173959, 0.357367754, -0.0102669691, -0.47432127, -0.907042548, -1.0245471,
    -1.04083352, -1.06174358, -1.04532062, -0.579282003, -0.105343539, 0.199975798,
    0.47681233, 1.11639408, 1.5817053, 1.69600081, 1.69120271, 1.91426008,
    1.8964612, 1.50649477, 1.0894886, 0.779282759, 0.405498918, -0.0991030432,
    -0.60357321, -0.824792228, -0.966375394, -1.11633129, -1.20433462, -0.851819316,
    -0.465179416, -0.207063951, 0.041102001, 0.72504829, 1.25323721, 1.43495924,
    1.53689332, 1.91666875, 2.03434829, 1.73623162, 1.39789247, 1.1769792,
    0.838785007, 0.308782354, -0.239807735, -0.514987338, -0.756514094, -1.04698514,
    -1.25340443, -1.02150278, -0.740735971, -0.566144855, -0.367835591, 0.302521045,
    0.85452434, 1.09620013, 1.29085743, 1.78481577, 2.02841252, 1.85763982,
    1.62797747, 1.50071317, 1.22774584, 0.730104261, 0.176018196, -0.144388609,
    -0.463138829, -0.855055012, -1.17446561, -1.08428172, -0.92558028, -0.84151547,
    -0.732781362, -0.109600833, 0.434010931, 0.701646974, 0.954670991, 1.54252253,
    1.90334698, 1.85714749, 1.7433872, 1.73891747, 1.56221022, 1.12114831,
    0.592216049, 0.272160091, -0.0891092022, -0.567818879, -0.997524476, -1.01645268,
    -0.983193711, -1.0335925, -1.0061819, -0.484414725, 0.00590686559, 0.285541225,
    0.574933221, 1.20509175, 1.65245798, 1.74124091, 1.76127913, 1.85429993,
    1.78764192, 1.46659205, 1.00297777, 0.681387296, 0.304875916, -0.193546169,
    -0.716133645, -0.860126718, -0.961075896, -1.13452361, -1.20803553, -0.767736309,
    -0.350031801, -0.135778331, 0.141542411, 0.823673007, 1.34086253, 1.50360582,
    1.63891315, 1.88721362, 1.95253071, 1.72382915, 1.32981053, 1.08971746,
    0.740021077, 0.208080327, -0.357093115, -0.580711683, -0.787399949, -1.08486691,
    -1.2834463, -0.963389759, -0.648504339, -0.509382847, -0.27321801, 0.402888926,
    0.952086255, 1.18306634, 1.41668038, 1.78467025, 1.97776618, 1.87442816,
    1.58309885, 1.43064689, 1.13927842, 0.631646248, 0.0564310822, -0.230532117,
    -0.52039318, -0.913614975, -1.2423473, -1.04765881, -0.848726951, -0.811136623,
    -0.652338331, -0.0149012013, 0.534620333, 0.799335334, 1.09348156, 1.57139321,
    1.88578893, 1.89765977, 1.72458879, 1.69239104, 1.49181235, 1.03198571};

// feature_size 12, one block per stage, 3 heads everywhere, MONAI's 7 x 7 x 7 window.
SwinUNETR3dOptions tiny_swinunetr() {
  SwinUNETR3dOptions o;
  o.layout.feature_size = 12;
  o.layout.depths = {1, 1, 1, 1};
  o.layout.num_heads = {3, 3, 3, 3};
  return o;
}

}  // namespace

TEST_CASE("swinunetr3d: relative position index, shifted-window mask and a shifted block match NumPy",
          "[models]") {
  torch::NoGradGuard no_grad;
  SwinBlock3d block(4, 2, std::vector<int64_t>{2, 2, 2}, std::vector<int64_t>{1, 1, 1}, 4.0, true);
  fill_parameters(*block);
  block->eval();
  torch::Tensor index = block->named_buffers()["attn.relative_position_index"];
  REQUIRE(index.sizes() == torch::IntArrayRef({8, 8}));
  CHECK(torch::equal(index, torch::tensor(kRelativePositionIndex, torch::kLong).view({8, 8})));

  // A (3, 4, 5) volume is padded to (4, 4, 6): 2 x 2 x 3 = 12 windows of 8 tokens.
  auto [ws, ss] = swin_window_and_shift({3, 4, 5}, {2, 2, 2}, {1, 1, 1});
  CHECK(ws == std::vector<int64_t>{2, 2, 2});
  CHECK(ss == std::vector<int64_t>{1, 1, 1});
  torch::Tensor mask = swin_attention_mask({4, 4, 6}, ws, ss);
  REQUIRE(mask.sizes() == torch::IntArrayRef({12, 8, 8}));
  CHECK(torch::equal((mask != 0).sum({1, 2}).to(torch::kLong), torch::tensor(kMaskCounts, torch::kLong)));
  CHECK(((mask == 0) | (mask == -100)).all().item<bool>());

  const double err = max_abs_diff(block->forward(reference_input({1, 3, 4, 5, 4}), mask), kSwinBlock);
  INFO("shifted Swin block max |diff| " << err);
  CHECK(err < 1e-5);
  // Without the mask the shifted block attends across regions and differs from the reference.
  CHECK(max_abs_diff(block->forward(reference_input({1, 3, 4, 5, 4}), torch::zeros_like(mask)), kSwinBlock) > 1e-4);

  // An axis not larger than the window takes the axis' size and no shift (MONAI's get_window_size).
  auto [ws2, ss2] = swin_window_and_shift({1, 4, 16}, {7, 7, 7}, {3, 3, 3});
  CHECK(ws2 == std::vector<int64_t>{1, 4, 7});
  CHECK(ss2 == std::vector<int64_t>{0, 0, 3});
}

TEST_CASE("swinunetr3d: MONAI key names, shapes and a hand-counted parameter total", "[models]") {
  // Read in Project-MONAI/MONAI monai/networks/nets/swin_unetr.py (0350dd5d):
  //   SwinUNETR.__init__ (~line 110): self.swinViT = SwinTransformer(embed_dim=feature_size,
  //     window 7, patch 2, mlp_ratio 4, qkv_bias True, norm LayerNorm)
  //   WindowAttention.__init__ (~lines 395-445): relative_position_bias_table
  //     [(2w0-1)(2w1-1)(2w2-1), heads], buffer relative_position_index [w^3, w^3], qkv Linear(C, 3C,
  //     bias), proj Linear(C, C)
  //   SwinTransformerBlock.__init__ (~lines 480-500): norm1, attn, norm2, mlp = MLPBlock(C, 4C)
  //     (linear1, linear2)
  //   PatchMerging.__init__ (~line 620): reduction Linear(8C, 2C, bias=False), norm LayerNorm(8C)
  //   BasicLayer.__init__ (~lines 700-735): blocks (ModuleList), downsample
  //   SwinTransformer.__init__ (~lines 790-830): patch_embed (PatchEmbed: proj Conv3d(in, C,
  //     patch, stride patch), no norm), pos_drop, layers1..layers4 each a one-element ModuleList
  //     of BasicLayer with dim C*2^i and a PatchMerging downsample.
  // Hand count, 1 channel, C 12, depths (1, 1, 1, 1), heads 3, window 7 (13^3 = 2197 offsets):
  //   per block with dim c: norm1 2c + table 2197*3 + qkv 3c^2 + 3c + proj c^2 + c + norm2 2c
  //     + linear1 4c^2 + 4c + linear2 4c^2 + c = 12c^2 + 13c + 6591; merging 16c^2 + 16c
  //   c=12: 8475 + 2496 = 10971; c=24: 13815 + 9600 = 23415; c=48: 34863 + 37632 = 72495;
  //   c=96: 118431 + 148992 = 267423; patch_embed 12*1*8 + 12 = 108
  //   backbone 374412; head fc 192 -> 1: 193; total 374605, embedding 16*12 = 192.
  SwinUNETR3d model(tiny_swinunetr());
  CHECK(model->parameter_count() == 374605);
  CHECK(model->embedding_dim() == 192);
  check_keys(*model, {{"swinViT.patch_embed.proj.weight", {12, 1, 2, 2, 2}},
                      {"swinViT.patch_embed.proj.bias", {12}},
                      {"swinViT.layers1.0.blocks.0.norm1.weight", {12}},
                      {"swinViT.layers1.0.blocks.0.attn.relative_position_bias_table", {2197, 3}},
                      {"swinViT.layers1.0.blocks.0.attn.relative_position_index", {343, 343}},
                      {"swinViT.layers1.0.blocks.0.attn.qkv.weight", {36, 12}},
                      {"swinViT.layers1.0.blocks.0.attn.qkv.bias", {36}},
                      {"swinViT.layers1.0.blocks.0.attn.proj.weight", {12, 12}},
                      {"swinViT.layers1.0.blocks.0.mlp.linear1.weight", {48, 12}},
                      {"swinViT.layers1.0.blocks.0.mlp.linear2.weight", {12, 48}},
                      {"swinViT.layers1.0.downsample.reduction.weight", {24, 96}},
                      {"swinViT.layers1.0.downsample.norm.weight", {96}},
                      {"swinViT.layers4.0.blocks.0.norm2.bias", {96}},
                      {"swinViT.layers4.0.downsample.reduction.weight", {192, 768}}});
}

TEST_CASE("swinunetr3d: patch merging orders, lumbar head, MONAI names load", "[models]") {
  // v0.9.0's merging and mergingv2 differ in which 2 x 2 x 2 neighbours they take: with equal
  // weights the two models give different embeddings on the same input.
  torch::manual_seed(13);
  SwinUNETR3dOptions a = tiny_swinunetr();
  a.layout.window_size = {2, 2, 2};
  SwinUNETR3dOptions b = a;
  b.layout.downsample = "mergingv2";
  SwinUNETR3d m1(a), m2(b);
  {
    torch::NoGradGuard no_grad;
    auto p2 = m2->named_parameters();
    for (const auto& item : m1->named_parameters()) p2[item.key()].copy_(item.value());
    m1->eval();
    m2->eval();
    torch::Tensor x = torch::randn({1, 1, 8, 8, 8});
    CHECK_FALSE(torch::allclose(m1->features(x), m2->features(x), 1e-4, 1e-5));
  }

  register_builtin_models();
  ModelSpec spec;
  spec.arch = "swinunetr3d";
  spec.in_channels = 2;
  spec.head = lumbar_head();
  spec.swinunetr3d.feature_size = 12;
  spec.swinunetr3d.depths = {2, 2, 2, 2};
  spec.swinunetr3d.num_heads = {1, 2, 3, 4};
  ModelPtr model = create_model(spec);
  CHECK(model->embedding_dim() == 192);
  // 16 x 32 x 32: 8 x 16 x 16 tokens, windows 7 (padded), then 4 x 8 x 8, 2 x 4 x 4, 1 x 2 x 2, 1 x 1 x 1.
  check_lumbar_head(*model, torch::randn({2, 2, 16, 32, 32}));
  ModelPtr fresh = create_model(spec);
  check_monai_names_load(*model, *fresh,
                         {"encoder1.layer.conv1.conv.weight", "decoder5.transp_conv.conv.weight",
                          "out.conv.conv.weight"});

  spec.swinunetr3d.num_heads = {5, 2, 3, 4};
  CHECK_THROWS_WITH(create_model(spec), Catch::Contains("swinunetr3d.num_heads"));
}

TEST_CASE("swinunetr3d: binary head, overfits one tiny batch", "[models][slow]") {
  torch::manual_seed(17);
  SwinUNETR3dOptions o = tiny_swinunetr();
  o.in_channels = 2;
  o.layout.window_size = {2, 2, 2};
  o.layout.dropout_path_rate = 0.1;
  o.head = binary_head();
  SwinUNETR3d binary(o);
  binary->eval();
  CHECK(binary->forward(torch::randn({3, 2, 8, 8, 8})).sizes() == torch::IntArrayRef({3, 1}));

  o.head = HeadOptions{};
  o.layout.dropout_path_rate = 0.0;
  SwinUNETR3d model(o);
  check_overfits(*model, torch::randn({2, 2, 8, 8, 8}), 3e-4);
}
