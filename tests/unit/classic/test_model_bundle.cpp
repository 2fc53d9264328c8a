// Feature CSV reading (bad input names file, line, column) and the model folder round trip.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <sstream>

#include "support/fixtures.hpp"
#include "tomograd/classic/feature_table.hpp"
#include "tomograd/classic/model_bundle.hpp"
#include "tomograd/core/atomic_file.hpp"

using namespace tomograd;
using namespace tomograd::classic;
namespace fs = std::filesystem;

namespace {

// 30 patients x 2 rows; bmd depends on f0 and f1; label = bmd > 0.9.
std::string features_csv(bool label) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> u(-1, 1);
  std::ostringstream s;
  s.precision(10);
  s << "patient_id,f0,f1,f2," << (label ? "label" : "bmd") << "\n";
  for (int r = 0; r < 60; ++r) {
    double f0 = u(rng), f1 = u(rng) * 5 + 100, f2 = u(rng);
    double bmd = 0.9 + 0.15 * f0 + 0.01 * (f1 - 100) + 0.01 * u(rng);
    s << "P" << (r / 2) << "," << f0 << "," << f1 << "," << f2 << "," << (label ? (bmd > 0.9 ? 1 : 0) : bmd) << "\n";
  }
  return s.str();
}

FeatureTableOptions train_options(const std::string& target = "bmd") {
  FeatureTableOptions o;
  o.target_column = target;
  o.target_mode = TargetMode::kRequired;
  return o;
}

}  // namespace

TEST_CASE("feature tables: columns, ids and targets", "[classic]") {
  auto csv = CsvTable::parse("id,a,b,y\np1,1,2,0.5\np1,3,4,0.7\np2,5,6,0.9\n", "f.csv");
  auto t = feature_table_from_csv(csv, train_options("y"));
  CHECK(t.id_column == "id");
  CHECK(t.feature_names == std::vector<std::string>{"a", "b"});
  CHECK(t.ids == std::vector<std::string>{"p1", "p1", "p2"});
  CHECK(t.x(2, 1) == 6);
  CHECK(t.y[1] == 0.7);
  CHECK(t.lines[0] == 2);
  FeatureTableOptions o = train_options("y");
  o.exclude = {"b"};
  CHECK(feature_table_from_csv(csv, o).feature_names == std::vector<std::string>{"a"});
  o.exclude = {"nope"};
  CHECK_THROWS_WITH(feature_table_from_csv(csv, o), Catch::Contains("missing column 'nope'"));
  FeatureTableOptions predict;
  predict.id_column = "id";
  predict.target_column = "y";
  predict.target_mode = TargetMode::kOptional;
  predict.features = {"b", "a"};
  auto p = feature_table_from_csv(csv, predict);
  CHECK(p.x(0, 0) == 2);  // reordered to the model's feature order
  CHECK(p.has_target());
}

TEST_CASE("feature tables: bad input names the file, line and column", "[classic]") {
  test::TempDir tmp;
  auto write = [&](const std::string& name, const std::string& text) {
    write_file_atomic(tmp / name, text);
    return tmp / name;
  };
  CHECK_THROWS_WITH(read_feature_table(write("empty.csv", ""), train_options()), Catch::Contains("empty.csv"));
  CHECK_THROWS_WITH(read_feature_table(write("header.csv", "id,a,bmd\n"), train_options()),
                    Catch::Contains("header.csv: no data rows"));
  CHECK_THROWS_WITH(read_feature_table(write("notarget.csv", "id,a,b\nx,1,2\n"), train_options()),
                    Catch::Contains("notarget.csv") && Catch::Contains("missing column 'bmd'"));
  CHECK_THROWS_WITH(read_feature_table(write("nan.csv", "id,a,bmd\nx,1,0.5\ny,NaN,0.7\n"), train_options()),
                    Catch::Contains("nan.csv: line 3, column 'a'") && Catch::Contains("'NaN'"));
  CHECK_THROWS_WITH(read_feature_table(write("text.csv", "id,a,bmd\nx,1,0.5\ny,2,0.7\nz,3,high\n"), train_options()),
                    Catch::Contains("text.csv: line 4, column 'bmd'") && Catch::Contains("'high'"));
  CHECK_THROWS_WITH(read_feature_table(write("noid.csv", "id,a,bmd\nx,1,0.5\n ,2,0.7\n"), train_options()),
                    Catch::Contains("noid.csv: line 3, column 'id': empty id"));
  CHECK_THROWS_WITH(read_feature_table(write("nofeat.csv", "id,bmd\nx,0.5\n"), train_options()),
                    Catch::Contains("nofeat.csv: no feature columns"));
  FeatureTableOptions o = train_options();
  o.id_column = "patient";
  CHECK_THROWS_WITH(read_feature_table(write("wrongid.csv", "id,a,bmd\nx,1,0.5\n"), o),
                    Catch::Contains("missing column 'patient'"));
  FeatureTableOptions predict;
  predict.id_column = "id";
  predict.features = {"a", "b", "c"};
  CHECK_THROWS_WITH(read_feature_table(write("few.csv", "id,a,b\nx,1,2\n"), predict),
                    Catch::Contains("few.csv: missing 1 feature column(s) the model was trained on: c"));
  CHECK_THROWS_WITH(read_feature_table(write("more.csv", "id,a,b,c,d\nx,1,2,3,4\n"), predict),
                    Catch::Contains("more.csv: column(s) the model was not trained on: d"));
}

