// Multi-class metrics against scikit-learn 1.2.1, plus hand fixtures.
#include <catch2/catch.hpp>

#include "support/checks.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/multiclass.hpp"

using namespace tomograd;
using test::near;
using namespace tomograd::eval;

namespace {

const std::vector<int> kClasses{0, 1, 2, 2, 1, 0, 1, 2, 0, 1};
const std::vector<std::vector<double>> kProbs{{0.7, 0.2, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.3, 0.6}, {0.3, 0.4, 0.3},
                                          {0.1, 0.8, 0.1}, {0.5, 0.3, 0.2}, {0.3, 0.3, 0.4}, {0.2, 0.2, 0.6},
                                          {0.4, 0.4, 0.2}, {0.25, 0.5, 0.25}};
}  // namespace

TEST_CASE("multi-class metrics match scikit-learn 1.2.1", "[eval]") {
  // Reference: Debian python3-sklearn 1.2.1 on kClasses / kProbs; predictions = kProbs.argmax(axis=1)
  // = [0, 1, 2, 1, 1, 0, 2, 2, 0, 1] (row 8 is a tie: numpy takes the first).
  CHECK(argmax_rows(kProbs) == std::vector<int>{0, 1, 2, 1, 1, 0, 2, 2, 0, 1});
  MetricTable t = multiclass_metrics(kClasses, kProbs);
  CHECK(t.value("accuracy").value() == near(0.8));                          // accuracy_score
  CHECK(t.value("balanced_accuracy").value() == near(0.8055555555555555));  // balanced_accuracy_score
  CHECK(t.value("f1").value() == near(0.8055555555555555));                 // f1_score(average="macro")
  CHECK(t.value("auc").value() == near(0.9345238095238094));  // roc_auc_score(multi_class="ovr", average="macro")
  CHECK(t.value("log_loss").value() == near(0.7005147624990786));           // log_loss(labels=[0, 1, 2])
  // precision_recall_fscore_support(average=None) and roc_auc_score(y == k, P[:, k]) per class.
  auto report = classification_report(kClasses, kProbs, {"normal", "moderate", "severe"});
  REQUIRE(report.size() == 3);
  std::vector<double> prec{1.0, 0.75, 0.6666666666666666}, auc{1.0, 0.875, 0.9285714285714285};
  std::vector<int64_t> support{3, 4, 3};
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(report[k].precision.value() == near(prec[k]));
    CHECK(report[k].recall.value() == near(prec[k]));  // recall equals precision on this set
    CHECK(report[k].f1.value() == near(prec[k]));
    CHECK(report[k].auc.value() == near(auc[k]));
    CHECK(report[k].support == support[k]);
  }
  CHECK(report[2].name == "severe");
  // confusion_matrix: [[3, 0, 0], [0, 3, 1], [0, 1, 2]]
  CHECK(confusion_matrix(kClasses, argmax_rows(kProbs), 3) ==
        std::vector<std::vector<int64_t>>{{3, 0, 0}, {0, 3, 1}, {0, 1, 2}});
}

TEST_CASE("multi-class log loss: renormalization, clipping and weights as sklearn 1.2.1", "[eval]") {
  // Rows scaled by [1.3, 0.7, 1, 2, 0.5, 1.1, 0.9, 1, 3, 0.8] and P2[0][2] = 0:
  // sklearn.metrics.log_loss(kClasses, P2, labels=[0, 1, 2]) = 0.6939007822486243.
  std::vector<double> scale{1.3, 0.7, 1, 2, 0.5, 1.1, 0.9, 1, 3, 0.8};
  auto p2 = kProbs;
  for (std::size_t i = 0; i < p2.size(); ++i) {
    for (double& v : p2[i]) v *= scale[i];
  }
  p2[0][2] = 0.0;
  CHECK(log_loss(kClasses, p2).value() == near(0.6939007822486243));
  // log_loss(kClasses, kProbs, labels=[0, 1, 2], sample_weight=[1, 2, 4, 4, 2, 1, 2, 4, 1, 2]).
  CHECK(log_loss(kClasses, kProbs, {1, 2, 4, 4, 2, 1, 2, 4, 1, 2}).value() == near(0.7171926303184597));
  // log_loss([0, 1], [[0, 1], [0, 1]], labels=[0, 1]): the zero is clipped to machine epsilon.
  CHECK(log_loss({0, 1}, {{0.0, 1.0}, {0.0, 1.0}}).value() == near(18.021826694558577));
  // By hand: two samples, p(true) = 0.5 each → ln 2.
  CHECK(log_loss({0, 1}, {{0.5, 0.5}, {0.5, 0.5}}).value() == near(std::log(2.0)));
}

TEST_CASE("multi-class: absent classes make AUC undefined, not nan", "[eval]") {
  std::vector<int> y{0, 0, 1, 1};
  std::vector<std::vector<double>> p{{0.8, 0.1, 0.1}, {0.6, 0.3, 0.1}, {0.2, 0.7, 0.1}, {0.1, 0.2, 0.7}};
  MetricTable t = multiclass_metrics(y, p);
  CHECK_FALSE(t.value("auc").defined());
  CHECK_THAT(t.value("auc").reason(), Catch::Contains("class 2 is absent"));
  auto report = classification_report(y, p);
  CHECK_FALSE(report[2].recall.defined());
  CHECK(report[2].support == 0);
  CHECK(report[2].precision.value() == near(0.0));  // predicted once, wrongly
  // By hand: accuracy 3/4; balanced accuracy over present classes (1 + 1/2) / 2.
  CHECK(t.value("accuracy").value() == near(0.75));
  CHECK(t.value("balanced_accuracy").value() == near(0.75));
  // sklearn 1.2.1: f1_score([0, 0, 1, 1], [0, 0, 1, 2], average="macro") = 0.5555555555555555
  // (class 2 predicted but absent counts as F1 0) and balanced_accuracy_score(...) = 0.75.
  CHECK(t.value("f1").value() == near(0.5555555555555555));
}

TEST_CASE("multi-class metrics reject bad input", "[eval]") {
  CHECK_THROWS_WITH(multiclass_metrics({0, 3}, {{0.5, 0.5}, {0.5, 0.5}}), Catch::Contains("y_true[1] is 3"));
  CHECK_THROWS_WITH(multiclass_metrics({0}, {{0.5, 0.5}, {0.5, 0.5}}), Catch::Contains("mismatched lengths"));
  CHECK_THROWS_WITH(multiclass_metrics({0, 1}, {{0.5, 0.5}, {0.5}}), Catch::Contains("row 1 has 1 columns"));
  CHECK_THROWS_WITH(log_loss({0, 1}, {{0.5, -0.1}, {0.5, 0.5}}), Catch::Contains(">= 0"));
  CHECK_THROWS_AS(multiclass_metrics({}, {}), ValueError);
}
