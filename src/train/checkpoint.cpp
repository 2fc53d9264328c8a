#include "tomograd/train/checkpoint.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/core/zip_directory.hpp"

namespace fs = std::filesystem;

namespace tomograd::train {

namespace {
constexpr const char* kFormat = "tomograd-checkpoint-1";

/// The first line of a LibTorch message (some carry a multi-line context after it).
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

fs::path json_path(const fs::path& pt) {
  fs::path p = pt;
  return p.replace_extension(".json");
}
}  // namespace

std::string fnv1a_hex(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string to_json(const CheckpointMeta& m) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["epoch"] = m.epoch;
  j["global_step"] = m.global_step;
  j["tag"] = m.tag;
  j["metrics"] = m.metrics;
  j["threshold"] = m.threshold ? nlohmann::json(*m.threshold) : nlohmann::json(nullptr);
  j["config_yaml"] = m.config_yaml;
  j["config_hash"] = m.config_hash;
  j["scheduler"] = m.scheduler;
  j["loss_scale"] = m.loss_scale;
  j["best_epoch"] = m.best_epoch;
  j["best_value"] = m.best_value;
  j["bad_epochs"] = m.bad_epochs;
  j["extra_best"] = m.extra_best;
  j["versions"] = {{"torch", m.torch_version}, {"tomograd", m.tomograd_version}};
  return j.dump(2);
}

namespace {

// JSON has no NaN: undefined metrics (e.g. R² of one validation patient) are written as null.
double number_or_nan(const nlohmann::json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

std::map<std::string, double> number_map(const nlohmann::json& j) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : j.items()) out[k] = number_or_nan(v);
  return out;
}

}  // namespace

CheckpointMeta meta_from_json(const std::string& text, const std::string& source) {
  try {
    auto j = nlohmann::json::parse(text);
    if (j.value("format", "") != kFormat) throw IoError(source + ": not a tomograd checkpoint (format mismatch)");
    CheckpointMeta m;
    m.epoch = j.at("epoch").get<int>();
    m.global_step = j.at("global_step").get<int64_t>();
    m.tag = j.at("tag").get<std::string>();
    m.metrics = number_map(j.at("metrics"));
    if (!j.at("threshold").is_null()) m.threshold = j.at("threshold").get<double>();
    m.config_yaml = j.at("config_yaml").get<std::string>();
    m.config_hash = j.at("config_hash").get<std::string>();
    m.scheduler = number_map(j.at("scheduler"));
    m.loss_scale = number_or_nan(j.at("loss_scale"));
    m.best_epoch = j.at("best_epoch").get<int>();
    m.best_value = number_or_nan(j.at("best_value"));
    m.bad_epochs = j.at("bad_epochs").get<int>();
    m.extra_best = number_map(j.at("extra_best"));
    m.torch_version = j.at("versions").at("torch").get<std::string>();
    m.tomograd_version = j.at("versions").at("tomograd").get<std::string>();
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw IoError(source + ": invalid checkpoint metadata (" + std::string(e.what()) + ")");
  }
}

void save_checkpoint(const fs::path& path, torch::nn::Module& module, torch::optim::Optimizer* optimizer,
                     const CheckpointMeta& meta) {
  CheckpointMeta m = meta;
  m.torch_version = compat::torch_version();
  m.tomograd_version = TOMOGRAD_VERSION;
  const std::string json = to_json(m);

  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  module.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive optim_archive;
    optimizer->save(optim_archive);
    archive.write("optimizer", optim_archive);
  }
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a shared handle
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng_cpu", gen.get_state(), /*is_buffer=*/true);
  }
  archive.write("meta", c10::IValue(json));

  ensure_directory(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  AtomicFile file(path, Overwrite::kAllow);
  try {
    archive.save_to(file.temp_path().string());
  } catch (const c10::Error& e) {
    throw IoError("cannot write checkpoint '" + path.string() + "': " + e.what_without_backtrace());
  }
  file.commit();
  write_file_atomic(json_path(path), json, Overwrite::kAllow);
}

