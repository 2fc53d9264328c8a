// Parity with scikit-learn 1.2 on a fixed data set: ElasticNet coefficients and SVR predictions.
//
// Provenance of every expected number below: Debian bookworm's python3-sklearn 1.2.1 (with
// python3-numpy 1.24), run once by hand on the data set kData (40 rows, 6 features, target last),
// which was drawn once with numpy.random.RandomState(7), rounded to 3/4 decimals and written here
// literally, so Python and this test read exactly the same numbers. The script:
//
//   import numpy as np
//   from sklearn.preprocessing import StandardScaler
//   from sklearn.linear_model import ElasticNet
//   from sklearn.svm import SVR
//   D = np.array(<kData>); X, y = D[:, :6], D[:, 6]
//   # ElasticNet on standardized features (scaler fitted on all 40 rows):
//   Xs = StandardScaler().fit_transform(X)
//   ElasticNet(alpha=0.01, l1_ratio=0.5).fit(Xs, y).coef_ / .intercept_
//   ElasticNet(alpha=0.02, l1_ratio=0.9).fit(Xs, y).coef_
//   ElasticNet(alpha=0.1,  l1_ratio=0.1).fit(Xs, y).coef_
//   (also with tol=1e-12, max_iter=1000000 for the exact optimum: the constants below are those
//    tight-tolerance coefficients; sklearn's default-tol ones differ from them by < 3e-6)
//   # SVR: scaler fitted on the first 30 rows only, predictions for the last 10:
//   sc = StandardScaler().fit(X[:30]); Xtr, Xte = sc.transform(X[:30]), sc.transform(X[30:])
//   SVR().fit(Xtr, y[:30]).predict(Xte)                                   # rbf, gamma='scale'
//   SVR(C=10.0, epsilon=0.02).fit(Xtr, y[:30]).predict(Xte)
//   SVR(kernel='linear', C=1.0, epsilon=0.05).fit(Xtr, y[:30]).predict(Xte)
//   SVR(C=3.0, epsilon=0.05, gamma=0.05).fit(Xtr, y[:30]).predict(Xte)
//   SVR()._gamma                                                          # 0.16666666666666663
#include <catch2/catch.hpp>

#include <vector>

#include "tomograd/classic/elastic_net.hpp"
#include "tomograd/classic/scaler.hpp"
#include "tomograd/classic/svr.hpp"

using namespace tomograd::classic;

