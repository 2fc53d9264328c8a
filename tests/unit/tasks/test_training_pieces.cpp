// Pieces the task pipelines rely on and that end-to-end runs only smoke-test: the lumbar
// adjacent-level consistency term (value and gradient on a hand-made example), gradient clipping
// as the Trainer applies it (the update's norm after clipping), and metadata fusion (the head
// sees the metadata).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "support/fixtures.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/tasks/lumbar/training.hpp"
#include "tomograd/train/trainer.hpp"

using namespace tomograd;
namespace fs = std::filesystem;

TEST_CASE("lumbar consistency term: value and gradient on a hand-made example", "[tasks][lumbar]") {
  // Logits chosen so that softmax is exact: (0,0,0) -> (1/3,1/3,1/3), expected grade e = 1;
  // (ln 2,0,0) -> (1/2,1/4,1/4), e = 3/4; (0,0,ln 2) -> (1/4,1/4,1/2), e = 5/4.
  // Condition 0 (cells 0..4) has e = [1, 3/4, 5/4, 1, 1]; every other cell e = 1.
  torch::Tensor z = torch::zeros({1, 25, 3}, torch::kFloat64);
  z[0][1][0] = std::log(2.0);
  z[0][2][2] = std::log(2.0);
  z.set_requires_grad(true);
  const torch::Tensor v = tasks::lumbar::adjacent_level_consistency(z, train::Batch{});
  // Differences of condition 0: -1/4, 1/2, -1/4, 0 -> squares sum 3/8; mean over 5 x 4 = 20 pairs.
  CHECK(v.item<double>() == Approx(3.0 / 160.0).margin(1e-15));
  v.backward();
  const torch::Tensor g = z.grad();
  // dV/de_l = (1/10) [(e_l - e_{l-1}) - (e_{l+1} - e_l)] (missing neighbours dropped):
  // condition 0: 0.025, -0.075, 0.075, -0.025, 0. And de/dz_c = p_c (c - e).
  // Level 0: p = 1/3, e = 1: de/dz = (-1/3, 0, 1/3) -> 0.025 x that.
  CHECK(g[0][0][0].item<double>() == Approx(-0.025 / 3).margin(1e-15));
  CHECK(g[0][0][1].item<double>() == Approx(0.0).margin(1e-15));
  CHECK(g[0][0][2].item<double>() == Approx(0.025 / 3).margin(1e-15));
  // Level 1: p = (1/2, 1/4, 1/4), e = 3/4: de/dz = (-3/8, 1/16, 5/16) -> -0.075 x that.
  CHECK(g[0][1][0].item<double>() == Approx(0.028125).margin(1e-15));
  CHECK(g[0][1][1].item<double>() == Approx(-0.0046875).margin(1e-15));
  CHECK(g[0][1][2].item<double>() == Approx(-0.0234375).margin(1e-15));
  // Level 4 sits beside an equal neighbour, and other conditions are constant: no gradient.
  CHECK(g[0][4].abs().max().item<double>() == Approx(0.0).margin(1e-15));
  CHECK(g[0].slice(0, 5, 25).abs().max().item<double>() == Approx(0.0).margin(1e-15));
  // Equal grades at every level: no penalty.
  CHECK(tasks::lumbar::adjacent_level_consistency(torch::zeros({2, 25, 3}), train::Batch{}).item<double>() == 0.0);
}

namespace {

// y = 100 x·1: a target far from a fresh linear model's output, so the raw gradient is large.
class FarTargets : public train::Dataset {
 public:
  FarTargets() {
    x_ = torch::arange(16, torch::kFloat32).reshape({8, 2}) / 8.0;
    y_ = 100.0 * x_.sum(1, true);
  }
  std::size_t size() const override { return 8; }
  train::Sample get(std::size_t i, uint64_t) const override {
    train::Sample s;
    s.input = x_[static_cast<int64_t>(i)];
    s.target = y_[static_cast<int64_t>(i)];
    s.patient_id = "P" + std::to_string(i);
    return s;
  }
  std::string patient_of(std::size_t i) const override { return "P" + std::to_string(i); }
  torch::Tensor x_, y_;
};

torch::Tensor flat_params(torch::nn::Module& m) {
  std::vector<torch::Tensor> v;
  for (const auto& p : m.parameters()) v.push_back(p.detach().reshape({-1}).clone());
  return torch::cat(v);
}

/// One SGD step (lr 1, no momentum) on the whole set through the Trainer: the change of the
/// parameters is minus the (clipped) gradient.
torch::Tensor trainer_step(const fs::path& dir, double clip, torch::Tensor* raw_gradient) {
  torch::manual_seed(3);
  auto net = std::make_shared<torch::nn::LinearImpl>(2, 1);
  const torch::Tensor before = flat_params(*net);
  FarTargets data;
  auto loss = [](const torch::Tensor& out, const train::Batch& b) { return (out - b.target).pow(2).mean(); };
  {
    // The gradient the step starts from, computed here by hand on the same batch.
    net->zero_grad();
    loss(net->forward(data.x_), train::Batch{data.x_, data.y_, {}, {}, {}, {}}).backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : net->parameters()) g.push_back(p.grad().reshape({-1}).clone());
    *raw_gradient = torch::cat(g);
    net->zero_grad();
  }
  train::OptimOptions o;
  o.name = "sgd";
  o.lr = 1.0;
  o.momentum = 0.0;
  train::TrainOptions t;
  t.epochs = 1;
  t.device = "cpu";
  t.grad_clip = clip;
  t.show_progress = false;
  t.loader.workers = 0;
  train::Trainer trainer(net, [net](const train::Batch& b) { return net->forward(b.input); }, loss, o,
                         train::SchedulerOptions{}, train::Curriculum{}, t, dir);
  train::RandomSampler all(8, 8, false, 0);
  trainer.fit(data, all, nullptr, nullptr);
  return flat_params(*net) - before;
}

}  // namespace

