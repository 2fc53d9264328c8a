#include "tomograd/core/volume_image.hpp"

#include <torch/torch.h>

#include "tomograd/core/error.hpp"

namespace tomograd {

Volume to_volume(Image image) {
  if (image.empty()) throw ValueError("to_volume: the image has no voxels");
  const ImageGeometry g = image.geometry();
  std::shared_ptr<float> keep = image.buffer();
  float* data = keep.get();
  torch::Tensor t = torch::from_blob(
      data, {image.depth(), image.rows(), image.cols()}, [keep](void*) mutable { keep.reset(); },
      torch::TensorOptions().dtype(torch::kFloat32));
  return Volume(std::move(t), g.spacing_mm, g.origin_lps, g.direction, std::move(image.info()));
}

ImageGeometry geometry_of(const Volume& volume) {
  ImageGeometry g;
  g.spacing_mm = volume.spacing_mm();
  g.origin_lps = volume.origin_lps();
  g.direction = volume.direction();
  return g;
}

ImageView view_of(const Volume& volume) {
  const float* data = volume.empty() ? nullptr : volume.data().data_ptr<float>();
  return ImageView(data, {volume.depth(), volume.rows(), volume.cols()}, geometry_of(volume), volume.info());
}

}  // namespace tomograd
