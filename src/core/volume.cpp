#include "tomograd/core/volume.hpp"

#include <torch/torch.h>

#include <cmath>

#include "tomograd/core/error.hpp"

namespace tomograd {

Mat3 identity_direction() { return {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}; }

namespace {

torch::Tensor as_volume_tensor(torch::Tensor data) {
  if (!data.defined() || data.dim() != 3) {
    throw ValueError("Volume data must be a 3D tensor [D,H,W], got " +
                     (data.defined() ? std::to_string(data.dim()) + " dimensions" : "none"));
  }
  return data.to(torch::kFloat32).contiguous();
}

void check_spacing(const Vec3& s) {
  for (double v : s) {
    if (!(v > 0.0) || !std::isfinite(v)) {
      throw ValueError("Volume spacing must be positive and finite, got (" + std::to_string(s[0]) +
                       ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + ") mm");
    }
  }
}

// The anatomical letter for the LPS axis (0,1,2) and sign.
char axis_letter(int axis, bool positive) {
  static const char pos[] = {'L', 'P', 'S'};
  static const char neg[] = {'R', 'A', 'I'};
  return positive ? pos[axis] : neg[axis];
}

// Decodes a letter to (LPS axis, sign); returns false if it is not an orientation letter.
bool letter_axis(char c, int& axis, int& sign) {
  switch (c) {
    case 'L': axis = 0; sign = 1; return true;
    case 'R': axis = 0; sign = -1; return true;
    case 'P': axis = 1; sign = 1; return true;
    case 'A': axis = 1; sign = -1; return true;
    case 'S': axis = 2; sign = 1; return true;
    case 'I': axis = 2; sign = -1; return true;
    default: return false;
  }
}

// Dominant LPS axis of index axis c of @p dir, with its sign.
void dominant_axis(const Mat3& dir, int c, int& axis, int& sign) {
  axis = 0;
  for (int r = 1; r < 3; ++r) {
    if (std::abs(dir[r][c]) > std::abs(dir[axis][c])) axis = r;
  }
  sign = dir[axis][c] >= 0 ? 1 : -1;
}

}  // namespace

Volume::Volume(torch::Tensor data, Vec3 spacing_mm_zyx, Vec3 origin_lps, Mat3 direction,
               VolumeInfo info)
    : data_(as_volume_tensor(std::move(data))),
      spacing_mm_(spacing_mm_zyx),
      origin_lps_(origin_lps),
      info_(std::move(info)) {
  check_spacing(spacing_mm_);
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
  check_spacing(spacing_zyx);
  spacing_mm_ = spacing_zyx;
}

void Volume::set_direction(const Mat3& direction) {
  for (int c = 0; c < 3; ++c) {
    double n = 0;
    for (int r = 0; r < 3; ++r) n += direction[r][c] * direction[r][c];
    if (std::abs(std::sqrt(n) - 1.0) > 1e-3) {
      throw ValueError("Volume direction column " + std::to_string(c) +
                       " is not a unit vector (norm " + std::to_string(std::sqrt(n)) + ")");
    }
  }
  direction_ = direction;
}

Vec3 Volume::index_to_lps(double k, double j, double i) const {
  const double idx[3] = {i * spacing_mm_[2], j * spacing_mm_[1], k * spacing_mm_[0]};
  Vec3 p = origin_lps_;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) p[r] += direction_[r][c] * idx[c];
  }
  return p;
}

std::array<std::array<double, 4>, 4> Volume::affine_lps() const {
  std::array<std::array<double, 4>, 4> a{};
  const double sp[3] = {spacing_mm_[2], spacing_mm_[1], spacing_mm_[0]};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) a[r][c] = direction_[r][c] * sp[c];
    a[r][3] = origin_lps_[r];
  }
  a[3][3] = 1.0;
  return a;
}

