// tomograd weights inspect FILE [--arch NAME] [--json]: the tensors of a weight file and, for an
// architecture, how its keys match.
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/models/weight_loading.hpp"
#include "tomograd/models/weights_file.hpp"

namespace tomograd::app {

namespace {

struct WeightsInspectOptions {
  std::string path;
  std::string arch;
  int64_t in_channels = 0;
  int64_t num_classes = 0;
  bool json = false;
};

nlohmann::json inspect(const WeightsInspectOptions& o) {
  models::WeightsFile file = models::read_weights_file(o.path);
  nlohmann::json out;
  out["path"] = o.path;
  out["format"] = models::to_string(file.format);
  out["metadata"] = file.metadata;
  out["tensors"] = nlohmann::json::array();
  int64_t values = 0;
  for (const auto& item : file.tensors) {
    out["tensors"].push_back({{"name", item.key()},
                              {"shape", item.value().sizes().vec()},
                              {"dtype", models::dtype_name(item.value().scalar_type())}});
    values += item.value().numel();
  }
  out["values"] = values;
  if (o.arch.empty()) return out;

  models::ModelSpec spec = models::spec_for_weights(o.arch, file.tensors);
  if (o.in_channels > 0) spec.in_channels = o.in_channels;
  if (o.num_classes == 1) spec.head = models::HeadOptions{};
  if (o.num_classes > 1) {
    spec.head.type = models::HeadType::kMultiClass;
    spec.head.num_classes = o.num_classes;
  }
  models::ModelPtr model = models::create_model(spec);
  models::WeightLoadReport r = models::match_weights(*model, file.tensors);
  out["arch"] = o.arch;
  out["in_channels"] = spec.in_channels;
  out["outputs"] = spec.head.fc_outputs();
  out["matched"] = r.matched.size();
  out["missing"] = r.missing.size();
  out["unexpected"] = r.unexpected.size();
  out["mismatched"] = r.mismatched.size();
  out["missing_keys"] = r.missing;
  out["unexpected_keys"] = r.unexpected;
  out["mismatched_keys"] = nlohmann::json::array();
  for (const auto& m : r.mismatched) {
    out["mismatched_keys"].push_back({{"key", m.key},
                                      {"file_shape", m.file_shape},
                                      {"model_shape", m.model_shape},
                                      {"action", models::to_string(m.action)}});
  }
  return out;
}

std::string shape_text(const nlohmann::json& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i].get<int64_t>());
  return s + "]";
}

void run_weights_inspect(const WeightsInspectOptions& o) {
  models::register_builtin_models();
  const nlohmann::json r = inspect(o);
  if (o.json) {
    std::cout << r.dump(2) << "\n";
    return;
  }
  std::cout << r["path"].get<std::string>() << ": " << r["format"].get<std::string>() << ", " << r["tensors"].size()
            << " tensors, " << r["values"].get<int64_t>() << " values\n";
  std::cout << std::left << std::setw(56) << "name" << std::setw(22) << "shape" << "dtype\n";
  for (const auto& t : r["tensors"]) {
    std::cout << std::setw(56) << t["name"].get<std::string>() << std::setw(22) << shape_text(t["shape"])
              << t["dtype"].get<std::string>() << "\n";
  }
  if (!r.contains("arch")) return;
  std::cout << "\n" << r["arch"].get<std::string>() << " (in_channels " << r["in_channels"].get<int64_t>() << ", "
            << r["outputs"].get<int64_t>() << " outputs): matched " << r["matched"].get<size_t>() << ", missing "
            << r["missing"].get<size_t>() << ", unexpected " << r["unexpected"].get<size_t>() << ", mismatched "
            << r["mismatched"].get<size_t>() << "\n";
  for (const auto& k : r["missing_keys"]) std::cout << "  missing     " << k.get<std::string>() << "\n";
  for (const auto& k : r["unexpected_keys"]) std::cout << "  unexpected  " << k.get<std::string>() << "\n";
  for (const auto& m : r["mismatched_keys"]) {
    std::cout << "  mismatched  " << m["key"].get<std::string>() << " file " << shape_text(m["file_shape"])
              << " model " << shape_text(m["model_shape"]) << " (" << m["action"].get<std::string>() << ")\n";
  }
}

}  // namespace

void setup_weights(CLI::App& app) {
  models::register_builtin_models();
  const auto names = models::ModelRegistry::global().names();
  std::string name_list;
  for (const auto& n : names) name_list += (name_list.empty() ? "" : ", ") + n;

  auto* weights = app.add_subcommand("weights", "Inspect model weight files (.pth/.pt, safetensors).\n"
                                                "Example: tomograd weights inspect resnet18-f37072fd.pth --arch resnet18");
  weights->require_subcommand(1);
  auto o = std::make_shared<WeightsInspectOptions>();
  auto* cmd = weights->add_subcommand(
      "inspect",
      "List the tensors of a weight file (name, shape, dtype): PyTorch .pth/.pt (torch.save zip or\n"
      "legacy, LibTorch torch::save) or safetensors. With --arch, also build that model and report\n"
      "how the file's keys match it (after stripping module./model. prefixes): matched, missing,\n"
      "unexpected and mismatched (another shape; the input convolution is then adapted to the\n"
      "model's channels and a head of another size re-initialized when loading).\n"
      "Example: tomograd weights inspect resnet18-f37072fd.pth --arch resnet18 --in-channels 1 --json");
  cmd->add_option("file", o->path, "weight file")->required();
  cmd->add_option("--arch", o->arch, "model to match the keys against: " + name_list + " (default: none)")
      ->check(CLI::IsMember(names));
  cmd->add_option("--in-channels", o->in_channels,
                  "input channels of the model (default: 0 = as the file's first convolution)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--num-classes", o->num_classes,
                  "outputs of the model's head, 1 = one regression output (default: 0 = as the file's fc)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json,
                "print JSON: {path, format, values, tensors: [{name, shape, dtype}], and with --arch: arch, "
                "matched, missing, unexpected, mismatched (counts), missing_keys, unexpected_keys, "
                "mismatched_keys}");
  cmd->callback([o] { run_weights_inspect(*o); });
}

}  // namespace tomograd::app
