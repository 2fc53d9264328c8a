#pragma once
/// @file 2D/2.5D training samples from preprocessed studies (the bridge between the preprocess
/// cache and the training engine): one sample per selected slice of each study, stacked with its
/// neighbours, jittered and augmented by the class-conditional policy on the fly.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tomograd/preprocess/policy.hpp"
#include "tomograd/preprocess/preprocess.hpp"
#include "tomograd/preprocess/slices.hpp"
#include "tomograd/train/dataset.hpp"

namespace tomograd::tasks {

/// One preprocessed study with its labels.
struct SliceStudy {
  std::string patient_id;
  torch::Tensor data;           ///< [C,D,H,W] float32 (PreprocessedStudy::data)
  /// uint8 [D,H,W] brain mask (PreprocessedStudy::mask), undefined without brain extraction.
  /// When set, augmentation changes only voxels inside it (the background stays as it was).
  torch::Tensor mask;
  std::vector<int64_t> slices;  ///< centre slices to sample (select_slices())
  torch::Tensor target;         ///< [T] labels (float for regression, int64 class ids); may be undefined
  std::string label;            ///< the label as written in the manifest, picks the augmentation policy
  int64_t cls = -1;             ///< class for balanced sampling, -1 = none
};

/// The slices a study contributes: select_slices() on its depth with the quality check's kept
/// slices. Throws ValueError when the study has fewer slices than the 2.5D window
/// (2·context·step + 1), naming the patient.
std::vector<int64_t> study_slices(const std::string& patient_id, const preprocess::PreprocessedStudy& study,
                                  const preprocess::SliceOptions& options);

/// Samples = (study, centre slice) pairs in study order. Inputs are [C·(2·context+1), H, W].
/// Augmentation follows the study's label (class-conditional policy); for a study with a mask
/// every voxel outside the mask of its slice keeps its preprocessed value (after a spatial
/// transform, the mask moved with the image decides, and the background value fills what the
/// brain left).
class StudySliceDataset : public train::Dataset {
 public:
  /// @param policy augmentation (jitter + transforms) applied per sample; null = none (evaluation).
  StudySliceDataset(std::vector<SliceStudy> studies, preprocess::SliceOptions options,
                    std::shared_ptr<const preprocess::AugmentationPolicy> policy = nullptr);

  std::size_t size() const override { return items_.size(); }
  train::Sample get(std::size_t index, uint64_t seed) const override;
  std::string patient_of(std::size_t index) const override;
  int64_t class_of(std::size_t index) const override;

  const std::vector<SliceStudy>& studies() const { return studies_; }
  /// Study index and centre slice of sample @p index.
  std::pair<std::size_t, int64_t> item(std::size_t index) const { return items_.at(index); }

 private:
  std::vector<SliceStudy> studies_;
  preprocess::SliceOptions options_;
  std::shared_ptr<const preprocess::AugmentationPolicy> policy_;
  std::vector<std::pair<std::size_t, int64_t>> items_;
};

}  // namespace tomograd::tasks
