#pragma once
/// @file Seeding helpers: one user seed gives reproducible, independent streams; and the
/// project's own shuffle and bounded integers, identical under every standard library.
///
/// std::shuffle and std::uniform_int_distribution are implementation-defined (libstdc++, libc++
/// and MSVC draw different numbers from the same generator), so anything that decides which
/// patient goes where (splits, folds) uses seeded_shuffle() and uniform_below() instead. The raw
/// output of std::mt19937_64 is fixed by the standard, and these functions use nothing else.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace tomograd {

/// Seeds LibTorch's global generator (CPU and CUDA) with @p seed.
void seed_everything(uint64_t seed);

/// A well-mixed seed for stream @p stream derived from @p seed (SplitMix64), so per-worker or
/// per-sample generators are independent and reproducible.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

/// An unbiased integer in [0, @p n) from the raw 64-bit output of @p gen (a generator whose
/// results span the full uint64_t range, such as std::mt19937_64), by rejection: draws r until
/// r >= 2^64 mod n, then returns r mod n. @p n must be at least 1.
template <typename Gen>
uint64_t uniform_below(Gen& gen, uint64_t n) {
  const uint64_t reject_below = (uint64_t{0} - n) % n;  // 2^64 mod n
  for (;;) {
    const uint64_t r = static_cast<uint64_t>(gen());
    if (r >= reject_below) return r % n;
  }
}

/// Fisher–Yates from the back: for i = size down to 2, swaps element i-1 with element
/// uniform_below(gen, i). The same generator state gives the same order everywhere.
template <typename T, typename Gen>
void seeded_shuffle(std::vector<T>& v, Gen& gen) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(gen, static_cast<uint64_t>(i)));
    std::swap(v[i - 1], v[j]);
  }
}

/// The same on the range [first, last) of a vector.
template <typename T, typename Gen>
void seeded_shuffle(std::vector<T>& v, std::size_t first, std::size_t last, Gen& gen) {
  for (std::size_t i = last - first; i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(gen, static_cast<uint64_t>(i)));
    std::swap(v[first + i - 1], v[first + j]);
  }
}

}  // namespace tomograd