namespace {
// Tensors are mapped to @p device as they are read, so a run trained on cuda:1 loads on a
// machine without that device (or without CUDA at all).
torch::serialize::InputArchive open_archive(const fs::path& path, const torch::Device& device = torch::kCPU) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw IoError("checkpoint '" + path.string() + "' does not exist");
  // A checkpoint is a zip archive: its directory is checked against the file first, because
  // miniz allocates what an entry declares before reading it (a 2 KiB file can ask for 4 GiB).
  try {
    zip::check_zip_file(path);
  } catch (const IoError& e) {
    throw IoError(std::string("cannot read checkpoint ") + e.what());
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string(), device);
  } catch (const c10::Error& e) {
    throw IoError("cannot read checkpoint " + path.string() + ": " + first_line(e.what_without_backtrace()) +
                  " (truncated or not a tomograd checkpoint)");
  }
  return archive;
}

// Module::load replaces tensors whatever their shape; check every parameter and buffer first so
// a checkpoint of another architecture is an error, not a silently different model.
void check_shapes(torch::serialize::InputArchive& model_archive, const torch::nn::Module& module,
                  const fs::path& path) {
  auto check = [&](const std::string& name, const torch::Tensor& expected, bool is_buffer) {
    torch::serialize::InputArchive* node = &model_archive;
    std::vector<torch::serialize::InputArchive> chain;
    std::string rest = name;
    chain.reserve(8);
    for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
      chain.emplace_back();
      if (!node->try_read(rest.substr(0, dot), chain.back())) {
        throw ValueError("checkpoint '" + path.string() + "' does not match this model: no '" + name + "'");
      }
      node = &chain.back();
      rest = rest.substr(dot + 1);
    }
    torch::Tensor stored;
    if (!node->try_read(rest, stored, is_buffer)) {
      throw ValueError("checkpoint '" + path.string() + "' does not match this model: no '" + name + "'");
    }
    if (stored.sizes() != expected.sizes()) {
      throw ValueError("checkpoint '" + path.string() + "' does not match this model: '" + name + "' has shape " +
                       c10::str(stored.sizes()) + ", the model expects " + c10::str(expected.sizes()));
    }
  };
  for (const auto& p : module.named_parameters(true)) check(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(true)) check(b.key(), b.value(), true);
}

CheckpointMeta read_meta(torch::serialize::InputArchive& archive, const fs::path& path) {
  c10::IValue v;
  if (!archive.try_read("meta", v) || !v.isString()) {
    throw IoError("'" + path.string() + "' is not a tomograd checkpoint (no metadata)");
  }
  return meta_from_json(v.toStringRef(), path.string());
}
}  // namespace

CheckpointMeta read_checkpoint_meta(const fs::path& path) {
  auto archive = open_archive(path);
  return read_meta(archive, path);
}

CheckpointMeta load_checkpoint(const fs::path& path, torch::nn::Module& module, torch::optim::Optimizer* optimizer,
                               bool restore_rng) {
  // The module's own device: Module::load replaces a parameter that lives on another device.
  const auto params = module.parameters();
  auto archive = open_archive(path, params.empty() ? torch::Device(torch::kCPU) : params.front().device());
  CheckpointMeta meta = read_meta(archive, path);
  torch::serialize::InputArchive model_archive;
  if (!archive.try_read("model", model_archive)) throw IoError("'" + path.string() + "' holds no model");
  check_shapes(model_archive, module, path);
  try {
    module.load(model_archive);
  } catch (const c10::Error& e) {
    throw ValueError("checkpoint '" + path.string() + "' does not match this model: " + e.what_without_backtrace());
  }
  if (optimizer) {
    torch::serialize::InputArchive optim_archive;
    if (!archive.try_read("optimizer", optim_archive)) {
      throw IoError("'" + path.string() + "' holds no optimizer state (needed to resume)");
    }
    try {
      optimizer->load(optim_archive);
    } catch (const c10::Error& e) {
      throw ValueError("optimizer state in '" + path.string() + "' does not match: " + e.what_without_backtrace());
    }
  }
  if (restore_rng) {
    torch::Tensor state;
    if (archive.try_read("rng_cpu", state, /*is_buffer=*/true)) {
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state.to(torch::kCPU));
    }
  }
  return meta;
}

}  // namespace tomograd::train
