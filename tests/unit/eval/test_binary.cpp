// Binary metrics, threshold selection and calibration: hand fixtures and scikit-learn references.
#include <catch2/catch.hpp>

#include <cmath>

#include "support/checks.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/calibration.hpp"
#include "tomograd/eval/threshold.hpp"

using namespace tomograd;
using test::near;
using namespace tomograd::eval;

namespace {

// A 12-sample set with scores tied across classes (0.4: two negatives and a positive).
const std::vector<double> kY{0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1};
const std::vector<double> kS{0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.65, 0.4, 0.55, 0.05, 0.7};
}  // namespace

TEST_CASE("binary metrics on four numbers, by hand", "[eval]") {
  std::vector<double> y{0, 0, 1, 1}, s{0.1, 0.4, 0.35, 0.8};
  // Pairs (pos, neg): (0.35,0.1) ok, (0.35,0.4) wrong, (0.8,·) ok twice → 3/4.
  CHECK(roc_auc(y, s).value() == near(0.75));
  // Descending: 0.8 (+) P=1 R=1/2; 0.4 (−) R unchanged; 0.35 (+) P=2/3 R=1 → 1/2·1 + 1/2·2/3.
  CHECK(average_precision(y, s).value() == near(0.5 + 1.0 / 3.0));
  BinaryCounts c = confusion_at_threshold(y, s, 0.4);  // called positive: 0.4 and 0.8
  CHECK(c.tp == 1);
  CHECK(c.fp == 1);
  CHECK(c.tn == 1);
  CHECK(c.fn == 1);
  CHECK(accuracy(c).value() == near(0.5));
  CHECK(f1_score(c).value() == near(0.5));
  // Threshold is inclusive: score 0.8 >= 0.8 is positive.
  CHECK(confusion_at_threshold(y, s, 0.8).tp == 1);
}

TEST_CASE("binary metrics match scikit-learn 1.2.1", "[eval]") {
  // Reference values from Debian's python3-sklearn 1.2.1 on kY/kS; predictions at 0.5 are
  // (kS >= 0.5).astype(int).
  CHECK(roc_auc(kY, kS).value() == near(0.8611111111111112));             // sklearn.metrics.roc_auc_score
  CHECK(average_precision(kY, kS).value() == near(0.8819444444444443));   // sklearn.metrics.average_precision_score
  CHECK(binary_log_loss(kY, kS).value() == near(0.440169257373783));      // sklearn.metrics.log_loss
  std::vector<double> w{1, 2, 1, 1, 3, 1, 1, 2, 1, 1, 1, 4};
  CHECK(binary_log_loss(kY, kS, w).value() == near(0.4376481951416852));  // log_loss(sample_weight=w)
  CHECK(binary_log_loss({1, 0}, {1.0, 0.3}).value() == near(0.17833747196936633));  // log_loss, p=1 clipped
  MetricTable t = binary_metrics(kY, kS, 0.5);
  CHECK(t.value("accuracy").value() == near(0.75));                   // accuracy_score
  CHECK(t.value("balanced_accuracy").value() == near(0.75));          // balanced_accuracy_score
  CHECK(t.value("f1").value() == near(0.7272727272727272));           // f1_score
  CHECK(t.value("sensitivity").value() == near(0.6666666666666666));  // recall_score
  CHECK(t.value("specificity").value() == near(0.8333333333333334));  // recall_score(pos_label=0)
  CHECK(t.value("ppv").value() == near(0.8));                         // precision_score
  CHECK(t.value("npv").value() == near(0.7142857142857143));          // precision_score(pos_label=0)
  CHECK(t.value("auc").value() == near(0.8611111111111112));
  CHECK(t.value("pr_auc").value() == near(0.8819444444444443));
  CHECK(t.value("log_loss").value() == near(0.440169257373783));
  BinaryCounts c = confusion_at_threshold(kY, kS, 0.5);  // confusion_matrix: [[5, 1], [2, 4]]
  CHECK(c.tn == 5);
  CHECK(c.fp == 1);
  CHECK(c.fn == 2);
  CHECK(c.tp == 4);
}

TEST_CASE("ROC and PR curves match sklearn's points", "[eval]") {
  // sklearn.metrics.roc_curve(drop_intermediate=False) 1.2.1; its first threshold is max+1, ours +inf.
  RocCurve r = roc_curve(kY, kS);
  std::vector<double> fpr{0.0, 0.0, 0.0, 0.0, 0.0, 1.0 / 6, 0.5, 0.5, 4.0 / 6, 5.0 / 6, 1.0};
  std::vector<double> tpr{0.0, 1.0 / 6, 2.0 / 6, 0.5, 4.0 / 6, 4.0 / 6, 5.0 / 6, 1.0, 1.0, 1.0, 1.0};
  std::vector<double> thr{0.9, 0.8, 0.7, 0.65, 0.55, 0.4, 0.35, 0.2, 0.1, 0.05};
  REQUIRE(r.fpr.size() == fpr.size());
  for (std::size_t i = 0; i < fpr.size(); ++i) {
    CHECK(r.fpr[i] == near(fpr[i]));
    CHECK(r.tpr[i] == near(tpr[i]));
  }
  CHECK(std::isinf(r.thresholds[0]));
  CHECK(std::vector<double>(r.thresholds.begin() + 1, r.thresholds.end()) == thr);
  // sklearn.metrics.precision_recall_curve lists thresholds increasing and stops at full recall;
  // ours are decreasing over every distinct score.
  PrCurve pr = precision_recall_curve(kY, kS);
  std::vector<double> precision{1.0, 1.0, 1.0, 1.0, 0.8, 0.625, 2.0 / 3, 0.6, 0.5454545454545454, 0.5};
  REQUIRE(pr.precision.size() == precision.size());
  for (std::size_t i = 0; i < precision.size(); ++i) CHECK(pr.precision[i] == near(precision[i]));
  CHECK(pr.recall.back() == near(1.0));
}