TEST_CASE("ModelBundle: fit with grid search, save, load, predict the same", "[classic]") {
  test::TempDir tmp;
  auto train = feature_table_from_csv(CsvTable::parse(features_csv(false), "train.csv"), train_options());
  FitOptions o;
  o.model = "svr";
  o.params = {{"epsilon", "0.01"}};
  o.grid = parse_grid({"C=0.1,1"});
  o.folds = 3;
  o.threads = 2;
  auto bundle = ModelBundle::fit(train, o);
  const auto& m = bundle.metadata();
  CHECK(m["model"] == "svr");
  CHECK(m["task"] == "regression");
  CHECK(m["features"] == std::vector<std::string>{"f0", "f1", "f2"});
  CHECK(m["scaler"]["mean"].size() == 3);
  CHECK(m["scaler"]["mean"][1].get<double>() == Approx(100).margin(1));
  CHECK(m["cross_validation"]["results"].size() == 2);
  CHECK(m["cross_validation"]["folds"] == 3);
  CHECK(m["cross_validation"]["results"][0]["folds"][0].contains("rmse"));
  CHECK(m["cross_validation"]["results"][0]["mean"].contains("r2"));
  CHECK(m["parameters"]["epsilon"] == 0.01);
  CHECK(m["training"]["ids"] == 30);
  CHECK(m.contains("tomograd_version"));
  CHECK(m["fitted"]["gamma"].get<double>() == Approx(1.0 / 3.0));  // standardized: 1/F

  bundle.save(tmp / "model");
  CHECK(fs::exists(tmp / "model" / "metadata.json"));
  CHECK(fs::exists(tmp / "model" / "model.libsvm"));
  CHECK_THROWS_WITH(bundle.save(tmp / "model"), Catch::Contains("is not empty") && Catch::Contains("--force"));
  bundle.save(tmp / "model", true);

  auto loaded = ModelBundle::load(tmp / "model");
  auto input = feature_table_from_csv(CsvTable::parse(features_csv(false), "in.csv"), loaded.input_options());
  auto a = bundle.predict(input), b = loaded.predict(input);
  REQUIRE(a.size() == 60);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).margin(1e-6));
  auto table = loaded.prediction_table(input, b);
  CHECK(table.header() == std::vector<std::string>{"patient_id", "bmd", "prediction"});
  CHECK(table.num_rows() == 60);
}

TEST_CASE("ModelBundle: every regression model round-trips through a folder", "[classic]") {
  test::TempDir tmp;
  auto train = feature_table_from_csv(CsvTable::parse(features_csv(false), "train.csv"), train_options());
  for (std::string model : {"xgboost", "rf", "elasticnet"}) {
    FitOptions o;
    o.model = model;
    o.folds = 0;
    if (model != "elasticnet") o.params = {{"n_estimators", "10"}};
    else o.params = {{"alpha", "0.001"}};
    auto bundle = ModelBundle::fit(train, o);
    CHECK(bundle.metadata()["cross_validation"].is_null());
    bundle.save(tmp / model);
    auto loaded = ModelBundle::load(tmp / model);
    CHECK(loaded.model_name() == model);
    auto a = bundle.predict(train), b = loaded.predict(train);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).margin(1e-9));
  }
  // --force replaces a model of another kind and removes its stale file.
  FitOptions o;
  o.model = "elasticnet";
  o.folds = 0;
  ModelBundle::fit(train, o).save(tmp / "xgboost", true);
  CHECK_FALSE(fs::exists(tmp / "xgboost" / "model.xgb.json"));
  CHECK(ModelBundle::load(tmp / "xgboost").model_name() == "elasticnet");
}

