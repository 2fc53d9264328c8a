#include "tomograd/train/dataset.hpp"

#include <torch/torch.h>

#include "tomograd/core/error.hpp"

namespace tomograd::train {

namespace {
torch::Tensor stack_field(const std::vector<Sample>& samples, torch::Tensor Sample::*field, const char* name) {
  const bool first = (samples.front().*field).defined();
  std::vector<torch::Tensor> parts;
  parts.reserve(samples.size());
  for (const auto& s : samples) {
    const torch::Tensor& t = s.*field;
    if (t.defined() != first) {
      throw ValueError(std::string("cannot batch samples: '") + name + "' is present for some samples and missing for "
                       "patient '" + s.patient_id + "'");
    }
    if (first && t.sizes() != (samples.front().*field).sizes()) {
      throw ValueError(std::string("cannot batch samples: '") + name + "' of patient '" + s.patient_id +
                       "' has shape " + c10::str(t.sizes()) + ", expected " + c10::str((samples.front().*field).sizes()));
    }
    if (first) parts.push_back(t);
  }
  return first ? torch::stack(parts) : torch::Tensor();
}
}  // namespace

Batch Batch::to(const torch::Device& device, bool non_blocking) const {
  Batch b = *this;
  auto move = [&](torch::Tensor& t) {
    if (t.defined()) t = t.to(device, non_blocking);
  };
  move(b.input);
  move(b.target);
  move(b.mask);
  move(b.meta);
  return b;
}

Batch Batch::pinned() const {
  Batch b = *this;
  auto pin = [](torch::Tensor& t) {
    if (t.defined() && !t.is_pinned()) t = t.pin_memory();
  };
  pin(b.input);
  pin(b.target);
  pin(b.mask);
  pin(b.meta);
  return b;
}

Batch collate(const std::vector<Sample>& samples, const std::vector<std::size_t>& indices) {
  if (samples.empty()) throw ValueError("cannot collate an empty batch");
  Batch b;
  b.input = stack_field(samples, &Sample::input, "input");
  b.target = stack_field(samples, &Sample::target, "target");
  b.mask = stack_field(samples, &Sample::mask, "mask");
  b.meta = stack_field(samples, &Sample::meta, "meta");
  for (const auto& s : samples) b.patient_ids.push_back(s.patient_id);
  b.indices = indices;
  return b;
}

TensorDataset::TensorDataset(std::vector<Sample> samples, std::vector<int64_t> classes)
    : samples_(std::move(samples)), classes_(std::move(classes)) {
  if (!classes_.empty() && classes_.size() != samples_.size()) {
    throw ValueError("TensorDataset: " + std::to_string(classes_.size()) + " classes for " +
                     std::to_string(samples_.size()) + " samples");
  }
}

Sample TensorDataset::get(std::size_t index, uint64_t) const { return samples_.at(index); }

int64_t TensorDataset::class_of(std::size_t index) const { return classes_.empty() ? -1 : classes_.at(index); }

}  // namespace tomograd::train
