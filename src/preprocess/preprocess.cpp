#include "tomograd/preprocess/preprocess.hpp"

#include <torch/torch.h>

#include "tomograd/core/error.hpp"
#include "tomograd/core/window.hpp"

namespace tomograd::preprocess {

void PreprocessOptions::validate() const {
  if (windows.empty()) throw ConfigError("preprocess.windows: at least one window is needed");
  for (const auto& w : windows) {
    if (w == kRawWindow) continue;
    try {
      parse_window(w);
    } catch (const ValueError& e) {
      throw ConfigError(std::string("preprocess.windows: ") + e.what());
    }
  }
  if (reorient != "canonical" && reorient != "none") {
    try {
      Volume probe(torch::zeros({1, 1, 1}), {1, 1, 1});
      (void)tomograd::reorient(probe, reorient);
    } catch (const ValueError& e) {
      throw ConfigError(std::string("preprocess.reorient: expected canonical, none or a code such as LPS: ") + e.what());
    }
  }
  for (double s : spacing_mm) {
    if (s < 0) throw ConfigError("preprocess.spacing_mm: values must be >= 0 (0 keeps the axis)");
  }
  if (height < 0 || width < 0 || height > 8192 || width > 8192) {
    throw ConfigError("preprocess.resize: height and width must be in [0, 8192] (0 keeps the size)");
  }
  if ((height == 0) != (width == 0)) throw ConfigError("preprocess.resize: give both height and width, or neither");
  if (crop_height < 0 || crop_width < 0 || crop_height > 8192 || crop_width > 8192) {
    throw ConfigError("preprocess.crop: height and width must be in [0, 8192] (0 = no crop)");
  }
  if ((crop_height == 0) != (crop_width == 0)) throw ConfigError("preprocess.crop: give both height and width, or neither");
  if (crop_mode == CropMode::kMask && !brain_extraction) {
    throw ConfigError("preprocess.crop.mode: 'mask' centres the crop on the brain mask and needs brain extraction "
                      "(preprocess.brain_extraction.enabled: true), or use mode 'center'");
  }
  if (normalize.method != NormalizeMethod::kNone) normalize.validate();
  brain.validate();
  quality.validate();
}

nlohmann::json PreprocessOptions::to_json() const {
  nlohmann::json j;
  j["reorient"] = reorient;
  j["spacing_mm"] = {spacing_mm[0], spacing_mm[1], spacing_mm[2]};
  j["brain_extraction"] = {{"enabled", brain_extraction},
                           {"head_threshold_hu", brain.head_threshold_hu},
                           {"head_opening_mm", brain.head_opening_mm},
                           {"brain_low_hu", brain.brain_low_hu},
                           {"brain_high_hu", brain.brain_high_hu},
                           {"bone_threshold_hu", brain.bone_threshold_hu},
                           {"bone_dilation_mm", brain.bone_dilation_mm},
                           {"opening_radius_mm", brain.opening_radius_mm},
                           {"closing_radius_mm", brain.closing_radius_mm},
                           {"margin_mm", brain.margin_mm},
                           {"min_volume_ml", brain.min_volume_ml},
                           {"mask_outside", mask_outside}};
  j["windows"] = nlohmann::json::array();
  for (const auto& w : windows) {
    if (w == kRawWindow) {
      j["windows"].push_back(w);
      continue;
    }
    const Window win = parse_window(w);
    j["windows"].push_back({win.center, win.width});  // "brain" and "40,80" are the same
  }
  j["resize"] = {{"height", height}, {"width", width}, {"interpolation", to_string(interpolation)}};
  // Written only when on: the text (and so every cache key) of older configs stays the same.
  if (keep_aspect && height > 0) j["resize"]["keep_aspect"] = true;
  if (crop_height > 0) {
    j["crop"] = {{"height", crop_height}, {"width", crop_width}};
    if (crop_mode != CropMode::kCenter) j["crop"]["mode"] = to_string(crop_mode);
  }
  j["normalize"] = {{"method", to_string(normalize.method)}, {"within_mask", normalize.within_mask},
                    {"outside_value", normalize.outside_value}, {"mean", normalize.mean}, {"std", normalize.std},
                    {"eps", normalize.eps}};
  if (normalize.method == NormalizeMethod::kPercentile) j["normalize"]["percentiles"] = normalize.percentiles;
  j["quality"] = {{"enabled", quality.enabled}, {"min_brain_fraction", quality.min_brain_fraction},
                  {"min_contrast_hu", quality.min_contrast_hu}, {"asymmetry_keep", quality.asymmetry_keep},
                  {"smooth_mm", quality.smooth_mm}};
  return j;
}

PreprocessedStudy preprocess_volume(const Volume& input, const PreprocessOptions& o) {
  o.validate();
  if (input.empty()) throw ValueError("preprocess: the volume is empty");
  Volume v = input;
  if (o.reorient == "canonical") v = tomograd::reorient(v, canonical_orientation(v));
  else if (o.reorient != "none") v = tomograd::reorient(v, o.reorient);
  if (o.spacing_mm[0] > 0 || o.spacing_mm[1] > 0 || o.spacing_mm[2] > 0) {
    v = resample_to_spacing(v, o.spacing_mm, Interpolation::kLinear);
  }
  PreprocessedStudy out;
  torch::Tensor mask;
  if (o.brain_extraction) {
    BrainMask b = extract_brain(v, o.brain);
    mask = b.mask;
    out.brain_volume_ml = b.volume_ml;
    out.quality = assess_slice_quality(v, mask, o.quality);
  } else {
    SliceQualityOptions all = o.quality;
    all.enabled = false;
    out.quality = assess_slice_quality(v, torch::ones(v.data().sizes(), torch::kUInt8), all);
  }
  std::vector<torch::Tensor> channels;
  channels.reserve(o.windows.size());
  for (const auto& w : o.windows) {
    channels.push_back(w == kRawWindow ? v.data().to(torch::kFloat32) : apply_window(v.data(), parse_window(w)));
  }
  torch::Tensor data = torch::stack(channels, 0);  // [C,D,H,W]
  if (mask.defined() && o.mask_outside) data = data * mask.unsqueeze(0).to(torch::kFloat32);
  Vec3 spacing = v.spacing_mm();
  Vec3 origin = v.origin_lps();
  if (o.height > 0 && (o.height != v.rows() || o.width != v.cols())) {
    // The geometry from a one-slice stand-in: the same spacing, origin and in-plane size.
    const Volume geometry(torch::zeros({1, v.rows(), v.cols()}), spacing, origin, v.direction());
    Volume resized_geometry;
    if (o.keep_aspect) {
      resized_geometry = resize_in_plane_keep_aspect(geometry, o.height, o.width, o.interpolation);
      data = resize_slices_keep_aspect(data.contiguous(), o.height, o.width, o.interpolation);
      if (mask.defined()) mask = resize_slices_keep_aspect(mask, o.height, o.width, Interpolation::kNearest);
    } else {
      resized_geometry = resize_in_plane(geometry, o.height, o.width, o.interpolation);
      data = resize_slices(data.contiguous(), o.height, o.width, o.interpolation);
      if (mask.defined()) mask = resize_slices(mask, o.height, o.width, Interpolation::kNearest);
    }
    spacing = resized_geometry.spacing_mm();
    origin = resized_geometry.origin_lps();
  }
  if (o.crop_height > 0) {
    // Before normalization: the statistics describe the field of view the model sees.
    // validate() made sure that kMask comes with brain extraction, so the mask is there.
    const auto [top, left] = o.crop_mode == CropMode::kMask
                                 ? mask_crop_offsets(mask, o.crop_height, o.crop_width)
                                 : center_crop_offsets(data.size(2), data.size(3), o.crop_height, o.crop_width);
    data = crop_slices(data, top, left, o.crop_height, o.crop_width);
    if (mask.defined()) mask = crop_slices(mask, top, left, o.crop_height, o.crop_width);
    origin = Volume(torch::zeros({1, 1, 1}), spacing, origin, v.direction())
                 .index_to_lps(0, static_cast<double>(top), static_cast<double>(left));
  }
  if (o.normalize.method != NormalizeMethod::kNone) {
    const bool masked = mask.defined() && mask.any().item<bool>();
    data = normalize(data, o.normalize, masked ? mask : torch::Tensor());
  }
  out.data = data.contiguous();
  out.mask = mask;
  out.spacing_mm = spacing;
  out.origin_lps = origin;
  out.direction = v.direction();
  out.channels = o.windows;
  return out;
}

}  // namespace tomograd::preprocess
