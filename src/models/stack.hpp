#pragma once
// A named Sequential that nests (private to models): nn::Sequential cannot hold another
// nn::Sequential (its forward is a template); this one has a plain forward, so named stages nest
// as in PyTorch's module tree and state-dict names.
#include <torch/torch.h>

#include <utility>

namespace tomograd::models::detail {

class StackImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Stack);

}  // namespace tomograd::models::detail
