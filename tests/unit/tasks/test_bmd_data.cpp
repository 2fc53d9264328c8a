// BMD cohort handling: manifest checks, stratified splits and folds, config decoding, and the 2.5D
// slice dataset over preprocessed studies.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/bmd/pipeline.hpp"
#include "tomograd/tasks/slice_dataset.hpp"

using namespace tomograd;
using namespace tomograd::tasks;
namespace fs = std::filesystem;

namespace {

std::vector<bmd::Patient> cohort(int n) {
  std::vector<bmd::Patient> p;
  for (int i = 0; i < n; ++i) {
    bmd::Patient x;
    x.patient_id = "P" + std::to_string(i);
    x.bmd = 0.6 + 0.8 * ((i * 37) % n) / static_cast<double>(n);  // a permutation of a range
    p.push_back(x);
  }
  return p;
}

double mean_bmd(const std::vector<bmd::Patient>& p, const std::string& split) {
  double s = 0;
  int n = 0;
  for (const auto& x : p) {
    if (x.split == split) {
      s += x.bmd;
      ++n;
    }
  }
  return s / n;
}

}  // namespace

TEST_CASE("assign_splits: 80/10/10 by patient, stratified by BMD, seeded", "[tasks][bmd]") {
  auto p = cohort(100);
  bmd::assign_splits(p, 0.8, 0.1, 0.1, 42);
  std::map<std::string, int> count;
  for (const auto& x : p) ++count[x.split];
  CHECK(count["train"] == 80);
  CHECK(count["val"] == 10);
  CHECK(count["test"] == 10);
  // Stratified: each split's mean BMD is close to the cohort's (1.0 +- a block's width).
  CHECK(mean_bmd(p, "test") == Approx(1.0).margin(0.05));
  CHECK(mean_bmd(p, "val") == Approx(1.0).margin(0.05));
  // The lowest and highest deciles each give one test patient.
  std::vector<bmd::Patient> sorted = p;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.bmd < b.bmd; });
  CHECK(std::count_if(sorted.begin(), sorted.begin() + 10, [](const auto& x) { return x.split == "test"; }) == 1);
  CHECK(std::count_if(sorted.end() - 10, sorted.end(), [](const auto& x) { return x.split == "test"; }) == 1);
  // Same seed, same split; another seed, another split.
  auto again = cohort(100), other = cohort(100);
  bmd::assign_splits(again, 0.8, 0.1, 0.1, 42);
  bmd::assign_splits(other, 0.8, 0.1, 0.1, 43);
  int same = 0, differ = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    same += p[i].split == again[i].split;
    differ += p[i].split != other[i].split;
  }
  CHECK(same == 100);
  CHECK(differ > 0);
}

TEST_CASE("assign_splits keeps the manifest's splits and fills the rest", "[tasks][bmd]") {
  auto p = cohort(20);
  p[0].split = "test";
  p[1].split = "test";
  bmd::assign_splits(p, 0.9, 0.1, 0.0, 1);
  CHECK(p[0].split == "test");
  CHECK(p[1].split == "test");
  const auto tests = std::count_if(p.begin(), p.end(), [](const auto& x) { return x.split == "test"; });
  const auto vals = std::count_if(p.begin(), p.end(), [](const auto& x) { return x.split == "val"; });
  CHECK(tests == 2);
  CHECK(vals == 2);  // round(18 * 0.1)
}

TEST_CASE("stratified_folds: every patient once, folds balanced in size and BMD", "[tasks][bmd]") {
  auto p = cohort(50);
  const auto fold = bmd::stratified_folds(p, 5, 7);
  std::map<int, std::vector<double>> by;
  for (std::size_t i = 0; i < p.size(); ++i) by[fold[i]].push_back(p[i].bmd);
  REQUIRE(by.size() == 5);
  for (auto& [k, v] : by) {
    CHECK(v.size() == 10);
    double m = 0;
    for (double x : v) m += x;
    CHECK(m / v.size() == Approx(1.0).margin(0.05));
  }
  CHECK_THROWS_AS(bmd::stratified_folds(p, 1, 0), ValueError);
  CHECK_THROWS_WITH(bmd::stratified_folds(cohort(3), 5, 0), Catch::Contains("at least as many patients"));
}

TEST_CASE("read_manifest reports every bad row with its line", "[tasks][bmd]") {
  test::TempDir tmp;
  fs::create_directories(tmp / "a");
  fs::create_directories(tmp / "b");
  write_file_atomic(tmp / "m.csv",
                    "patient_id,path,bmd,split\n"
                    "A,a,1.0,train\n"      // line 2: fine
                    "B,b,x,\n"             // line 3: not a number
                    "A,b,0.9,\n"           // line 4: twice
                    "C,c,0.9,\n"           // line 5: missing path
                    "D,a,,\n"              // line 6: missing bmd
                    "E,a,-1,\n"            // line 7: not positive
                    "F,a,1.1,holdout\n"    // line 8: unknown split
                    ",a,1.0,\n");          // line 9: empty id
  std::vector<std::string> problems;
  const auto rows = bmd::read_manifest(tmp / "m.csv", "bmd", true, problems);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].patient_id == "A");
  CHECK(rows[0].path == (tmp / "a").lexically_normal());
  CHECK(rows[0].split == "train");
  REQUIRE(problems.size() == 7);
  CHECK_THAT(problems[0], Catch::Contains("line 3 (patient B)") && Catch::Contains("not a number: 'x'"));
  CHECK_THAT(problems[1], Catch::Contains("line 4") && Catch::Contains("listed twice (first on line 2)"));
  CHECK_THAT(problems[2], Catch::Contains("line 5") && Catch::Contains("path 'c' does not exist"));
  CHECK_THAT(problems[3], Catch::Contains("line 6") && Catch::Contains("missing bmd"));
  CHECK_THAT(problems[4], Catch::Contains("line 7") && Catch::Contains("must be positive"));
  CHECK_THAT(problems[5], Catch::Contains("line 8") && Catch::Contains("'holdout'"));
  CHECK_THAT(problems[6], Catch::Contains("line 9") && Catch::Contains("empty patient_id"));

  // Without a required target (prediction), a manifest without the column is fine.
  write_file_atomic(tmp / "p.csv", "patient_id,path\nA,a\n");
  problems.clear();
  const auto pred = bmd::read_manifest(tmp / "p.csv", "bmd", false, problems);
  CHECK(problems.empty());
  REQUIRE(pred.size() == 1);
  CHECK(std::isnan(pred[0].bmd));
  // A missing column is one problem naming the columns present.
  problems.clear();
  bmd::read_manifest(tmp / "p.csv", "bmd", true, problems);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Catch::Contains("missing column 'bmd'") && Catch::Contains("columns: patient_id, path"));
}

