// vit3d: MONAI's ViT names and shapes, a hand-counted parameter total, the self-attention and
// transformer block against an independent NumPy reference, the lumbar head, position embeddings
// resampled to another patch grid, overfitting one tiny batch.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "nets3d_testing.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/blocks_transformer.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/models/vit3d.hpp"

using namespace tomograd;
using namespace tomograd::models;
using namespace tomograd::models::testing;

namespace {

// Recorded from `/usr/bin/python3 tests/unit/models/attention_reference.py` (NumPy 1.24.2,
// Debian bookworm python3-numpy, float64), 2026-12-06. The script computes attention from its
// definition (per-head loops, explicit softmax, erf GELU), independently of tomograd's code.
// SelfAttention(8, 2 heads, qkv_bias) on reference_input({2, 5, 8}):
const std::vector<double> kSelfAttention = {
    0.386332632, -0.0566395754, 0.436543049, -0.0357814415, 0.351286048, -0.0837644119,
    0.161647057, -0.156491812, 0.210384236, 0.104842644, 0.29483741, 0.0814875749,
    0.26231009, -0.02600752, 0.137008588, -0.165782011, 0.291073814, 0.0347493098,
    0.352029455, 0.0390776015, 0.288543325, -0.0352013254, 0.128860623, -0.140560225,
    0.377532604, -0.047816314, 0.427986711, -0.0277734052, 0.344089661, -0.0776163295,
    0.156749461, -0.153005762, 0.171015328, 0.144713909, 0.25577497, 0.118456607,
    0.228650207, 0.00323629675, 0.113142531, -0.148078559, 0.414499704, -0.083847408,
    0.461896903, -0.0584475451, 0.370519019, -0.0989317654, 0.172250009, -0.162181682,
    0.299014233, 0.0223258067, 0.368527491, 0.0190475763, 0.311446644, -0.0602247547,
    0.155181257, -0.1673125, 0.237687461, 0.0822690288, 0.311939074, 0.0704202575,
    0.266979109, -0.0241246969, 0.128635841, -0.151194681, 0.435230317, -0.105337966,
    0.483440681, -0.0793360679, 0.39006536, -0.116493136, 0.187248897, -0.174124842,
    0.225820481, 0.0934621546, 0.301787892, 0.0791956693, 0.259868049, -0.0189118398,
    0.125492613, -0.150224448};
// TransformerBlock(8, mlp 12, 2 heads, no qkv bias) on reference_input({2, 5, 8}):
const std::vector<double> kTransformerBlock = {
    0.801592964, 0.730566379, 1.12675852, 1.93625718, 1.90311806, 1.27138064,
    1.66554038, 1.39634108, 1.42103022, 1.14975448, 0.0341936191, -0.034162455,
    -0.0723437315, -1.06077047, -1.69256507, -1.1559551, -0.847139687, -0.897361559,
    -1.03490443, -0.229200536, 0.440953234, -0.00252927871, 0.596268029, 1.22229157,
    1.6618912, 2.08063455, 1.63210495, 1.68115769, 1.80667365, 1.0909522,
    0.195043726, 0.222567121, 0.158471395, -0.357709595, -1.12872696, -0.876787609,
    -0.892481899, -1.51204476, -1.41164258, -0.749712382, 0.0195280395, 0.0717917931,
    0.233089556, 1.18788111, 1.66533862, 1.05264205, 1.52180556, 1.76951748,
    1.89618202, 1.84779003, 0.856563967, 0.765649234, 0.728564992, -0.314302083,
    -1.17801236, -0.855480587, -0.832683431, -1.04349934, -1.37771781, -0.901131713,
    -0.322593925, -0.764145962, -0.244039196, 0.391701638, 1.04911619, 1.17289082,
    1.71529312, 2.00591756, 1.75536586, 1.42537704, 1.44250142, 0.77645699,
    0.982294687, 0.598483798, -0.486356222, -0.47940294, -0.466884557, -1.36172649,
    -1.784516, -1.11266196};

// img (8, 8, 8), patch 4 -> 2 x 2 x 2 = 8 tokens; hidden 16, mlp 32, 2 layers, 2 heads.
ViT3dOptions tiny_vit() {
  ViT3dOptions o;
  o.layout.img_size = {8, 8, 8};
  o.layout.patch_size = {4, 4, 4};
  o.layout.hidden_size = 16;
  o.layout.mlp_dim = 32;
  o.layout.num_layers = 2;
  o.layout.num_heads = 2;
  return o;
}

}  // namespace