TEST_CASE("gradient clipping: the Trainer's update has norm grad_clip, along the gradient", "[tasks][train]") {
  set_progress_enabled(false);
  torch::set_num_threads(1);
  test::TempDir tmp;
  torch::Tensor g;
  const torch::Tensor free_step = trainer_step(tmp / "free", 0.0, &g);
  const double g_norm = g.norm().item<double>();
  REQUIRE(g_norm > 10.0);  // far targets: a large raw gradient
  // No clipping: the SGD step is exactly minus the gradient.
  CHECK(torch::allclose(free_step, -g, 1e-4, 1e-4));
  const torch::Tensor clipped = trainer_step(tmp / "clipped", 0.5, &g);
  // Clipped: norm 0.5 (clip_grad_norm_ scales by max_norm / (norm + 1e-6)), same direction.
  CHECK(clipped.norm().item<double>() == Approx(0.5).epsilon(1e-4));
  CHECK(torch::allclose(clipped, -g * (0.5 / g_norm), 1e-5, 1e-4));
  // A clip above the gradient's norm leaves the step alone.
  const torch::Tensor loose = trainer_step(tmp / "loose", 10.0 * g_norm, &g);
  CHECK(torch::allclose(loose, -g, 1e-4, 1e-4));
}

TEST_CASE("metadata fusion: the head sees the metadata", "[tasks][models]") {
  models::register_builtin_models();
  models::ModelSpec spec;
  spec.arch = "resnet18";
  spec.in_channels = 3;
  spec.head.type = models::HeadType::kMultiOutput;
  spec.head.num_tasks = 25;
  spec.head.num_classes = 3;
  spec.head.metadata_dim = 4;
  torch::manual_seed(0);
  auto model = models::create_model(spec);
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  const torch::Tensor m1 = torch::tensor({{0.4f, 0.07f, 0.4f, 0.07f}, {0.4f, 0.07f, 0.4f, 0.07f}});
  const torch::Tensor m2 = torch::tensor({{0.3f, 0.05f, 0.4f, 0.07f}, {0.4f, 0.07f, 0.4f, 0.07f}});
  tasks::lumbar::InputOptions in;
  in.kind = "volume";  // one image per study, 25 x 3 outputs, metadata fused by the head
  REQUIRE(in.model_tasks() == 25);
  const torch::Tensor a = tasks::lumbar::run_model(*model, x, m1, in);
  const torch::Tensor b = tasks::lumbar::run_model(*model, x, m2, in);
  REQUIRE(a.sizes() == torch::IntArrayRef({2, 25, 3}));
  // Only the first study's metadata changed: only its outputs move.
  CHECK((a[0] - b[0]).abs().max().item<float>() > 1e-4f);
  CHECK(torch::equal(a[1], b[1]));
  // Without its metadata the head refuses to run rather than silently ignoring it.
  CHECK_THROWS(model->forward(x));

  // Shared levels: the five levels of one image differ only by their one-hot level vector, so
  // identical crops at every level still give five different outputs.
  models::ModelSpec shared = spec;
  shared.in_channels = 9;  // sagittal, context 1: 3 series x 3 slices per level
  shared.head.num_tasks = 5;
  shared.head.metadata_dim = 5;
  auto level_model = models::create_model(shared);
  level_model->eval();
  tasks::lumbar::InputOptions sag;
  REQUIRE(sag.model_tasks() == 5);
  const torch::Tensor one_level = torch::randn({1, 9, 32, 32});
  const torch::Tensor study = one_level.repeat({1, 5, 1, 1});  // the same crops at every level
  const torch::Tensor out = tasks::lumbar::run_model(*level_model, study, {}, sag);  // [1, 25, 3]
  const torch::Tensor by_level = out.reshape({5, 5, 3}).permute({1, 0, 2});          // [level][condition]
  CHECK((by_level[0] - by_level[1]).abs().max().item<float>() > 1e-5f);
  CHECK((by_level[3] - by_level[4]).abs().max().item<float>() > 1e-5f);
}