TEST_CASE("single-class binary data: AUC and friends are undefined, with reasons", "[eval]") {
  std::vector<double> y{0, 0, 0}, s{0.2, 0.7, 0.4};
  MetricValue auc = roc_auc(y, s);
  CHECK_FALSE(auc.defined());
  CHECK_THAT(auc.reason(), Catch::Contains("only one class"));
  CHECK_FALSE(average_precision(y, s).defined());
  MetricTable t = binary_metrics(y, s, 0.5);
  CHECK_FALSE(t.value("sensitivity").defined());
  CHECK_FALSE(t.value("balanced_accuracy").defined());
  CHECK(t.value("specificity").value() == near(2.0 / 3));
  CHECK(t.value("log_loss").defined());
  CHECK_THROWS_AS(roc_curve(y, s), ValueError);
  // Scores that are not probabilities: log loss says so.
  MetricValue ll = binary_log_loss({0, 1}, {-1.0, 2.0});
  CHECK_FALSE(ll.defined());
  CHECK_THAT(ll.reason(), Catch::Contains("not probabilities"));
}

TEST_CASE("binary metrics reject bad labels and lengths", "[eval]") {
  CHECK_THROWS_WITH(roc_auc({0, 2}, {0.1, 0.2}), Catch::Contains("y_true[1] is 2") && Catch::Contains("0 or 1"));
  CHECK_THROWS_WITH(binary_metrics({0, 1, 1}, {0.1, 0.2}, 0.5), Catch::Contains("mismatched lengths"));
  CHECK_THROWS_WITH(average_precision({0, 1}, {0.1, std::nan("")}), Catch::Contains("scores[1]"));
}

TEST_CASE("threshold selection on validation data", "[eval]") {
  // Youden: sklearn roc_curve 1.2.1, thresholds[argmax(tpr - fpr)] = 0.65 (J = 2/3, unique).
  ThresholdChoice y = select_threshold(kY, kS, ThresholdRule::parse("youden"));
  CHECK(y.threshold == 0.65);
  CHECK(y.sensitivity == near(4.0 / 6));
  CHECK(y.specificity == near(1.0));
  // Max F1: from sklearn precision_recall_curve 1.2.1, F1 = 2PR/(P+R) peaks at 0.8 for thresholds
  // 0.35 and 0.65 (a tie; numpy's argmax over sklearn's increasing thresholds would take 0.35).
  // Our rule breaks ties toward the highest threshold: 0.65.
  ThresholdChoice f = select_threshold(kY, kS, ThresholdRule::parse("max_f1"));
  CHECK(f.threshold == 0.65);
  CHECK(f.f1 == near(0.8));
  // Target sensitivity 0.8: the first roc_curve threshold with tpr >= 0.8 is 0.4.
  ThresholdChoice s = select_threshold(kY, kS, ThresholdRule::parse("sensitivity:0.8"));
  CHECK(s.threshold == 0.4);
  CHECK(s.sensitivity >= 0.8);
  CHECK(s.counts.tp == 5);
  // Applied unchanged elsewhere: the counts follow from the threshold alone.
  BinaryCounts test = confusion_at_threshold({1, 0, 1}, {0.65, 0.64, 0.9}, y.threshold);
  CHECK(test.tp == 2);
  CHECK(test.tn == 1);
  CHECK(ThresholdRule::parse("sensitivity:0.95").name() == "sensitivity:0.95");
  CHECK_THROWS_WITH(ThresholdRule::parse("youdens"), Catch::Contains("valid: youden, max_f1"));
  CHECK_THROWS_AS(ThresholdRule::parse("sensitivity:1.5"), ValueError);
  CHECK_THROWS_WITH(select_threshold({1, 1}, {0.2, 0.3}, ThresholdRule{}), Catch::Contains("only one class"));
}

TEST_CASE("reliability curve and ECE match sklearn.calibration.calibration_curve", "[eval]") {
  // sklearn.calibration.calibration_curve(kY, kS, n_bins=5) 1.2.1:
  //   prob_true [0, 0.5, 0, 1, 1], prob_pred [0.11666666666666668, 0.38749999999999996, 0.55,
  //   0.7166666666666668, 0.9]; bin counts by numpy.searchsorted(bins[1:-1], kS): [3, 4, 1, 3, 1];
  //   ECE = sum(counts / 12 * |prob_true - prob_pred|) = 0.19166666666666665 (numpy 1.24.2).
  ReliabilityCurve c = reliability_curve(kY, kS, 5);
  std::vector<double> prob_true{0, 0.5, 0, 1, 1};
  std::vector<double> prob_pred{0.11666666666666668, 0.38749999999999996, 0.55, 0.7166666666666668, 0.9};
  REQUIRE(c.mean_predicted.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(c.fraction_positive[i] == near(prob_true[i]));
    CHECK(c.mean_predicted[i] == near(prob_pred[i]));
  }
  CHECK(c.counts == std::vector<int64_t>{3, 4, 1, 3, 1});
  CHECK(expected_calibration_error(kY, kS, 5).value() == near(0.19166666666666665));
  // By hand: two perfectly calibrated bins → 0; an edge value 0.5 goes to the lower bin.
  CHECK(expected_calibration_error({0, 1}, {0.0, 1.0}, 2).value() == near(0.0));
  CHECK(reliability_curve({0, 1}, {0.5, 0.9}, 2).counts == std::vector<int64_t>{1, 1});
  CHECK_THROWS_WITH(reliability_curve({0, 1}, {0.5, 1.2}), Catch::Contains("probabilities in [0, 1]"));
}