TEST_CASE("vit3d: self-attention and transformer block match the NumPy reference", "[models]") {
  torch::NoGradGuard no_grad;
  SelfAttention sa(8, 2, 0.0, /*qkv_bias=*/true);
  fill_parameters(*sa, "attn.");
  sa->eval();
  const double sa_err = max_abs_diff(sa->forward(reference_input({2, 5, 8})), kSelfAttention);
  INFO("self-attention max |diff| " << sa_err);
  CHECK(sa_err < 1e-5);

  TransformerBlock block(8, 12, 2, 0.0, /*qkv_bias=*/false);
  fill_parameters(*block);
  block->eval();
  const double blk_err = max_abs_diff(block->forward(reference_input({2, 5, 8})), kTransformerBlock);
  INFO("transformer block max |diff| " << blk_err);
  CHECK(blk_err < 1e-5);
  // The reference is sensitive to the layout: swapping heads in the qkv features changes it.
  SelfAttention one_head(8, 1, 0.0, true);
  fill_parameters(*one_head, "attn.");
  one_head->eval();
  CHECK(max_abs_diff(one_head->forward(reference_input({2, 5, 8})), kSelfAttention) > 1e-3);
}

TEST_CASE("vit3d: MONAI key names, shapes and a hand-counted parameter total", "[models]") {
  // Read in Project-MONAI/MONAI:
  //   monai/networks/nets/vit.py (0031f2da): ViT.__init__ patch_embedding line 96, blocks (a
  //     ModuleList of TransformerBlock) lines 107-112, norm (LayerNorm) line 113, cls_token
  //     [1, 1, hidden] line 115 when classification; forward lines 121-133.
  //   monai/networks/blocks/patchembedding.py (093f0b04): PatchEmbeddingBlock, proj_type "conv":
  //     patch_embeddings = Conv3d(in, hidden, kernel = stride = patch) (lines 121-124, with bias),
  //     position_embeddings = Parameter zeros(1, n_patches, hidden) (about line 134).
  //   monai/networks/blocks/transformerblock.py (00108dc6): mlp line 57, norm1 58, attn 59,
  //     norm2 68. (That version also builds norm_cross_attn/cross_attn even without cross
  //     attention; later MONAI only when with_cross_attention. We do not: such keys are reported
  //     unexpected.)
  //   monai/networks/blocks/selfattention.py (00108dc6): out_proj Linear(C, C) line 87, qkv
  //     Linear(C, 3C, bias=qkv_bias) line 89, layout "b h (qkv l d) -> qkv b l h d" line 90.
  //   monai/networks/blocks/mlp.py (06b28e5b): linear1 Linear(C, mlp), linear2 Linear(mlp, C).
  // Hand count, 1 channel, img 8^3, patch 4^3, hidden 16, mlp 32, 2 layers, no qkv bias:
  //   patch_embeddings 16*1*64 + 16 = 1040; position_embeddings 8*16 = 128
  //   per block: linear1 16*32+32 = 544, linear2 32*16+16 = 528, norm1 32, qkv 16*48 = 768,
  //              out_proj 16*16+16 = 272, norm2 32 -> 2176; two blocks 4352
  //   norm 32; backbone 1040 + 128 + 4352 + 32 = 5552; head fc 16 -> 1: 17; total 5569.
  ViT3d model(tiny_vit());
  CHECK(model->parameter_count() == 5569);
  CHECK(model->embedding_dim() == 16);
  check_keys(*model, {{"patch_embedding.patch_embeddings.weight", {16, 1, 4, 4, 4}},
                      {"patch_embedding.patch_embeddings.bias", {16}},
                      {"patch_embedding.position_embeddings", {1, 8, 16}},
                      {"blocks.0.mlp.linear1.weight", {32, 16}},
                      {"blocks.0.mlp.linear2.bias", {16}},
                      {"blocks.0.norm1.weight", {16}},
                      {"blocks.0.attn.qkv.weight", {48, 16}},
                      {"blocks.1.attn.out_proj.weight", {16, 16}},
                      {"blocks.1.norm2.bias", {16}},
                      {"norm.weight", {16}}});
  CHECK_FALSE(model->named_parameters().contains("blocks.0.attn.qkv.bias"));
  {
    // Tokens are the strided convolution's outputs in (d, h, w) order, normalized and averaged
    // (a 9^3 input: voxels past the last whole patch are dropped).
    torch::NoGradGuard no_grad;
    ViT3dOptions o = tiny_vit();
    o.layout.num_layers = 1;
    o.layout.pool = "mean";
    ViT3d one(o);
    one->eval();
    auto p = one->named_parameters();
    auto conv = torch::nn::Conv3d(torch::nn::Conv3dOptions(1, 16, 4).stride(4));
    conv->weight.copy_(p["patch_embedding.patch_embeddings.weight"]);
    conv->bias.copy_(p["patch_embedding.patch_embeddings.bias"]);
    p["patch_embedding.position_embeddings"].zero_();
    torch::Tensor x = torch::randn({2, 1, 9, 9, 9});
    torch::Tensor tokens = conv(x).flatten(2).transpose(1, 2);  // [2, 8, 16]
    // With one block whose attention and MLP outputs are zeroed, the tokens pass to the norm.
    for (const auto& name : {"blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias",
                             "blocks.0.mlp.linear2.weight", "blocks.0.mlp.linear2.bias"}) {
      p[name].zero_();
    }
    torch::Tensor expected = torch::layer_norm(tokens, {16}, p["norm.weight"], p["norm.bias"]).mean(1);
    CHECK(torch::allclose(one->features(x), expected, 1e-4, 1e-5));
  }
  ViT3dOptions cls = tiny_vit();
  cls.layout.pool = "cls";
  cls.layout.qkv_bias = true;
  ViT3d with_cls(cls);
  CHECK(with_cls->parameter_count() == 5569 + 16 + 2 * 48);
  check_keys(*with_cls, {{"cls_token", {1, 1, 16}}, {"blocks.1.attn.qkv.bias", {48}}});
  torch::NoGradGuard no_grad;
  with_cls->eval();
  CHECK(with_cls->forward(torch::randn({2, 1, 8, 8, 8})).sizes() == torch::IntArrayRef({2, 1}));
}

