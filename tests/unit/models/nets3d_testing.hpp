#pragma once
// Shared checks for the MONAI 3D networks (issue 15): the lumbar 25 x 3 head with metadata,
// key/shape tables, overfitting one tiny batch, and a MONAI-named state dict loading by name.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tomograd/models/model.hpp"
#include "tomograd/models/weight_loading.hpp"

namespace tomograd::models::testing {

/// Closed-form values shared with tests/unit/models/attention_reference.py: parameter
/// `prefix + name`, flat index k -> 0.2 sin(0.37 k + 0.01 (byte sum of the name mod 97)), plus 1
/// for LayerNorm weights. Buffers are left alone.
inline void fill_parameters(torch::nn::Module& module, const std::string& prefix = "") {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    const std::string name = prefix + item.key();
    int seed = 0;
    for (unsigned char c : name) seed += c;
    seed %= 97;
    torch::Tensor k = torch::arange(item.value().numel(), torch::kFloat64);
    torch::Tensor v = 0.2 * torch::sin(0.37 * k + 0.01 * seed);
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("norm1.weight") || ends_with("norm2.weight") || ends_with("norm.weight")) v = v + 1.0;
    item.value().copy_(v.view(item.value().sizes()).to(item.value().dtype()));
  }
}

/// 1.5 sin(0.3 k + 0.1) over the flat index k (as the NumPy reference's reference_input).
inline torch::Tensor reference_input(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  torch::Tensor k = torch::arange(n, torch::kFloat64);
  return (1.5 * torch::sin(0.3 * k + 0.1)).view(shape).to(torch::kFloat32);
}

/// Largest absolute difference between @p t and the recorded values.
inline double max_abs_diff(const torch::Tensor& t, const std::vector<double>& expected) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  torch::Tensor e = torch::tensor(expected, torch::kFloat64);
  return (t.to(torch::kFloat64).reshape({-1}) - e).abs().max().item<double>();
}

/// The lumbar 3D head: 25 tasks x 3 grades, 4 metadata values fused, dropout 0.2.
inline HeadOptions lumbar_head() {
  HeadOptions h;
  h.type = HeadType::kMultiOutput;
  h.num_tasks = 25;
  h.num_classes = 3;
  h.dropout = 0.2;
  h.metadata_dim = 4;
  return h;
}

inline HeadOptions binary_head() {
  HeadOptions h;
  h.type = HeadType::kBinary;
  return h;
}

/// Every key of @p expected is a parameter or buffer of @p model with that shape.
inline void check_keys(Model& model, const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected) {
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (const auto& [key, shape] : expected) {
    INFO(key);
    const torch::Tensor* t = params.find(key);
    if (!t) t = buffers.find(key);
    REQUIRE(t != nullptr);
    CHECK(t->sizes() == torch::IntArrayRef(shape));
  }
}

/// forward() with the lumbar head gives [N,25,3] and a finite cross-entropy with gradients.
inline void check_lumbar_head(Model& model, const torch::Tensor& x) {
  model.train();
  torch::Tensor meta = torch::rand({x.size(0), 4});
  torch::Tensor out = model.forward(x, meta);
  REQUIRE(out.sizes() == torch::IntArrayRef({x.size(0), 25, 3}));
  torch::Tensor target = torch::randint(0, 3, {x.size(0), 25}, torch::kLong);
  torch::Tensor loss = torch::nn::functional::cross_entropy(out.reshape({-1, 3}), target.reshape({-1}));
  REQUIRE(std::isfinite(loss.item<double>()));
  loss.backward();
  int64_t with_grad = 0;
  for (const auto& p : model.parameters()) {
    if (p.grad().defined()) {
      ++with_grad;
      CHECK(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
  CHECK(with_grad == static_cast<int64_t>(model.parameters().size()));
}

/// 30 Adam steps on two volumes with targets +1 and -1 bring the MSE below 0.1 (predicting the
/// mean would leave 1).
inline void check_overfits(Model& model, const torch::Tensor& x, double lr = 1e-3, int steps = 30) {
  model.train();
  torch::Tensor y = torch::tensor({{1.0f}, {-1.0f}});
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(lr));
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    torch::Tensor loss = torch::mse_loss(model.forward(x), y);
    loss.backward();
    opt.step();
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  INFO("loss " << first << " -> " << last);
  CHECK(std::isfinite(last));
  CHECK(last < 0.1);
}

/// A state dict named like MONAI's (our backbone keys plus @p extra_monai_keys such as MONAI's
/// own classifier or decoder, all with random values) loads into a fresh @p target: every backbone key
/// matches, the extras are reported unexpected, the values arrive, and the head keeps its own
/// initialization.
inline void check_monai_names_load(Model& source, Model& target, const std::vector<std::string>& extra_monai_keys) {
  StateDict sd;
  for (const auto& item : source.named_parameters()) {
    if (item.key().rfind("fc.", 0) == 0 || item.key().rfind("head_", 0) == 0) continue;
    sd.insert(item.key(), torch::randn_like(item.value()));
  }
  for (const auto& item : source.named_buffers()) {
    sd.insert(item.key(), item.value().clone());
  }
  for (const auto& k : extra_monai_keys) sd.insert(k, torch::randn({2, 3}));
  WeightLoadReport r = load_weights(target, sd);
  INFO(r.summary());
  std::vector<std::string> missing = r.missing;
  std::sort(missing.begin(), missing.end());
  CHECK(missing == std::vector<std::string>{"fc.bias", "fc.weight"});
  CHECK(r.unexpected.size() == extra_monai_keys.size());
  CHECK(r.mismatched.empty());
  auto loaded = target.named_parameters();
  for (const auto& item : sd) {
    if (const torch::Tensor* t = loaded.find(item.key())) {
      INFO(item.key());
      CHECK(torch::equal(*t, item.value()));
    }
  }
}

}  // namespace tomograd::models::testing