namespace {

// 6 features then the target (a BMD-like value in g/cm²).
const std::vector<std::vector<double>> kData = {
    {1.691, 4.068, -0.984, 104.075, -0.789, 0.006, 0.8746},
    {-0.001, 1.491, -0.491, 106.005, -0.625, -0.515, 0.8377},
    {0.505, 4.477, -1.121, 85.468, 0.555, 0.372, 0.7138},
    {0.274, 1.947, -0.175, 101.543, -0.387, 6.087, 0.9392},
    {-0.045, 2.099, -1.203, 77.117, 1.049, -1.249, 0.7049},
    {-0.743, 7.145, -1.826, 105.354, -2.064, -1.986, 0.6254},
    {-1.204, 7.924, -0.117, 96.706, 0.841, -0.540, 0.6858},
    {0.568, 3.494, -1.854, 81.969, 0.383, 6.743, 0.6625},
    {0.269, 3.951, -0.044, 102.373, 0.101, 0.758, 0.9007},
    {-0.132, 4.381, -1.717, 105.016, -0.095, 3.579, 0.6384},
    {-0.369, 1.187, -1.050, 116.995, -0.383, -2.670, 0.8280},
    {-1.194, 2.900, -1.150, 88.200, 1.498, -0.848, 0.6369},
    {0.109, 7.876, -0.248, 97.873, 0.332, 2.205, 0.7120},
    {-0.193, 1.444, -0.673, 108.944, 0.416, -2.771, 0.8698},
    {-0.196, 3.818, -1.150, 112.969, 1.530, 2.008, 0.7994},
    {0.549, 6.353, -1.006, 99.243, -0.674, -0.168, 0.7220},
    {2.260, 6.738, -1.171, 95.281, -0.864, 1.123, 0.7802},
    {0.392, 2.114, -0.757, 94.305, 1.427, 0.471, 0.8288},
    {1.718, 4.084, -1.144, 102.998, 1.056, 1.698, 0.8722},
    {-1.234, 5.366, -0.989, 95.709, -0.648, 5.243, 0.5854},
    {-0.390, 3.308, -0.681, 101.306, -0.076, 2.344, 0.7864},
    {0.489, 5.724, -0.518, 102.836, -0.617, -1.087, 0.8137},
    {-0.521, 5.419, -1.539, 81.676, 0.088, -4.010, 0.4698},
    {-1.952, 5.747, -1.356, 104.961, -0.531, -3.366, 0.5142},
    {-1.244, 3.970, -1.137, 91.765, -0.281, -4.608, 0.6127},
    {0.014, 1.413, -1.097, 106.973, 1.092, 5.143, 0.8403},
    {-1.556, 6.517, -0.397, 109.806, -0.929, 1.235, 0.6480},
    {1.860, 2.005, -0.762, 111.123, -0.697, 1.749, 1.0165},
    {-1.071, 3.376, -1.409, 101.923, -0.091, 2.862, 0.6085},
    {-0.940, 4.737, -0.519, 105.608, -1.325, 1.996, 0.7690},
    {-0.478, 5.771, -0.850, 112.193, 0.117, -5.561, 0.6871},
    {-1.370, 6.462, -1.129, 111.380, 0.273, -2.247, 0.6049},
    {1.082, 3.385, -2.026, 120.638, -1.911, 1.909, 0.9942},
    {0.939, 5.294, -1.842, 110.150, -1.442, -4.031, 0.7945},
    {-0.362, 6.577, -0.850, 108.108, -0.444, -0.517, 0.6790},
    {-1.137, 4.366, -0.703, 97.002, 0.475, -1.720, 0.6705},
    {-0.592, 5.078, -1.097, 105.924, 0.178, 5.221, 0.6298},
    {-0.219, 4.545, -1.520, 100.228, 0.683, -2.221, 0.6462},
    {-0.050, 6.437, -1.063, 94.809, 0.973, 0.291, 0.5619},
    {0.397, 7.343, -0.427, 96.528, -0.525, 0.853, 0.7487},
};

Matrix features(std::size_t begin, std::size_t end) {
  Matrix x(end - begin, 6);
  for (std::size_t r = begin; r < end; ++r) {
    for (std::size_t j = 0; j < 6; ++j) x(r - begin, j) = kData[r][j];
  }
  return x;
}

std::vector<double> target(std::size_t begin, std::size_t end) {
  std::vector<double> y;
  for (std::size_t r = begin; r < end; ++r) y.push_back(kData[r][6]);
  return y;
}

Matrix standardized_all() {
  StandardScaler s;
  Matrix x = features(0, 40);
  s.fit(x);
  return s.transform(x);
}

void check_coef(const ElasticNet& m, const std::vector<double>& expected, double intercept) {
  REQUIRE(m.coef().size() == expected.size());
  for (std::size_t j = 0; j < expected.size(); ++j) {
    INFO("coefficient " << j);
    CHECK(m.coef()[j] == Approx(expected[j]).margin(1e-4));
  }
  CHECK(m.intercept() == Approx(intercept).margin(1e-4));
}

struct SvrCase {
  SvrParams params;
  std::vector<double> expected;
};

}  // namespace