TEST_CASE("bmd config: shipped configs decode, errors name the key", "[tasks][bmd]") {
  const fs::path dir = fs::path(TOMOGRAD_SOURCE_DIR) / "configs";
  const auto r18 = bmd::load_config(dir / "bmd_resnet18.yaml", {"data.manifest=cohort/manifest.csv"});
  CHECK(r18.model.arch == "resnet18");
  CHECK(r18.model.in_channels == 3);
  CHECK(r18.loss.name == "smooth_l1");
  CHECK(r18.loss.beta == 0.5);
  CHECK(r18.optim.name == "adamw");
  CHECK(r18.optim.lr == Approx(1e-4));
  CHECK(r18.optim.weight_decay == Approx(5e-4));
  CHECK(r18.scheduler.name == "plateau");
  CHECK(r18.model.head.dropout == Approx(0.3));
  CHECK(r18.prep.slices.context == 1);
  CHECK(r18.data.batch_size == 16);
  CHECK(r18.train.epochs == 50);
  CHECK(fs::path(r18.data.manifest).is_absolute());  // resolved against the working directory
  CHECK_THAT(r18.yaml, Catch::Contains("resnet18"));
  const auto scnn = bmd::load_config(dir / "bmd_simplecnn.yaml");
  CHECK(scnn.model.arch == "simple_cnn");
  CHECK(scnn.loss.name == "mse");
  CHECK(scnn.optim.name == "adam");

  CHECK_THROWS_WITH(bmd::load_config(dir / "bmd_resnet18.yaml", {"optim.momentm=0.5"}),
                    Catch::Contains("optim.momentm"));
  CHECK_THROWS_WITH(bmd::load_config(dir / "bmd_resnet18.yaml", {"data.split.train=0.5"}),
                    Catch::Contains("add up to 1"));
  CHECK_THROWS_WITH(bmd::load_config(dir / "bmd_resnet18.yaml", {"slices.context=2"}),
                    Catch::Contains("model.in_channels is 3 but the input has 5 channels"));
  CHECK_THROWS_WITH(bmd::load_config(dir / "bmd_resnet18.yaml", {"model.head.type=binary"}),
                    Catch::Contains("single-target regression"));
  CHECK_THROWS_AS(bmd::parse_config("data: [1, 2]", "inline.yaml"), ConfigError);
}

TEST_CASE("StudySliceDataset: 2.5D stacks of the selected slices, jitter only with a policy", "[tasks][bmd]") {
  // One channel, 6 slices of 4x4 whose value is the slice index.
  auto data = torch::arange(6, torch::kFloat32).reshape({1, 6, 1, 1}).expand({1, 6, 4, 4}).contiguous();
  preprocess::PreprocessedStudy study;
  study.data = data;
  preprocess::SliceOptions so;
  so.selection.mode = preprocess::SliceSelectionMode::kMiddle;
  so.selection.count = 2;
  so.context = 1;
  const auto slices = study_slices("P1", study, so);
  CHECK(slices == std::vector<int64_t>{2, 3});
  SliceStudy s{"P1", data, torch::Tensor(), slices, torch::tensor({0.5f}), "*", -1};
  StudySliceDataset ds({s}, so);
  REQUIRE(ds.size() == 2);
  auto a = ds.get(0, 123);
  CHECK(a.input.sizes() == torch::IntArrayRef({3, 4, 4}));
  CHECK(a.input[0][0][0].item<float>() == 1.0f);
  CHECK(a.input[1][0][0].item<float>() == 2.0f);
  CHECK(a.input[2][0][0].item<float>() == 3.0f);
  CHECK(a.patient_id == "P1");
  CHECK(a.target.item<float>() == 0.5f);
  CHECK(ds.patient_of(1) == "P1");

  // With a jitter policy the centre moves by at most 2, reproducibly per seed.
  preprocess::AugmentConfig ac;
  preprocess::PolicyRule rule;
  rule.label = "*";
  rule.p = 1.0;
  rule.slice_jitter = 2;
  ac.policies.push_back(rule);
  auto policy = std::make_shared<const preprocess::AugmentationPolicy>(ac);
  StudySliceDataset aug({s}, so, policy);
  std::set<float> centres;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const float c = aug.get(0, seed).input[1][0][0].item<float>();
    CHECK(std::abs(c - 2.0f) <= 2.0f);
    CHECK(aug.get(0, seed).input.equal(aug.get(0, seed).input));
    centres.insert(c);
  }
  CHECK(centres.size() > 1);

  // A series shorter than the window.
  so.context = 3;  // window 7 > 6 slices
  CHECK_THROWS_WITH(study_slices("P2", study, so), Catch::Contains("patient P2") &&
                                                       Catch::Contains("fewer than the 2.5D window of 7"));
}
