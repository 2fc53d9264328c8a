// Metastasis task: MAX pooling of slice logits per patient, data folder checks, splits, config.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"
#include "tomograd/tasks/metastasis/synth.hpp"

using namespace tomograd;
using namespace tomograd::tasks;
namespace fs = std::filesystem;

TEST_CASE("MAX pooling: one logit per patient, gradient only through each patient's max slice", "[tasks][metastasis]") {
  auto logits = torch::tensor({0.1f, 2.0f, -1.0f, 0.5f, 0.7f}, torch::requires_grad());
  const std::vector<std::string> ids{"A", "A", "B", "A", "B"};
  std::vector<std::string> order;
  auto pooled = metastasis::max_pool_patients(logits, ids, &order);
  CHECK(order == std::vector<std::string>{"A", "B"});
  REQUIRE(pooled.sizes() == torch::IntArrayRef({2}));
  CHECK(pooled[0].item<float>() == 2.0f);
  CHECK(pooled[1].item<float>() == 0.7f);
  (pooled * torch::tensor({3.0f, 5.0f})).sum().backward();
  const auto g = logits.grad();
  CHECK(g[0].item<float>() == 0.0f);
  CHECK(g[1].item<float>() == 3.0f);  // A's max
  CHECK(g[2].item<float>() == 0.0f);
  CHECK(g[3].item<float>() == 0.0f);
  CHECK(g[4].item<float>() == 5.0f);  // B's max
  CHECK_THROWS_AS(metastasis::max_pool_patients(logits, {"A"}), ValueError);
  // The training loss pools runs of consecutive slices: A twice (a patient class balancing drew
  // twice into one batch), B twice.
  const torch::Tensor runs = metastasis::max_pool_runs(logits.detach(), ids);
  CHECK(torch::equal(runs, torch::tensor({2.0f, -1.0f, 0.5f, 0.7f})));
  CHECK_THROWS_AS(metastasis::max_pool_runs(logits, {"A", "B"}), ValueError);
}

TEST_CASE("metastasis splits: train/val/test by patient, stratified by label, seeded", "[tasks][metastasis]") {
  std::vector<metastasis::Patient> p;
  for (int i = 0; i < 30; ++i) {
    metastasis::Patient x;
    x.patient_id = "P" + std::to_string(i);
    x.label = i < 10 ? 1 : 0;
    p.push_back(x);
  }
  SECTION("test share 0: the 80/20 train/validation split") {
    auto q = p;
    metastasis::assign_splits(p, 0.2, 0.0, 5);
    metastasis::assign_splits(q, 0.2, 0.0, 5);
    std::map<std::pair<int, std::string>, int> n;
    for (std::size_t i = 0; i < p.size(); ++i) {
      ++n[{p[i].label, p[i].split}];
      CHECK(p[i].split == q[i].split);
    }
    CHECK(n[{1, "val"}] == 2);
    CHECK(n[{1, "train"}] == 8);
    CHECK(n[{0, "val"}] == 4);
    CHECK(n[{0, "train"}] == 16);
    CHECK(n[{0, "test"}] + n[{1, "test"}] == 0);
  }
  SECTION("60/20/20, no patient in two splits, input order irrelevant") {
    auto q = p;
    std::reverse(q.begin(), q.end());
    metastasis::assign_splits(p, 0.2, 0.2, 5);
    metastasis::assign_splits(q, 0.2, 0.2, 5);
    std::map<std::string, std::string> split_q;
    for (const auto& x : q) split_q[x.patient_id] = x.split;
    std::map<std::pair<int, std::string>, int> n;
    for (const auto& x : p) {
      ++n[{x.label, x.split}];
      CHECK(split_q[x.patient_id] == x.split);
    }
    CHECK(n[{1, "test"}] == 2);
    CHECK(n[{1, "val"}] == 2);
    CHECK(n[{1, "train"}] == 6);
    CHECK(n[{0, "test"}] == 4);
    CHECK(n[{0, "val"}] == 4);
    CHECK(n[{0, "train"}] == 12);
    // Another seed gives another split.
    auto r = p;
    for (auto& x : r) x.split.clear();
    metastasis::assign_splits(r, 0.2, 0.2, 6);
    bool differs = false;
    for (std::size_t i = 0; i < r.size(); ++i) differs = differs || r[i].split != p[i].split;
    CHECK(differs);
  }
  SECTION("fractions that leave no training patient are refused") {
    CHECK_THROWS_WITH(metastasis::assign_splits(p, 0.6, 0.4, 5), Catch::Contains("leave training patients"));
  }
}

