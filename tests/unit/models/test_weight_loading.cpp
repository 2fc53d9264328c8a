// Loading state dicts into models: input-channel adaptation (checked against hand-computed
// kernels and numerically through convolutions), the key report, prefixes, strictness, heads.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <map>

#include "support/fixtures.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/models/resnet.hpp"
#include "tomograd/models/weight_loading.hpp"

using namespace tomograd;
using namespace tomograd::models;

namespace {

ResNet resnet18(int64_t in_channels, int64_t classes) {
  ResNetOptions o = ResNetOptions::resnet18();
  o.in_channels = in_channels;
  if (classes > 1) {
    o.head.type = HeadType::kMultiClass;
    o.head.num_classes = classes;
  }
  return ResNet(o);
}

// A detached copy, so loading into the model cannot alias the source.
StateDict copy_of(const StateDict& sd) {
  StateDict out;
  for (const auto& item : sd) out.insert(item.key(), item.value().detach().clone());
  return out;
}

}  // namespace

TEST_CASE("input channel adaptation: hand-computed kernels", "[models]") {
  // One output channel, RGB kernel values 1, 2, 3 (1×1 spatial).
  auto w = torch::tensor({1.0f, 2.0f, 3.0f}).view({1, 3, 1, 1});
  auto flat = [](const torch::Tensor& t) { return t.flatten(); };
  CHECK(torch::allclose(flat(adapt_input_conv(w, 1, InputChannelMode::kSum)), torch::tensor({6.0f})));
  CHECK(torch::allclose(flat(adapt_input_conv(w, 1, InputChannelMode::kMean)), torch::tensor({2.0f})));
  // Folding: channel 0 gets R and B, channel 1 gets G.
  CHECK(torch::allclose(flat(adapt_input_conv(w, 2)), torch::tensor({4.0f, 2.0f})));
  // Repeating: R is shared by channels 0 and 3, G by 1 and 4, B by 2 and 5.
  CHECK(torch::allclose(flat(adapt_input_conv(w, 4)), torch::tensor({0.5f, 2.0f, 3.0f, 0.5f})));
  CHECK(torch::allclose(flat(adapt_input_conv(w, 6)), torch::tensor({0.5f, 1.0f, 1.5f, 0.5f, 1.0f, 1.5f})));
  CHECK(torch::allclose(flat(adapt_input_conv(w, 6, InputChannelMode::kMean)),
                        torch::tensor({0.5f, 1.0f, 1.5f, 0.5f, 1.0f, 1.5f}) / 3));
  CHECK_THROWS_AS(adapt_input_conv(torch::ones({3, 3}), 1), ValueError);
}

TEST_CASE("input channel adaptation: a grey image gives the same response", "[models]") {
  torch::manual_seed(5);
  auto w = torch::randn({8, 3, 7, 7});
  auto grey = torch::randn({2, 1, 20, 20});
  auto reference = torch::conv2d(grey.expand({2, 3, 20, 20}), w);
  // 1 channel: the conv with the summed kernel equals the RGB conv of the replicated image.
  auto w1 = adapt_input_conv(w, 1, InputChannelMode::kSum);
  CHECK(torch::allclose(w1, w.sum(1, true), 1e-5, 1e-6));  // float32 sum vs float64 mix
  CHECK(torch::allclose(torch::conv2d(grey, w1), reference, 1e-4, 1e-4));
  CHECK(torch::allclose(adapt_input_conv(w, 1, InputChannelMode::kMean), w.mean(1, true), 1e-5, 1e-6));
  // k channels (k = 2, 5, 9): same invariance, sum mode.
  for (int64_t k : {2, 5, 9}) {
    INFO("k = " << k);
    auto wk = adapt_input_conv(w, k);
    CHECK(wk.sizes() == torch::IntArrayRef({8, k, 7, 7}));
    CHECK(torch::allclose(torch::conv2d(grey.expand({2, k, 20, 20}), wk), reference, 1e-4, 1e-4));
  }
}

TEST_CASE("key report on a crafted state dict", "[models]") {
  torch::manual_seed(2);
  // Source: a 3-channel, 1000-class resnet18 (torchvision's layout), saved by DataParallel.
  StateDict source = module_state_dict(*resnet18(3, 1000));
  REQUIRE(source.size() == 122);  // 62 parameters + 60 BatchNorm buffers, as torchvision's
  StateDict crafted;
  for (const auto& item : source) {
    if (item.key() == "bn1.running_mean" || item.key() == "layer1.0.conv1.weight") continue;  // 2 missing
    torch::Tensor v = item.value().detach().clone();
    if (item.key() == "layer2.0.bn1.weight") v = torch::ones({5});  // 1 skipped mismatch
    crafted.insert("module." + item.key(), v);
  }
  crafted.insert("module.extra.weight", torch::ones({3}));  // 1 unexpected
  crafted.insert("optimizer_step", torch::tensor(3));      // 1 unexpected

  ResNet target = resnet18(1, 1);  // 1 channel (conv1 adapted), 1 output (fc re-initialized)
  WeightLoadReport r = match_weights(*target, crafted);
  CHECK(r.matched.size() == 122 - 2 - 1 - 1 - 2);
  CHECK(r.missing == std::vector<std::string>{"bn1.running_mean", "layer1.0.conv1.weight"});  // model order
  CHECK(r.unexpected == std::vector<std::string>{"module.extra.weight", "optimizer_step"});
  REQUIRE(r.mismatched.size() == 4);
  std::map<std::string, MismatchAction> actions;
  for (const auto& m : r.mismatched) actions[m.key] = m.action;
  CHECK(actions.at("conv1.weight") == MismatchAction::kAdapted);
  CHECK(actions.at("layer2.0.bn1.weight") == MismatchAction::kSkipped);
  CHECK(actions.at("fc.weight") == MismatchAction::kReinitialized);
  CHECK(actions.at("fc.bias") == MismatchAction::kReinitialized);
  CHECK_FALSE(r.exact());
  CHECK_THAT(r.summary(), Catch::Contains("matched 116, missing 2, unexpected 2, mismatched 4"));

  // Strict refuses it, naming the problems; non-strict loads what fits.
  WeightLoadOptions strict;
  strict.strict = true;
  CHECK_THROWS_WITH(load_weights(*target, crafted, strict),
                    Catch::Contains("missing 2") && Catch::Contains("layer1.0.conv1.weight") &&
                        Catch::Contains("module.extra.weight") && Catch::Contains("layer2.0.bn1.weight"));
  load_weights(*target, crafted);
  auto params = target->named_parameters();
  CHECK(torch::equal(params["layer3.1.conv2.weight"], source["layer3.1.conv2.weight"]));
  CHECK(torch::allclose(params["conv1.weight"], source["conv1.weight"].sum(1, true)));
  CHECK(params["fc.weight"].sizes() == torch::IntArrayRef({1, 512}));
  CHECK(torch::equal(target->named_buffers()["layer4.1.bn2.running_var"], source["layer4.1.bn2.running_var"]));
}

