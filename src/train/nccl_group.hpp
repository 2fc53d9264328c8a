#pragma once
// Internals of the train layer (not installed): LibTorch's NCCL process group, built only where
// CMake found a CUDA LibTorch and nccl.h (TOMOGRAD_WITH_NCCL; src/train/CMakeLists.txt). Kept out
// of distributed.cpp so that the NCCL and CUDA headers reach one translation unit alone.
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

#include "tomograd/core/torch_compat.hpp"

namespace tomograd::train::detail {

/// A c10d::ProcessGroupNCCL of @p world ranks meeting through @p store, whose collectives throw
/// after @p timeout instead of waiting forever (blocking wait, unless the user set its variable).
c10::intrusive_ptr<compat::ProcessGroupBase> make_nccl_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                             int world, std::chrono::milliseconds timeout);

}  // namespace tomograd::train::detail