TEST_CASE("scan_data lists every bad patient and picks the CT series", "[tasks][metastasis]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  MetastasisSynthOptions so;
  so.out = tmp / "data";
  so.patients = 3;
  so.scale = 0.0625;
  so.seed = 2;
  so.show_progress = false;
  const auto rows = synthesize_metastasis_cohort(so);
  const fs::path cts = tmp / "data" / "CTs";
  // An MR series, a CT localizer (2 slices), an empty folder and a folder without a label.
  Volume small(torch::full({2, 32, 32}, 40.0f), {5, 1, 1});
  io::DicomWriteOptions mr;
  mr.modality = "MR";
  io::write_dicom_series(Volume(torch::full({12, 32, 32}, 100.0f), {5, 1, 1}), cts / "MR1", mr);
  io::write_dicom_series(small, cts / "LOC1");
  fs::create_directories(cts / "EMPTY1");
  write_file_atomic(cts / "EMPTY1" / "readme.txt", "no images here");
  io::write_dicom_series(small, cts / "NOLABEL");
  std::string labels = read_file(tmp / "data" / "labels.csv");
  labels += "MR1,1\nLOC1,0\nEMPTY1,0\nGHOST,1\n" + rows[0].patient_id + ",1\n";
  write_file_atomic(tmp / "data" / "labels.csv", labels);
  // One more row with a non-binary label for a real patient folder.
  write_file_atomic(tmp / "data" / "labels.csv", labels + "BAD,2\n");
  fs::create_directories(cts / "BAD");

  metastasis::DataOptions d;
  d.dir = (tmp / "data").string();
  std::vector<std::string> problems;
  const auto patients = metastasis::scan_data(d, true, problems);
  REQUIRE(patients.size() == 3);
  for (const auto& p : patients) CHECK_FALSE(p.series.empty());
  auto has = [&](const std::string& a, const std::string& b) {
    return std::any_of(problems.begin(), problems.end(), [&](const std::string& s) {
      return s.find(a) != std::string::npos && s.find(b) != std::string::npos;
    });
  };
  CHECK(has("patient MR1", "is MR, not CT"));
  CHECK(has("patient LOC1", "localizer"));
  CHECK(has("patient EMPTY1", "no readable DICOM series"));
  CHECK(has("GHOST", "no folder CTs/GHOST"));
  CHECK(has("NOLABEL", "has no row in labels.csv"));
  CHECK(has("patient " + rows[0].patient_id, "listed twice"));
  CHECK(has("patient BAD", "label must be 0 or 1, got '2'"));
  CHECK(problems.size() == 7);

  // Without labels (inference) the labels file is optional.
  fs::remove(tmp / "data" / "labels.csv");
  problems.clear();
  const auto unlabeled = metastasis::scan_data(d, false, problems);
  CHECK(unlabeled.size() == 3);
  for (const auto& p : unlabeled) CHECK(p.label == -1);
}

TEST_CASE("metastasis config decodes, curriculum and head errors name the key", "[tasks][metastasis]") {
  const fs::path cfg = fs::path(TOMOGRAD_SOURCE_DIR) / "configs" / "metastasis_resnet50.yaml";
  const auto c = metastasis::load_config(cfg, {"data.dir=somewhere"});
  CHECK(c.model.arch == "resnet50");
  CHECK(c.model.in_channels == 1);
  CHECK(c.model.head.hidden == 512);
  CHECK(c.model.head.dropout == Approx(0.4));
  REQUIRE(c.curriculum.size() == 3);
  CHECK(c.curriculum[1].from_epoch == 5);
  CHECK(c.curriculum[2].trainable.back() == "layer3");
  CHECK(c.curriculum[2].lr.at("layer3") == Approx(5e-6));
  CHECK(c.train.grad_clip == 1.0);
  CHECK(c.train.monitor == "val_f1");
  CHECK(fs::path(c.data.dir).is_absolute());
  CHECK_THROWS_WITH(metastasis::load_config(cfg, {"curriculum=[{from_epoch: 3, trainable: [fc]}]"}),
                    Catch::Contains("first stage must start at epoch 0"));
  CHECK_THROWS_WITH(metastasis::load_config(cfg, {"curriculum=[{from_epoch: 0, trainable: [fc], lrr: 1}]"}),
                    Catch::Contains("curriculum[0].lrr"));
  CHECK_THROWS_WITH(metastasis::load_config(cfg, {"model.head.type=regression"}), Catch::Contains("binary"));
  CHECK_THROWS_WITH(metastasis::load_config(cfg, {"eval.threshold=best"}), Catch::Contains("eval.threshold"));
}
