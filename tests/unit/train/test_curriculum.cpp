// Curriculum patterns are checked against the model: a pattern that matches no parameter (a
// typo) is a ConfigError naming the stage and the pattern and listing the top-level names.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tomograd/core/error.hpp"
#include "tomograd/train/curriculum.hpp"

using namespace tomograd;
using namespace tomograd::train;

namespace {

struct SmallNetImpl : torch::nn::Module {
  SmallNetImpl() {
    backbone = register_module("backbone", torch::nn::Linear(3, 4));
    head_hidden = register_module("head_hidden", torch::nn::Linear(4, 4));
    fc = register_module("fc", torch::nn::Linear(4, 1));
    scale = register_parameter("scale", torch::ones({1}));
  }
  torch::nn::Linear backbone{nullptr}, head_hidden{nullptr}, fc{nullptr};
  torch::Tensor scale;
};
TORCH_MODULE(SmallNet);

}  // namespace

TEST_CASE("curriculum: patterns that match parameters pass", "[train]") {
  SmallNet net;
  Curriculum ok({{0, "head", {"head_hidden", "fc"}, {{"fc", 1e-3}, {"head_hidden", 1e-3}}},
                 {2, "all", {"*"}, {{"", 1e-4}, {"backbone.weight", 1e-5}}}});
  CHECK_NOTHROW(ok.check_patterns(*net));
  CHECK_NOTHROW(Curriculum{}.check_patterns(*net));
}

TEST_CASE("curriculum: a trainable pattern that matches nothing names itself and the top-level names", "[train]") {
  SmallNet net;
  Curriculum typo({{0, "head", {"fc"}, {}}, {3, "deeper", {"fc", "backbon."}, {}}});
  CHECK_THROWS_AS(typo.check_patterns(*net), ConfigError);
  CHECK_THROWS_WITH(typo.check_patterns(*net),
                    Catch::Contains("curriculum stage 2 'deeper'") && Catch::Contains("trainable pattern 'backbon.'") &&
                        Catch::Contains("backbone, head_hidden, fc, scale"));
  // apply() refuses at epoch 0 already, before the stage with the typo is reached.
  const auto groups = make_param_groups(*net, typo.lr_prefixes());
  CHECK_THROWS_WITH(typo.apply(0, *net, groups, 1e-3), Catch::Contains("'backbon.'"));
}

TEST_CASE("curriculum: an lr prefix that matches nothing is an error too", "[train]") {
  SmallNet net;
  Curriculum typo({{0, "head", {"fc"}, {{"fc", 1e-3}, {"layer4", 1e-5}}}});
  CHECK_THROWS_WITH(typo.check_patterns(*net), Catch::Contains("stage 1 'head'") && Catch::Contains("lr prefix 'layer4'") &&
                                                   Catch::Contains("top-level names are: backbone"));
}
