// Dropout layers with batch-keyed masks: a rank's rows of a global batch get the masks one process
// draws for those samples (core/batch_draws.hpp, models/dropout.hpp).
#include <catch2/catch.hpp>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "tomograd/core/batch_draws.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/models/batch_norm.hpp"
#include "tomograd/models/dropout.hpp"
#include "tomograd/models/model_spec.hpp"
#include "tomograd/models/registry.hpp"

using namespace tomograd;

namespace {

// The first mask of a batch drawn under @p key (sample by sample above @p limit elements).
torch::Tensor first_mask(const BatchDrawKey& key, std::vector<int64_t> shape, int64_t limit = int64_t{1} << 22) {
  const BatchDrawScope scope(key);
  return batch_keep_mask(shape, 0.5, torch::kFloat32, limit);
}

}  // namespace

TEST_CASE("a rank's keyed masks are the rows of its samples in the global batch's masks", "[models]") {
  // One process: the whole global batch of 6 samples.
  const torch::Tensor whole = first_mask({77, 6, 0, 6}, {6, 5});
  // Ranks of a world of 3 with unequal shares: rows [0, 1), [1, 4), [4, 6).
  CHECK(torch::equal(first_mask({77, 6, 0, 1}, {1, 5}), whole.narrow(0, 0, 1)));
  CHECK(torch::equal(first_mask({77, 6, 1, 3}, {3, 5}), whole.narrow(0, 1, 3)));
  CHECK(torch::equal(first_mask({77, 6, 4, 2}, {2, 5}), whole.narrow(0, 4, 2)));
  // Four rows per sample (attention windows [N·W, ...], ordered by sample).
  const torch::Tensor windows = first_mask({77, 6, 0, 6}, {24, 3});
  CHECK(torch::equal(first_mask({77, 6, 4, 2}, {8, 3}), windows.narrow(0, 16, 8)));
  // Large masks are drawn sample by sample (here above 20 elements): the same rows per rank.
  const torch::Tensor by_sample = first_mask({77, 6, 0, 6}, {24, 3}, 20);
  CHECK_FALSE(torch::equal(by_sample, windows));
  CHECK(torch::equal(first_mask({77, 6, 1, 3}, {12, 3}, 20), by_sample.narrow(0, 4, 12)));
  CHECK(torch::equal(first_mask({77, 6, 4, 2}, {8, 3}, 20), by_sample.narrow(0, 16, 8)));
  // Another batch seed draws another mask; a zero-row share draws nothing.
  CHECK_FALSE(torch::equal(first_mask({78, 6, 0, 6}, {6, 5}), whole));
  CHECK(first_mask({77, 6, 6, 0}, {0, 5}).numel() == 0);
  // Successive draws of one batch differ; a new scope numbers its draws from 0 again.
  {
    const BatchDrawScope scope({77, 6, 0, 6});
    const torch::Tensor first = batch_keep_mask({6, 5}, 0.5, torch::kFloat32);
    const torch::Tensor second = batch_keep_mask({6, 5}, 0.5, torch::kFloat32);
    CHECK(torch::equal(first, whole));
    CHECK_FALSE(torch::equal(second, whole));
    {
      const BatchDrawScope inner({77, 6, 0, 6});
      CHECK(torch::equal(batch_keep_mask({6, 5}, 0.5, torch::kFloat32), whole));
    }
    // The outer scope resumes its own numbering.
    CHECK_FALSE(torch::equal(batch_keep_mask({6, 5}, 0.5, torch::kFloat32), second));
  }
  // Keyed draws leave LibTorch's default generator where it was.
  torch::manual_seed(5);
  const torch::Tensor reference = torch::rand({4});
  torch::manual_seed(5);
  (void)first_mask({1, 6, 0, 6}, {6, 5});
  CHECK(torch::equal(torch::rand({4}), reference));
}

TEST_CASE("keyed masks refuse rows that are not whole samples, and bad scopes", "[models]") {
  const BatchDrawScope scope({1, 6, 2, 3});
  CHECK_THROWS_WITH(batch_keep_mask({4, 5}, 0.5, torch::kFloat32), Catch::Contains("4 rows for 3 samples"));
  CHECK_THROWS_AS(BatchDrawScope({1, 4, 3, 2}), ValueError);
}

TEST_CASE("without a scope, dropout draws from LibTorch's generator as LibTorch's dropout does", "[models]") {
  const torch::Tensor x = torch::rand({8, 8}) + 1.0;
  torch::manual_seed(3);
  const torch::Tensor reference = torch::dropout(x, 0.25, true);
  torch::manual_seed(3);
  CHECK(torch::allclose(models::batch_dropout(x, 0.25, true), reference));
}

