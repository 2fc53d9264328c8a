// The torch-free Image and the volume geometry shared with Volume (volume.cpp delegates here).
#include "tomograd/core/image.hpp"

#include <sys/mman.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <new>

#include "tomograd/core/error.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd {

Mat3 identity_direction() { return {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}; }

void validate_spacing(const Vec3& s) {
  for (double v : s) {
    if (!(v > 0.0) || !std::isfinite(v)) {
      throw ValueError("Volume spacing must be positive and finite, got (" + std::to_string(s[0]) +
                       ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + ") mm");
    }
  }
}

void validate_direction(const Mat3& direction) {
  for (int c = 0; c < 3; ++c) {
    double n = 0;
    for (int r = 0; r < 3; ++r) n += direction[r][c] * direction[r][c];
    if (std::abs(std::sqrt(n) - 1.0) > 1e-3) {
      throw ValueError("Volume direction column " + std::to_string(c) +
                       " is not a unit vector (norm " + std::to_string(std::sqrt(n)) + ")");
    }
  }
}

namespace {

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

// The LPS axis and sign each letter of @p code asks for; ValueError when it is not a code.
void parse_code(const std::string& code, int want_axis[3], int want_sign[3]) {
  if (code.size() != 3) throw ValueError("orientation code must have 3 letters, got '" + code + "'");
  bool seen[3] = {false, false, false};
  for (int c = 0; c < 3; ++c) {
    if (!letter_axis(static_cast<char>(std::toupper(code[c])), want_axis[c], want_sign[c]) ||
        seen[want_axis[c]]) {
      throw ValueError("invalid orientation code '" + code +
                       "': use one letter of L/R, P/A and S/I each, e.g. LPS");
    }
    seen[want_axis[c]] = true;
  }
}

// Page-aligned voxel memory; large buffers are 2 MiB aligned and advised for huge pages, so that
// filling them costs one page fault per 2 MiB instead of per 4 KiB.
std::shared_ptr<float> allocate_voxels(int64_t count) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(float);
  const std::size_t align = bytes >= 2 * kHuge ? kHuge : 64;
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHuge) ::madvise(p, rounded, MADV_HUGEPAGE);  // advisory only
#endif
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}

void check_shape(const Shape3& shape) {
  if (shape[0] < 0 || shape[1] < 0 || shape[2] < 0) {
    throw ValueError("image size must not be negative, got " + std::to_string(shape[0]) + "x" +
                     std::to_string(shape[1]) + "x" + std::to_string(shape[2]));
  }
}

}  // namespace

Vec3 ImageGeometry::index_to_lps(double k, double j, double i) const {
  const double idx[3] = {i * spacing_mm[2], j * spacing_mm[1], k * spacing_mm[0]};
  Vec3 p = origin_lps;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) p[r] += direction[r][c] * idx[c];
  }
  return p;
}

std::array<std::array<double, 4>, 4> ImageGeometry::affine_lps() const {
  std::array<std::array<double, 4>, 4> a{};
  const double sp[3] = {spacing_mm[2], spacing_mm[1], spacing_mm[0]};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) a[r][c] = direction[r][c] * sp[c];
    a[r][3] = origin_lps[r];
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

bool ReorientPlan::identity() const {
  return source_axis == std::array<int, 3>{0, 1, 2} && !flip[0] && !flip[1] && !flip[2];
}

