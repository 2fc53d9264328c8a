// Classic-model benchmark: grouped 5-fold grid search + final refit on 240 rows x 512 features
// (80 patients x 3 vertebrae, CNN-feature-like columns), for SVR, XGBoost, random forest and
// ElasticNet. Prints one JSON line: grid, fits and wall seconds per model.
// Usage: bench_classic [THREADS (default 0 = all cores)] [ROWS (240)] [FEATURES (512)]
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>

#include "tomograd/classic/model_bundle.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"

using namespace tomograd;
using namespace tomograd::classic;

namespace {

FeatureTable make_table(std::size_t rows, std::size_t features) {
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> normal(0.0, 1.0);
  FeatureTable t;
  t.source = "synthetic";
  t.id_column = "patient_id";
  t.target_column = "bmd";
  t.x = Matrix(rows, features);
  for (std::size_t j = 0; j < features; ++j) t.feature_names.push_back("f" + std::to_string(j));
  std::vector<double> patient_effect(rows / 3 + 1);
  for (double& e : patient_effect) e = normal(rng);
  for (std::size_t r = 0; r < rows; ++r) {
    t.ids.push_back("P" + std::to_string(r / 3));
    t.lines.push_back(r + 2);
    // Post-ReLU-like features: non-negative, correlated through the patient effect.
    for (std::size_t j = 0; j < features; ++j) {
      t.x(r, j) = std::max(0.0, 0.5 * patient_effect[r / 3] * std::sin(static_cast<double>(j)) + normal(rng));
    }
    t.y.push_back(0.95 + 0.08 * patient_effect[r / 3] + 0.03 * t.x(r, 0) - 0.02 * t.x(r, 1) + 0.02 * normal(rng));
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const std::size_t rows = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 240;
  const std::size_t features = argc > 3 ? static_cast<std::size_t>(std::atol(argv[3])) : 512;
  set_progress_enabled(false);
  logger()->set_level(spdlog::level::warn);
  FeatureTable t = make_table(rows, features);

  struct Case {
    std::string model;
    ParamMap params;
    std::vector<std::string> grid;
  };
  const std::vector<Case> cases = {
      {"svr", {}, {"C=0.1,1,10", "epsilon=0.01,0.05", "gamma=scale,0.0005"}},
      {"xgboost", {{"n_estimators", "100"}, {"subsample", "0.8"}}, {"max_depth=2,4", "learning_rate=0.05,0.1"}},
      {"rf", {{"n_estimators", "100"}}, {"max_depth=4,6"}},
      {"elasticnet", {}, {"alpha=0.001,0.01,0.1", "l1_ratio=0.2,0.8"}},
  };
  nlohmann::json out{{"rows", rows},
                     {"features", features},
                     {"patients", (rows + 2) / 3},
                     {"folds", 5},
                     {"threads", threads > 0 ? threads : hardware_threads()}};
  for (const auto& c : cases) {
    FitOptions o;
    o.model = c.model;
    o.params = c.params;
    o.grid = parse_grid(c.grid);
    o.folds = 5;
    o.threads = threads;
    auto t0 = std::chrono::steady_clock::now();
    ModelBundle b = ModelBundle::fit(t, o);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto& cv = b.metadata()["cross_validation"];
    std::size_t combos = cv["results"].size();
    out[c.model] = {{"grid", c.grid},
                    {"fixed", c.params},
                    {"combinations", combos},
                    {"fits", combos * 5 + 1},
                    {"seconds", s},
                    {"cv_seconds", cv["seconds"]},
                    {"best_parameters", cv["best_parameters"]},
                    {"best_mean", cv["best_mean"]}};
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
