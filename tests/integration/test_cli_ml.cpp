// Runs `tomograd ml fit|predict|models`: round trip, files written, exit codes, error messages.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <sstream>

#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;
using test::tomograd_app;
using test::q;
using test::read_json;

namespace {


// @p patients patients x 2 rows (two vertebrae), 4 features; bmd in g/cm² depends on f0 and f1.
std::string features_csv(int patients, unsigned seed, bool binary = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::ostringstream s;
  s.precision(8);
  s << "patient_id,f0,f1,f2,f3," << (binary ? "fracture" : "bmd") << "\n";
  for (int r = 0; r < 2 * patients; ++r) {
    double f0 = u(rng), f1 = 50 + 10 * u(rng), f2 = u(rng), f3 = u(rng);
    double bmd = 0.95 + 0.12 * f0 + 0.004 * (f1 - 50) + 0.01 * u(rng);
    s << "S" << seed << "_" << (r / 2) << "," << f0 << "," << f1 << "," << f2 << "," << f3 << ",";
    if (binary) s << (bmd < 0.95 ? 1 : 0) << "\n";
    else s << bmd << "\n";
  }
  return s.str();
}

}  // namespace

TEST_CASE("tomograd ml fit/predict round trip with grid search", "[cli]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "train.csv", features_csv(30, 1));
  write_file_atomic(tmp / "test.csv", features_csv(10, 2));
  std::string fit = tomograd_app() + " ml fit --model svr --train " + q(tmp / "train.csv") +
                    " --target bmd --id patient_id --param epsilon=0.01 --grid C=0.1,1,10 --folds 3 --out " +
                    q(tmp / "model");
  auto r = run_command(fit);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("3-fold CV grouped by 'patient_id'") && Catch::Contains("r2") &&
                        Catch::Contains("saved to"));
  auto meta = read_json(tmp / "model" / "metadata.json");
  CHECK(meta["model"] == "svr");
  CHECK(meta["features"] == std::vector<std::string>{"f0", "f1", "f2", "f3"});
  CHECK(meta["cross_validation"]["results"].size() == 3);
  CHECK(meta["cross_validation"]["results"][0]["folds"].size() == 3);
  CHECK(meta["scaler"]["std"].size() == 4);
  CHECK(fs::exists(tmp / "model" / "model.libsvm"));

  // An existing model folder is never overwritten without --force.
  auto again = run_command(fit);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("is not empty") && Catch::Contains("--force"));
  CHECK(run_command(fit + " --force").exit_code == 0);

  std::string predict = tomograd_app() + " ml predict --model " + q(tmp / "model") + " --input " + q(tmp / "test.csv") +
                        " --out " + q(tmp / "pred.csv");
  auto p = run_command(predict);
  INFO(p.err);
  REQUIRE(p.exit_code == 0);
  CHECK_THAT(p.out, Catch::Contains("wrote 20 predictions"));
  auto table = CsvTable::read(tmp / "pred.csv");
  CHECK(table.header() == std::vector<std::string>{"patient_id", "bmd", "prediction"});
  REQUIRE(table.num_rows() == 20);
  auto truth = table.numbers("bmd"), pred = table.numbers("prediction");
  double sse = 0, sst = 0, mean = 0;
  for (double v : truth) mean += v / 20.0;
  for (std::size_t i = 0; i < 20; ++i) {
    sse += (truth[i] - pred[i]) * (truth[i] - pred[i]);
    sst += (truth[i] - mean) * (truth[i] - mean);
  }
  CHECK(1 - sse / sst > 0.5);  // held-out patients are predicted, not just memorized
  auto twice = run_command(predict);
  CHECK(twice.exit_code == 1);
  CHECK_THAT(twice.err, Catch::Contains("refusing to overwrite"));
  CHECK(run_command(predict + " --force").exit_code == 0);
}