TEST_CASE("vit3d: lumbar head, another patch grid, MONAI names load, bad options", "[models]") {
  register_builtin_models();
  ModelSpec spec;
  spec.arch = "vit3d";
  spec.in_channels = 2;
  spec.head = lumbar_head();
  spec.vit3d.img_size = {16, 32, 32};
  spec.vit3d.patch_size = {8, 16, 16};
  spec.vit3d.hidden_size = 32;
  spec.vit3d.mlp_dim = 64;
  spec.vit3d.num_layers = 2;
  spec.vit3d.num_heads = 4;
  ModelPtr model = create_model(spec);
  CHECK(model->embedding_dim() == 32);
  check_lumbar_head(*model, torch::randn({2, 2, 16, 32, 32}));
  // A 16 x 64 x 64 input has a 2 x 4 x 4 grid instead of 2 x 2 x 2: the position embeddings
  // are resampled, the output keeps its shape.
  model->eval();
  {
    torch::NoGradGuard no_grad;
    CHECK(model->forward(torch::randn({1, 2, 16, 64, 64}), torch::rand({1, 4})).sizes() ==
          torch::IntArrayRef({1, 25, 3}));
    CHECK_THROWS_WITH(model->forward(torch::randn({1, 2, 4, 64, 64}), torch::rand({1, 4})),
                      Catch::Contains("smaller than one patch"));
  }
  ModelPtr fresh = create_model(spec);
  check_monai_names_load(*model, *fresh, {"classification_head.0.weight", "classification_head.0.bias"});

  spec.vit3d.num_heads = 5;
  CHECK_THROWS_WITH(create_model(spec), Catch::Contains("vit3d.num_heads"));
}

TEST_CASE("vit3d: binary head, overfits one tiny batch", "[models][slow]") {
  torch::manual_seed(11);
  ViT3dOptions o = tiny_vit();
  o.in_channels = 2;
  o.head = binary_head();
  ViT3d binary(o);
  binary->eval();
  CHECK(binary->forward(torch::randn({3, 2, 8, 8, 8})).sizes() == torch::IntArrayRef({3, 1}));

  o.head = HeadOptions{};
  ViT3d model(o);
  check_overfits(*model, torch::randn({2, 2, 8, 8, 8}));
}
