// RSNA 2024 lumbar CSV files and the competition score of a submission, checked by hand.
#include <catch2/catch.hpp>

#include <cmath>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"

using namespace tomograd;
using namespace tomograd::tasks::lumbar;

namespace {

/// train.csv with one study: three labelled cells, the other 22 empty.
std::string labels_train_csv(const std::string& spinal = "Normal/Mild") {
  std::string header = "study_id", row = "1";
  for (const auto& c : label_columns()) {
    header += "," + c;
    std::string v;
    if (c == "spinal_canal_stenosis_l1_l2") v = spinal;
    if (c == "left_neural_foraminal_narrowing_l1_l2") v = "Moderate";
    if (c == "left_subarticular_stenosis_l1_l2") v = "Severe";
    row += "," + v;
  }
  return header + "\n" + row + "\n";
}

const char* kSubmission =
    "row_id,normal_mild,moderate,severe\n"
    "1_spinal_canal_stenosis_l1_l2,0.8,0.1,0.1\n"
    "1_left_neural_foraminal_narrowing_l1_l2,0.2,0.5,0.3\n"
    "1_left_subarticular_stenosis_l1_l2,0.1,0.2,0.7\n"
    "1_spinal_canal_stenosis_l2_l3,0.01,0.01,0.98\n"   // no label in the solution: left out
    "99_spinal_canal_stenosis_l1_l2,0.3,0.3,0.4\n";    // a study not in the solution: ignored

}  // namespace

TEST_CASE("lumbar names: conditions, levels, grades in both spellings", "[tasks][lumbar]") {
  CHECK(label_columns().size() == 25);
  CHECK(label_columns().front() == "spinal_canal_stenosis_l1_l2");
  CHECK(label_columns().back() == "right_subarticular_stenosis_l5_s1");
  CHECK(condition_index("Left Neural Foraminal Narrowing") == 1);
  CHECK(condition_index("right_subarticular_stenosis") == 4);
  CHECK(condition_index("Spinal Stenosis") == -1);
  CHECK(level_index("L4/L5") == 3);
  CHECK(level_index("l5_s1") == 4);
  CHECK(level_index("L5/L6") == -1);
  CHECK(grade_index("Severe") == 2);
  CHECK(grade_index("severe") == -1);
}

TEST_CASE("lumbar score: hand-computed competition metric, unlabelled rows left out", "[tasks][lumbar]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "train.csv", labels_train_csv());
  write_file_atomic(tmp / "sub.csv", kSubmission);
  const auto sol = read_train_csv(tmp / "train.csv");
  REQUIRE(sol.size() == 1);
  CHECK(sol[0].grades[0] == 0);
  CHECK(sol[0].grades[5] == 1);   // left foraminal l1_l2
  CHECK(sol[0].grades[15] == 2);  // left subarticular l1_l2
  CHECK(sol[0].grades[1] == -1);  // empty = no label
  const auto s = score_submission(sol, read_submission(tmp / "sub.csv"));
  // spinal: -ln 0.8; foraminal: -ln 0.5; subarticular: -ln 0.7; any severe spinal: label 0,
  // prediction max severe over labelled spinal rows = 0.1, so -ln 0.9; score: their mean.
  CHECK(s.spinal.value() == Approx(0.2231435513142097).epsilon(1e-12));
  CHECK(s.foraminal.value() == Approx(0.6931471805599453).epsilon(1e-12));
  CHECK(s.subarticular.value() == Approx(0.35667494393873245).epsilon(1e-12));
  CHECK(s.any_severe_spinal.value() == Approx(0.10536051565782628).epsilon(1e-12));
  CHECK(s.score.value() == Approx(0.3445815478676785).epsilon(1e-12));

  // A severe spinal label: weight 4 and the any-severe term flips to -ln 0.1.
  write_file_atomic(tmp / "train2.csv", labels_train_csv("Severe"));
  const auto s2 = score_submission(read_train_csv(tmp / "train2.csv"), read_submission(tmp / "sub.csv"));
  CHECK(s2.spinal.value() == Approx(-std::log(0.1)).epsilon(1e-12));
  CHECK(s2.any_severe_spinal.value() == Approx(-std::log(0.1)).epsilon(1e-12));
}

TEST_CASE("lumbar files: every problem named by line", "[tasks][lumbar]") {
  test::TempDir tmp;
  std::string bad = labels_train_csv();
  bad += bad.substr(bad.find('\n') + 1);  // study 1 twice
  std::string row3 = "2";
  for (std::size_t i = 0; i < 25; ++i) row3 += i == 7 ? ",Mild" : ",";
  write_file_atomic(tmp / "train.csv", bad + row3 + "\n");
  CHECK_THROWS_WITH(read_train_csv(tmp / "train.csv"),
                    Catch::Contains("2 problems") && Catch::Contains("line 3 (study 1): study listed twice") &&
                        Catch::Contains("line 4 (study 2): left_neural_foraminal_narrowing_l3_l4 is 'Mild'"));
  write_file_atomic(tmp / "sub.csv",
                    "row_id,normal_mild,moderate,severe\n"
                    "1_spinal_canal_stenosis_l1_l2,0.8,0.1,0.1\n"
                    "1_spinal_canal_stenosis_l1_l2,0.8,0.1,0.1\n"
                    "1_spinal_stenosis_l1_l2,0.8,0.1,0.1\n"
                    "1_left_subarticular_stenosis_l5_l6,0.8,0.1,0.1\n"
                    "1_left_subarticular_stenosis_l1_l2,0.8,-0.1,x\n");
  CHECK_THROWS_WITH(read_submission(tmp / "sub.csv"),
                    Catch::Contains("5 problems") && Catch::Contains("line 3") && Catch::Contains("listed twice") &&
                        Catch::Contains("line 4 (1_spinal_stenosis_l1_l2): row_id must be") &&
                        Catch::Contains("line 5") && Catch::Contains("line 6") &&
                        Catch::Contains("moderate must be a finite probability >= 0, got '-0.1'") &&
                        Catch::Contains("severe must be a finite probability >= 0, got 'x'"));
  // A labelled row missing from the submission.
  write_file_atomic(tmp / "train.csv", labels_train_csv());
  write_file_atomic(tmp / "sub2.csv", "row_id,normal_mild,moderate,severe\n1_spinal_canal_stenosis_l1_l2,1,0,0\n");
  CHECK_THROWS_WITH(score_submission(read_train_csv(tmp / "train.csv"), read_submission(tmp / "sub2.csv")),
                    Catch::Contains("lacks 2 labelled row(s)") &&
                        Catch::Contains("1_left_neural_foraminal_narrowing_l1_l2"));
}
