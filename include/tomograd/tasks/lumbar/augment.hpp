#pragma once
/// @file The lumbar training augmentations that need the task's layout: the left-right mirror of a
/// study (image flipped across the patient's midsagittal plane, left and right condition labels
/// swapped so that a flip never teaches a wrong label) and the elastic / 3D rotation deformations
/// of a classifier input. The generic operations are in tomograd/preprocess/augment.hpp.
#include <torch/types.h>

#include <array>
#include <random>

#include "tomograd/tasks/lumbar/config.hpp"
#include "tomograd/tasks/lumbar/geometry.hpp"

namespace tomograd::tasks::lumbar {

/// The left-right mirror of a classifier input @p x in build_input's layout (without batch):
/// - 2.5D kinds, [C,H,W] level-major: in each level's sagittal crops (T2 canal, T1 left foramen,
///   T1 right foramen, each 2 context + 1 slices whose depth runs toward the patient's right) the
///   slices are reversed and the left and right foramen crops swap; axial crops (columns run right
///   to left) are reversed along their columns;
/// - volume, [2,D,H,W] (D runs toward the patient's right): reversed along D.
/// Mirroring twice gives @p x back. Throws ValueError when @p x does not match @p in.
torch::Tensor mirror_input(const torch::Tensor& x, const InputOptions& in);

/// Grades (or any per-label values) of the mirrored study: left and right neural foraminal
/// narrowing swap, and so do left and right subarticular stenosis (mirrored_label()).
std::array<int, kLabels> mirror_grades(const std::array<int, kLabels>& grades);

/// The label points of the mirrored study: each point reflected across the plane through
/// @p centre with unit normal @p left_right (the patient's left-right axis, LPS), and the left and
/// right labels swapped, so that label k of the result is the reflection of label
/// mirrored_label(k).
LevelPoints mirror_points(const LevelPoints& points, const Vec3& centre, const Vec3& left_right);

/// The deformations of one training sample, drawn from @p rng only when enabled (so that their
/// draws never shift the others'): with probability in.elastic_p an elastic deformation (the
/// same 2D field for every channel of a 2.5D input [C,H,W]; a 3D field for a volume [2,D,H,W]),
/// and for a volume a random rotation of up to in.rotate3d_deg about each axis. Shape is kept.
torch::Tensor deform_input(const torch::Tensor& x, const InputOptions& in, std::mt19937_64& rng);

}  // namespace tomograd::tasks::lumbar
