// tomograd bench train|infer: model throughput on this machine (CPU or CUDA).
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/blas.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/models/model_spec.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/train/benchmark.hpp"
#include "tomograd/train/device.hpp"

namespace tomograd::app {

namespace {

struct BenchOptions {
  std::string model = "resnet18", device = "auto", amp = "off", config;
  int64_t in_channels = 3, size = 224, depth = 32, batch = 32;
  int64_t width = 0;  ///< from a config's input.volume_shape when not square; 0 = size
  int steps = 20, warmup = 3, threads = 0;
  bool channels_last = false, json = false;
  bool depth_given = false, size_given = false, batch_given = false;  ///< on the command line (beat --config)
};

/// The model of a run configuration (its `model:` section: arch, head, the arch's options) and
/// the input of a 3D config (input.volume_shape, data.batch_size) unless given on the command line.
models::ModelSpec spec_from_config(BenchOptions& o) {
  ConfigReader root(load_yaml_file(o.config), o.config);
  if (!root.has("model")) throw ConfigError(o.config + ": no 'model' section to benchmark");
  ConfigReader m = root.child("model");
  models::ModelSpec spec = models::decode_model_spec(m);
  std::vector<int64_t> shape;
  root.child("input").get("volume_shape", shape);
  if (shape.size() == 3) {
    if (!o.depth_given) o.depth = shape[0];
    if (!o.size_given) {
      o.size = shape[1];
      o.width = shape[2];
    }
  }
  if (!o.batch_given) root.child("data").get("batch_size", o.batch);
  o.model = spec.arch;
  o.in_channels = spec.in_channels;
  return spec;
}

void run_bench(BenchOptions& o, bool train) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  models::register_builtin_models();
  models::ModelSpec spec;
  spec.arch = o.model;
  spec.in_channels = o.in_channels;
  if (!o.config.empty()) spec = spec_from_config(o);
  models::ModelPtr model = models::create_model(spec);
  const int dims = models::ModelRegistry::global().get(o.model).spatial_dims;
  const int64_t w = o.width > 0 ? o.width : o.size;
  torch::Tensor input = dims == 3 ? torch::randn({o.batch, o.in_channels, o.depth, o.size, w})
                                  : torch::randn({o.batch, o.in_channels, o.size, w});
  // A head that fuses metadata (the lumbar 3D configs: slice thickness and pixel spacing) gets zeros.
  const int64_t meta_dim = spec.head.metadata_dim;
  train::BenchmarkOptions b;
  b.steps = o.steps;
  b.warmup = o.warmup;
  b.train = train;
  b.amp = o.amp;
  b.channels_last = o.channels_last;
  const torch::Device device = train::parse_device(o.device);
  auto forward = [&](const torch::Tensor& x) {
    return meta_dim > 0 ? model->forward(x, torch::zeros({x.size(0), meta_dim}, x.options())) : model->forward(x);
  };
  auto r = train::benchmark(*model, forward, input, device, b);
  nlohmann::json j{{"mode", train ? "train" : "infer"}, {"model", o.model},   {"device", r.device},
                   {"amp", o.amp},                      {"channels_last", o.channels_last},
                   {"batch", o.batch},                  {"size", o.size},     {"in_channels", o.in_channels},
                   {"depth", dims == 3 ? o.depth : 0},  {"width", w},         {"config", o.config},
                   {"steps", o.steps},                  {"samples_per_s", r.samples_per_s},
                   {"steps_per_s", r.steps_per_s},      {"peak_memory_mb", r.peak_memory_mb},
                   {"libtorch", compat::torch_version()}, {"threads", torch::get_num_threads()},
                   {"blas", blas_info().name}};
  if (o.json) {
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << (train ? "train" : "infer") << " " << o.model << " " << o.in_channels << "x"
            << (dims == 3 ? std::to_string(o.depth) + "x" : "") << o.size << "x" << w
            << " batch " << o.batch << " on " << r.device << " (amp " << o.amp
            << (o.channels_last ? ", channels_last" : "") << "): " << std::fixed << std::setprecision(1)
            << r.samples_per_s << " samples/s, " << std::setprecision(2) << r.steps_per_s << " steps/s, peak memory "
            << std::setprecision(0) << r.peak_memory_mb << " MB\n";
  if (device.is_cpu()) warn_if_reference_blas();
}

void add_options(CLI::App* cmd, BenchOptions& o) {
  cmd->add_option("--model", o.model, "registry name: " + [] { models::register_builtin_models(); std::string s; for (const auto& n : models::ModelRegistry::global().names()) s += (s.empty() ? "" : ", ") + n; return s; }() + " (default: resnet18)")
      ->capture_default_str();
  cmd->add_option("--in-channels", o.in_channels, "input channels (default: 3)")->capture_default_str();
  cmd->add_option("--config", o.config,
                  "a run configuration (e.g. configs/lumbar_3d_vit.yaml): its model section replaces --model and "
                  "--in-channels, its input.volume_shape and data.batch_size set --depth/--size and --batch unless "
                  "given (default: none)");
  cmd->add_option("--size", o.size, "input height = width (default: 224)")->capture_default_str();
  cmd->add_option("--depth", o.depth, "slices for 3D models (default: 32)")->capture_default_str();
  cmd->add_option("--batch", o.batch, "batch size (default: 32)")->capture_default_str();
  cmd->add_option("--steps", o.steps, "timed steps (default: 20)")->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "untimed steps first (default: 3)")->capture_default_str();
  cmd->add_option("--device", o.device, "auto|cpu|cuda|cuda:N (default: auto)")->capture_default_str();
  cmd->add_option("--amp", o.amp, "off|bf16|fp16, CUDA only (default: off)")->capture_default_str();
  cmd->add_flag("--channels-last", o.channels_last, "channels_last memory format (2D models, CPU and CUDA)");
  cmd->add_option("--threads", o.threads, "intra-op CPU threads (default: 0 = one per physical core, or OMP_NUM_THREADS)")->capture_default_str();
  cmd->add_flag("--json", o.json, "print one JSON line");
}

/// @p o with the flags saying which input settings the command line gave (they beat --config).
BenchOptions& given(BenchOptions& o, const CLI::App& cmd) {
  o.depth_given = cmd.count("--depth") > 0;
  o.size_given = cmd.count("--size") > 0;
  o.batch_given = cmd.count("--batch") > 0;
  return o;
}

}  // namespace

void setup_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure model throughput on this machine.");
  bench->require_subcommand(1);
  auto ot = std::make_shared<BenchOptions>();
  auto* tr = bench->add_subcommand(
      "train",
      "Forward + backward + AdamW step on random inputs: samples/s and peak memory.\n"
      "Example: tomograd bench train --model resnet18 --size 224 --batch 32 --device cuda --amp bf16 --channels-last\n"
      "         tomograd bench train --config configs/lumbar_3d_vit.yaml --steps 5 (the lumbar 3D recipe's network and "
      "input)");
  add_options(tr, *ot);
  tr->callback([ot, tr] { run_bench(given(*ot, *tr), true); });
  auto oi = std::make_shared<BenchOptions>();
  auto* in = bench->add_subcommand("infer",
                                   "Forward passes without gradients: samples/s and peak memory.\n"
                                   "Example: tomograd bench infer --model resnet50 --size 256 --batch 64");
  add_options(in, *oi);
  in->callback([oi, in] { run_bench(given(*oi, *in), false); });
}

}  // namespace tomograd::app
