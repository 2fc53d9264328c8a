#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <map>
#include <set>

#include "tomograd/core/error.hpp"
#include "tomograd/train/loader.hpp"
#include "tomograd/train/sampler.hpp"

using namespace tomograd;
using namespace tomograd::train;

namespace {
// 10 patients with 1..4 slices each; class 1 for patients 0 and 1 only.
TensorDataset patients_dataset() {
  std::vector<Sample> samples;
  std::vector<int64_t> classes;
  for (int p = 0; p < 10; ++p) {
    for (int s = 0; s < 1 + p % 4; ++s) {
      Sample x;
      x.input = torch::full({1, 2, 2}, static_cast<float>(p * 10 + s));
      x.target = torch::tensor({static_cast<float>(p)});
      x.patient_id = "P" + std::to_string(p);
      samples.push_back(x);
      classes.push_back(p < 2 ? 1 : 0);
    }
  }
  return TensorDataset(samples, classes);
}

// Adds the per-sample seed to the input so augmentation determinism is visible.
class SeededDataset : public Dataset {
 public:
  std::size_t size() const override { return 37; }
  Sample get(std::size_t i, uint64_t seed) const override {
    Sample s;
    s.input = torch::full({1}, static_cast<double>(seed % 1000003));
    s.target = torch::tensor({static_cast<float>(i)});
    s.patient_id = "P" + std::to_string(i);
    if (i == 33 && fail_) throw IoError("sample 33 is unreadable");
    return s;
  }
  std::string patient_of(std::size_t i) const override { return "P" + std::to_string(i); }
  bool fail_ = false;
};
}  // namespace

TEST_CASE("random sampler is deterministic per epoch and covers every sample", "[train]") {
  RandomSampler s(23, 5, true, 7);
  auto a = s.plan(0), b = s.plan(0), c = s.plan(1);
  CHECK(a == b);
  CHECK(a != c);
  std::multiset<std::size_t> seen;
  for (const auto& batch : a) seen.insert(batch.begin(), batch.end());
  CHECK(seen.size() == 23);
  CHECK(std::set<std::size_t>(seen.begin(), seen.end()).size() == 23);
  CHECK(a.size() == 5);
  CHECK(RandomSampler(23, 5, true, 7, true).plan(0).size() == 4);
  CHECK_THROWS_AS(RandomSampler(3, 0, true, 1), ValueError);
}

TEST_CASE("patient sampler never splits a patient across batches", "[train]") {
  auto ds = patients_dataset();
  PatientSamplerOptions o;
  o.patients_per_batch = 3;
  o.seed = 11;
  PatientSampler s(ds, o);
  CHECK(s.num_patients() == 10);
  for (int epoch = 0; epoch < 5; ++epoch) {
    std::map<std::string, int> batch_of;
    std::size_t total = 0;
    auto plan = s.plan(epoch);
    for (std::size_t b = 0; b < plan.size(); ++b) {
      std::set<std::string> in_batch;
      for (std::size_t i : plan[b]) {
        const std::string p = ds.patient_of(i);
        in_batch.insert(p);
        auto [it, added] = batch_of.emplace(p, static_cast<int>(b));
        REQUIRE(it->second == static_cast<int>(b));  // all slices of p in one batch
      }
      CHECK(in_batch.size() <= 3);
      total += plan[b].size();
    }
    CHECK(total == ds.size());
  }
}

TEST_CASE("patient sampler balances classes by oversampling patients", "[train]") {
  auto ds = patients_dataset();
  PatientSamplerOptions o;
  o.patients_per_batch = 1;
  o.balance_classes = true;
  PatientSampler s(ds, o);
  auto plan = s.plan(0);
  int positives = 0, negatives = 0;
  for (const auto& b : plan) (ds.class_of(b.front()) == 1 ? positives : negatives)++;
  CHECK(positives == 8);  // 2 positive patients cycled up to the 8 negatives
  CHECK(negatives == 8);
}

TEST_CASE("loader yields the same batches with any number of workers", "[train]") {
  SeededDataset ds;
  RandomSampler s(ds.size(), 4, true, 3);
  std::vector<torch::Tensor> reference;
  for (int workers : {0, 1, 3}) {
    LoaderOptions o;
    o.workers = workers;
    o.prefetch = 2;
    o.seed = 99;
    DataLoader loader(ds, s, o);
    for (int epoch = 0; epoch < 2; ++epoch) {
      CHECK(loader.start_epoch(epoch) == 10);
      Batch b;
      std::vector<torch::Tensor> inputs;
      while (loader.next(b)) inputs.push_back(b.input);
      REQUIRE(inputs.size() == 10);
      torch::Tensor all = torch::cat(inputs);
      if (workers == 0) reference.push_back(all);
      else CHECK(torch::equal(all, reference[static_cast<std::size_t>(epoch)]));
    }
  }
  CHECK(!torch::equal(reference[0], reference[1]));  // epochs get different augmentation seeds
}

TEST_CASE("loader rethrows dataset errors after the earlier batches", "[train]") {
  SeededDataset ds;
  ds.fail_ = true;
  RandomSampler s(ds.size(), 4, false, 3);
  LoaderOptions o;
  o.workers = 2;
  DataLoader loader(ds, s, o);
  loader.start_epoch(0);
  Batch b;
  int delivered = 0;
  CHECK_THROWS_WITH(
      [&] {
        while (loader.next(b)) ++delivered;
      }(),
      Catch::Contains("sample 33"));
  CHECK(delivered == 8);  // batches 0..7 hold samples 0..31
}

TEST_CASE("collate rejects mismatched shapes naming the patient", "[train]") {
  Sample a, b;
  a.input = torch::zeros({1, 2, 2});
  b.input = torch::zeros({1, 3, 2});
  a.patient_id = "A";
  b.patient_id = "B";
  CHECK_THROWS_WITH(collate({a, b}, {0, 1}), Catch::Contains("'B'"));
}
