#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/curriculum.hpp"
#include "tomograd/train/loss.hpp"
#include "tomograd/train/optim.hpp"
#include "../../../src/train/loss_weight.hpp"

using namespace tomograd;
using namespace tomograd::train;

namespace {
Batch batch_with(torch::Tensor target, torch::Tensor mask = {}) {
  Batch b;
  b.target = std::move(target);
  b.mask = std::move(mask);
  return b;
}

struct TwoPartImpl : torch::nn::Module {
  TwoPartImpl() {
    backbone = register_module("backbone", torch::nn::Linear(3, 4));
    head = register_module("head", torch::nn::Linear(4, 1));
  }
  torch::Tensor forward(torch::Tensor x) { return head(torch::relu(backbone(x))); }
  torch::nn::Linear backbone{nullptr}, head{nullptr};
};
TORCH_MODULE(TwoPart);
}  // namespace

TEST_CASE("regression losses match hand-computed values", "[train]") {
  auto out = torch::tensor({{1.0f}, {3.0f}});
  auto b = batch_with(torch::tensor({{0.0f}, {5.0f}}));
  LossOptions mse;
  CHECK(make_loss(mse)(out, b).item<double>() == Approx((1.0 + 4.0) / 2));
  LossOptions sl1;
  sl1.name = "smooth_l1";
  sl1.beta = 0.5;
  // |d| = 1 and 2, both >= beta: |d| - beta/2 = 0.75 and 1.75.
  CHECK(make_loss(sl1)(out, b).item<double>() == Approx((0.75 + 1.75) / 2));
  // Masked: only the first entry counts.
  auto masked = batch_with(torch::tensor({{0.0f}, {5.0f}}), torch::tensor({{true}, {false}}));
  CHECK(make_loss(mse)(out, masked).item<double>() == Approx(1.0));
}

TEST_CASE("BCE with pos_weight and cross-entropy with masks and class weights", "[train]") {
  LossOptions bce;
  bce.name = "bce";
  bce.pos_weight = 3.0;
  auto logit = torch::tensor({{0.0f}, {0.0f}});
  auto b = batch_with(torch::tensor({{1.0f}, {0.0f}}));
  // logit 0: -log(0.5) for both; the positive counts 3 times: (3 ln2 + ln2) / 2.
  CHECK(make_loss(bce)(logit, b).item<double>() == Approx(2 * std::log(2.0)));

  LossOptions ce;
  ce.name = "cross_entropy";
  ce.tasks = 2;
  ce.classes = 3;
  // Sample 0: task 0 logits (0,0,0) label 2 -> ln 3; task 1 missing. Sample 1: task 0 label 0
  // with logits (ln 2, 0, 0) -> -ln(2/4) = ln 2; task 1 logits (0,0,0) label 1 -> ln 3.
  auto logits = torch::tensor({{0.0f, 0.0f, 0.0f, 5.0f, 5.0f, 5.0f},
                               {static_cast<float>(std::log(2.0)), 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}});
  auto bt = batch_with(torch::tensor({{2, -1}, {0, 1}}), torch::tensor({{true, false}, {true, true}}));
  CHECK(make_loss(ce)(logits, bt).item<double>() == Approx((std::log(3.0) + std::log(2.0) + std::log(3.0)) / 3));
  // Class weights (1, 2, 4): weighted mean divides by the weights of the targets' classes.
  ce.class_weights = {1, 2, 4};
  double expect = (4 * std::log(3.0) + 1 * std::log(2.0) + 2 * std::log(3.0)) / (4 + 1 + 2);
  CHECK(make_loss(ce)(logits, bt).item<double>() == Approx(expect));
  // Every label missing: zero loss that still backpropagates.
  auto none = batch_with(torch::tensor({{0, 0}, {0, 0}}), torch::zeros({2, 2}, torch::kBool));
  auto l = logits.clone().requires_grad_(true);
  auto z = make_loss(ce)(l, none);
  CHECK(z.item<double>() == 0.0);
  z.backward();
  CHECK(l.grad().defined());
  LossOptions bad;
  bad.name = "hinge";
  CHECK_THROWS_WITH(make_loss(bad), Catch::Contains("valid: mse"));
}

