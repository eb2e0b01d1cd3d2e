#pragma once
// A seeded 64-bit generator (xoshiro256**, seeded through splitmix64). Its whole state is four words,
// saved in checkpoints so a resumed run draws exactly what the uninterrupted run would have drawn.
#include <array>
#include <cstdint>

namespace collapse {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  double uniform();                        // [0, 1), 53 random bits
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal();                         // standard normal (Box-Muller, no cached second value)
  uint64_t below(uint64_t n);              // uniform integer in [0, n), unbiased

  using State = std::array<uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  State s_{};
};

// A generator for a named purpose derived from the run seed, so that adding a draw in one place (say,
// data shuffling) never shifts the numbers drawn in another (weight initialisation).
Generator derived_generator(uint64_t seed, uint64_t stream);

}  // namespace collapse