TEST_CASE("ModelBundle: binary task with XGBoost", "[classic]") {
  test::TempDir tmp;
  auto train = feature_table_from_csv(CsvTable::parse(features_csv(true), "train.csv"), train_options("label"));
  FitOptions o;
  o.model = "xgboost";
  o.task = Task::kBinary;
  o.params = {{"n_estimators", "20"}, {"max_depth", "2"}};
  o.folds = 3;
  auto bundle = ModelBundle::fit(train, o);
  CHECK(bundle.metadata()["cross_validation"]["metric"] == "auc");
  CHECK(bundle.metadata()["cross_validation"]["results"][0]["mean"]["auc"].get<double>() > 0.8);
  bundle.save(tmp / "clf");
  auto loaded = ModelBundle::load(tmp / "clf");
  CHECK(loaded.task() == Task::kBinary);
  auto p = loaded.predict(train);
  auto table = loaded.prediction_table(train, p);
  CHECK(table.header() == std::vector<std::string>{"patient_id", "label", "probability", "predicted_label"});
}

TEST_CASE("ModelBundle: bad training data and bad folders fail clearly", "[classic]") {
  test::TempDir tmp;
  auto constant = feature_table_from_csv(CsvTable::parse("id,a,bmd\np1,1,0.8\np2,2,0.8\n", "c.csv"), train_options());
  FitOptions o;
  o.folds = 0;
  CHECK_THROWS_WITH(ModelBundle::fit(constant, o), Catch::Contains("c.csv: target column 'bmd' is constant"));
  o.task = Task::kBinary;
  o.model = "xgboost";
  auto single = feature_table_from_csv(CsvTable::parse("id,a,y\np1,1,1\np2,2,1\n", "s.csv"), train_options("y"));
  CHECK_THROWS_WITH(ModelBundle::fit(single, o), Catch::Contains("s.csv: target column 'y' has a single class"));
  auto two = feature_table_from_csv(CsvTable::parse("id,a,y\np1,1,0\np2,2,2\n", "t.csv"), train_options("y"));
  CHECK_THROWS_WITH(ModelBundle::fit(two, o), Catch::Contains("t.csv: line 3, column 'y': a binary target must be 0 or 1"));
  o.task = Task::kRegression;
  o.model = "svm";
  CHECK_THROWS_WITH(ModelBundle::fit(constant, o), Catch::Contains("valid: elasticnet, rf, svr, xgboost"));
  o.model = "svr";
  o.folds = 1;
  CHECK_THROWS_WITH(ModelBundle::fit(constant, o), Catch::Contains("--folds must be 0"));
  o.folds = 0;
  o.grid = parse_grid({"C=1,2"});
  CHECK_THROWS_WITH(ModelBundle::fit(constant, o), Catch::Contains("needs cross-validation"));

  CHECK_THROWS_WITH(ModelBundle::load(tmp / "nothing"), Catch::Contains("does not exist"));
  fs::create_directories(tmp / "empty");
  CHECK_THROWS_WITH(ModelBundle::load(tmp / "empty"), Catch::Contains("no metadata.json"));
  write_file_atomic(tmp / "empty" / "metadata.json", "{\"format\": \"tomograd-classic-model\", \"format_version\": 1, "
                                                     "\"task\": \"regression\", \"model\": \"svr\"}");
  CHECK_THROWS_WITH(ModelBundle::load(tmp / "empty"), Catch::Contains("missing key 'parameters'"));
  write_file_atomic(tmp / "file", "x");
  CHECK_THROWS_WITH(check_model_dir(tmp / "file", true), Catch::Contains("is not a folder"));
}
