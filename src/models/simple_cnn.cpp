// SimpleCNN: the small BMD baseline. Its parameter count is pinned by a test (33,944,257 for
// SimpleCnnOptions::bmd_baseline()); docs/models.md derives the number.
#include "tomograd/models/simple_cnn.hpp"

#include "tomograd/core/error.hpp"
#include "tomograd/models/batch_norm.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;

// Conv (3×3, padding 1, bias) → BatchNorm → ReLU → MaxPool(2). The convolution keeps its bias
// (as in the baseline being reproduced), although the BatchNorm after it makes it redundant.
class ConvBlockImpl : public nn::Module {
 public:
  ConvBlockImpl(int64_t in, int64_t out)
      : conv_(register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)))),
        bn_(register_module("bn", BatchNorm2d(out))),
        pool_(register_module("pool", nn::MaxPool2d(nn::MaxPool2dOptions(2)))) {}

  torch::Tensor forward(const torch::Tensor& x) { return pool_(bn_(conv_(x)).relu_()); }

 private:
  nn::Conv2d conv_;
  BatchNorm2d bn_;
  nn::MaxPool2d pool_;
};
TORCH_MODULE(ConvBlock);

}  // namespace

SimpleCnnOptions SimpleCnnOptions::bmd_baseline() {
  SimpleCnnOptions o;
  o.in_channels = 1;
  o.layout.widths = {32, 64, 128, 256};
  o.layout.input_size = {256, 256};
  o.layout.hidden = 512;
  o.head = HeadOptions{};  // one regression output
  return o;
}

SimpleCnnImpl::SimpleCnnImpl(const SimpleCnnOptions& options) : options_(options) {
  const SimpleCnnLayout& l = options_.layout;
  if (options_.in_channels < 1) {
    throw ConfigError("simple_cnn: in_channels must be >= 1, got " + std::to_string(options_.in_channels));
  }
  if (l.widths.empty()) throw ConfigError("simple_cnn.widths: expected at least one block width");
  for (int64_t w : l.widths) {
    if (w < 1) throw ConfigError("simple_cnn.widths: every width must be >= 1, got " + std::to_string(w));
  }
  const int64_t factor = int64_t{1} << l.widths.size();
  // input_size [0, 0]: no fixed size; the last block's maps are max-pooled over the plane (global
  // max pooling), so a small finding counts the same wherever it lies in the slice.
  const bool global_max = l.input_size[0] == 0 && l.input_size[1] == 0;
  for (int64_t s : l.input_size) {
    if (!global_max && (s < factor || s % factor != 0)) {
      throw ConfigError("simple_cnn.input_size: each side must be a positive multiple of " + std::to_string(factor) +
                        " (2^blocks), or [0, 0] for global max pooling, got " + std::to_string(l.input_size[0]) +
                        "x" + std::to_string(l.input_size[1]));
    }
  }
  if (l.hidden < 0) throw ConfigError("simple_cnn.hidden: expected >= 0, got " + std::to_string(l.hidden));

  blocks_ = register_module("blocks", nn::Sequential());
  int64_t in = options_.in_channels;
  for (int64_t w : l.widths) {
    blocks_->push_back(ConvBlock(in, w));
    in = w;
  }
  const int64_t flat =
      global_max ? l.widths.back() : l.widths.back() * (l.input_size[0] / factor) * (l.input_size[1] / factor);
  int64_t embedding = flat;
  if (l.hidden > 0) {
    fc1_ = register_module("fc1", nn::Linear(flat, l.hidden));
    embedding = l.hidden;
  }
  build_head(options_.in_channels, embedding, options_.head);
}

torch::Tensor SimpleCnnImpl::embed(const torch::Tensor& x) {
  const auto& size = options_.layout.input_size;
  const bool global_max = size[0] == 0 && size[1] == 0;
  const int64_t factor = int64_t{1} << options_.layout.widths.size();
  if (global_max ? (x.dim() != 4 || x.size(2) < factor || x.size(3) < factor)
                 : (x.dim() != 4 || x.size(2) != size[0] || x.size(3) != size[1])) {
    throw ValueError("simple_cnn input: expected " +
                     (global_max ? "at least " + std::to_string(factor) + "x" + std::to_string(factor)
                                 : std::to_string(size[0]) + "x" + std::to_string(size[1])) +
                     " (simple_cnn.input_size), got " + shape_string(x.sizes()));
  }
  const torch::Tensor maps = blocks_->forward(x);
  torch::Tensor y = global_max ? maps.amax({2, 3}) : torch::flatten(maps, 1);
  if (fc1_) y = torch::relu(fc1_(y));
  return y;
}

}  // namespace tomograd::models