std::string orientation_code(const Mat3& direction) {
  std::string code(3, '?');
  for (int c = 0; c < 3; ++c) {
    int axis = 0, sign = 1;
    dominant_axis(direction, c, axis, sign);
    code[c] = axis_letter(axis, sign > 0);
  }
  return code;
}

std::string Volume::orientation_code() const { return tomograd::orientation_code(direction_); }

Volume reorient(const Volume& volume, const std::string& code) {
  if (code.size() != 3) throw ValueError("orientation code must have 3 letters, got '" + code + "'");
  int want_axis[3], want_sign[3];
  bool seen[3] = {false, false, false};
  for (int c = 0; c < 3; ++c) {
    if (!letter_axis(static_cast<char>(std::toupper(code[c])), want_axis[c], want_sign[c]) ||
        seen[want_axis[c]]) {
      throw ValueError("invalid orientation code '" + code +
                       "': use one letter of L/R, P/A and S/I each, e.g. LPS");
    }
    seen[want_axis[c]] = true;
  }
  // Which current index axis (i=0, j=1, k=2) points along each LPS axis, and with which sign.
  int src_of_lps[3] = {-1, -1, -1}, sign_of_lps[3] = {1, 1, 1};
  const Mat3& dir = volume.direction();
  for (int c = 0; c < 3; ++c) {
    int axis, sign;
    dominant_axis(dir, c, axis, sign);
    if (src_of_lps[axis] != -1) {
      throw ValueError("cannot reorient: two index axes point along the same anatomical axis");
    }
    src_of_lps[axis] = c;
    sign_of_lps[axis] = sign;
  }
  // New index axis c takes the old axis that points along want_axis[c]; flip when signs differ.
  int src[3];
  bool flip[3];
  for (int c = 0; c < 3; ++c) {
    src[c] = src_of_lps[want_axis[c]];
    flip[c] = sign_of_lps[want_axis[c]] != want_sign[c];
  }
  // Tensor dims are (k, j, i) = index axes (2, 1, 0).
  auto dim_of = [](int index_axis) { return static_cast<int64_t>(2 - index_axis); };
  torch::Tensor t = volume.data().permute({dim_of(src[2]), dim_of(src[1]), dim_of(src[0])});
  std::vector<int64_t> flip_dims;
  for (int c = 0; c < 3; ++c) {
    if (flip[c]) flip_dims.push_back(dim_of(c));
  }
  if (!flip_dims.empty()) t = t.flip(flip_dims);

  const Vec3& sp = volume.spacing_mm();
  const double old_sp[3] = {sp[2], sp[1], sp[0]};  // by index axis
  const int64_t old_n[3] = {volume.cols(), volume.rows(), volume.depth()};
  Mat3 new_dir{};
  double new_sp[3];
  // The new origin is the old position of the voxel that becomes index 0 along every axis.
  double old_index_of_new_origin[3] = {0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    new_sp[c] = old_sp[src[c]];
    for (int r = 0; r < 3; ++r) new_dir[r][c] = dir[r][src[c]] * (flip[c] ? -1.0 : 1.0);
    if (flip[c]) old_index_of_new_origin[src[c]] = static_cast<double>(old_n[src[c]] - 1);
  }
  Vec3 origin = volume.index_to_lps(old_index_of_new_origin[2], old_index_of_new_origin[1],
                                    old_index_of_new_origin[0]);
  return Volume(t.contiguous(), Vec3{new_sp[2], new_sp[1], new_sp[0]}, origin, new_dir,
                volume.info());
}

std::string canonical_orientation(const Volume& volume) {
  int axis, sign;
  dominant_axis(volume.direction(), 2, axis, sign);
  switch (axis) {
    case 0: return "PIR";  // sagittal: anterior on the left of the image, head up, slices L→R (right-handed, like DICOM)
    case 1: return "LIP";  // coronal: patient's right on the image left, head up, slices A→P
    default: return "LPS";  // axial: radiological view, slices feet→head
  }
}

}  // namespace tomograd
