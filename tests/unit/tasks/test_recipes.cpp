// The shipped recipes as their original projects ran them: the SimpleCNN BMD baseline (model
// size, optimiser, scheduler), the metastasis curriculum's per-layer learning rates and head,
// class-conditional augmentation confined to the brain mask, and curriculum patterns that match
// nothing refused with the model's top-level names.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "tomograd/core/error.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/tasks/bmd/pipeline.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"
#include "tomograd/tasks/slice_dataset.hpp"
#include "tomograd/train/curriculum.hpp"
#include "tomograd/train/optim.hpp"

using namespace tomograd;
namespace fs = std::filesystem;

namespace {

fs::path config_file(const char* name) { return fs::path(TOMOGRAD_SOURCE_DIR) / "configs" / name; }

}  // namespace

TEST_CASE("configs/bmd_simplecnn.yaml: the 33,944,257-parameter SimpleCNN and its recipe", "[tasks][bmd]") {
  const auto c = tasks::bmd::load_config(config_file("bmd_simplecnn.yaml"));
  models::register_builtin_models();
  auto model = models::create_model(c.model);
  // 4 conv blocks (1->32->64->128->256, 3x3 with bias, BatchNorm) = 388,800; fc1 65,536 x 512 +
  // 512 = 33,554,944; fc 512 + 1 = 513 (docs/models.md derives each term).
  CHECK(model->parameter_count() == 33944257);
  CHECK(c.model.in_channels == 1);
  CHECK(c.prep.slices.context == 0);
  CHECK(c.loss.name == "mse");
  CHECK(c.optim.name == "adam");
  CHECK(c.optim.lr == Approx(1e-4));
  CHECK(c.optim.weight_decay == 0.0);
  CHECK(c.scheduler.name == "plateau");
  CHECK(c.scheduler.patience == 5);
  CHECK(c.scheduler.factor == Approx(0.5));
  CHECK(c.scheduler.mode == "min");
  CHECK(c.train.monitor == "val_loss");
  // The forward pass takes what the data path gives it: 1 x 256 x 256.
  torch::NoGradGuard no_grad;
  model->eval();
  CHECK(model->forward(torch::zeros({1, 1, 256, 256})).sizes() == torch::IntArrayRef({1, 1}));
}

TEST_CASE("configs/metastasis_resnet50.yaml: per-layer curriculum rates and the FC 2048-512-1 head", "[tasks][metastasis]") {
  const auto c = tasks::metastasis::load_config(config_file("metastasis_resnet50.yaml"));
  CHECK(c.data.val == Approx(0.2));
  CHECK(c.data.test == Approx(0.2));
  models::register_builtin_models();
  auto model = models::create_model(c.model);
  // The head: head_hidden = Linear(2048, 512), ReLU, Dropout(0.4), fc = Linear(512, 1).
  std::map<std::string, torch::Tensor> p;
  for (const auto& kv : model->named_parameters()) p[kv.key()] = kv.value();
  REQUIRE(p.count("head_hidden.weight"));
  CHECK(p["head_hidden.weight"].sizes() == torch::IntArrayRef({512, 2048}));
  CHECK(p["fc.weight"].sizes() == torch::IntArrayRef({1, 512}));
  CHECK(c.model.head.dropout == Approx(0.4));

  const train::Curriculum cur(c.curriculum);
  cur.check_patterns(*model);  // every pattern names real parameters
  const auto groups = train::make_param_groups(*model, cur.lr_prefixes());
  auto rate = [&](int epoch, const std::string& param) {
    auto lrs = cur.apply(epoch, *model, groups, c.optim.lr);
    return lrs[groups.group_of(param)];
  };
  auto trains = [&](int epoch, const std::string& param) {
    cur.apply(epoch, *model, groups, c.optim.lr);
    return p.at(param).requires_grad();
  };
  // Stage 1 (epochs 0-4): the head alone at 5e-5.
  CHECK(rate(0, "fc.weight") == Approx(5e-5));
  CHECK(rate(0, "head_hidden.weight") == Approx(5e-5));
  CHECK_FALSE(trains(0, "layer4.0.conv1.weight"));
  // Stage 2 (from epoch 5): layer4 1e-5, head 5e-5; layer3 still frozen.
  CHECK(rate(5, "layer4.0.conv1.weight") == Approx(1e-5));
  CHECK(rate(5, "fc.weight") == Approx(5e-5));
  CHECK(rate(5, "head_hidden.bias") == Approx(5e-5));
  CHECK(trains(5, "layer4.2.conv3.weight"));
  CHECK_FALSE(trains(5, "layer3.0.conv1.weight"));
  // Stage 3 (from epoch 12): layer3 5e-6, layer4 1e-5, head 5e-5; layer2 and the stem frozen.
  CHECK(rate(12, "layer3.5.conv2.weight") == Approx(5e-6));
  CHECK(rate(12, "layer4.1.bn1.weight") == Approx(1e-5));
  CHECK(rate(12, "fc.bias") == Approx(5e-5));
  CHECK(trains(12, "layer3.0.conv1.weight"));
  CHECK_FALSE(trains(12, "layer2.0.conv1.weight"));
  CHECK_FALSE(trains(12, "conv1.weight"));
}

