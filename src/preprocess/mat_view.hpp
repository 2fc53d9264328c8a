#pragma once
// Private: cv::Mat views of tensor slices (no copies; the tensor must outlive the view).
#include <opencv2/core.hpp>
#include <torch/types.h>

#include "tomograd/core/error.hpp"

namespace tomograd::preprocess::detail {

/// Slice @p z of a contiguous uint8 [D,H,W] tensor as a CV_8U matrix.
inline cv::Mat mat_u8(const torch::Tensor& t, int64_t z) {
  return cv::Mat(static_cast<int>(t.size(1)), static_cast<int>(t.size(2)), CV_8U,
                 const_cast<uint8_t*>(t.data_ptr<uint8_t>()) + z * t.size(1) * t.size(2));
}

/// Slice @p z of a contiguous int32 [D,H,W] tensor as a CV_32S matrix.
inline cv::Mat mat_i32(const torch::Tensor& t, int64_t z) {
  return cv::Mat(static_cast<int>(t.size(1)), static_cast<int>(t.size(2)), CV_32S,
                 const_cast<int32_t*>(t.data_ptr<int32_t>()) + z * t.size(1) * t.size(2));
}

/// Slice @p z of a contiguous float32 [N,H,W] tensor as a CV_32F matrix.
inline cv::Mat mat_f32(const torch::Tensor& t, int64_t z) {
  return cv::Mat(static_cast<int>(t.size(-2)), static_cast<int>(t.size(-1)), CV_32F,
                 const_cast<float*>(t.data_ptr<float>()) + z * t.size(-2) * t.size(-1));
}

/// A contiguous float32 [H,W] tensor as a CV_32F matrix.
inline cv::Mat mat_f32_2d(const torch::Tensor& t) {
  return cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_32F,
                 const_cast<float*>(t.data_ptr<float>()));
}

}  // namespace tomograd::preprocess::detail
