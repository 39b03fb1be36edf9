// Data-parallel training over MPI (include/seq2seq/distributed/mpi.hpp). Run under
//   mpirun -np 2 --oversubscribe [--allow-run-as-root] seq2seq_mpi_tests
// (any rank count works; the uneven-shard cases are written for 2 and hold for others).
//
// What is checked, on every rank:
// - after K steps (SGD and Adam, with clipping that triggers) the data-parallel weights equal
//   those of one process trained on the same global batches (every rank trains that reference
//   itself on the full batch), to float tolerance: the two differ only in summation order (the
//   reference sums every example's gradient in one model pass; data parallelism sums per shard,
//   scales by n_r / N in the model's Scalar and adds the shards), so doubles agree to ~1e-13 and
//   floats to ~1e-6;
// - every rank holds bit-identical weights and optimizer states (checksums compared across ranks);
// - uneven shards (5 on 2 ranks), a batch smaller than the rank count, per_token_loss;
// - a NaN (gradient, loss, or forward pass) on one rank only: every rank skips, or every rank stops;
// - a rank that fails on bad input, or ranks given different batches: every rank throws, none hangs;
// - checkpoints: rank 0 writes, every rank resumes bit-exactly; failures reach every rank;
// - the hook makes no heap allocation (operator new) once its buffers exist.
//
// Test cases run in the same order on every rank and every collective is reached by all of them:
// checks after a collective are CHECK (never REQUIRE), so a failed check cannot make one rank
// skip a collective the others wait in.
#define DOCTEST_CONFIG_IMPLEMENT
#include <seq2seq/distributed/mpi.hpp>
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

// Counts operator new, to show that the hook allocates nothing in the steady state (MPI allocates
// with malloc, which is not counted: its internal buffers are its own business).
#include "../counting_new.hpp"

