// tomograd doctor: library versions, devices, and small end-to-end checks of each component.
#include <CLI/CLI.hpp>
#include <libsvm/svm.h>
#include <nlohmann/json.hpp>
#include <openjpeg.h>
#include <torch/torch.h>
#include <xgboost/c_api.h>
#include <zlib.h>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <functional>
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/io/png_export.hpp"

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

std::string check_png(const fs::path& dir) {
  io::PngExportOptions p;
  p.window = Window{0, 200};
  auto files = io::export_png(small_volume(), dir / "png", p);
  cv::Mat m = cv::imread(files.at(0).string(), cv::IMREAD_UNCHANGED);
  if (m.rows != 8 || m.cols != 8) throw Error("PNG read back with the wrong size");
  return std::to_string(files.size()) + " files";
}

std::string check_xgboost() {
  const float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const float y[8] = {0, 2, 4, 6, 8, 10, 12, 14};
  DMatrixHandle dm = nullptr;
  BoosterHandle b = nullptr;
  auto ok = [](int rc) {
    if (rc != 0) throw Error(std::string("XGBoost: ") + XGBGetLastError());
  };
  ok(XGDMatrixCreateFromMat(x, 8, 1, -1.0f, &dm));
  ok(XGDMatrixSetFloatInfo(dm, "label", y, 8));
  ok(XGBoosterCreate(&dm, 1, &b));
  ok(XGBoosterSetParam(b, "verbosity", "0"));
  ok(XGBoosterSetParam(b, "nthread", "1"));
  for (int i = 0; i < 5; ++i) ok(XGBoosterUpdateOneIter(b, i, dm));
  bst_ulong n = 0;
  const float* pred = nullptr;
  ok(XGBoosterPredict(b, dm, 0, 0, 0, &n, &pred));
  float first = pred[0];
  XGBoosterFree(b);
  XGDMatrixFree(dm);
  if (n != 8) throw Error("XGBoost predicted " + std::to_string(n) + " values for 8 rows");
  return "5 rounds, prediction[0] " + std::to_string(first);
}

std::string check_libsvm() {
  // y = 2x on four points; an RBF epsilon-SVR must get close at a training point.
  svm_node xs[4][2];
  svm_node* rows[4];
  double y[4];
  for (int i = 0; i < 4; ++i) {
    xs[i][0] = {1, static_cast<double>(i)};
    xs[i][1] = {-1, 0};
    rows[i] = xs[i];
    y[i] = 2.0 * i;
  }
  svm_problem prob{4, y, rows};
  svm_parameter param{};
  param.svm_type = EPSILON_SVR;
  param.kernel_type = LINEAR;
  param.C = 100;
  param.p = 0.01;
  param.eps = 1e-4;
  param.cache_size = 10;
  svm_set_print_string_function([](const char*) {});
  if (const char* err = svm_check_parameter(&prob, &param)) throw Error(std::string("libsvm: ") + err);
  svm_model* model = svm_train(&prob, &param);
  double p = svm_predict(model, xs[2]);
  svm_free_and_destroy_model(&model);
  if (std::abs(p - 4.0) > 0.1) throw Error("libsvm SVR predicted " + std::to_string(p) + " for 4");
  return "linear SVR fit, f(2) = " + std::to_string(p);
}

void run_doctor(const DoctorOptions& o) {
  nlohmann::json out;
  int xgb_major = 0, xgb_minor = 0, xgb_patch = 0;
  XGBoostVersion(&xgb_major, &xgb_minor, &xgb_patch);
  out["versions"] = {
      {"tomograd", TOMOGRAD_VERSION},
      {"libtorch", compat::torch_version()},
      {"dcmtk", io::dcmtk_version()},
      {"opencv", cv::getVersionString()},
      {"nifti", io::nifti_library_version()},
      {"openjpeg", opj_version()},
      {"xgboost", std::to_string(xgb_major) + "." + std::to_string(xgb_minor) + "." + std::to_string(xgb_patch)},
      {"libsvm", std::to_string(libsvm_version / 100) + "." + std::to_string(libsvm_version % 100)},
      {"yaml-cpp", TOMOGRAD_YAML_CPP_VERSION},
      {"spdlog", std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) + "." +
                     std::to_string(SPDLOG_VER_PATCH)},
      {"nlohmann-json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                            std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                            std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
      {"cli11", CLI11_VERSION},
      {"zlib", zlibVersion()},
  };
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
  checks.emplace_back("XGBoost training", check_xgboost);
  checks.emplace_back("libsvm training", check_libsvm);

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
  if (o.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "versions\n";
    for (const auto& [k, v] : out["versions"].items()) std::cout << "  " << k << ": " << v.get<std::string>() << "\n";
    std::cout << "cuda: " << (names.empty() ? "not available" : std::to_string(names.size()) + " device(s)") << "\n";
    for (const auto& n : names) std::cout << "  " << n << "\n";
    std::cout << "checks\n";
    for (const auto& c : out["checks"]) {
      std::cout << "  [" << (c["ok"].get<bool>() ? " ok " : "FAIL") << "] " << c["name"].get<std::string>() << ": "
                << c["detail"].get<std::string>() << "\n";
    }
    std::cout << (all_ok ? "all checks passed\n" : "some checks FAILED\n");
  }
  if (!all_ok) throw Error("tomograd doctor: some checks failed");
}

}  // namespace

void setup_doctor(CLI::App& app) {
  auto o = std::make_shared<DoctorOptions>();
  auto* cmd = app.add_subcommand(
      "doctor",
      "Check the installation: versions of every library, CUDA devices, a tiny forward/backward pass\n"
      "on each device, DICOM/NIfTI/PNG round trips, XGBoost and libsvm training. Exit code 0 only if\n"
      "every check passes.\nExample: tomograd doctor --json");
  cmd->add_flag("--json", o->json, "print the report as JSON");
  cmd->callback([o] { run_doctor(*o); });
}

}  // namespace tomograd::app
