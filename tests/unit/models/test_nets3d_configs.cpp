// The lumbar 3D recipes of the MONAI networks (configs/lumbar_3d_<net>.yaml): their model section
// decodes (every key known), builds the named architecture, and maps the lumbar input
// [N, 2, 16, 64, 64] plus 4 metadata values to [N, 25, 3].
#include <catch2/catch.hpp>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "tomograd/core/config.hpp"
#include "tomograd/models/model_spec.hpp"
#include "tomograd/models/registry.hpp"

using namespace tomograd;
using namespace tomograd::models;

TEST_CASE("lumbar 3D recipes of the MONAI networks decode, build and give 25 x 3 outputs", "[models]") {
  register_builtin_models();
  const std::vector<std::pair<std::string, std::string>> recipes = {{"lumbar_3d_densenet.yaml", "densenet121_3d"},
                                                                    {"lumbar_3d_segresnet.yaml", "segresnet3d"},
                                                                    {"lumbar_3d_dynunet.yaml", "dynunet3d"},
                                                                    {"lumbar_3d_vit.yaml", "vit3d"},
                                                                    {"lumbar_3d_swinunetr.yaml", "swinunetr3d"}};
  for (const auto& [file, arch] : recipes) {
    DYNAMIC_SECTION(file) {
      const std::string path = std::string(TOMOGRAD_SOURCE_DIR) + "/configs/" + file;
      YAML::Node root = YAML::LoadFile(path);
      ConfigReader reader(root["model"], path, "model");
      const ModelSpec spec = decode_model_spec(reader);
      CHECK(spec.arch == arch);
      CHECK(ModelRegistry::global().get(arch).spatial_dims == 3);
      torch::manual_seed(1);
      ModelPtr model = create_model(spec);
      model->eval();
      torch::NoGradGuard no_grad;
      torch::Tensor out = model->forward(torch::randn({1, 2, 16, 64, 64}), torch::rand({1, 4}));
      CHECK(out.sizes() == torch::IntArrayRef({1, 25, 3}));
      CHECK(torch::isfinite(out).all().item<bool>());
    }
  }
  // A misspelt key in a network's section is an error naming the dotted path.
  YAML::Node bad = YAML::Load("{arch: vit3d, vit3d: {hiden_size: 64}}");
  ConfigReader reader(bad, "inline.yaml", "model");
  CHECK_THROWS_WITH(decode_model_spec(reader), Catch::Contains("hiden_size"));
}