TEST_CASE("the weight a data-parallel rank's loss share uses: one weighted mean, a declared one, or none", "[train]") {
  // What the trainer reads after a loss call (loss_weight.hpp): make_loss's labelled weight,
  // a task loss's declare_mean_over count, or none for a sum of two means (sample-count share).
  LossOptions o;
  o.name = "mse";
  Batch b;
  b.target = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  b.mask = torch::tensor({{true, false}, {true, true}});
  const torch::Tensor out = torch::zeros({2, 2});
  train::detail::reset_loss_weight();
  (void)make_loss(o)(out, b);
  REQUIRE(train::detail::recorded_loss_weight().has_value());
  CHECK(train::detail::recorded_loss_weight()->item<double>() == 3.0);
  train::detail::reset_loss_weight();
  declare_mean_over(torch::full({}, 5.0, torch::kFloat64));
  CHECK(train::detail::recorded_loss_weight()->item<double>() == 5.0);
  train::detail::reset_loss_weight();
  const LossFn regularized = with_regularizer(make_loss(o), [](const torch::Tensor& y, const Batch&) { return y.mean(); }, 0.1);
  (void)regularized(out, b);
  CHECK_FALSE(train::detail::recorded_loss_weight().has_value());
}

TEST_CASE("ReduceLROnPlateau halves the rate after patience epochs without improvement", "[train]") {
  SchedulerOptions o;
  o.name = "plateau";
  o.patience = 2;
  o.factor = 0.5;
  Scheduler s(o);
  CHECK(s.step(0, 1.0) == 1.0);   // best 1.0
  CHECK(s.step(1, 0.9) == 1.0);   // improved
  CHECK(s.step(2, 0.95) == 1.0);  // bad 1
  CHECK(s.step(3, 0.95) == 1.0);  // bad 2 = patience
  CHECK(s.step(4, 0.95) == 0.5);  // bad 3 > patience: halve
  CHECK(s.step(5, 0.95) == 0.5);
  auto state = s.state();
  Scheduler t(o);
  t.load_state(state);
  CHECK(t.factor() == 0.5);
}

TEST_CASE("cosine with warm-up, exponential and step schedules", "[train]") {
  SchedulerOptions c;
  c.name = "cosine";
  c.warmup_epochs = 2;
  c.total_epochs = 6;
  Scheduler s(c);
  CHECK(s.initial_factor() == Approx(1.0 / 3));
  CHECK(s.step(0, {}) == Approx(2.0 / 3));   // epoch 1 of warm-up
  CHECK(s.step(1, {}) == Approx(1.0));       // epoch 2: cosine starts at 1
  CHECK(s.step(3, {}) == Approx(0.5));       // epoch 4: halfway (t = 2/4)
  CHECK(s.step(5, {}) == Approx(0.0).margin(1e-12));
  SchedulerOptions e;
  e.name = "exponential";
  e.gamma = 0.5;
  CHECK(Scheduler(e).step(1, {}) == Approx(0.25));
  SchedulerOptions st;
  st.name = "step";
  st.gamma = 0.1;
  st.step_size = 3;
  Scheduler ss(st);
  CHECK(ss.step(1, {}) == Approx(1.0));
  CHECK(ss.step(2, {}) == Approx(0.1));
}

TEST_CASE("curriculum freezes exactly the named parameters", "[train]") {
  TwoPart net;
  Curriculum cur({{0, "head_only", {"head."}, {{"head.", 1e-2}}},
                  {3, "all", {"head.", "backbone."}, {{"head.", 1e-3}, {"backbone.", 1e-4}}}});
  auto groups = make_param_groups(*net, cur.lr_prefixes());
  OptimOptions oo;
  oo.lr = 5e-2;
  auto opt = make_optimizer(*net, oo, groups);
  auto lrs = cur.apply(0, *net, groups, oo.lr);
  for (std::size_t g = 0; g < lrs.size(); ++g) set_lr(*opt, g, lrs[g]);
  for (const auto& p : net->named_parameters()) {
    CHECK(p.value().requires_grad() == (p.key().rfind("head.", 0) == 0));
  }
  auto before = net->backbone->weight.clone();
  auto x = torch::randn({8, 3});
  opt->zero_grad();
  net->forward(x).pow(2).mean().backward();
  opt->step();
  CHECK(torch::equal(before, net->backbone->weight));  // frozen: unchanged
  CHECK(!net->backbone->weight.grad().defined());       // and no gradient
  // No optimizer state for frozen parameters.
  CHECK(!compat::optimizer_has_state(*opt, net->backbone->weight));
  CHECK(compat::optimizer_has_state(*opt, net->head->weight));
  // Stage 2 trains both with their own rates.
  lrs = cur.apply(3, *net, groups, oo.lr);
  CHECK(lrs[groups.group_of("head.weight")] == Approx(1e-3));
  CHECK(lrs[groups.group_of("backbone.weight")] == Approx(1e-4));
  CHECK(cur.trainable_at(3, *net).size() == 4);
  CHECK(cur.trainable_at(1, *net).size() == 2);
  CHECK_THROWS_AS(Curriculum({{1, "late", {"head."}, {}}}), ConfigError);
}
