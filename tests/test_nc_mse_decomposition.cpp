// The MSE decomposition of Han, Papyan & Donoho (nc/mse_decomposition.h) on configurations with known
// answers: the split adds up to the directly computed loss, the least-squares classifier (fitted here
// independently through the normal equations) has no perpendicular part, collapsed features have no NC1
// term and, with means in general position, no NC2/3 term either; streaming in batches changes nothing.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <random>
#include <vector>

#include "nc/mse_decomposition.h"

using namespace collapse::nc;

namespace {

struct Problem {
  int64_t n, p, c;
  std::vector<float> h;  // n x p
  std::vector<int64_t> y;
  std::vector<float> w, b;  // c x p, c
};

Problem random_problem(int64_t n, int64_t p, int64_t c, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  Problem q{n, p, c, {}, {}, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    q.y.push_back(i % c);
    for (int64_t j = 0; j < p; ++j) q.h.push_back(normal(gen) + (j == q.y.back() ? 2.0f : 0.0f));
  }
  for (int64_t k = 0; k < c * p; ++k) q.w.push_back(0.3f * normal(gen));
  for (int64_t k = 0; k < c; ++k) q.b.push_back(0.1f * normal(gen));
  return q;
}

// ½·mean‖W h + b − κ e_y‖² + ½λ(‖W‖² + ‖b‖²), straight from the definition.
double direct_loss(const Problem& q, const std::vector<float>& w, const std::vector<float>& b, double kappa,
                   double lambda = 0) {
  double penalty = 0;
  for (float v : w) penalty += double{v} * v;
  for (float v : b) penalty += double{v} * v;
  double total = 0;
  for (int64_t i = 0; i < q.n; ++i)
    for (int64_t k = 0; k < q.c; ++k) {
      double z = b[k];
      for (int64_t j = 0; j < q.p; ++j) z += double{w[k * q.p + j]} * q.h[i * q.p + j];
      const double r = z - (k == q.y[i] ? kappa : 0.0);
      total += 0.5 * r * r;
    }
  return total / static_cast<double>(q.n) + 0.5 * lambda * penalty;
}

MseDecomposition decompose(const Problem& q, const std::vector<float>& w, const std::vector<float>& b, double kappa,
                           int64_t batch, double lambda = 0) {
  MseDecompositionAccumulator acc(q.c, q.p);
  for (int64_t start = 0; start < q.n; start += batch) {
    const int64_t m = std::min(batch, q.n - start);
    acc.add(q.h.data() + start * q.p, q.y.data() + start, m);
  }
  return acc.finish(w.data(), b.data(), kappa, lambda);
}

}  // namespace

TEST(NcMseDecomposition, PartsAddUpToTheDirectLossAndTheClassifierIsNoBetterThanLeastSquares) {
  const Problem q = random_problem(90, 6, 3, 1);
  for (const auto& [kappa, lambda] : {std::pair{1.0, 0.0}, std::pair{5.0, 0.0}, std::pair{1.0, 0.05}}) {
    const MseDecomposition d = decompose(q, q.w, q.b, kappa, 90, lambda);
    EXPECT_NEAR(d.loss, direct_loss(q, q.w, q.b, kappa, lambda), 1e-9 * d.loss);
    EXPECT_NEAR(d.least_squares, d.nc1_term + d.nc2_3_term, 1e-12);
    EXPECT_GT(d.nc1_term, 0);
    EXPECT_GT(d.perpendicular, 0);  // a random classifier is worse than the least-squares one
    const MseDecomposition streamed = decompose(q, q.w, q.b, kappa, 7, lambda);
    EXPECT_NEAR(streamed.loss, d.loss, 1e-12 * d.loss);
    EXPECT_NEAR(streamed.least_squares, d.least_squares, 1e-12 * d.loss);
  }
}

TEST(NcMseDecomposition, TheLeastSquaresClassifierHasNoPerpendicularPart) {
  const Problem q = random_problem(120, 5, 4, 2);
  const double kappa = 2.0;
  for (double lambda : {0.0, 0.1}) {
    // Ridge normal equations of [h, 1] against κ e_y (penalty on W and b), independently of the accumulator.
    Eigen::MatrixXd x(q.n, q.p + 1), t = Eigen::MatrixXd::Zero(q.n, q.c);
    for (int64_t i = 0; i < q.n; ++i) {
      for (int64_t j = 0; j < q.p; ++j) x(i, j) = q.h[i * q.p + j];
      x(i, q.p) = 1;
      t(i, q.y[i]) = kappa;
    }
    const double n = static_cast<double>(q.n);
    Eigen::MatrixXd gram = x.transpose() * x / n;
    gram.diagonal().array() += lambda;
    const Eigen::MatrixXd theta = gram.ldlt().solve(x.transpose() * t / n);  // (p+1) x C
    std::vector<float> w(q.c * q.p), b(q.c);
    for (int64_t k = 0; k < q.c; ++k) {
      for (int64_t j = 0; j < q.p; ++j) w[k * q.p + j] = static_cast<float>(theta(j, k));
      b[k] = static_cast<float>(theta(q.p, k));
    }
    const MseDecomposition d = decompose(q, w, b, kappa, 16, lambda);
    // float32 rounding of the fitted classifier is all that separates it from the optimum
    EXPECT_NEAR(d.perpendicular, 0, 1e-6 * d.loss) << "lambda " << lambda;
    EXPECT_NEAR(d.least_squares, direct_loss(q, w, b, kappa, lambda), 1e-6 * d.loss) << "lambda " << lambda;
    // any other classifier is worse: the trained one of the problem
    EXPECT_GT(decompose(q, q.w, q.b, kappa, 16, lambda).perpendicular, 1e-3) << "lambda " << lambda;
  }
}

TEST(NcMseDecomposition, CollapsedFeaturesLeaveNothingForTheLeastSquaresClassifier) {
  Problem q = random_problem(60, 4, 3, 3);
  // every feature replaced by its class's vertex: (3, 0, 0, 1), (0, 3, 0, 1), (0, 0, 3, 1)
  for (int64_t i = 0; i < q.n; ++i)
    for (int64_t j = 0; j < q.p; ++j) q.h[i * q.p + j] = j == q.y[i] ? 3.0f : j == 3 ? 1.0f : 0.0f;
  const MseDecomposition d = decompose(q, q.w, q.b, 1.0, 60);
  EXPECT_NEAR(d.nc1_term, 0, 1e-12);
  EXPECT_NEAR(d.nc2_3_term, 0, 1e-12);  // three points in general position: an exact affine fit exists
  EXPECT_NEAR(d.perpendicular, d.loss, 1e-12);
  EXPECT_NEAR(d.loss, direct_loss(q, q.w, q.b, 1.0), 1e-9);
}
