// tomograd bench train|infer: model throughput on this machine (CPU or CUDA).
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/train/benchmark.hpp"
#include "tomograd/train/device.hpp"

namespace tomograd::app {

namespace {

struct BenchOptions {
  std::string model = "resnet18", device = "auto", amp = "off";
  int64_t in_channels = 3, size = 224, depth = 32, batch = 32;
  int steps = 20, warmup = 3, threads = 0;
  bool channels_last = false, json = false;
};

void run_bench(const BenchOptions& o, bool train) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  models::register_builtin_models();
  models::ModelSpec spec;
  spec.arch = o.model;
  spec.in_channels = o.in_channels;
  models::ModelPtr model = models::create_model(spec);
  const int dims = models::ModelRegistry::global().get(o.model).spatial_dims;
  torch::Tensor input = dims == 3 ? torch::randn({o.batch, o.in_channels, o.depth, o.size, o.size})
                                  : torch::randn({o.batch, o.in_channels, o.size, o.size});
  train::BenchmarkOptions b;
  b.steps = o.steps;
  b.warmup = o.warmup;
  b.train = train;
  b.amp = o.amp;
  b.channels_last = o.channels_last;
  const torch::Device device = train::parse_device(o.device);
  auto r = train::benchmark(*model, [&](const torch::Tensor& x) { return model->forward(x); }, input, device, b);
  nlohmann::json j{{"mode", train ? "train" : "infer"}, {"model", o.model},   {"device", r.device},
                   {"amp", o.amp},                      {"channels_last", o.channels_last},
                   {"batch", o.batch},                  {"size", o.size},     {"in_channels", o.in_channels},
                   {"steps", o.steps},                  {"samples_per_s", r.samples_per_s},
                   {"steps_per_s", r.steps_per_s},      {"peak_memory_mb", r.peak_memory_mb},
                   {"libtorch", compat::torch_version()}, {"threads", torch::get_num_threads()}};
  if (o.json) {
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << (train ? "train" : "infer") << " " << o.model << " " << o.in_channels << "x" << o.size << "x" << o.size
            << " batch " << o.batch << " on " << r.device << " (amp " << o.amp
            << (o.channels_last ? ", channels_last" : "") << "): " << std::fixed << std::setprecision(1)
            << r.samples_per_s << " samples/s, " << std::setprecision(2) << r.steps_per_s << " steps/s, peak memory "
            << std::setprecision(0) << r.peak_memory_mb << " MB\n";
}

void add_options(CLI::App* cmd, BenchOptions& o) {
  cmd->add_option("--model", o.model, "registry name: " + [] { models::register_builtin_models(); std::string s; for (const auto& n : models::ModelRegistry::global().names()) s += (s.empty() ? "" : ", ") + n; return s; }() + " (default: resnet18)")
      ->capture_default_str();
  cmd->add_option("--in-channels", o.in_channels, "input channels (default: 3)")->capture_default_str();
  cmd->add_option("--size", o.size, "input height = width (default: 224)")->capture_default_str();
  cmd->add_option("--depth", o.depth, "slices for 3D models (default: 32)")->capture_default_str();
  cmd->add_option("--batch", o.batch, "batch size (default: 32)")->capture_default_str();
  cmd->add_option("--steps", o.steps, "timed steps (default: 20)")->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "untimed steps first (default: 3)")->capture_default_str();
  cmd->add_option("--device", o.device, "auto|cpu|cuda|cuda:N (default: auto)")->capture_default_str();
  cmd->add_option("--amp", o.amp, "off|bf16|fp16, CUDA only (default: off)")->capture_default_str();
  cmd->add_flag("--channels-last", o.channels_last, "channels_last memory format (2D models, CPU and CUDA)");
  cmd->add_option("--threads", o.threads, "intra-op CPU threads (default: 0 = LibTorch's default)")->capture_default_str();
  cmd->add_flag("--json", o.json, "print one JSON line");
}

}  // namespace

void setup_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure model throughput on this machine.");
  bench->require_subcommand(1);
  auto ot = std::make_shared<BenchOptions>();
  auto* tr = bench->add_subcommand(
      "train",
      "Forward + backward + AdamW step on random inputs: samples/s and peak memory.\n"
      "Example: tomograd bench train --model resnet18 --size 224 --batch 32 --device cuda --amp bf16 --channels-last");
  add_options(tr, *ot);
  tr->callback([ot] { run_bench(*ot, true); });
  auto oi = std::make_shared<BenchOptions>();
  auto* in = bench->add_subcommand("infer",
                                   "Forward passes without gradients: samples/s and peak memory.\n"
                                   "Example: tomograd bench infer --model resnet50 --size 256 --batch 64");
  add_options(in, *oi);
  in->callback([oi] { run_bench(*oi, false); });
}

}  // namespace tomograd::app