TEST_CASE("a curriculum pattern that matches no parameter is a ConfigError naming it", "[tasks][metastasis]") {
  const auto c = tasks::metastasis::load_config(
      config_file("metastasis_resnet50.yaml"),
      {"model.arch=resnet18", "model.head.hidden=16",
       "curriculum=[{name: head_only, from_epoch: 0, trainable: [fc]}, {name: deep, from_epoch: 2, trainable: [fc, "
       "layer5]}]"});
  models::register_builtin_models();
  auto model = models::create_model(c.model);
  const train::Curriculum cur(c.curriculum);
  CHECK_THROWS_AS(cur.check_patterns(*model), ConfigError);
  CHECK_THROWS_WITH(cur.check_patterns(*model), Catch::Contains("stage 2 'deep'") && Catch::Contains("'layer5'") &&
                                                    Catch::Contains("conv1") && Catch::Contains("layer4") &&
                                                    Catch::Contains("fc"));
  // apply() checks too, so the Trainer stops before its first epoch rather than at stage 2.
  const auto groups = train::make_param_groups(*model, cur.lr_prefixes());
  CHECK_THROWS_WITH(cur.apply(0, *model, groups, 1e-3), Catch::Contains("layer5"));
}

TEST_CASE("class-conditional augmentation changes only voxels inside the brain mask", "[tasks][metastasis]") {
  const auto c = tasks::metastasis::load_config(config_file("metastasis_resnet50.yaml"));
  REQUIRE(c.prep.augment.enabled);
  auto policy = std::make_shared<const preprocess::AugmentationPolicy>(c.prep.augment);
  // A 5-slice study: a disc of textured "brain" on a constant background (as after brain
  // extraction and z-scoring with outside_value 0), its mask the disc.
  const int64_t d = 5, h = 48, w = 48;
  torch::manual_seed(7);
  const auto yy = torch::arange(h, torch::kFloat32).view({h, 1}).expand({h, w});
  const auto xx = torch::arange(w, torch::kFloat32).view({1, w}).expand({h, w});
  const torch::Tensor disc = ((yy - 24).pow(2) + (xx - 24).pow(2)).lt(15 * 15);
  const torch::Tensor mask = disc.unsqueeze(0).expand({d, h, w}).to(torch::kUInt8).contiguous();
  const torch::Tensor brain = torch::randn({1, d, h, w}) * 0.5 + 1.0;
  const torch::Tensor data = torch::where(mask.unsqueeze(0).ne(0), brain, torch::zeros_like(brain));
  std::vector<tasks::SliceStudy> studies;
  for (const std::string label : {"0", "1"}) {
    tasks::SliceStudy s;
    s.patient_id = "P" + label;
    s.data = data;
    s.mask = mask;
    s.slices = {1, 2, 3};
    s.label = label;
    s.cls = std::stoi(label);
    s.target = torch::tensor({static_cast<float>(s.cls)});
    studies.push_back(s);
  }
  tasks::StudySliceDataset ds(studies, c.prep.slices, policy);
  const torch::Tensor outside = disc.logical_not().unsqueeze(0);
  int changed_inside[2] = {0, 0};
  for (std::size_t i = 0; i < ds.size(); ++i) {
    const int cls = static_cast<int>(ds.class_of(i));
    const torch::Tensor plain = preprocess::stack_slices(data, ds.item(i).second, 0);
    for (uint64_t seed = 0; seed < 12; ++seed) {
      const torch::Tensor x = ds.get(i, seed).input;
      INFO("sample " << i << " seed " << seed);
      REQUIRE(x.sizes() == plain.sizes());
      CHECK(torch::equal(x.masked_select(outside), plain.masked_select(outside)));
      if (!torch::equal(x, plain)) ++changed_inside[cls];
    }
  }
  // Both classes' policies did act (inside the mask).
  CHECK(changed_inside[0] > 0);
  CHECK(changed_inside[1] > 0);
  // Without a mask (no brain extraction) the same policy does reach the background: gamma and
  // CLAHE work on each channel's [min, max] and blur and sharpening cross the disc's edge, which
  // is why the mask is applied.
  std::vector<tasks::SliceStudy> unmasked = studies;
  for (auto& s : unmasked) s.mask = torch::Tensor();
  tasks::StudySliceDataset open(unmasked, c.prep.slices, policy);
  bool background_moved = false;
  for (std::size_t i = 0; i < open.size() && !background_moved; ++i) {
    const torch::Tensor plain = preprocess::stack_slices(data, open.item(i).second, 0);
    for (uint64_t seed = 0; seed < 12 && !background_moved; ++seed) {
      const torch::Tensor x = open.get(i, seed).input;
      background_moved = !torch::equal(x.masked_select(outside), plain.masked_select(outside));
    }
  }
  CHECK(background_moved);
}
