#pragma once
/// @file Allocation helpers for large tensors that are filled once (volumes read from disk).
#include <torch/types.h>

namespace tomograd {

/// An uninitialized contiguous CPU tensor for @p sizes whose memory is advised for transparent
/// huge pages (madvise MADV_HUGEPAGE) when it is large. Filling a fresh multi-megabyte buffer
/// otherwise costs one page fault per 4 KiB, which dominated reading large DICOM series.
torch::Tensor empty_for_fill(at::IntArrayRef sizes, torch::ScalarType dtype = torch::kFloat32);

}  // namespace tomograd
