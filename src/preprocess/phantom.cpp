#include "tomograd/preprocess/phantom.hpp"

#include <torch/torch.h>

#include <cmath>
#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include "tomograd/core/error.hpp"

namespace tomograd::preprocess {

namespace {

/// (x/ax)^2 + (y/ay)^2 + (z/az)^2 for broadcast coordinate grids.
torch::Tensor ellipsoid(const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& x,
                        double az, double ay, double ax) {
  return (z / az).square() + (y / ay).square() + (x / ax).square();
}

/// The head's size, position and pose, and the in-plane coordinate grids (mm).
struct HeadFrame {
  double cz0, cy0, cx0;  ///< default head centre (the frame of the volume's origin)
  double cz, cy, cx;     ///< the moved head centre
  double shells, bx, by, bz;
  std::vector<std::array<double, 2>> holes;  ///< skull holes: angle, height
  torch::Tensor y, x, row_mm;  ///< scanner coordinates relative to the head centre; mm from the first row's edge
  torch::Tensor xr, yr;        ///< head coordinates (rotated by the yaw)
  double head_bottom;          ///< lowest point of the head (row direction)
};

void check_options(const HeadPhantomOptions& o) {
  if (o.depth <= 0 || o.rows <= 0 || o.cols <= 0) throw ValueError("make_head_phantom: sizes must be positive");
  for (double s : o.spacing_mm) {
    if (!(s > 0)) throw ValueError("make_head_phantom: spacing must be positive");
  }
  if (!(o.head_scale > 0)) throw ValueError("make_head_phantom: head_scale must be positive");
}

HeadFrame head_frame(const HeadPhantomOptions& o) {
  const double fov_z = o.depth * o.spacing_mm[0], fov_y = o.rows * o.spacing_mm[1], fov_x = o.cols * o.spacing_mm[2];
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  HeadFrame h;
  h.cz0 = fov_z / 2;
  h.cy0 = fov_y * 0.44;
  h.cx0 = fov_x / 2;
  h.cz = h.cz0 + o.head_shift_mm[0];
  h.cy = h.cy0 + o.head_shift_mm[1];
  h.cx = h.cx0 + o.head_shift_mm[2];
  h.shells = o.csf_rim_mm + o.skull_mm + o.scalp_mm;
  h.bx = 0.30 * fov_x * o.head_scale;
  h.by = 0.33 * fov_y * o.head_scale;
  h.bz = std::max(0.5 * fov_z - h.shells - 2.0, 0.3 * fov_z) * o.head_scale;
  // Holes through the skull, filled with soft tissue: bridges from brain to scalp.
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> angle_dist(0.0, 2.0 * M_PI), height_dist(-0.4, 0.4);
  for (int i = 0; i < o.skull_holes; ++i) {
    const double a = angle_dist(rng);
    h.holes.push_back({a, height_dist(rng) * h.bz});
  }
  // In-plane voxel-centre coordinates (mm, relative to the head centre).
  h.y = ((torch::arange(o.rows, f) + 0.5) * o.spacing_mm[1] - h.cy).view({1, -1, 1});
  h.x = ((torch::arange(o.cols, f) + 0.5) * o.spacing_mm[2] - h.cx).view({1, 1, -1});
  h.row_mm = h.y + h.cy;
  // Anatomy lives in head coordinates (xr, yr), rotated by the yaw; table, pad and holder stay
  // in scanner coordinates (x, y). No yaw: the very same tensors, so the default is unchanged.
  h.xr = h.x;
  h.yr = h.y;
  h.head_bottom = h.cy + h.by + h.shells;
  if (o.head_yaw_deg != 0.0) {
    const double t = o.head_yaw_deg * M_PI / 180.0, c = std::cos(t), s = std::sin(t);
    h.xr = h.x * c + h.y * s;
    h.yr = h.y * c - h.x * s;
    h.head_bottom = h.cy + std::hypot((h.bx + h.shells) * s, (h.by + h.shells) * c);  // extent of the rotated ellipse
  }
  return h;
}

/// Table, foam pad and head holder (scanner coordinates).
void add_table(torch::Tensor& v, const HeadFrame& h, const torch::Tensor& head) {
  auto slab = h.row_mm.ge(h.head_bottom + 6.0).logical_and(h.row_mm.le(h.head_bottom + 14.0)).expand_as(v);
  v.masked_fill_(slab, 50.0f);
  // Foam pad under the back of the head, touching scalp and table (foam is mostly air).
  auto pad = h.row_mm.ge(h.head_bottom - 6.0).logical_and(h.row_mm.lt(h.head_bottom + 6.0))
                 .logical_and(h.x.abs().le(0.25 * h.bx)).logical_and(head.logical_not());
  v.masked_fill_(pad.expand_as(v), -850.0f);
  // A thin head holder arc 10 mm outside the head (in-plane), as on real scanners.
  auto r = (h.x / (h.bx + h.shells + 10.0)).square() + (h.y / (h.by + h.shells + 10.0)).square();
  auto arc = r.ge(1.0).logical_and(r.le(std::pow(1.0 + 2.0 / (h.by + h.shells + 10.0), 2))).logical_and(h.y.gt(-0.2 * h.by));
  v.masked_fill_(arc.expand_as(v), 200.0f);
}

/// One sub-slice rendering: HU and the tissue masks.
struct SubVolume {
  torch::Tensor hu, parenchyma, intracranial, head, ventricles;
};

SubVolume render_sub_volume(const HeadPhantomOptions& o, const HeadFrame& h, const torch::Tensor& z) {
  const auto &xr = h.xr, &yr = h.yr;
  const double bx = h.bx, by = h.by, bz = h.bz;
  auto inside = [&](double grow) { return ellipsoid(z, yr, xr, bz + grow, by + grow, bx + grow).le(1.0); };
  SubVolume out;
  out.parenchyma = inside(0);
  out.intracranial = inside(o.csf_rim_mm);
  const auto skull_outer = inside(o.csf_rim_mm + o.skull_mm);
  out.head = inside(h.shells);
  torch::Tensor v = torch::full({o.depth, o.rows, o.cols}, -1000.0f, torch::TensorOptions().dtype(torch::kFloat32));
  v.masked_fill_(out.head, 30.0f);
  v.masked_fill_(skull_outer, 1000.0f);
  v.masked_fill_(out.intracranial, 8.0f);
  v.masked_fill_(out.parenchyma, 40.0f);
  v.masked_fill_(ellipsoid(z, yr, xr, 0.7 * bz, 0.7 * by, 0.7 * bx).le(1.0), 28.0f);  // white matter
  out.ventricles = torch::zeros({o.depth, o.rows, o.cols}, torch::kBool);
  for (double side : {-1.0, 1.0}) {  // lateral ventricles
    const auto lateral = ellipsoid(z, yr + 0.05 * by, xr - side * 0.15 * bx, 0.35 * bz, 0.35 * by, 0.08 * bx).le(1.0);
    v.masked_fill_(lateral, 5.0f);
    out.ventricles.logical_or_(lateral);
  }
  if (o.hemorrhage) {
    // Patient left is +x in LPS.
    v.masked_fill_(ellipsoid(z, yr + 0.2 * by, xr - 0.5 * bx, 0.3 * bz, 0.25 * by, 0.2 * bx).le(1.0), 70.0f);
  }
  const auto ring = skull_outer.logical_and(out.intracranial.logical_not());
  for (const auto& [a, zc] : h.holes) {
    // A cylinder of radius 3 mm along the ray from the centre at angle a, height zc.
    const double ux = std::cos(a), uy = std::sin(a);
    auto along = xr * ux + yr * uy;
    auto across = (xr * uy - yr * ux).square() + (z - zc).square();
    v.masked_fill_(ring.logical_and(across.le(9.0)).logical_and(along.gt(0)), 35.0f);
  }
  if (o.table) add_table(v, h, out.head);
  out.hu = v;
  return out;
}

}  // namespace

HeadPhantom make_head_phantom(const HeadPhantomOptions& o) {
  check_options(o);
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  const HeadFrame h = head_frame(o);
  // A CT slice averages over its thickness: render several sub-slices and average them, so the
  // skull cap cut tangentially by a thick slice shows up as partial-volume bone, as on a scanner.
  const int sub = static_cast<int>(std::clamp(std::lround(o.spacing_mm[0] / std::min(o.spacing_mm[1], o.spacing_mm[2])), 1L, 5L));
  torch::Tensor hu = torch::zeros({o.depth, o.rows, o.cols}, f);
  torch::Tensor intracranial_fraction = torch::zeros({o.depth, o.rows, o.cols}, f);
  torch::Tensor head_fraction = torch::zeros({o.depth, o.rows, o.cols}, f);
  torch::Tensor bone_fraction = torch::zeros({o.depth, o.rows, o.cols}, f);
  torch::Tensor parenchyma_fraction = torch::zeros({o.depth, o.rows, o.cols}, f);
  torch::Tensor ventricle_fraction = torch::zeros({o.depth, o.rows, o.cols}, f);
  for (int s = 0; s < sub; ++s) {
    auto z = ((torch::arange(o.depth, f) + (s + 0.5) / sub) * o.spacing_mm[0] - h.cz).view({-1, 1, 1});
    const SubVolume v = render_sub_volume(o, h, z);
    hu += v.hu;
    intracranial_fraction += v.intracranial.to(torch::kFloat32);
    head_fraction += v.head.to(torch::kFloat32);
    bone_fraction += v.hu.ge(1000.0f).to(torch::kFloat32);
    parenchyma_fraction += v.parenchyma.logical_and(v.ventricles.logical_not()).to(torch::kFloat32);
    ventricle_fraction += v.ventricles.to(torch::kFloat32);
  }
  hu /= static_cast<float>(sub);
  // Brain = mostly inside the skull's inner surface and less than a quarter bone: a voxel of a
  // tangentially cut skull cap reads as bone on CT (> ~250 HU), whatever it holds besides.
  const auto intracranial = intracranial_fraction.ge(0.5f * sub).logical_and(bone_fraction.le(0.25f * sub));
  const auto head = head_fraction.ge(0.5f * sub);
  if (o.noise_hu > 0) {
    auto gen = at::detail::createCPUGenerator(o.seed + 1);
    hu += torch::randn(hu.sizes(), gen, f) * static_cast<float>(o.noise_hu);
  }
  HeadPhantom out;
  VolumeInfo info;
  info.modality = "CT";
  info.patient_id = "PHANTOM";
  info.series_description = "head CT phantom";
  const Vec3 origin{0.5 * o.spacing_mm[2] - h.cx0, 0.5 * o.spacing_mm[1] - h.cy0, 0.5 * o.spacing_mm[0] - h.cz0};
  out.ct = Volume(hu, o.spacing_mm, origin, identity_direction(), info);
  out.brain = intracranial.to(torch::kUInt8).contiguous();
  out.head = head.to(torch::kUInt8).contiguous();
  out.parenchyma = parenchyma_fraction.ge(0.5f * sub).to(torch::kUInt8).contiguous();
  out.ventricles = ventricle_fraction.ge(0.5f * sub).to(torch::kUInt8).contiguous();
  return out;
}

}  // namespace tomograd::preprocess
