#include "tomograd/preprocess/brain_extraction.hpp"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/preprocess/morphology.hpp"

#include "mask_ops.hpp"

namespace tomograd::preprocess {

namespace {

void require(bool ok, const char* field, const std::string& expected, double value) {
  if (!ok) {
    std::ostringstream s;
    s << "brain_extraction." << field << " must be " << expected << ", got " << value;
    throw ConfigError(s.str());
  }
}

// hu > threshold as a 0/1 mask (the same float comparison as torch's gt with a double scalar).
torch::Tensor above(const torch::Tensor& hu_in, double threshold) {
  const torch::Tensor hu = hu_in.to(torch::kFloat32).contiguous();
  const float* v = hu.data_ptr<float>();
  const auto t = static_cast<float>(threshold);
  return detail::make_mask(hu, [&](int64_t i) { return v[i] > t; });
}

}  // namespace

void BrainExtractionOptions::validate() const {
  require(std::isfinite(head_threshold_hu), "head_threshold_hu", "a number", head_threshold_hu);
  require(brain_low_hu < brain_high_hu, "brain_low_hu", "below brain_high_hu", brain_low_hu);
  require(bone_threshold_hu > brain_high_hu, "bone_threshold_hu", "above brain_high_hu", bone_threshold_hu);
  require(head_opening_mm >= 0 && head_opening_mm <= 50, "head_opening_mm", "in [0, 50]", head_opening_mm);
  require(bone_dilation_mm >= 0 && bone_dilation_mm <= 20, "bone_dilation_mm", "in [0, 20]", bone_dilation_mm);
  require(opening_radius_mm >= 0 && opening_radius_mm <= 30, "opening_radius_mm", "in [0, 30]", opening_radius_mm);
  require(closing_radius_mm >= 0 && closing_radius_mm <= 30, "closing_radius_mm", "in [0, 30]", closing_radius_mm);
  require(margin_mm >= 0 && margin_mm <= 30, "margin_mm", "in [0, 30]", margin_mm);
  require(min_volume_ml >= 0, "min_volume_ml", ">= 0", min_volume_ml);
}

torch::Tensor head_mask(const Volume& ct, const BrainExtractionOptions& o) {
  if (ct.empty()) throw ValueError("brain extraction: the volume is empty");
  const Vec3& sp = ct.spacing_mm();
  torch::Tensor head = above(ct.data(), o.head_threshold_hu);
  if (o.head_opening_mm > 0) {
    // Opening removes the thin shells of the table and head holder; the geodesic dilation then
    // gives the scalp back its detail without re-attaching them (growth <= the opening radius).
    torch::Tensor core = largest_component(open(head, sp, o.head_opening_mm));
    if (core.any().item<bool>()) {
      const int steps = static_cast<int>(std::ceil(o.head_opening_mm / std::min(sp[1], sp[2])));
      head = geodesic_dilate(core, head, sp, steps);
    }
  }
  return fill_holes_2d(largest_component(head));
}

BrainMask extract_brain(const Volume& ct, const BrainExtractionOptions& o) {
  o.validate();
  if (ct.empty()) throw ValueError("brain extraction: the volume is empty");
  const Vec3& sp = ct.spacing_mm();
  const torch::Tensor hu = ct.data().to(torch::kFloat32).contiguous();
  const float* v = hu.data_ptr<float>();
  BrainMask out;
  out.head = head_mask(ct, o);
  out.head_volume_ml = mask_volume_ml(out.head, sp);
  if (out.head_volume_ml < o.min_volume_ml) {
    throw ValueError("brain extraction: no head found (" + std::to_string(out.head_volume_ml) +
                     " mL above " + std::to_string(o.head_threshold_hu) + " HU): is this a CT in HU?");
  }

  const torch::Tensor bone = above(hu, o.bone_threshold_hu);
  // Soft tissue inside the head that is not bone: the domain the brain may grow back into.
  const float low = static_cast<float>(o.brain_low_hu), high = static_cast<float>(o.brain_high_hu);
  const uint8_t* head = out.head.data_ptr<uint8_t>();
  const torch::Tensor soft = detail::make_mask(hu, [&](int64_t i) { return v[i] >= low && v[i] <= high && head[i]; });
  if (!soft.any().item<bool>()) {
    throw ValueError("brain extraction: no voxel in [" + std::to_string(o.brain_low_hu) + ", " +
                     std::to_string(o.brain_high_hu) + "] HU inside the head: is this a CT in HU?");
  }
  const torch::Tensor near_bone = dilate(bone, sp, o.bone_dilation_mm);
  const uint8_t* soft_p = soft.data_ptr<uint8_t>();
  const uint8_t* near_p = near_bone.data_ptr<uint8_t>();
  const torch::Tensor candidate = detail::make_mask(soft, [&](int64_t i) { return soft_p[i] && !near_p[i]; });

  torch::Tensor core = largest_component(open(candidate, sp, o.opening_radius_mm));
  if (!core.any().item<bool>()) {
    // A very small brain (or a large radius) can vanish in the opening: fall back to the
    // candidate's largest component rather than failing.
    logger()->warn("brain extraction: nothing left after an opening of {} mm; using the largest "
                   "soft-tissue component without opening", o.opening_radius_mm);
    core = largest_component(candidate);
  }
  const int steps = static_cast<int>(
      std::ceil((o.opening_radius_mm + o.bone_dilation_mm) / std::min(sp[1], sp[2])));
  torch::Tensor brain = geodesic_dilate(core, soft, sp, steps);
  if (o.closing_radius_mm > 0) brain = close(brain, sp, o.closing_radius_mm);
  {
    const uint8_t* b = brain.data_ptr<uint8_t>();
    const uint8_t* bone_p = bone.data_ptr<uint8_t>();
    brain = detail::make_mask(brain, [&](int64_t i) { return (b[i] & head[i]) && !bone_p[i]; });
  }
  brain = fill_holes_2d(brain);
  if (o.margin_mm > 0) {
    const torch::Tensor grown = dilate(brain, sp, o.margin_mm);
    const uint8_t* g = grown.data_ptr<uint8_t>();
    brain = detail::make_mask(grown, [&](int64_t i) { return (g[i] & head[i]) != 0; });
  }
  out.mask = brain;
  out.volume_ml = mask_volume_ml(brain, sp);
  if (out.volume_ml < o.min_volume_ml) {
    throw ValueError("brain extraction: the brain found is " + std::to_string(out.volume_ml) +
                     " mL, less than min_volume_ml = " + std::to_string(o.min_volume_ml) +
                     " (not a head CT, or thresholds that do not fit it)");
  }
  logger()->debug("brain extraction: head {:.1f} mL, brain {:.1f} mL", out.head_volume_ml, out.volume_ml);
  return out;
}

Volume apply_mask(const Volume& volume, const torch::Tensor& mask, float fill_value) {
  if (!mask.sizes().equals(volume.data().sizes())) {
    throw ValueError("apply_mask: mask shape differs from the volume's");
  }
  Volume out = volume;
  out.set_data(torch::where(mask.ne(0), volume.data(), torch::full({}, fill_value)));
  return out;
}

}  // namespace tomograd::preprocess
