#include "tomograd/core/volume.hpp"

#include <torch/torch.h>

#include "tomograd/core/error.hpp"
#include "tomograd/core/image.hpp"
#include "tomograd/core/volume_image.hpp"

namespace tomograd {

namespace {

torch::Tensor as_volume_tensor(torch::Tensor data) {
  if (!data.defined() || data.dim() != 3) {
    throw ValueError("Volume data must be a 3D tensor [D,H,W], got " +
                     (data.defined() ? std::to_string(data.dim()) + " dimensions" : "none"));
  }
  return data.to(torch::kFloat32).contiguous();
}

}  // namespace

Volume::Volume(torch::Tensor data, Vec3 spacing_mm_zyx, Vec3 origin_lps, Mat3 direction,
               VolumeInfo info)
    : data_(as_volume_tensor(std::move(data))),
      spacing_mm_(spacing_mm_zyx),
      origin_lps_(origin_lps),
      info_(std::move(info)) {
  validate_spacing(spacing_mm_);
  set_direction(direction);
}

void Volume::set_data(torch::Tensor data, bool allow_reshape) {
  auto t = as_volume_tensor(std::move(data));
  if (!allow_reshape && data_.defined() && t.sizes() != data_.sizes()) {
    throw ValueError("Volume::set_data: shape changed and allow_reshape is false");
  }
  data_ = t;
}

void Volume::set_spacing_mm(const Vec3& spacing_zyx) {
  validate_spacing(spacing_zyx);
  spacing_mm_ = spacing_zyx;
}

void Volume::set_direction(const Mat3& direction) {
  validate_direction(direction);
  direction_ = direction;
}

Vec3 Volume::index_to_lps(double k, double j, double i) const {
  return geometry_of(*this).index_to_lps(k, j, i);
}

std::array<std::array<double, 4>, 4> Volume::affine_lps() const { return geometry_of(*this).affine_lps(); }

std::string Volume::orientation_code() const { return tomograd::orientation_code(direction_); }

Volume reorient(const Volume& volume, const std::string& code) {
  const ReorientPlan plan = plan_reorient(geometry_of(volume), {volume.depth(), volume.rows(), volume.cols()}, code);
  // Tensor dims are (k, j, i) = index axes (2, 1, 0).
  auto dim_of = [](int index_axis) { return static_cast<int64_t>(2 - index_axis); };
  const auto& src = plan.source_axis;
  torch::Tensor t = volume.data().permute({dim_of(src[2]), dim_of(src[1]), dim_of(src[0])});
  std::vector<int64_t> flip_dims;
  for (int c = 0; c < 3; ++c) {
    if (plan.flip[c]) flip_dims.push_back(dim_of(c));
  }
  if (!flip_dims.empty()) t = t.flip(flip_dims);
  const ImageGeometry& g = plan.geometry;
  return Volume(t.contiguous(), g.spacing_mm, g.origin_lps, g.direction, volume.info());
}

std::string canonical_orientation(const Volume& volume) { return canonical_orientation(volume.direction()); }

}  // namespace tomograd