namespace {

using namespace seq2seq;
namespace fs = std::filesystem;

template <typename Cell, int Layers>
using ModelOf = Seq2Seq<Encoder<StackedLSTM<Cell, Layers>>, Decoder<StackedLSTM<Cell, Layers>>>;
using FixedModel = ModelOf<LSTMCell<double, 6, 5>, 2>;
using DynamicModel = ModelOf<LSTMCell<float, Dynamic, Dynamic>, Dynamic>;

mpi::Communicator* g_comm = nullptr;
const mpi::Communicator& comm() { return *g_comm; }

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ModelConfig small_config(bool per_token = false) {
  ModelConfig c;
  c.source_vocab = 12;
  c.target_vocab = 11;
  c.embed = 5;
  c.hidden = 6;
  c.layers = 2;
  c.per_token_loss = per_token;
  return c;
}

template <typename Model>
std::unique_ptr<Model> make_model(bool per_token = false, std::uint64_t seed = 3) {
  auto m = std::make_unique<Model>(small_config(per_token));
  Rng rng(seed);
  init_uniform(*m, rng, 0.3);
  return m;
}

/// `count` global batches of `size` pairs of lengths 1..6 (the same on every rank: fixed seed).
std::vector<PairBatch> global_batches(std::size_t count, std::size_t size, std::uint64_t seed = 11) {
  Rng rng(seed);
  std::vector<PairBatch> out(count);
  for (PairBatch& b : out)
    for (std::size_t i = 0; i < size; ++i) {
      Sentence s(1 + rng.below(6)), t(1 + rng.below(6));
      for (auto& w : s) w = static_cast<TokenId>(4 + rng.below(8));
      for (auto& w : t) w = static_cast<TokenId>(4 + rng.below(7));
      b.source.push_back(s);
      b.target.push_back(t);
    }
  return out;
}

/// max |a - b| over every parameter value.
template <typename Model>
double max_weight_diff(const Model& a, const Model& b) {
  std::vector<const Matrix<typename Model::Scalar>*> va;
  a.visit_parameters([&](const ParamName&, const auto& p) { va.push_back(&p.value); });
  double d = 0;
  std::size_t k = 0;
  b.visit_parameters([&](const ParamName&, const auto& p) {
    d = std::max(d, (va[k++]->template cast<double>() - p.value.template cast<double>()).cwiseAbs().maxCoeff());
  });
  return d;
}

/// Checksum of the weights and the optimizer state (moments, step count).
template <typename Model, typename Policy, typename Scalar>
std::uint64_t state_checksum(const Model& m, const Optimizer<Policy, Scalar>& opt) {
  std::uint64_t h = mpi::parameter_checksum(m);
  if (opt.initialized())
    opt.visit_state([&](std::size_t, std::string_view, const Matrix<Scalar>& s) {
      h = seq2seq::detail::fnv1a64(s.data(), sizeof(Scalar) * static_cast<std::size_t>(s.size()), h);
    });
  return seq2seq::detail::fnv1a64_value(opt.step_count(), h);
}

/// Every rank's value, gathered (for checks that name the rank that differs).
std::vector<std::uint64_t> gather(std::uint64_t v) {
  std::vector<std::uint64_t> all(static_cast<std::size_t>(comm().size()));
  mpi::check(MPI_Allgather(&v, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, comm().get()), "MPI_Allgather");
  return all;
}

template <typename Scalar>
double tolerance() {
  return std::is_same_v<Scalar, double> ? 1e-12 : 5e-6;
}

/// A hook that, on step `at` of rank `rank`, damages what the rank contributes, then runs the
/// data-parallel hook.
template <typename Scalar>
struct DamageHook {
  mpi::DataParallel<Scalar>& dp;
  int rank = 0;
  int at = -1;
  enum Kind { gradient, loss } kind = gradient;
  int calls = 0;
  template <typename Model, typename Stats>
  void operator()(Model& m, Stats& stats) {
    if (++calls == at && comm().rank() == rank) {
      if (kind == loss) {
        stats.loss = kNaN;
      } else {
        bool done = false;
        m.visit_parameters([&](const ParamName&, auto& p) {
          if (!done) p.grad(0, 0) = static_cast<Scalar>(kNaN);
          done = true;
        });
      }
    }
    dp(m, stats);
  }
};

/// A directory every rank agrees on (rank 0's pid), removed by rank 0 at the end.
struct SharedTempDir {
  fs::path path;
  SharedTempDir() {
    std::uint64_t pid = static_cast<std::uint64_t>(::getpid());
    comm().broadcast(&pid, 1, 0);
    path = fs::temp_directory_path() / ("seq2seq_test_mpi_" + std::to_string(pid));
    if (comm().is_root()) {
      fs::remove_all(path);
      fs::create_directories(path);
    }
    comm().barrier();
  }
  ~SharedTempDir() {
    comm().barrier();
    std::error_code ec;
    if (comm().is_root()) fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("shard_range: contiguous slices that cover the batch once, the remainder on the first ranks") {
  for (std::size_t n : {0, 1, 2, 5, 6, 7, 33})
    for (int R : {1, 2, 3, 4, 8}) {
      CAPTURE(n);
      CAPTURE(R);
      std::size_t next = 0;
      for (int r = 0; r < R; ++r) {
        const mpi::ShardRange s = mpi::shard_range(n, r, R);
        CHECK(s.begin == next);
        CHECK(s.size() == n / static_cast<std::size_t>(R) + (static_cast<std::size_t>(r) < n % static_cast<std::size_t>(R) ? 1 : 0));
        next = s.end;
      }
      CHECK(next == n);
    }
  CHECK(mpi::shard_range(5, 0, 2).begin == 0);
  CHECK(mpi::shard_range(5, 0, 2).end == 3);
  CHECK(mpi::shard_range(5, 1, 2).begin == 3);
  CHECK(mpi::shard_range(5, 1, 2).end == 5);
  CHECK(mpi::shard_range(1, 1, 2).empty());
  CHECK_THROWS_WITH_AS(mpi::shard_range(4, 2, 2), "seq2seq: mpi: shard_range: rank 2 of 2 ranks", mpi::Error);

  const PairBatch b = global_batches(1, 5).front();
  PairBatch out;
  mpi::take_shard(b, mpi::shard_range(5, 1, 2), out);
  REQUIRE(out.size() == 2);
  CHECK(out.source[0] == b.source[3]);
  CHECK(out.target[1] == b.target[4]);
  CHECK_THROWS_AS(mpi::take_shard(b, mpi::ShardRange{4, 6}, out), mpi::Error);
}

TEST_CASE("Communicator: rank, size, reductions, broadcasts, a private duplicate of MPI_COMM_WORLD") {
  INFO("rank ", comm().rank());
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  CHECK(comm().size() == world);
  CHECK(comm().size() >= 1);
  int cmp = 0;
  MPI_Comm_compare(comm().get(), MPI_COMM_WORLD, &cmp);
  CHECK(cmp == MPI_CONGRUENT);  // same group, another context: our messages never meet the program's
  const int R = comm().size();
  CHECK(comm().sum(comm().rank() + 1.0) == R * (R + 1) / 2.0);
  CHECK(comm().any(comm().rank() == R - 1));
  CHECK(!comm().any(false));
  CHECK(comm().all_equal(42));
  CHECK(comm().all_equal(static_cast<std::uint64_t>(comm().rank())) == (R == 1));
  std::string s = comm().is_root() ? std::string("from rank 0 \0 with a NUL", 24) : std::string("x");
  comm().broadcast(s, 0);
  CHECK(s == std::string("from rank 0 \0 with a NUL", 24));
  CHECK(mpi::error_string(MPI_ERR_COUNT).find("count") != std::string::npos);
  CHECK_THROWS_WITH_AS(mpi::check(MPI_ERR_COUNT, "MPI_Frobnicate"),
                       doctest::Contains("seq2seq: mpi: MPI_Frobnicate failed: "), mpi::Error);
}

TEST_CASE_TEMPLATE("broadcast_parameters makes the replicas equal; check_replicas tells", Model, FixedModel, DynamicModel) {
  INFO("rank ", comm().rank());
  auto m = make_model<Model>(false, 100 + static_cast<std::uint64_t>(comm().rank()));  // differ on purpose
  if (comm().size() > 1) CHECK_THROWS_WITH_AS(comm().check_replicas(*m), doctest::Contains("weights differ"), mpi::Error);
  comm().broadcast_parameters(*m);
  CHECK_NOTHROW(comm().check_replicas(*m));
  const auto ref = make_model<Model>(false, 100);
  CHECK(max_weight_diff(*m, *ref) == 0.0);

  // Ranks with different models: every rank throws, none hangs.
  ModelConfig other = small_config();
  other.hidden = comm().rank() == comm().size() - 1 ? 7 : 6;
  if constexpr (std::is_same_v<Model, DynamicModel>) {
    Model odd(other);
    if (comm().size() > 1)
      CHECK_THROWS_WITH_AS(comm().broadcast_parameters(odd), doctest::Contains("different layouts"), mpi::Error);
  }
}

TEST_CASE_TEMPLATE("K data-parallel steps equal K single-process steps on the same global batches (SGD, Adam, clipping)",
                   Model, FixedModel, DynamicModel) {
  using Scalar = typename Model::Scalar;
  INFO("rank ", comm().rank(), " of ", comm().size());
  const auto batches = global_batches(8, 6);
  struct Variant {
    std::string name;
    mpi::DataParallelOptions options;
    double dropout = 0;
  };
  mpi::DataParallelOptions tiny_buckets, blocking, one_bucket;
  tiny_buckets.bucket_bytes = 100;  // 25 floats / 12 doubles: buckets split tensors and tensors split buckets
  tiny_buckets.overlap = true;
  blocking.bucket_bytes = 256;
  blocking.overlap = false;
  one_bucket.bucket_bytes = 0;
  one_bucket.overlap = true;
  for (const Variant& v : {Variant{"defaults (4 MiB buckets, blocking)", mpi::DataParallelOptions()},
                           Variant{"100-byte buckets, overlapped", tiny_buckets},
                           Variant{"256-byte buckets, blocking", blocking}, Variant{"one bucket, overlapped", one_bucket},
                           // Each rank's masks are those of its pairs in the global batch (first_sequence).
                           Variant{"defaults, dropout 0.3", mpi::DataParallelOptions(), 0.3}}) {
    for (const bool adam : {false, true}) {
      CAPTURE(v.name);
      CAPTURE(adam);
      TrainOptions topt{/*clip=*/0.5, NonFinitePolicy::stop};
      topt.dropout = v.dropout;
      topt.dropout_seed = 11;
      auto dp_model = make_model<Model>();
      auto ref_model = make_model<Model>();
      const double lr = adam ? 0.01 : 0.5;
      double worst = 0;
      int clipped = 0;
      const auto run = [&](auto policy) {
        using Policy = decltype(policy);
        Optimizer<Policy, Scalar> dp_opt(policy), ref_opt(policy);
        Trainer<Model, Policy> dp_trainer(*dp_model, dp_opt, topt), ref_trainer(*ref_model, ref_opt, topt);
        mpi::DataParallel<Scalar> dp(comm(), v.options);
        for (const PairBatch& global : batches) {
          const auto r = dp.step(dp_trainer, global, lr);
          const auto ref = ref_trainer.step(global, lr);
          CHECK(r.applied);
          CHECK(r.stats.sequences == ref.stats.sequences);
          CHECK(r.stats.tokens == ref.stats.tokens);
          CHECK(r.stats.loss == doctest::Approx(ref.stats.loss).epsilon(1e-5));
          CHECK(r.grad_norm == doctest::Approx(ref.grad_norm).epsilon(1e-4));
          clipped += ref.grad_norm > topt.clip;
          worst = std::max(worst, max_weight_diff(*dp_model, *ref_model));
        }
        CHECK(dp.timing().steps == static_cast<std::int64_t>(batches.size()));
        const auto all = gather(state_checksum(*dp_model, dp_opt));
        for (std::size_t r = 1; r < all.size(); ++r) {
          INFO("rank ", r, " against rank 0");
          CHECK(all[r] == all[0]);  // bit-identical weights and optimizer states
        }
      };
      if (adam)
        run(Adam{});
      else
        run(SGD{});
      if (comm().is_root())
        MESSAGE("max |w_dp - w_single| over ", batches.size(), " steps: ", worst, " (", v.name, ", ", std::string(adam ? "Adam" : "SGD"), ")");
      CHECK(worst <= tolerance<Scalar>());
      CHECK(clipped > 0);  // clipping happened
    }
  }
}

TEST_CASE_TEMPLATE("uneven shards (5 on 2 ranks), a batch smaller than the rank count, per_token_loss", Model, FixedModel,
                   DynamicModel) {
  using Scalar = typename Model::Scalar;
  INFO("rank ", comm().rank(), " of ", comm().size());
  for (const bool per_token : {false, true}) {
    CAPTURE(per_token);
    // Sizes 5 (uneven on 2 ranks), 1 (rank 1 gets a stand-in), 3, and again 5.
    std::vector<PairBatch> batches;
    for (std::size_t size : {5, 1, 3, 5, 1}) batches.push_back(global_batches(1, size, 20 + size + batches.size()).front());
    auto dp_model = make_model<Model>(per_token);
    auto ref_model = make_model<Model>(per_token);
    Optimizer<Adam, Scalar> dp_opt, ref_opt;
    const TrainOptions topt{1.0, NonFinitePolicy::stop};
    Trainer<Model, Adam> dp_trainer(*dp_model, dp_opt, topt), ref_trainer(*ref_model, ref_opt, topt);
    mpi::DataParallel<Scalar> dp(comm());
    int stand_ins = 0;
    for (const PairBatch& global : batches) {
      const auto r = dp.step(dp_trainer, global, 0.01);
      stand_ins += comm().rank() >= static_cast<int>(global.size());
      const auto ref = ref_trainer.step(global, 0.01);
      CHECK(r.applied);
      CHECK(r.stats.sequences == static_cast<Index>(global.size()));
      CHECK(r.stats.tokens == ref.stats.tokens);
      CHECK(r.stats.nll == doctest::Approx(ref.stats.nll).epsilon(1e-5));
      CHECK(r.stats.loss == doctest::Approx(ref.stats.loss).epsilon(1e-5));
    }
    const double diff = max_weight_diff(*dp_model, *ref_model);
    if (comm().is_root()) MESSAGE("uneven shards, per_token_loss ", per_token, ": max |w_dp - w_single| = ", diff);
    CHECK(diff <= tolerance<Scalar>());
    CHECK_NOTHROW(comm().check_replicas(*dp_model));
    if (comm().size() == 2) CHECK(stand_ins == (comm().rank() == 1 ? 2 : 0));
  }
  // The stand-in of an empty shard is one word of the first pair.
  if (comm().size() > 1) {
    mpi::DataParallel<Scalar> dp(comm());
    const PairBatch one = global_batches(1, 1).front();
    const PairBatch& s = dp.shard(one);
    CHECK(dp.stand_in() == (comm().rank() != 0));
    if (comm().rank() != 0) {
      CHECK(s.size() == 1);
      CHECK(s.source[0] == Sentence{one.source[0][0]});
      CHECK(s.target[0] == Sentence{one.target[0][0]});
    }
    auto m = make_model<Model>();
    typename Model::Workspace ws;
    zero_grad(*m);
    LossStats st = m->train_batch(s, ws);
    dp(*m, st);  // the matching hook call (the stand-in contributes zeros)
    CHECK(st.sequences == 1);
  }
  CHECK_THROWS_WITH_AS(mpi::DataParallel<Scalar>(comm()).shard(PairBatch{}), doctest::Contains("global batch is empty"),
                       mpi::Error);
}

TEST_CASE_TEMPLATE("a NaN on one rank only: every rank skips the step (skip) or every rank stops (stop)", Model, FixedModel,
                   DynamicModel) {
  using Scalar = typename Model::Scalar;
  INFO("rank ", comm().rank(), " of ", comm().size());
  const auto batches = global_batches(5, 4);
  const int last = comm().size() - 1;
  using Kind = typename DamageHook<Scalar>::Kind;
  for (const Kind kind : {DamageHook<Scalar>::gradient, DamageHook<Scalar>::loss}) {
    CAPTURE(static_cast<int>(kind));
    // skip: the damaged step leaves no trace anywhere; training equals training without that batch.
    auto dp_model = make_model<Model>();
    auto ref_model = make_model<Model>();
    Optimizer<Adam, Scalar> dp_opt, ref_opt;
    const TrainOptions skip{5.0, NonFinitePolicy::skip};
    Trainer<Model, Adam> dp_trainer(*dp_model, dp_opt, skip), ref_trainer(*ref_model, ref_opt, skip);
    mpi::DataParallel<Scalar> dp(comm());
    DamageHook<Scalar> hook{dp, last, 3, kind};
    for (std::size_t k = 0; k < batches.size(); ++k) {
      const auto r = dp_trainer.step(dp.shard(batches[k]), 0.01, hook);
      CHECK(r.applied == (k != 2));
      if (k != 2) ref_trainer.step(batches[k], 0.01);
    }
    CHECK(dp_trainer.skipped() == 1);
    CHECK(dp_opt.step_count() == 4);
    CHECK(max_weight_diff(*dp_model, *ref_model) <= tolerance<Scalar>());
    const auto all = gather(state_checksum(*dp_model, dp_opt));
    for (std::size_t r = 1; r < all.size(); ++r) CHECK(all[r] == all[0]);

    // stop: every rank throws NonFiniteError for step 3, weights untouched.
    auto m = make_model<Model>();
    Optimizer<SGD, Scalar> opt;
    Trainer<Model, SGD> trainer(*m, opt, TrainOptions{5.0, NonFinitePolicy::stop});
    mpi::DataParallel<Scalar> dp2(comm());
    DamageHook<Scalar> hook2{dp2, last, 3, kind};
    std::int64_t failed_at = 0;
    std::string message;
    for (std::size_t k = 0; k < 4 && failed_at == 0; ++k) {
      try {
        trainer.step(dp2.shard(batches[k]), 0.1, hook2);
      } catch (const NonFiniteError& e) {
        failed_at = e.step();
        message = e.what();
      }
    }
    CHECK(failed_at == 3);
    CHECK(message.find(kind == DamageHook<Scalar>::loss ? "the loss is NaN" : "the gradient norm is NaN") != std::string::npos);
    CHECK(opt.step_count() == 2);
    CHECK_NOTHROW(comm().check_replicas(*m));
  }

  // A NaN weight on one rank only: its forward pass fails (NonFiniteInputError, turned into a NaN
  // loss by the Trainer); the others' steps are fine, yet every rank skips.
  auto m = make_model<Model>();
  Optimizer<SGD, Scalar> opt;
  Trainer<Model, SGD> trainer(*m, opt, TrainOptions{5.0, NonFinitePolicy::skip});
  mpi::DataParallel<Scalar> dp(comm());
  if (comm().rank() == last)
    m->visit_parameters([&](const ParamName& n, auto& p) {
      if (n.view() == "encoder.layer0.W") p.value(0, 0) = static_cast<Scalar>(kNaN);
    });
  const auto r = dp.step(trainer, batches[0], 0.1);
  CHECK(!r.applied);
  CHECK(std::isnan(r.stats.loss));
  CHECK(trainer.skipped() == 1);
  // The same NaN weight on every rank: no rank has counts (N = 0), every rank still skips.
  m->visit_parameters([&](const ParamName& n, auto& p) {
    if (n.view() == "encoder.layer0.W") p.value(0, 0) = static_cast<Scalar>(kNaN);
  });
  const auto r2 = dp.step(trainer, batches[1], 0.1);
  CHECK(!r2.applied);
  CHECK(r2.stats.sequences == 0);
  CHECK(trainer.skipped() == 2);
}

TEST_CASE("the hook allocates nothing in the steady state (blocking and overlapped buckets)") {
  INFO("rank ", comm().rank(), " of ", comm().size());
  using Model = DynamicModel;
  auto m = make_model<Model>();
  const auto batches = global_batches(4, 5);
  for (const bool overlap : {false, true}) {
    CAPTURE(overlap);
    mpi::DataParallelOptions o;
    o.bucket_bytes = 64;  // many buckets
    o.overlap = overlap;
    mpi::DataParallel<float> dp(comm(), o);
    typename Model::Workspace ws;
    long inside = 0;
    for (std::size_t k = 0; k < batches.size(); ++k) {
      const PairBatch& local = dp.shard(batches[k]);
      zero_grad(*m);
      LossStats st = m->train_batch(local, ws);
      const long before = seq2seq::test::operator_new_count();
      dp(*m, st);
      if (k > 0) inside += seq2seq::test::operator_new_count() - before;  // the first call makes the buffers
    }
    CHECK(inside == 0);
  }
}

TEST_CASE("a rank that fails before the exchange, or ranks given different batches: every rank throws, none hangs") {
  INFO("rank ", comm().rank(), " of ", comm().size());
  using Model = DynamicModel;
  auto m = make_model<Model>();
  Optimizer<SGD, float> opt;
  Trainer<Model, SGD> trainer(*m, opt);
  mpi::DataParallel<float> dp(comm());
  const auto before = mpi::parameter_checksum(*m);

  // A token id outside the vocabulary in the last rank's shard.
  PairBatch bad = global_batches(1, 4).front();
  bad.source.back().push_back(99);
  std::string message;
  try {
    dp.step(trainer, bad, 0.1);
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (comm().rank() == comm().size() - 1)
    CHECK(message.find("99") != std::string::npos);  // its own error: the model's message
  else
    CHECK(message.find("seq2seq: mpi: data-parallel step: 1 of " + std::to_string(comm().size()) + " ranks failed") == 0);
  CHECK(mpi::parameter_checksum(*m) == before);

  // The next step works again on every rank.
  const PairBatch good = global_batches(1, 4).front();
  CHECK(dp.step(trainer, good, 0.1).applied);

  // Different global batches (another seed on one rank): detected before any gradient moves.
  if (comm().size() > 1) {
    const PairBatch mine = global_batches(1, 4, comm().rank() == 0 ? 1 : 2).front();
    const auto w = mpi::parameter_checksum(*m);
    CHECK_THROWS_WITH_AS(dp.step(trainer, mine, 0.1), doctest::Contains("another global batch than rank 0"), mpi::Error);
    CHECK(mpi::parameter_checksum(*m) == w);
  }
  CHECK_NOTHROW(comm().check_replicas(*m));
}

TEST_CASE_TEMPLATE("checkpoints: rank 0 saves, every rank resumes bit-exactly; failures reach every rank", Model, FixedModel,
                   DynamicModel) {
  using Scalar = typename Model::Scalar;
  INFO("rank ", comm().rank(), " of ", comm().size());
  const SharedTempDir dir;
  const auto batches = global_batches(6, 5);
  const TrainOptions topt{1.0, NonFinitePolicy::stop};

  auto a = make_model<Model>();
  Optimizer<Adam, Scalar> a_opt;
  Trainer<Model, Adam> a_trainer(*a, a_opt, topt);
  mpi::DataParallel<Scalar> dp(comm());
  for (std::size_t k = 0; k < 3; ++k) dp.step(a_trainer, batches[k], 0.01);
  io::TrainingState st;
  st.step = 3;
  st.epoch = 0.1 + 0.2;  // not a short decimal: must come back bit-exactly
  st.data_position = 3;
  Rng data_rng(77);
  data_rng.below(1000);
  st.rng_state = io::rng_state(data_rng);
  st.extra["note"] = "rank " + std::to_string(comm().rank());  // only rank 0's is written
  mpi::save_parameters(comm(), dir.file("last.safetensors"), *a, {{"who", "test_mpi"}});
  mpi::save_training_state(comm(), dir.file("last.state.safetensors"), a_opt, *a, st);
  CHECK(fs::exists(dir.file("last.safetensors")));  // every rank sees it: the others waited for rank 0
  for (std::size_t k = 3; k < 6; ++k) dp.step(a_trainer, batches[k], 0.01);

  // Resume into a differently initialised model and a fresh optimizer.
  auto b = make_model<Model>(false, 999 + static_cast<std::uint64_t>(comm().rank()));
  Optimizer<Adam, Scalar> b_opt;
  const auto meta = mpi::load_parameters(comm(), dir.file("last.safetensors"), *b);
  CHECK(meta.at("who") == "test_mpi");
  const io::TrainingState got = mpi::load_training_state(comm(), dir.file("last.state.safetensors"), b_opt, *b);
  CHECK(got.step == 3);
  CHECK(got.epoch == st.epoch);
  CHECK(got.data_position == 3);
  CHECK(got.rng_state == st.rng_state);
  CHECK(got.extra.at("note") == "rank 0");
  CHECK(b_opt.step_count() == 3);
  CHECK(mpi::read_metadata(comm(), dir.file("last.safetensors")).at("who") == "test_mpi");
  Trainer<Model, Adam> b_trainer(*b, b_opt, topt);
  mpi::DataParallel<Scalar> dp_b(comm());
  for (std::size_t k = 3; k < 6; ++k) dp_b.step(b_trainer, batches[k], 0.01);
  CHECK(state_checksum(*b, b_opt) == state_checksum(*a, a_opt));  // bit-exact resume
  const auto all = gather(state_checksum(*b, b_opt));
  for (std::size_t r = 1; r < all.size(); ++r) CHECK(all[r] == all[0]);

  // Failures on rank 0 reach every rank as mpi::Error, and leave the targets untouched.
  const auto before = state_checksum(*b, b_opt);
  CHECK_THROWS_WITH_AS(mpi::load_parameters(comm(), dir.file("missing.safetensors"), *b),
                       doctest::Contains("seq2seq: mpi: load_parameters on rank 0: "), mpi::Error);
  CHECK_THROWS_WITH_AS(mpi::load_training_state(comm(), dir.file("last.safetensors"), b_opt, *b),
                       doctest::Contains("load_training_state on rank 0: "), mpi::Error);
  CHECK_THROWS_WITH_AS(mpi::save_parameters(comm(), dir.file("no/such/dir/x.safetensors"), *b),
                       doctest::Contains("save_parameters on rank 0: "), mpi::Error);
  CHECK(state_checksum(*b, b_opt) == before);
  int answered = 0;
  CHECK_THROWS_WITH_AS(mpi::run_on_root(comm(), "my task", [&] {
                         ++answered;
                         throw std::runtime_error("disk full");
                       }),
                       "seq2seq: mpi: my task on rank 0: disk full", mpi::Error);
  CHECK(answered == (comm().is_root() ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------

/// doctest's main inside MPI: every rank runs the same tests; rank 0 prints the full report, the
/// others only their failures; the exit status is failed on every rank when a test failed on any.
int main(int argc, char** argv) {
  seq2seq::mpi::Environment env(&argc, &argv);
  int status = 0;
  {
    seq2seq::mpi::Communicator comm;
    g_comm = &comm;
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    if (!comm.is_root()) {
      context.setOption("minimal", true);
      context.setOption("no-intro", true);
      context.setOption("no-version", true);
    }
    status = context.run();
    if (context.shouldExit()) return status;
    int worst = status;
    MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, comm.get());
    if (comm.is_root() && worst != status) std::fprintf(stderr, "seq2seq_mpi_tests: a test failed on another rank\n");
    status = worst;
    g_comm = nullptr;
  }
  return status;
}
