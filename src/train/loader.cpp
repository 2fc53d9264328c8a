#include "tomograd/train/loader.hpp"

#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "tomograd/core/random.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::train {

namespace {
constexpr std::size_t kNoStandIn = static_cast<std::size_t>(-1);
}  // namespace

struct DataLoader::State {
  BatchPlan plan;                  // this rank's part of each global batch
  std::vector<std::size_t> stand_in;  // first sample of each global batch (kNoStandIn: empty)
  std::vector<std::size_t> global_sizes;
  std::vector<std::size_t> global_offsets;  // where this rank's part starts in each global batch
  double wait_seconds = 0.0;
  int epoch = 0;
  std::size_t next_to_claim = 0;   // next batch a worker will load
  std::size_t next_to_yield = 0;   // next batch the consumer receives
  std::map<std::size_t, Batch> ready;
  std::exception_ptr error;
  std::size_t error_batch = 0;
  bool stop = false;
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::thread> threads;
};

uint64_t DataLoader::sample_seed(uint64_t seed, int epoch, std::size_t index) {
  return derive_seed(derive_seed(seed, static_cast<uint64_t>(epoch)), index);
}

DataLoader::DataLoader(const Dataset& dataset, const Sampler& sampler, LoaderOptions options)
    : dataset_(dataset), sampler_(sampler), options_(options) {}

DataLoader::~DataLoader() {
  if (!state_) return;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->cv.notify_all();
  for (auto& t : state_->threads) t.join();
}

namespace {
/// The samples @p indices as a batch. A data-parallel rank's empty share of a non-empty global
/// batch is a batch of zero rows shaped like the global batch's first sample (@p stand_in), so
/// that the rank can still run the model and join the collectives of its layers (synchronized
/// BatchNorm) and of the output gather with tensors of the right shape.
Batch load_batch(const Dataset& dataset, const std::vector<std::size_t>& indices, std::size_t stand_in, uint64_t seed,
                 int epoch, bool pin) {
  if (indices.empty()) {
    if (stand_in == kNoStandIn) return Batch{};
    Batch b = collate({dataset.get(stand_in, DataLoader::sample_seed(seed, epoch, stand_in))}, {stand_in});
    for (torch::Tensor* t : {&b.input, &b.target, &b.mask, &b.meta}) {
      if (t->defined()) *t = t->narrow(0, 0, 0);
    }
    b.patient_ids.clear();
    b.indices.clear();
    return b;
  }
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  for (std::size_t i : indices) samples.push_back(dataset.get(i, DataLoader::sample_seed(seed, epoch, i)));
  Batch b = collate(samples, indices);
  return pin ? b.pinned() : b;
}
}  // namespace

std::size_t DataLoader::start_epoch(int epoch) {
  if (state_) {
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->stop = true;
    }
    state_->cv.notify_all();
    for (auto& t : state_->threads) t.join();
  }
  state_ = std::make_unique<State>();
  BatchPlan global = sampler_.plan(epoch);
  for (const auto& b : global) {
    state_->global_sizes.push_back(b.size());
    state_->stand_in.push_back(b.empty() ? kNoStandIn : b.front());
  }
  state_->plan = shard_plan(global, options_.rank, options_.world_size, options_.keep_patients ? &dataset_ : nullptr,
                            &state_->global_offsets);
  state_->epoch = epoch;
  State* s = state_.get();
  const std::size_t prefetch = static_cast<std::size_t>(std::max(1, options_.prefetch));
  for (int w = 0; w < options_.workers; ++w) {
    s->threads.emplace_back([this, s, prefetch] {
      for (;;) {
        std::size_t b;
        {
          std::unique_lock<std::mutex> lock(s->mutex);
          s->cv.wait(lock, [&] {
            return s->stop || s->error || s->next_to_claim >= s->plan.size() ||
                   s->next_to_claim < s->next_to_yield + prefetch;
          });
          if (s->stop || s->error || s->next_to_claim >= s->plan.size()) return;
          b = s->next_to_claim++;
        }
        try {
          Batch batch = load_batch(dataset_, s->plan[b], s->stand_in[b], options_.seed, s->epoch, options_.pin_memory);
          std::lock_guard<std::mutex> lock(s->mutex);
          s->ready.emplace(b, std::move(batch));
        } catch (...) {
          std::lock_guard<std::mutex> lock(s->mutex);
          if (!s->error) {
            s->error = std::current_exception();
            s->error_batch = b;
          }
        }
        s->cv.notify_all();
      }
    });
  }
  return state_->plan.size();
}

bool DataLoader::next(Batch& batch) {
  State* s = state_.get();
  if (!s) return false;
  if (s->next_to_yield >= s->plan.size()) return false;
  const auto t0 = std::chrono::steady_clock::now();
  auto waited = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  if (options_.workers <= 0) {
    batch = load_batch(dataset_, s->plan[s->next_to_yield], s->stand_in[s->next_to_yield], options_.seed, s->epoch, options_.pin_memory);
    ++s->next_to_yield;
    s->wait_seconds += waited();
    return true;
  }
  std::unique_lock<std::mutex> lock(s->mutex);
  s->cv.wait(lock, [&] { return s->ready.count(s->next_to_yield) > 0 || (s->error && s->error_batch <= s->next_to_yield); });
  s->wait_seconds += waited();
  auto it = s->ready.find(s->next_to_yield);
  if (it == s->ready.end()) std::rethrow_exception(s->error);
  batch = std::move(it->second);
  s->ready.erase(it);
  ++s->next_to_yield;
  lock.unlock();
  s->cv.notify_all();
  return true;
}

std::size_t DataLoader::epoch_samples() const {
  if (!state_) return 0;
  std::size_t n = 0;
  for (const auto& b : state_->plan) n += b.size();
  return n;
}

std::size_t DataLoader::global_epoch_samples() const {
  if (!state_) return 0;
  std::size_t n = 0;
  for (std::size_t s : state_->global_sizes) n += s;
  return n;
}

std::size_t DataLoader::global_batch_size(std::size_t b) const { return state_ ? state_->global_sizes.at(b) : 0; }

std::size_t DataLoader::global_offset(std::size_t b) const { return state_ ? state_->global_offsets.at(b) : 0; }

double DataLoader::wait_seconds() const { return state_ ? state_->wait_seconds : 0.0; }

}  // namespace tomograd::train
