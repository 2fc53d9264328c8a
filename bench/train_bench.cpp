// Training and inference throughput of a model on CPU or CUDA, and a short real training run
// through the Trainer (checkpoints, history) on that device. Builds in TOMOGRAD_MINIMAL too (no
// CLI11): arguments are key=value.
//   bench_train [model=resnet18] [device=auto] [batch=32] [size=224] [depth=32] [channels=3]
//               [amp=off|bf16|fp16] [channels_last=0|1] [steps=20] [fit=0|1] [out=DIR]
// Prints one JSON line per measurement.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "tomograd/core/random.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/train/benchmark.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/trainer.hpp"

using namespace tomograd;

int main(int argc, char** argv) {
  std::map<std::string, std::string> a{{"model", "resnet18"}, {"device", "auto"}, {"batch", "32"}, {"size", "224"},
                                       {"depth", "32"},       {"channels", "3"},   {"amp", "off"},  {"channels_last", "0"},
                                       {"steps", "20"},       {"fit", "0"},        {"out", ""}};
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto eq = s.find('=');
    if (eq == std::string::npos || !a.count(s.substr(0, eq))) {
      std::cerr << "bench_train: unknown argument '" << s << "' (key=value; keys:";
      for (const auto& [k, v] : a) std::cerr << " " << k;
      std::cerr << ")\n";
      return 2;
    }
    a[s.substr(0, eq)] = s.substr(eq + 1);
  }
  try {
    models::register_builtin_models();
    models::ModelSpec spec;
    spec.arch = a["model"];
    spec.in_channels = std::stoll(a["channels"]);
    spec.head.type = models::HeadType::kMultiOutput;  // the lumbar head: 25 tasks x 3 grades
    spec.head.num_tasks = 25;
    spec.head.num_classes = 3;
    const int dims = models::ModelRegistry::global().get(spec.arch).spatial_dims;
    const int64_t n = std::stoll(a["batch"]), size = std::stoll(a["size"]), depth = std::stoll(a["depth"]);
    const torch::Device device = train::parse_device(a["device"]);
    auto shape = [&](int64_t batch) {
      return dims == 3 ? std::vector<int64_t>{batch, spec.in_channels, depth, size, size}
                       : std::vector<int64_t>{batch, spec.in_channels, size, size};
    };
    for (const bool training : {true, false}) {
      seed_everything(1);
      models::ModelPtr model = models::create_model(spec);
      train::BenchmarkOptions b;
      b.steps = std::stoi(a["steps"]);
      b.train = training;
      b.amp = a["amp"];
      b.channels_last = a["channels_last"] == "1";
      const auto r = train::benchmark(*model, [&](const torch::Tensor& x) { return model->forward(x); },
                                      torch::randn(shape(n)), device, b);
      std::cout << nlohmann::json{{"mode", training ? "train" : "infer"}, {"model", spec.arch},
                                  {"device", r.device},                    {"libtorch", compat::torch_version()},
                                  {"amp", b.amp},                          {"channels_last", b.channels_last},
                                  {"batch", n},                            {"size", size},
                                  {"samples_per_s", r.samples_per_s},      {"peak_memory_mb", r.peak_memory_mb}}
                       .dump()
                << std::endl;
    }
    if (a["fit"] == "1") {
      // A real Trainer run: 64 random samples with 25 x 3 labels (some masked), 3 epochs,
      // validation, checkpoints and history on the device.
      seed_everything(2);
      models::ModelPtr model = models::create_model(spec);
      std::vector<train::Sample> samples;
      for (int i = 0; i < 64; ++i) {
        train::Sample s;
        s.input = torch::randn(shape(1)).squeeze(0);
        s.target = torch::randint(0, 3, {25}, torch::kLong);
        s.mask = torch::rand({25}) > 0.1;
        s.patient_id = "p" + std::to_string(i);
        samples.push_back(std::move(s));
      }
      train::TensorDataset data(samples);
      train::RandomSampler sampler(data.size(), n, true, 3);
      train::RandomSampler val_sampler(data.size(), n, false, 3);
      train::LossOptions lo;
      lo.name = "cross_entropy";
      lo.tasks = 25;
      lo.classes = 3;
      lo.class_weights = {1, 2, 4};
      train::OptimOptions oo;
      oo.name = "adamw";
      oo.lr = 1e-3;
      train::TrainOptions to;
      to.epochs = 3;
      to.device = a["device"];
      to.amp = a["amp"];
      to.channels_last = a["channels_last"] == "1";
      to.show_progress = false;
      to.loader.workers = 2;
      const std::filesystem::path out = a["out"].empty() ? std::filesystem::temp_directory_path() / "bench_train_fit"
                                                         : std::filesystem::path(a["out"]);
      std::filesystem::remove_all(out);
      train::Trainer trainer(model, [model](const train::Batch& bt) { return model->forward(bt.input); },
                             train::make_loss(lo), oo, train::SchedulerOptions{},
                             train::Curriculum(std::vector<train::CurriculumStage>{}), to, out);
      const auto s = trainer.fit(data, sampler, &data, &val_sampler);
      std::cout << nlohmann::json{{"mode", "fit"},
                                  {"device", trainer.device().str()},
                                  {"epochs", s.epochs_run},
                                  {"train_loss", s.last_metrics.count("train_loss") ? s.last_metrics.at("train_loss") : -1.0},
                                  {"val_loss", s.last_metrics.count("val_loss") ? s.last_metrics.at("val_loss") : -1.0},
                                  {"best_checkpoint", std::filesystem::exists(out / "checkpoints" / "best.pt")}}
                       .dump()
                << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_train: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
