// tomograd doctor: library versions, devices, and small end-to-end checks of each component.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/blas.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/classic/self_check.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/io/png_export.hpp"
#include "tomograd/io/versions.hpp"

namespace fs = std::filesystem;

namespace tomograd::app {

namespace {

struct DoctorOptions {
  bool json = false;
};

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / ("tomograd-doctor-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string check_forward_backward(const torch::Device& device) {
  torch::manual_seed(0);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)), torch::nn::ReLU(),
                            torch::nn::AdaptiveAvgPool2d(1), torch::nn::Flatten(), torch::nn::Linear(4, 1));
  net->to(device);
  auto x = torch::randn({2, 1, 16, 16}, device);
  auto loss = torch::mse_loss(net->forward(x), torch::ones({2, 1}, device));
  loss.backward();
  for (const auto& p : net->parameters()) {
    if (!p.grad().defined() || !torch::isfinite(p.grad()).all().item<bool>()) {
      throw Error("gradient missing or not finite");
    }
  }
  return "loss " + std::to_string(loss.item<float>());
}

Volume small_volume() {
  auto t = torch::arange(4 * 8 * 8, torch::kFloat32).reshape({4, 8, 8}) - 100.0;
  return Volume(t, {2.0, 0.5, 0.5}, {1, 2, 3});
}

std::string check_dicom(const fs::path& dir) {
  Volume v = small_volume();
  io::DicomWriteOptions w;
  w.encoding = io::DicomEncoding::kJpegLsLossless;
  io::write_dicom_series(v, dir / "dicom", w);
  Volume r = io::read_dicom(dir / "dicom");
  if (!torch::equal(r.data(), v.data())) throw Error("values differ after DICOM write/read");
  return "4 slices, JPEG-LS lossless, identical";
}

std::string check_nifti(const fs::path& dir) {
  Volume v = small_volume();
  io::write_nifti(v, dir / "v.nii.gz");
  Volume r = io::read_nifti(dir / "v.nii.gz");
  if (!torch::equal(r.data(), v.data())) throw Error("values differ after NIfTI write/read");
  return "identical";
}

/// Width and height from a PNG file's IHDR chunk (PNG specification, 5.2 and 11.2.2: the
/// 8-byte signature, then IHDR's length, type, width and height, big-endian).
std::pair<uint32_t, uint32_t> png_size(const fs::path& file) {
  std::array<unsigned char, 24> b{};
  std::ifstream in(file, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(b.data()), b.size()) || b[1] != 'P' || b[2] != 'N' || b[3] != 'G' ||
      b[12] != 'I' || b[13] != 'H' || b[14] != 'D' || b[15] != 'R') {
    throw Error(file.string() + ": not a PNG file");
  }
  auto be32 = [&](int at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
  };
  return {be32(16), be32(20)};
}

std::string check_png(const fs::path& dir) {
  io::PngExportOptions p;
  p.window = Window{0, 200};
  auto files = io::export_png(small_volume(), dir / "png", p);
  if (png_size(files.at(0)) != std::pair<uint32_t, uint32_t>{8, 8}) throw Error("PNG written with the wrong size");
  return std::to_string(files.size()) + " files";
}

/// The doctor's report as text (@p out is what --json prints).
void print_report(const nlohmann::json& out) {
  std::cout << "versions\n";
  for (const auto& [k, v] : out["versions"].items()) std::cout << "  " << k << ": " << v.get<std::string>() << "\n";
  const auto& cpu = out["cpu"];
  std::cout << "cpu: " << cpu["intra_op_threads"].get<int>() << " intra-op threads (" << cpu["physical_cores"].get<int>()
            << " physical cores, " << cpu["hardware_threads"].get<int>() << " hardware threads this process may use)\n";
  const auto& devices = out["cuda"]["devices"];
  std::cout << "cuda: " << (devices.empty() ? "not available" : std::to_string(devices.size()) + " device(s)") << "\n";
  for (const auto& n : devices) std::cout << "  " << n.get<std::string>() << "\n";
  std::cout << "checks\n";
  for (const auto& c : out["checks"]) {
    std::cout << "  [" << (c["ok"].get<bool>() ? " ok " : "FAIL") << "] " << c["name"].get<std::string>() << ": "
              << c["detail"].get<std::string>() << "\n";
  }
  for (const auto& a : out.value("advice", nlohmann::json::array())) std::cout << "advice: " << a.get<std::string>() << "\n";
  std::cout << (out["ok"].get<bool>() ? "all checks passed\n" : "some checks FAILED\n");
}

