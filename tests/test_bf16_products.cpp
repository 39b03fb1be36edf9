// bf16 training products (seq2seq/detail/bf16_products.hpp, set_bf16_products): detail::gemm and
// the recurrence with operands rounded to bfloat16 equal a double triple loop over the rounded
// operands, on every op and with accumulation; NaN passes through; a float model's loss and
// gradients stay close to float's, and training with them learns. Where the build or CPU has no
// bf16 products, switching them on throws a message naming what is missing.
#include <seq2seq/seq2seq.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;
using detail::Op;
using MatF = Matrix<float>;

float round_bf16(float f) {  // round to nearest even, as vcvtneps2bf16 (finite values)
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void fill(MatF& m, Rng& rng) {
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<float>(rng.uniform(-1.0, 1.0));
}

MatF rounded(const MatF& m) { return m.unaryExpr([](float f) { return round_bf16(f); }); }

/// op(A) op(B) of the bf16-rounded operands, summed in double.
MatF reference(Op opa, const MatF& A, Op opb, const MatF& B) {
  const Eigen::MatrixXd a = rounded(opa == Op::N ? MatF(A) : MatF(A.transpose())).cast<double>();
  const Eigen::MatrixXd b = rounded(opb == Op::N ? MatF(B) : MatF(B.transpose())).cast<double>();
  return (a * b).cast<float>();
}

using Model = Seq2Seq<Encoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>,
                      Decoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>>;

ModelConfig config() {
  ModelConfig c;
  c.source_vocab = 40;
  c.target_vocab = 60;
  c.embed = 48;
  c.hidden = 64;  // 4H x H x B = 256 x 64 x 16: above detail::kDriverMinWork, so bf16 when on
  c.layers = 2;
  return c;
}

PairBatch batch(std::uint64_t seed) {
  Rng rng(seed);
  PairBatch b;
  for (int i = 0; i < 16; ++i) {
    std::vector<TokenId> s, t;
    for (int k = 0; k < 5 + i % 4; ++k) s.push_back(static_cast<TokenId>(4 + rng.below(36)));
    for (const TokenId w : s) t.push_back(static_cast<TokenId>(4 + (w * 7) % 56));  // a word-by-word "translation"
    b.source.push_back(s);
    b.target.push_back(t);
  }
  return b;
}

std::vector<float> gradient(Model& m) {
  std::vector<float> g;
  m.visit_parameters([&](const ParamName&, auto& p) {
    for (Index i = 0; i < p.grad.size(); ++i) g.push_back(p.grad.data()[i]);
  });
  return g;
}

}  // namespace

TEST_CASE("bf16 products: unavailable builds and CPUs refuse them with a reason") {
  if (bf16_products_available()) {
    MESSAGE("bf16 products available (oneDNN backend, AVX512_BF16): the other cases run");
    const Bf16ProductsScope on(true);
    CHECK(bf16_products());
    {
      const Bf16ProductsScope off(false);
      CHECK_FALSE(bf16_products());
    }
    CHECK(bf16_products());
  } else {
    MESSAGE("bf16 products unavailable in this build or on this CPU: only the refusal is checked");
    CHECK_THROWS_AS(set_bf16_products(true), std::runtime_error);
    try {
      set_bf16_products(true);
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("bf16 products need") != std::string::npos);
    }
  }
  CHECK_FALSE(bf16_products());
}