TEST_CASE("tomograd ml fit: xgboost, rf, elasticnet and a binary task", "[cli]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "train.csv", features_csv(20, 3));
  write_file_atomic(tmp / "bin.csv", features_csv(20, 4, true));
  for (std::string model : {"xgboost", "rf", "elasticnet"}) {
    std::string param = model == "elasticnet" ? "alpha=0.001" : "n_estimators=10";
    auto r = run_command(tomograd_app() + " ml fit --model " + model + " --train " + q(tmp / "train.csv") +
                         " --target bmd --param " + param + " --folds 0 --out " + q(tmp / model));
    INFO(model << ": " << r.err);
    CHECK(r.exit_code == 0);
    auto p = run_command(tomograd_app() + " ml predict --model " + q(tmp / model) + " --input " + q(tmp / "train.csv") +
                         " --out " + q(tmp / (model + ".csv")));
    CHECK(p.exit_code == 0);
  }
  auto b = run_command(tomograd_app() + " ml fit --task binary --model xgboost --train " + q(tmp / "bin.csv") +
                       " --target fracture --param n_estimators=10 --folds 4 --out " + q(tmp / "clf"));
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  CHECK_THAT(b.out, Catch::Contains("best by auc"));
  auto p = run_command(tomograd_app() + " ml predict --model " + q(tmp / "clf") + " --input " + q(tmp / "bin.csv") +
                       " --out " + q(tmp / "clf.csv"));
  REQUIRE(p.exit_code == 0);
  CHECK(CsvTable::read(tmp / "clf.csv").header() ==
        std::vector<std::string>{"patient_id", "fracture", "probability", "predicted_label"});
}

