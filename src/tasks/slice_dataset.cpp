#include "tomograd/tasks/slice_dataset.hpp"

#include <torch/torch.h>

#include <random>

#include "tomograd/core/error.hpp"

namespace tomograd::tasks {

std::vector<int64_t> study_slices(const std::string& patient_id, const preprocess::PreprocessedStudy& study,
                                  const preprocess::SliceOptions& options) {
  const int64_t depth = study.data.size(1);
  const int64_t window = 2 * options.context * options.step + 1;
  if (depth < window) {
    throw ValueError("patient " + patient_id + ": the series has " + std::to_string(depth) +
                     " slices, fewer than the 2.5D window of " + std::to_string(window) +
                     " (slices.context=" + std::to_string(options.context) + ", slices.step=" +
                     std::to_string(options.step) + ")");
  }
  auto slices = preprocess::select_slices(depth, options.selection, study.quality.kept);
  if (slices.empty()) throw ValueError("patient " + patient_id + ": no slice passed the slice selection");
  return slices;
}

StudySliceDataset::StudySliceDataset(std::vector<SliceStudy> studies, preprocess::SliceOptions options,
                                     std::shared_ptr<const preprocess::AugmentationPolicy> policy)
    : studies_(std::move(studies)), options_(options), policy_(std::move(policy)) {
  options_.validate();
  for (std::size_t s = 0; s < studies_.size(); ++s) {
    const auto& st = studies_[s];
    if (!st.data.defined() || st.data.dim() != 4) {
      throw ValueError("patient " + st.patient_id + ": expected preprocessed data shaped [C,D,H,W]");
    }
    for (int64_t z : st.slices) {
      if (z < 0 || z >= st.data.size(1)) {
        throw ValueError("patient " + st.patient_id + ": slice " + std::to_string(z) + " is outside the series");
      }
      items_.emplace_back(s, z);
    }
  }
}

train::Sample StudySliceDataset::get(std::size_t index, uint64_t seed) const {
  const auto& [s, centre] = items_.at(index);
  const SliceStudy& st = studies_[s];
  std::mt19937_64 rng(seed);
  int64_t z = centre;
  const bool augment = policy_ && policy_->enabled();
  if (augment) z = policy_->jitter(centre, st.data.size(1), st.label, rng);
  train::Sample out;
  out.input = preprocess::stack_slices(st.data, z, options_.context, options_.step);
  if (augment) {
    const torch::Tensor original = out.input;
    torch::Tensor inside;  // [C', H, W] bool, the mask of each input channel's slice
    if (st.mask.defined()) {
      const torch::Tensor m = st.mask.to(torch::kFloat32).unsqueeze(0).expand({st.data.size(0), -1, -1, -1});
      inside = preprocess::stack_slices(m, z, options_.context, options_.step).ne(0);
    }
    preprocess::AugmentSample a{original.clone(), inside.defined() ? inside.to(torch::kUInt8) : torch::Tensor()};
    policy_->apply(a, st.label, rng);
    out.input = a.image;
    if (inside.defined()) {
      // Intensity transforms such as blur, sharpening and CLAHE reach across the brain's edge; the
      // background (set to a constant by brain extraction) must not carry them, or the model
      // could learn the class from the background's texture, which the class-conditional policy
      // makes differ between classes.
      const torch::Tensor moved = a.mask.ne(0);
      torch::Tensor fill = original.clone();
      if (!torch::equal(moved, inside)) {
        const torch::Tensor outside = inside.logical_not();
        const torch::Tensor count = outside.sum({1, 2}, true).clamp_min(1);
        const torch::Tensor background = (original * outside).sum({1, 2}, true) / count;  // per channel
        fill = torch::where(inside & moved.logical_not(), background.expand_as(original), original);
      }
      out.input = torch::where(moved, out.input, fill);
    }
  }
  out.input = out.input.contiguous();
  out.target = st.target;
  out.patient_id = st.patient_id;
  return out;
}

std::string StudySliceDataset::patient_of(std::size_t index) const {
  return studies_[items_.at(index).first].patient_id;
}

int64_t StudySliceDataset::class_of(std::size_t index) const { return studies_[items_.at(index).first].cls; }

}  // namespace tomograd::tasks