TEST_CASE("Dropout, Dropout3d and drop_path: rates, scaling, what is zeroed, eval mode", "[models]") {
  torch::manual_seed(1);
  const torch::Tensor x = torch::rand({40, 500}) + 1.0;  // no zeros of its own
  models::Dropout drop(0.3);
  const torch::Tensor y = drop(x);
  const double zeroed = (y == 0).to(torch::kFloat64).mean().item<double>();
  CHECK(zeroed == Approx(0.3).margin(0.01));  // 20,000 draws: sd 0.0032
  const torch::Tensor kept = y != 0;
  CHECK(torch::allclose(y.masked_select(kept), x.masked_select(kept) / 0.7));
  drop->eval();
  CHECK(torch::equal(drop(x), x));
  // Whole channels of [N, C, D, H, W].
  models::Dropout3d channels(0.5);
  const torch::Tensor v = channels(torch::ones({4, 16, 2, 3, 3}));
  const torch::Tensor per_channel = v.flatten(2);
  CHECK(torch::equal(per_channel.amin(2), per_channel.amax(2)));
  CHECK((per_channel.amax(2) == 0).any().item<bool>());
  CHECK((per_channel.amax(2) == 2).any().item<bool>());
  // Whole samples.
  const torch::Tensor s = models::drop_path(torch::ones({64, 3, 4}), 0.5, true).flatten(1);
  CHECK(torch::equal(s.amin(1), s.amax(1)));
  CHECK((s.amax(1) == 0).any().item<bool>());
  CHECK(torch::equal(models::drop_path(x, 0.5, false), x));
  CHECK_THROWS_AS(models::Dropout(1.0), ValueError);
}

TEST_CASE("every network's dropout layers give a rank its own samples' masks: one forward = its shares'", "[models]") {
  // Each network small, every dropout and stochastic-depth rate on, BatchNorm in eval mode (its
  // batch statistics would differ between shares): under the trainer's scopes the global batch's
  // forward equals the forwards of two unequal shares, row for row. A layer whose rows were not
  // ordered by sample would get another sample's mask here.
  models::register_builtin_models();
  const std::string head3d = "head: {type: multioutput, num_tasks: 5, num_classes: 3, dropout: 0.3, metadata_dim: 4}";
  const std::vector<std::pair<std::string, std::vector<int64_t>>> nets = {
      {"{arch: resnet18, in_channels: 3, head: {type: regression, num_outputs: 1, hidden: 8, dropout: 0.5}}",
       {3, 32, 32}},
      {"{arch: densenet121_3d, in_channels: 2, " + head3d +
           ", densenet3d: {init_features: 8, growth_rate: 4, block_config: [1, 1], bn_size: 2, dropout: 0.3}}",
       {2, 8, 16, 16}},
      {"{arch: segresnet3d, in_channels: 2, " + head3d +
           ", segresnet3d: {init_filters: 8, blocks_down: [1, 1], norm_groups: 4, dropout: 0.3}}",
       {2, 8, 16, 16}},
      {"{arch: dynunet3d, in_channels: 2, " + head3d +
           ", dynunet3d: {kernel_size: [[3, 3, 3], [3, 3, 3], [3, 3, 3]], strides: [[1, 1, 1], [2, 2, 2], [2, 2, 2]],"
           " filters: [8, 16, 16],"
           " dropout: 0.3}}",
       {2, 8, 16, 16}},
      {"{arch: vit3d, in_channels: 2, " + head3d +
           ", vit3d: {img_size: [8, 16, 16], patch_size: [4, 8, 8], hidden_size: 32, mlp_dim: 64, num_layers: 2,"
           " num_heads: 4, dropout: 0.3}}",
       {2, 8, 16, 16}},
      {"{arch: swinunetr3d, in_channels: 2, " + head3d +
           ", swinunetr3d: {feature_size: 12, depths: [1, 1, 1, 1], num_heads: [3, 3, 3, 3], window_size: [2, 2, 2],"
           " drop_rate: 0.3, attn_drop_rate: 0.3, dropout_path_rate: 0.3}}",
       {2, 32, 32, 32}},
  };
  for (const auto& [yaml, sample_shape] : nets) {
    DYNAMIC_SECTION(yaml) {
      YAML::Node node = YAML::Load(yaml);
      ConfigReader reader(node, "inline.yaml", "model");
      torch::manual_seed(1);
      models::ModelPtr model = models::create_model(models::decode_model_spec(reader));
      model->train();
      for (const auto& m : model->modules()) {
        if (models::is_batch_norm(*m)) m->eval();
      }
      std::vector<int64_t> shape{4};
      shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
      const torch::Tensor x = torch::randn(shape);
      const torch::Tensor meta = sample_shape.size() == 4 ? torch::rand({4, 4}) : torch::Tensor();
      auto run = [&](const BatchDrawKey& key) {
        const BatchDrawScope scope(key);
        torch::NoGradGuard no_grad;
        const torch::Tensor part = x.narrow(0, key.offset, key.local_rows);
        return model->forward(part, meta.defined() ? meta.narrow(0, key.offset, key.local_rows) : meta);
      };
      const torch::Tensor whole = run({5, 4, 0, 4});
      const torch::Tensor shares = torch::cat({run({5, 4, 0, 1}), run({5, 4, 1, 3})});
      CHECK(torch::allclose(shares, whole, 1e-4, 1e-5));
      // The rates are on: another batch's masks give other outputs.
      CHECK_FALSE(torch::allclose(run({6, 4, 0, 4}), whole, 1e-4, 1e-5));
    }
  }
}
