#include "tomograd/preprocess/slices.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "tomograd/core/error.hpp"

namespace tomograd::preprocess {

torch::Tensor stack_slices(const torch::Tensor& data_in, int64_t center, int64_t context, int64_t step) {
  if (data_in.dim() != 3 && data_in.dim() != 4) {
    throw ValueError("stack_slices: expected [D,H,W] or [C,D,H,W], got " + std::to_string(data_in.dim()) + "D");
  }
  torch::Tensor data = data_in.dim() == 3 ? data_in.unsqueeze(0) : data_in;
  const int64_t depth = data.size(1);
  if (center < 0 || center >= depth) {
    throw ValueError("stack_slices: slice " + std::to_string(center) + " is outside [0, " + std::to_string(depth) + ")");
  }
  if (context < 0 || step < 1) throw ValueError("stack_slices: context must be >= 0 and step >= 1");
  std::vector<int64_t> idx;
  for (int64_t k = -context; k <= context; ++k) idx.push_back(std::clamp(center + k * step, int64_t{0}, depth - 1));
  torch::Tensor index = torch::tensor(idx, torch::kInt64);
  // [C, 2n+1, H, W] -> [C*(2n+1), H, W]
  torch::Tensor out = data.index_select(1, index).to(torch::kFloat32);
  return out.reshape({-1, data.size(2), data.size(3)}).contiguous();
}

SliceSelectionMode parse_slice_selection(const std::string& name) {
  if (name == "all") return SliceSelectionMode::kAll;
  if (name == "middle") return SliceSelectionMode::kMiddle;
  if (name == "quality") return SliceSelectionMode::kQuality;
  throw ValueError("unknown slice selection '" + name + "' (valid: all, middle, quality)");
}

std::string to_string(SliceSelectionMode m) {
  switch (m) {
    case SliceSelectionMode::kAll: return "all";
    case SliceSelectionMode::kMiddle: return "middle";
    case SliceSelectionMode::kQuality: return "quality";
  }
  return "all";
}

std::vector<int64_t> select_slices(int64_t depth, const SliceSelectionOptions& o,
                                   const std::vector<int64_t>& quality_kept) {
  std::vector<int64_t> out;
  switch (o.mode) {
    case SliceSelectionMode::kAll:
      for (int64_t i = 0; i < depth; ++i) out.push_back(i);
      break;
    case SliceSelectionMode::kMiddle: {
      if (o.count <= 0) throw ValueError("slice selection 'middle' needs count > 0, got " + std::to_string(o.count));
      const int64_t n = std::min(o.count, depth);
      const int64_t first = (depth - n) / 2;
      for (int64_t i = first; i < first + n; ++i) out.push_back(i);
      break;
    }
    case SliceSelectionMode::kQuality:
      for (int64_t i : quality_kept) {
        if (i < 0 || i >= depth) {
          throw ValueError("slice selection: quality-passing slice " + std::to_string(i) + " is outside [0, " +
                           std::to_string(depth) + ")");
        }
        out.push_back(i);
      }
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      break;
  }
  return out;
}

void SliceOptions::validate() const {
  if (selection.mode == SliceSelectionMode::kMiddle && selection.count <= 0) {
    throw ConfigError("slices.count must be > 0 with selection 'middle'");
  }
  if (context < 0) throw ConfigError("slices.context must be >= 0");
  if (step < 1) throw ConfigError("slices.step must be >= 1");
}

int64_t jitter_slice(int64_t center, int64_t depth, int64_t max_offset, std::mt19937_64& rng) {
  if (max_offset <= 0 || depth <= 0) return std::clamp(center, int64_t{0}, std::max<int64_t>(depth - 1, 0));
  std::uniform_int_distribution<int64_t> d(-max_offset, max_offset);
  return std::clamp(center + d(rng), int64_t{0}, depth - 1);
}

}  // namespace tomograd::preprocess