TEST_CASE("tomograd ml: bad input gives clear errors naming file, row and column", "[cli]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "train.csv", features_csv(10, 5));
  std::string base = tomograd_app() + " ml fit --train " + q(tmp / "train.csv") + " --target bmd --folds 0 ";
  auto unknown = run_command(base + "--model lasso --out " + q(tmp / "m1"));
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Catch::Contains("unknown regression model 'lasso'") &&
                              Catch::Contains("valid: elasticnet, rf, svr, xgboost"));
  auto key = run_command(base + "--model svr --param gama=1 --out " + q(tmp / "m2"));
  CHECK(key.exit_code == 1);
  CHECK_THAT(key.err, Catch::Contains("unknown parameter 'gama'") && Catch::Contains("valid: kernel, C, epsilon"));
  auto bound = run_command(base + "--model svr --param C=-1 --out " + q(tmp / "m3"));
  CHECK(bound.exit_code == 1);
  CHECK_THAT(bound.err, Catch::Contains("'C' expects a number in (0, inf)"));
  CHECK_FALSE(fs::exists(tmp / "m3" / "metadata.json"));

  std::string text = "patient_id,f0,f1,bmd\nA,1,2,0.9\nB,2,oops,1.0\nC,3,4,1.1\n";
  write_file_atomic(tmp / "text.csv", text);
  auto t = run_command(tomograd_app() + " ml fit --model svr --folds 0 --train " + q(tmp / "text.csv") +
                       " --target bmd --out " + q(tmp / "m4"));
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.err, Catch::Contains("text.csv: line 3, column 'f1'") && Catch::Contains("'oops'"));
  write_file_atomic(tmp / "nan.csv", "patient_id,f0,bmd\nA,1,0.9\nB,nan,1.0\n");
  auto n = run_command(tomograd_app() + " ml fit --model svr --folds 0 --train " + q(tmp / "nan.csv") + " --target bmd --out " +
                       q(tmp / "m5"));
  CHECK_THAT(n.err, Catch::Contains("nan.csv: line 3, column 'f0'"));
  write_file_atomic(tmp / "const.csv", "patient_id,f0,bmd\nA,1,0.9\nB,2,0.9\n");
  auto c = run_command(tomograd_app() + " ml fit --model svr --folds 0 --train " + q(tmp / "const.csv") +
                       " --target bmd --out " + q(tmp / "m6"));
  CHECK(c.exit_code == 1);
  CHECK_THAT(c.err, Catch::Contains("const.csv: target column 'bmd' is constant"));
  write_file_atomic(tmp / "one.csv", "patient_id,f0,y\nA,1,1\nB,2,1\n");
  auto one = run_command(tomograd_app() + " ml fit --task binary --model xgboost --folds 0 --train " + q(tmp / "one.csv") +
                         " --target y --out " + q(tmp / "m7"));
  CHECK(one.exit_code == 1);
  CHECK_THAT(one.err, Catch::Contains("single class"));
  write_file_atomic(tmp / "empty.csv", "");
  auto e = run_command(tomograd_app() + " ml fit --model svr --target bmd --train " + q(tmp / "empty.csv") + " --out " +
                       q(tmp / "m8"));
  CHECK(e.exit_code != 0);
  CHECK_THAT(e.err, Catch::Contains("empty.csv"));
  auto few = run_command(tomograd_app() + " ml fit --model svr --train " + q(tmp / "train.csv") +
                         " --target bmd --folds 20 --out " + q(tmp / "m9"));
  CHECK(few.exit_code == 1);
  CHECK_THAT(few.err, Catch::Contains("at least 20 distinct ids, found 10"));
  auto missing = run_command(tomograd_app() + " ml fit --model svr --train " + q(tmp / "train.csv") + " --target density --out " +
                             q(tmp / "m10"));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("missing column 'density'"));

  // Predict-time mismatches: columns and id column differ from training.
  REQUIRE(run_command(base + "--model elasticnet --param alpha=0.01 --out " + q(tmp / "model")).exit_code == 0);
  write_file_atomic(tmp / "fewer.csv", "patient_id,f0,f1,f2\nA,1,2,3\n");
  auto fewer = run_command(tomograd_app() + " ml predict --model " + q(tmp / "model") + " --input " + q(tmp / "fewer.csv") +
                           " --out " + q(tmp / "p1.csv"));
  CHECK(fewer.exit_code == 1);
  CHECK_THAT(fewer.err, Catch::Contains("fewer.csv: missing 1 feature column(s) the model was trained on: f3"));
  write_file_atomic(tmp / "extra.csv", "patient_id,f0,f1,f2,f3,f4\nA,1,2,3,4,5\n");
  auto extra = run_command(tomograd_app() + " ml predict --model " + q(tmp / "model") + " --input " + q(tmp / "extra.csv") +
                           " --out " + q(tmp / "p2.csv"));
  CHECK_THAT(extra.err, Catch::Contains("extra.csv: column(s) the model was not trained on: f4"));
  write_file_atomic(tmp / "otherid.csv", "subject,f0,f1,f2,f3\nA,1,2,3,4\n");
  auto otherid = run_command(tomograd_app() + " ml predict --model " + q(tmp / "model") + " --input " +
                             q(tmp / "otherid.csv") + " --out " + q(tmp / "p3.csv"));
  CHECK_THAT(otherid.err, Catch::Contains("otherid.csv") && Catch::Contains("missing column 'patient_id'"));
  auto nomodel = run_command(tomograd_app() + " ml predict --model " + q(tmp / "none") + " --input " + q(tmp / "train.csv") +
                             " --out " + q(tmp / "p4.csv"));
  CHECK(nomodel.exit_code == 1);
  CHECK_THAT(nomodel.err, Catch::Contains("does not exist"));
  CHECK_FALSE(fs::exists(tmp / "p1.csv"));
}

TEST_CASE("tomograd ml: help, usage errors and the model list", "[cli]") {
  auto h = run_command(tomograd_app() + " ml fit --help");
  CHECK(h.exit_code == 0);
  CHECK_THAT(h.out, Catch::Contains("Example") && Catch::Contains("--grid") && Catch::Contains("default: 5"));
  CHECK(run_command(tomograd_app() + " ml predict --help").exit_code == 0);
  CHECK(run_command(tomograd_app() + " ml fit --model svr").exit_code == 2);  // missing --train etc.
  CHECK(run_command(tomograd_app() + " ml").exit_code == 2);
  auto m = run_command(tomograd_app() + " ml models --model svr");
  CHECK(m.exit_code == 0);
  CHECK_THAT(m.out, Catch::Contains("epsilon") && Catch::Contains("scale|auto"));
  auto b = run_command(tomograd_app() + " ml models --task binary");
  CHECK_THAT(b.out, Catch::Contains("svc") && Catch::Contains("xgboost"));
}
