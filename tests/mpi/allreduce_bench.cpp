// Timings of DataParallel's gradient exchange (include/seq2seq/distributed/mpi.hpp) for
// docs/scaling.md: buckets overlapped with packing (MPI_Iallreduce) against blocking buckets and
// one bucket, and a bare in-place MPI_Allreduce of the same bytes as the floor.
//
//   mpirun -np 2 seq2seq_mpi_allreduce_bench [REPS] [PARAMS_IN_MILLIONS...]
//
// Prints one markdown table on rank 0: median milliseconds per exchange (slowest rank) over REPS
// (default 21) repetitions after 3 warm-up ones.
#include <seq2seq/distributed/mpi.hpp>
#include <seq2seq/param.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;

/// A stand-in model: a few float tensors of a seq2seq's proportions (embeddings, four LSTM
/// weight blocks, a softmax), `total` scalars in all.
struct FakeModel {
  std::vector<Param<float>> params;
  explicit FakeModel(Index total) {
    const double shares[] = {0.12, 0.14, 0.14, 0.14, 0.14, 0.31, 0.01};
    Index used = 0;
    for (std::size_t k = 0; k < std::size(shares); ++k) {
      const Index n = k + 1 < std::size(shares) ? static_cast<Index>(shares[k] * static_cast<double>(total)) : total - used;
      Param<float> p;
      p.resize(n, 1);
      p.grad.setConstant(1.0f);
      params.push_back(std::move(p));
      used += n;
    }
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    for (std::size_t k = 0; k < params.size(); ++k) f(prefix.child("t", static_cast<Index>(k)), params[k]);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    for (std::size_t k = 0; k < params.size(); ++k) f(prefix.child("t", static_cast<Index>(k)), params[k]);
  }
};

struct Stats {
  double loss = 1, nll = 10;
  Index tokens = 10, sequences = 2;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  mpi::Communicator comm;
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  std::vector<double> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atof(argv[i]));
  if (sizes.empty()) sizes = {0.5, 2, 8, 32};

  struct Config {
    std::string name;
    mpi::DataParallelOptions options;
    bool bare = false;
  };
  std::vector<Config> configs;
  const auto add = [&](const std::string& name, std::size_t bytes, bool overlap) {
    mpi::DataParallelOptions o;
    o.bucket_bytes = bytes;
    o.overlap = overlap;
    configs.push_back({name, o, false});
  };
  add("overlap, 256 KiB", std::size_t{256} << 10, true);
  add("overlap, 1 MiB", std::size_t{1} << 20, true);
  add("overlap, 4 MiB", std::size_t{4} << 20, true);
  add("blocking, 1 MiB", std::size_t{1} << 20, false);
  add("blocking, 4 MiB", std::size_t{4} << 20, false);
  add("one bucket", 0, false);
  configs.push_back({"bare MPI_Allreduce", mpi::DataParallelOptions(), true});

  if (comm.is_root()) {
    std::printf("ranks %d, median ms per gradient exchange (slowest rank), %d repetitions\n\n", comm.size(), reps);
    std::printf("| parameters | MB |");
    for (const Config& c : configs) std::printf(" %s |", c.name.c_str());
    std::printf("\n|---|---|");
    for (std::size_t i = 0; i < configs.size(); ++i) std::printf("---|");
    std::printf("\n");
  }
  for (const double millions : sizes) {
    const auto P = static_cast<Index>(millions * 1e6);
    FakeModel model(P);
    if (comm.is_root()) std::printf("| %.1fM | %.1f |", millions, 4.0 * static_cast<double>(P) / 1e6);
    for (const Config& c : configs) {
      mpi::DataParallel<float> dp(comm, c.options);
      std::vector<float> bare(static_cast<std::size_t>(P), 1.0f);
      std::vector<double> times;
      for (int r = 0; r < reps + 3; ++r) {
        for (auto& p : model.params) p.grad.setConstant(1.0f);
        comm.barrier();
        const double t0 = MPI_Wtime();
        if (c.bare) {
          comm.allreduce(bare.data(), bare.size(), MPI_SUM);
        } else {
          Stats s;
          dp(model, s);
        }
        double t = MPI_Wtime() - t0;
        comm.allreduce(&t, 1, MPI_MAX);
        if (r >= 3) times.push_back(t);
      }
      if (comm.is_root()) std::printf(" %.2f |", 1e3 * median(times));
    }
    if (comm.is_root()) std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