TEST_CASE("exact loads, prefixes, strict success, and a file of another model", "[models]") {
  torch::manual_seed(3);
  ResNet a = resnet18(3, 10), b = resnet18(3, 10);
  StateDict sd = copy_of(module_state_dict(*a));
  StateDict prefixed;
  for (const auto& item : sd) prefixed.insert("model." + item.key(), item.value());
  WeightLoadOptions strict;
  strict.strict = true;
  WeightLoadReport r = load_weights(*b, prefixed, strict);
  CHECK(r.exact());
  CHECK(r.matched.size() == 122);
  torch::NoGradGuard no_grad;
  a->eval();
  b->eval();
  auto x = torch::randn({2, 3, 32, 32});
  CHECK(torch::equal(a->forward(x), b->forward(x)));

  // Another head size: the head is re-initialized even in strict mode (reinit_head).
  ResNet c = resnet18(3, 4);
  WeightLoadReport rc = load_weights(*c, sd, strict);
  CHECK(rc.matched.size() == 120);
  CHECK(rc.mismatched.size() == 2);
  strict.reinit_head = false;
  CHECK_THROWS_AS(load_weights(*c, sd, strict), ValueError);

  // Nothing matching at all is an error even when not strict.
  StateDict foreign;
  foreign.insert("encoder.block.0.weight", torch::ones({3}));
  CHECK_THROWS_WITH(load_weights(*c, foreign), Catch::Contains("no tensor name matches") &&
                                                   Catch::Contains("encoder.block.0.weight"));
}

TEST_CASE("a RadImageNet-style backbone (nn.Sequential of ResNet children) loads into resnet50", "[models]") {
  torch::manual_seed(4);
  ResNetOptions o = ResNetOptions::resnet50();
  o.in_channels = 3;
  ResNet source(o);
  // RadImageNet saves nn.Sequential(*list(resnet50.children())[:-1]) under "backbone.": conv1 is
  // child 0, bn1 child 1, layer1..layer4 children 4..7, and there is no fc.
  const std::map<std::string, std::string> index{{"conv1", "0"}, {"bn1", "1"}, {"layer1", "4"},
                                                 {"layer2", "5"}, {"layer3", "6"}, {"layer4", "7"}};
  StateDict radimagenet;
  for (const auto& item : copy_of(module_state_dict(*source))) {
    const std::string& key = item.key();
    const std::string child = key.substr(0, key.find('.'));
    if (child == "fc") continue;
    radimagenet.insert("backbone." + index.at(child) + key.substr(key.find('.')), item.value());
  }
  REQUIRE(radimagenet.contains("backbone.0.weight"));
  REQUIRE(radimagenet.contains("backbone.4.0.conv1.weight"));
  // The metastasis recipe: one input channel (RGB kernels summed), a binary head of its own.
  ResNetOptions t = ResNetOptions::resnet50();
  t.in_channels = 1;
  t.head.type = HeadType::kBinary;
  t.head.hidden = 512;
  ResNet target(t);
  WeightLoadOptions lo;
  lo.input_channel_mode = InputChannelMode::kSum;
  const WeightLoadReport r = load_weights(*target, radimagenet, lo);
  CHECK(r.unexpected.empty());
  CHECK(r.matched.size() + 1 == radimagenet.size());  // every tensor but the adapted conv1
  REQUIRE(r.mismatched.size() == 1);
  CHECK(r.mismatched[0].key == "conv1.weight");
  CHECK(r.mismatched[0].action == MismatchAction::kAdapted);
  CHECK(r.missing.size() == 4);  // the fresh head: head_hidden and fc weights and biases
  // The backbone now computes the source's features on a grey image (three equal channels).
  torch::NoGradGuard no_grad;
  source->eval();
  target->eval();
  auto grey = torch::randn({2, 1, 64, 64});
  const torch::Tensor a = target->features(grey), b = source->features(grey.expand({2, 3, 64, 64}));
  INFO("max |difference| " << (a - b).abs().max().item<double>() << ", max |feature| " << b.abs().max().item<double>());
  // Summing the three kernels first changes the order of float additions: the difference is
  // round-off relative to the features' scale (LibTorch 2.11 on 16 cores: 3.4e-5 with features
  // up to 74, which an element-wise tolerance fails on near-zero features).
  CHECK((a - b).abs().max().item<double>() <= 1e-5 * b.abs().max().item<double>());
}