TEST_CASE("ElasticNet coefficients match sklearn.linear_model.ElasticNet 1.2", "[classic]") {
  Matrix xs = standardized_all();
  std::vector<double> y = target(0, 40);
  SECTION("alpha=0.01, l1_ratio=0.5") {
    ElasticNet m(ElasticNetParams{0.01, 0.5, 1000, 1e-4});
    m.fit(xs, y);
    check_coef(m, {0.07280831875666045, -0.04757852669635007, 0.039543046372263836, 0.039464037175642036,
                   -0.006431355410549374, 0.0},
               0.73284);
    CHECK(m.converged());
  }
  SECTION("alpha=0.02, l1_ratio=0.9 (lasso-like: exact zeros)") {
    ElasticNet m(ElasticNetParams{0.02, 0.9, 1000, 1e-4});
    m.fit(xs, y);
    check_coef(m, {0.0618795464630174, -0.03467043703587839, 0.024231116162144847, 0.030875537723075566, 0.0, 0.0},
               0.73284);
    CHECK(m.coef()[4] == 0.0);  // soft-thresholded to exactly zero, as in sklearn
    CHECK(m.coef()[5] == 0.0);
  }
  SECTION("alpha=0.1, l1_ratio=0.1 (ridge-like)") {
    ElasticNet m(ElasticNetParams{0.1, 0.1, 1000, 1e-4});
    m.fit(xs, y);
    check_coef(m, {0.06379487237602098, -0.03918048167711447, 0.030017244070038807, 0.03492240196627696,
                   -0.0008332931062260074, 0.0},
               0.73284);
  }
}

TEST_CASE("SVR predictions match sklearn.svm.SVR 1.2 (same libsvm solver)", "[classic]") {
  StandardScaler scaler;
  Matrix x_train = features(0, 30);
  scaler.fit(x_train);  // training rows only
  Matrix xtr = scaler.transform(x_train);
  Matrix xte = scaler.transform(features(30, 40));
  std::vector<double> y = target(0, 30);

  SvrParams defaults;
  SvrParams wide;
  wide.C = 10.0;
  wide.epsilon = 0.02;
  SvrParams linear;
  linear.kernel = "linear";
  linear.epsilon = 0.05;
  SvrParams fixed_gamma;
  fixed_gamma.C = 3.0;
  fixed_gamma.epsilon = 0.05;
  fixed_gamma.gamma = "0.05";
  std::vector<SvrCase> cases = {
      {defaults,
       {0.6909910972237279, 0.6575248337844919, 0.750248359367898, 0.7182527013719953, 0.6982681462574718,
        0.6700397368970128, 0.7256864898621579, 0.6536736221224704, 0.6751706565434855, 0.7241069819013142}},
      {wide,
       {0.6966934153965538, 0.5988802529928838, 0.7503730539436788, 0.7083340101648595, 0.6739522350252094,
        0.6729169123909892, 0.6807024609652432, 0.6334090009952774, 0.6623339351711693, 0.7402216205503145}},
      {linear,
       {0.7161086936535339, 0.6120673612464322, 0.8488880698694945, 0.7443773606080334, 0.7147266704815888,
        0.6616891150379228, 0.7098283595178502, 0.6490911597747376, 0.6497889559009077, 0.7561857143430356}},
      {fixed_gamma,
       {0.6902646633347472, 0.625466902123715, 0.7984058597621307, 0.7070672569729162, 0.691532168536764,
        0.6497294136540134, 0.7091639612072478, 0.6286731582114242, 0.636775471577099, 0.718166954469354}},
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c << ": " << SvrParams::table().to_json(cases[c].params).dump());
    Svr m(cases[c].params);
    m.fit(xtr, y);
    std::vector<double> p = m.predict(xte);
    REQUIRE(p.size() == cases[c].expected.size());
    for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == Approx(cases[c].expected[i]).margin(1e-3));
  }
  Svr m;
  m.fit(xtr, y);
  CHECK(m.gamma_value() == Approx(0.16666666666666663).epsilon(1e-12));  // 1/(F*Var(X)) = 1/6
  CHECK(m.num_support_vectors() == 7);
}
