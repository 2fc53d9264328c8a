#include "tomograd/train/sampler.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include "tomograd/core/error.hpp"
#include "tomograd/core/random.hpp"

namespace tomograd::train {

namespace {
// Fisher-Yates with our own generator: std::shuffle's algorithm is unspecified, so results would
// differ between standard libraries.
template <typename T>
void seeded_shuffle(std::vector<T>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = v.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}
}  // namespace

RandomSampler::RandomSampler(std::size_t dataset_size, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last)
    : n_(dataset_size), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  if (batch_size_ < 1) throw ValueError("batch size must be at least 1, got " + std::to_string(batch_size_));
}

BatchPlan RandomSampler::plan(int epoch) const {
  std::vector<std::size_t> order(n_);
  std::iota(order.begin(), order.end(), 0);
  if (shuffle_) seeded_shuffle(order, derive_seed(seed_, static_cast<uint64_t>(epoch)));
  BatchPlan plan;
  for (std::size_t i = 0; i < n_; i += static_cast<std::size_t>(batch_size_)) {
    std::size_t end = std::min(n_, i + static_cast<std::size_t>(batch_size_));
    if (drop_last_ && end - i < static_cast<std::size_t>(batch_size_)) break;
    plan.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return plan;
}

PatientSampler::PatientSampler(const Dataset& dataset, PatientSamplerOptions options) : options_(options) {
  if (options_.patients_per_batch < 1) {
    throw ValueError("patients per batch must be at least 1, got " + std::to_string(options_.patients_per_batch));
  }
  std::map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < dataset.size(); ++i) {
    const std::string p = dataset.patient_of(i);
    auto [it, added] = index_of.emplace(p, patients_.size());
    if (added) {
      patients_.push_back(p);
      indices_.emplace_back();
      classes_.push_back(-1);
    }
    indices_[it->second].push_back(i);
    classes_[it->second] = std::max(classes_[it->second], dataset.class_of(i));
  }
  if (options_.balance_classes && std::any_of(classes_.begin(), classes_.end(), [](int64_t c) { return c < 0; })) {
    throw ValueError("class balancing needs a class for every sample (the dataset returned -1)");
  }
}

BatchPlan PatientSampler::plan(int epoch) const {
  std::vector<std::size_t> order(patients_.size());
  std::iota(order.begin(), order.end(), 0);
  if (options_.balance_classes) {
    // Oversample each class's patients (cycling through a shuffled list) up to the size of the
    // largest class.
    std::map<int64_t, std::vector<std::size_t>> by_class;
    for (std::size_t p = 0; p < patients_.size(); ++p) by_class[classes_[p]].push_back(p);
    std::size_t largest = 0;
    for (const auto& [c, ps] : by_class) largest = std::max(largest, ps.size());
    order.clear();
    for (auto& [c, ps] : by_class) {
      std::vector<std::size_t> pool = ps;
      seeded_shuffle(pool, derive_seed(options_.seed, static_cast<uint64_t>(epoch) * 1000003ULL + static_cast<uint64_t>(c)));
      for (std::size_t k = 0; k < largest; ++k) order.push_back(pool[k % pool.size()]);
    }
  }
  if (options_.shuffle) seeded_shuffle(order, derive_seed(options_.seed, static_cast<uint64_t>(epoch)));
  BatchPlan plan;
  for (std::size_t i = 0; i < order.size(); i += static_cast<std::size_t>(options_.patients_per_batch)) {
    std::vector<std::size_t> batch;
    std::size_t end = std::min(order.size(), i + static_cast<std::size_t>(options_.patients_per_batch));
    for (std::size_t k = i; k < end; ++k) {
      const auto& idx = indices_[order[k]];
      batch.insert(batch.end(), idx.begin(), idx.end());
    }
    plan.push_back(std::move(batch));
  }
  return plan;
}

}  // namespace tomograd::train