ReorientPlan plan_reorient(const ImageGeometry& geometry, const Shape3& shape, const std::string& code) {
  int want_axis[3], want_sign[3];
  parse_code(code, want_axis, want_sign);
  // Which current index axis (i=0, j=1, k=2) points along each LPS axis, and with which sign.
  int src_of_lps[3] = {-1, -1, -1}, sign_of_lps[3] = {1, 1, 1};
  const Mat3& dir = geometry.direction;
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
  ReorientPlan plan;
  const double old_sp[3] = {geometry.spacing_mm[2], geometry.spacing_mm[1], geometry.spacing_mm[0]};
  const int64_t old_n[3] = {shape[2], shape[1], shape[0]};  // by index axis
  double new_sp[3];
  // The new origin is the old position of the voxel that becomes index 0 along every axis.
  double old_index_of_new_origin[3] = {0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    const int src = src_of_lps[want_axis[c]];
    plan.source_axis[c] = src;
    plan.flip[c] = sign_of_lps[want_axis[c]] != want_sign[c];
    plan.shape[2 - c] = old_n[src];
    new_sp[c] = old_sp[src];
    for (int r = 0; r < 3; ++r) plan.geometry.direction[r][c] = dir[r][src] * (plan.flip[c] ? -1.0 : 1.0);
    if (plan.flip[c]) old_index_of_new_origin[src] = static_cast<double>(old_n[src] - 1);
  }
  plan.geometry.origin_lps = geometry.index_to_lps(old_index_of_new_origin[2], old_index_of_new_origin[1],
                                                   old_index_of_new_origin[0]);
  plan.geometry.spacing_mm = Vec3{new_sp[2], new_sp[1], new_sp[0]};
  return plan;
}

std::string canonical_orientation(const Mat3& direction) {
  int axis, sign;
  dominant_axis(direction, 2, axis, sign);
  switch (axis) {
    case 0: return "PIR";  // sagittal: anterior on the left of the image, head up, slices L→R (right-handed, like DICOM)
    case 1: return "LIP";  // coronal: patient's right on the image left, head up, slices A→P
    default: return "LPS";  // axial: radiological view, slices feet→head
  }
}

Image::Image(const Shape3& shape, ImageGeometry geometry, VolumeInfo info)
    : shape_(shape), geometry_(geometry), info_(std::move(info)) {
  check_shape(shape_);
  validate_spacing(geometry_.spacing_mm);
  validate_direction(geometry_.direction);
  voxels_ = allocate_voxels(numel());
}

Image::Image(std::shared_ptr<float> voxels, const Shape3& shape, ImageGeometry geometry, VolumeInfo info)
    : voxels_(std::move(voxels)), shape_(shape), geometry_(geometry), info_(std::move(info)) {
  check_shape(shape_);
  validate_spacing(geometry_.spacing_mm);
  validate_direction(geometry_.direction);
}

void Image::set_geometry(const ImageGeometry& geometry) {
  validate_spacing(geometry.spacing_mm);
  validate_direction(geometry.direction);
  geometry_ = geometry;
}

Image reorient(const Image& image, const std::string& code) {
  const ReorientPlan plan = plan_reorient(image.geometry(), image.shape(), code);
  if (plan.identity()) return Image(image.buffer(), image.shape(), plan.geometry, image.info());
  Image out(plan.shape, plan.geometry, image.info());
  // Element strides of the old index axes (i, j, k); a flipped axis walks backwards from its end.
  const int64_t old_stride[3] = {1, image.cols(), image.rows() * image.cols()};
  const int64_t old_n[3] = {image.cols(), image.rows(), image.depth()};
  int64_t step[3], start = 0;
  for (int c = 0; c < 3; ++c) {
    const int src = plan.source_axis[c];
    step[c] = plan.flip[c] ? -old_stride[src] : old_stride[src];
    if (plan.flip[c]) start += (old_n[src] - 1) * old_stride[src];
  }
  const int64_t nk = plan.shape[0], nj = plan.shape[1], ni = plan.shape[2];
  const float* src = image.data();
  float* dst = out.data();
  parallel_for(static_cast<std::size_t>(nk), 0, [&](std::size_t k) {
    for (int64_t j = 0; j < nj; ++j) {
      const float* s = src + start + static_cast<int64_t>(k) * step[2] + j * step[1];
      float* d = dst + (static_cast<int64_t>(k) * nj + j) * ni;
      for (int64_t i = 0; i < ni; ++i) d[i] = s[i * step[0]];
    }
  });
  return out;
}

}  // namespace tomograd