void run_doctor(const DoctorOptions& o) {
  nlohmann::json out;
  out["versions"] = {
      {"tomograd", TOMOGRAD_VERSION},
      {"libtorch", compat::torch_version()},
      {"yaml-cpp", TOMOGRAD_YAML_CPP_VERSION},
      {"spdlog", std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) + "." +
                     std::to_string(SPDLOG_VER_PATCH)},
      {"nlohmann-json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                            std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                            std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
      {"cli11", CLI11_VERSION},
  };
  const BlasInfo& blas = blas_info();
  out["versions"]["blas"] = blas.name + (blas.library.empty() ? "" : " (" + blas.library + ")");
  if (const std::string advice = blas_advice(blas); !advice.empty()) out["advice"].push_back(advice);
  for (const auto& [name, version] : io::library_versions()) out["versions"][name] = version;
  for (const auto& [name, version] : classic::backend_versions()) out["versions"][name] = version;
  // LibTorch's intra-op threads as the app set them (one per physical core unless OMP_NUM_THREADS).
  out["cpu"] = {{"intra_op_threads", torch::get_num_threads()},
                {"physical_cores", physical_cores()},
                {"hardware_threads", hardware_threads()}};
  auto names = compat::cuda_device_names();
  out["cuda"] = {{"available", !names.empty()}, {"devices", names}};

  ScratchDir scratch;
  std::vector<std::pair<std::string, std::function<std::string()>>> checks = {
      {"torch forward/backward (cpu)", [] { return check_forward_backward(torch::kCPU); }},
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    checks.emplace_back("torch forward/backward (cuda:" + std::to_string(i) + ")", [i] {
      return check_forward_backward(torch::Device(torch::kCUDA, static_cast<int8_t>(i)));
    });
  }
  checks.emplace_back("DICOM write/read round trip", [&] { return check_dicom(scratch.path); });
  checks.emplace_back("NIfTI write/read round trip", [&] { return check_nifti(scratch.path); });
  checks.emplace_back("PNG export", [&] { return check_png(scratch.path); });
  // Every classic model (libsvm and XGBoost behind them) learns a tiny problem.
  for (const auto& entry : classic::model_registry().entries()) {
    checks.emplace_back("classic " + classic::task_name(entry.task) + " model " + entry.name + " (" +
                            entry.description + ")",
                        [&entry] { return classic::self_check(entry); });
  }

  bool all_ok = true;
  out["checks"] = nlohmann::json::array();
  for (const auto& [name, fn] : checks) {
    auto t0 = std::chrono::steady_clock::now();
    nlohmann::json c{{"name", name}};
    try {
      c["detail"] = fn();
      c["ok"] = true;
    } catch (const std::exception& e) {
      c["detail"] = e.what();
      c["ok"] = false;
      all_ok = false;
    }
    c["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out["checks"].push_back(c);
  }
  out["ok"] = all_ok;
  if (o.json) std::cout << out.dump(2) << "\n";
  else print_report(out);
  if (!all_ok) throw Error("some checks failed");
}

}  // namespace

void setup_doctor(CLI::App& app) {
  auto o = std::make_shared<DoctorOptions>();
  auto* cmd = app.add_subcommand(
      "doctor",
      "Check the installation: versions of every library, CUDA devices, a tiny forward/backward pass\n"
      "on each device, DICOM/NIfTI/PNG round trips, every classic model (XGBoost, libsvm) trained on a\n"
      "tiny problem. Exit code 0 only if every check passes.\nExample: tomograd doctor --json");
  cmd->add_flag("--json", o->json, "print the report as JSON");
  cmd->callback([o] { run_doctor(*o); });
}

}  // namespace tomograd::app
