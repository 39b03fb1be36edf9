// seq2seq: the library's random numbers: the same bits from a seed on every standard library.
#ifndef SEQ2SEQ_RNG_HPP
#define SEQ2SEQ_RNG_HPP

#include <cstdint>
#include <locale>
#include <random>
#include <sstream>
#include <string>

#include "detail/require.hpp"

namespace seq2seq {

/// Deterministic uniform numbers from a 64-bit Mersenne twister with its own mappings (the
/// standard distributions are implementation-defined), so a seed gives the same initialisation,
/// splits and batch orders everywhere. Used by init_uniform, split, shuffle and plan_batches.
class Rng {
 public:
  using Engine = std::mt19937_64;
  explicit Rng(std::uint64_t seed = 5489u) : engine_(seed) {}

  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) {
    const double u = static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
    return lo + (hi - lo) * u;
  }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) {
    detail::require(n > 0, "Rng::below needs n > 0");
    const std::uint64_t limit = Engine::max() - Engine::max() % n;
    std::uint64_t x;
    do x = engine_();
    while (x >= limit);
    return x % n;
  }
  Engine& engine() { return engine_; }
  const Engine& engine() const { return engine_; }

 private:
  Engine engine_;
};

/// Textual state of the engine (operator<<, C locale), restorable with set_rng_state.
inline std::string rng_state(const std::mt19937_64& engine) {
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os << engine;
  return os.str();
}
inline std::string rng_state(const Rng& rng) { return rng_state(rng.engine()); }

/// Restores a state written by rng_state; throws std::invalid_argument (leaving the engine
/// unchanged) when `state` is not one.
inline void set_rng_state(std::mt19937_64& engine, const std::string& state) {
  std::istringstream is(state);
  is.imbue(std::locale::classic());
  std::mt19937_64 parsed;
  is >> parsed;
  detail::require(!is.fail(), "RNG state is not a std::mt19937_64 state");
  is >> std::ws;
  detail::require(is.eof(), "RNG state has trailing characters");
  engine = parsed;
}
inline void set_rng_state(Rng& rng, const std::string& state) { set_rng_state(rng.engine(), state); }

}  // namespace seq2seq

#endif  // SEQ2SEQ_RNG_HPP