TEST_CASE("bf16 products: detail::gemm equals the rounded operands' product on every op, with accumulation") {
  if (!bf16_products_available()) return;
  const Bf16ProductsScope on(true);
  Rng rng(7);
  for (const std::array<Index, 3>& shape : {std::array<Index, 3>{300, 70, 200}, {257, 33, 65}, {64, 129, 1031}}) {
    const Index M = shape[0], N = shape[1], K = shape[2];
    for (const Op opa : {Op::N, Op::T})
      for (const Op opb : {Op::N, Op::T})
        for (const bool accumulate : {false, true}) {
          INFO("M ", M, " N ", N, " K ", K, " opa ", int(opa), " opb ", int(opb), " accumulate ", accumulate);
          MatF A = opa == Op::N ? MatF(M, K) : MatF(K, M), B = opb == Op::N ? MatF(K, N) : MatF(N, K);
          fill(A, rng);
          fill(B, rng);
          MatF big(M + 5, N);  // C a block with an outer stride larger than its rows
          big.setConstant(0.25f);
          auto C = big.topRows(M);
          detail::gemm(opa, A, opb, B, C, accumulate);
          const MatF want = reference(opa, A, opb, B).array() + (accumulate ? 0.25f : 0.0f);
          const float scale = std::sqrt(static_cast<float>(K));
          CHECK((MatF(C) - want).cwiseAbs().maxCoeff() <= 2e-5f * scale);
          CHECK((big.bottomRows(5).array() == 0.25f).all());  // rows below the block untouched
          // Not the float product: the operands really were rounded.
          const MatF exact = ((opa == Op::N ? MatF(A) : MatF(A.transpose())) * (opb == Op::N ? MatF(B) : MatF(B.transpose())))
                                 .array() + (accumulate ? 0.25f : 0.0f);
          CHECK((MatF(C) - want).cwiseAbs().maxCoeff() < (MatF(C) - exact).cwiseAbs().maxCoeff());
        }
  }
}

TEST_CASE("bf16 products: the recurrence (A rounded once) equals gemm step after step; NaN passes through") {
  if (!bf16_products_available()) return;
  const Bf16ProductsScope on(true);
  Rng rng(11);
  MatF U(256, 64), h(64, 16);
  fill(U, rng);
  for (const Op op : {Op::N, Op::T}) {
    const MatF A = op == Op::N ? U : MatF(U.transpose());  // op(A) is 256 x 64 either way
    const detail::RecurrentProduct<float> recurrence(op, A, 16);
    for (int t = 0; t < 3; ++t) {
      fill(h, rng);
      MatF c1 = MatF::Constant(256, 16, 1.0f), c2 = c1;
      recurrence.add(h, c1);
      detail::gemm(op, A, Op::N, h, c2, true);
      CHECK(c1 == c2);
    }
  }
  MatF hn = h, c = MatF::Zero(256, 16);
  hn(3, 2) = std::numeric_limits<float>::quiet_NaN();
  detail::gemm(Op::N, U, Op::N, hn, c, false);
  CHECK(std::isnan(c(0, 2)));
  CHECK(std::isfinite(c(0, 1)));
}

TEST_CASE("bf16 products: a float model's loss and gradient stay close to float's, and it learns") {
  if (!bf16_products_available()) return;
  Model m(config());
  Rng rng(3);
  init_uniform(m, rng, 0.1);
  const PairBatch b = batch(5);
  zero_grad(m);
  const double loss32 = m.train_batch(b).loss;
  const std::vector<float> g32 = gradient(m);
  double loss16 = 0;
  std::vector<float> g16;
  {
    const Bf16ProductsScope on(true);
    zero_grad(m);
    loss16 = m.train_batch(b).loss;
    g16 = gradient(m);
  }
  CHECK(loss16 != loss32);  // the products really ran in bf16
  CHECK(loss16 == doctest::Approx(loss32).epsilon(2e-3));
  double dot = 0, n32 = 0, n16 = 0;
  for (std::size_t i = 0; i < g32.size(); ++i) dot += double(g32[i]) * g16[i], n32 += double(g32[i]) * g32[i], n16 += double(g16[i]) * g16[i];
  CHECK(dot / std::sqrt(n32 * n16) > 0.999);

  // Adam on the one batch with bf16 products: the loss falls by half.
  const Bf16ProductsScope on(true);
  Optimizer<Adam, float> opt;
  Trainer<Model, Adam> trainer(m, opt);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const auto r = trainer.step(b, 0.01);
    if (step == 0) first = r.stats.loss;
    last = r.stats.loss;
  }
  CHECK(last < 0.5 * first);
}
