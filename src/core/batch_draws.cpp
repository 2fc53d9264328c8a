// Random draws keyed by the global batch (see batch_draws.hpp).
#include "tomograd/core/batch_draws.hpp"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <mutex>
#include <string>

#include "tomograd/core/error.hpp"
#include "tomograd/core/random.hpp"

namespace tomograd {

namespace {

struct DrawState {
  bool active = false;
  BatchDrawKey key;
  uint64_t draws = 0;  ///< masks drawn in this batch so far
};

DrawState& state() {
  thread_local DrawState s;
  return s;
}

/// A private generator of @p device's kind seeded with @p seed: a clone of the default one, so
/// that the default generator's stream is left as it was.
at::Generator seeded_generator(const torch::Device& device, uint64_t seed) {
  at::Generator base = at::globalContext().defaultGenerator(device);
  at::Generator gen;
  {
    std::lock_guard<std::mutex> lock(base.mutex());
    gen = base.clone();
  }
  gen.set_current_seed(seed);
  return gen;
}

}  // namespace

BatchDrawScope::BatchDrawScope(const BatchDrawKey& key)
    : previous_key_(state().key), previous_draws_(state().draws), previous_active_(state().active) {
  if (key.global_rows < 0 || key.local_rows < 0 || key.offset < 0 || key.offset + key.local_rows > key.global_rows) {
    throw ValueError("batch draws: rows [" + std::to_string(key.offset) + ", " +
                     std::to_string(key.offset + key.local_rows) + ") outside a global batch of " +
                     std::to_string(key.global_rows));
  }
  state() = DrawState{true, key, 0};
}

BatchDrawScope::~BatchDrawScope() { state() = DrawState{previous_active_, previous_key_, previous_draws_}; }

torch::Tensor batch_keep_mask(torch::IntArrayRef shape, double keep, const torch::TensorOptions& options,
                              int64_t whole_batch_limit) {
  const torch::TensorOptions opts = options.requires_grad(false);
  DrawState& s = state();
  if (!s.active) return torch::empty(shape, opts).bernoulli_(keep);
  if (shape.empty()) throw ValueError("batch draws: a mask needs a first (sample) dimension");
  const int64_t rows = shape[0];
  if (rows == 0) return torch::empty(shape, opts);
  if (s.key.local_rows == 0 || rows % s.key.local_rows != 0) {
    throw ValueError("batch draws: a mask of " + std::to_string(rows) + " rows for " +
                     std::to_string(s.key.local_rows) + " samples (expected a multiple: rows ordered by sample)");
  }
  const int64_t per_sample = rows / s.key.local_rows;
  std::vector<int64_t> one(shape.begin(), shape.end());
  one[0] = per_sample;
  int64_t sample_numel = 1;
  for (int64_t d : one) sample_numel *= d;
  const uint64_t draw_seed = derive_seed(s.key.seed, s.draws++);
  // The whole global batch's mask at once (every rank draws all of it, keeps its rows), unless
  // that is large: then each sample's rows from a generator of their own, only this rank's. The
  // choice depends on the global batch alone, so every rank and one process make the same one.
  if (s.key.global_rows * sample_numel <= whole_batch_limit) {
    std::vector<int64_t> global = one;
    global[0] = s.key.global_rows * per_sample;
    at::Generator gen = seeded_generator(opts.device(), draw_seed);
    return torch::empty(global, opts).bernoulli_(keep, gen).narrow(0, s.key.offset * per_sample, rows);
  }
  std::vector<torch::Tensor> parts;
  parts.reserve(static_cast<std::size_t>(s.key.local_rows));
  for (int64_t j = 0; j < s.key.local_rows; ++j) {
    at::Generator gen = seeded_generator(opts.device(), derive_seed(draw_seed, static_cast<uint64_t>(s.key.offset + j)));
    parts.push_back(torch::empty(one, opts).bernoulli_(keep, gen));
  }
  return torch::cat(parts, 0);
}

}  // namespace tomograd
