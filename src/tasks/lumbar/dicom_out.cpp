// `lumbar infer --dicom-out`: every crop a study was graded on, as a Secondary Capture image in the
// source study with the predicted grades burned in and a reference to the source slice at the
// crop's centre (build_input() centres each 2.5D stack on that slice).
#include "dicom_out.hpp"

#include <torch/torch.h>

#include <cstdio>
#include <map>

#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/dicom_sc.hpp"
#include "tomograd/tasks/lumbar/vocabulary.hpp"
#include "vec3.hpp"

namespace tomograd::tasks::lumbar::internal {
namespace fs = std::filesystem;

std::vector<GradedCrop> graded_crops(const StudyImages& st, const LevelPoints& pts, const InputOptions& in) {
  std::vector<GradedCrop> out;
  if (in.kind == "volume") return out;
  const bool sagittal = in.kind == "sagittal" || in.kind == "combined";
  const bool axial = in.kind == "axial" || in.kind == "combined";
  int block = 0;
  // One block per (series, point) in build_input()'s level-major order.
  auto add = [&](const std::optional<SeriesImage>& s, const std::optional<Vec3>& p, const char* weighting, int level,
                 std::vector<int> conditions) {
    if (s && p) {
      const int slice = s->lps_to_pixel(*p).slice;
      out.push_back({block, s->series_id, weighting, s->instance_numbers[static_cast<std::size_t>(slice)], level,
                     std::move(conditions)});
    }
    ++block;
  };
  for (int l = 0; l < kLevels; ++l) {
    const auto at = [&](int condition) { return pts[static_cast<std::size_t>(label_index(condition, l))]; };
    if (sagittal) {
      // Without axial images the subarticular grades are shown on the canal crop.
      add(st.t2, at(0), "T2", l, axial ? std::vector<int>{0} : std::vector<int>{0, 3, 4});
      add(st.t1, at(1), "T1", l, {1});
      add(st.t1, at(2), "T1", l, {2});
    }
    if (axial) {
      std::optional<Vec3> c = at(0);
      if (at(3) && at(4)) c = geom::scaled(geom::add(*at(3), *at(4)), 0.5);
      add(st.axial, c, "axial T2", l, {3, 4});
    }
  }
  return out;
}

void check_dicom_out_input(const InputOptions& in) {
  if (in.kind == "volume") {
    throw ValueError("--dicom-out: this run's input.kind is 'volume' (a 3D box resampled across the source slices), "
                     "which has no source slice per image to reference; it works with sagittal, axial and combined runs");
  }
}

namespace {

/// A probability as burned into an image: two decimals.
std::string p2(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", p);
  return buf;
}

/// The source series of a crop: every slice's reference, by InstanceNumber.
struct SourceSeries {
  VolumeInfo info;
  std::map<int, io::DicomReference> by_instance;
};

SourceSeries read_source(const fs::path& dir, const std::string& series_id) {
  SourceSeries s;
  const auto all = io::scan_dicom(dir, {1, false});
  const io::DicomSeries& series = all.size() == 1 ? all[0] : io::select_series(all, series_id);
  const auto refs = io::slice_references(series);
  const auto order = io::series_geometry(series).order;
  for (std::size_t k = 0; k < refs.size(); ++k) s.by_instance[series.frames[order[k]].instance_number] = refs[k];
  s.info = series.info;
  if (s.info.study_uid.empty() || s.info.patient_id.empty()) {
    throw IoError(dir.string() + ": no StudyInstanceUID or PatientID: a result cannot be placed in its study");
  }
  return s;
}

}  // namespace

std::size_t write_study_dicom(const LumbarDataset& ds, const std::string& study_id, const torch::Tensor& input,
                              const std::vector<GradedCrop>& crops, const torch::Tensor& prob, const InputOptions& in,
                              int64_t margin, const fs::path& dir, bool force) {
  std::map<std::string, SourceSeries> sources;
  std::vector<io::ScImage> images;
  const int64_t window = 2 * in.context + 1, side = input.size(-1) - 2 * margin;
  for (const GradedCrop& c : crops) {
    const fs::path folder = ds.series_dir(study_id, c.series_id);
    auto it = sources.find(c.series_id);
    if (it == sources.end()) it = sources.emplace(c.series_id, read_source(folder, c.series_id)).first;
    const auto ref = it->second.by_instance.find(c.instance_number);
    if (ref == it->second.by_instance.end()) {
      throw IoError(folder.string() + ": no image with InstanceNumber " + std::to_string(c.instance_number));
    }
    const torch::Tensor crop = input[c.block * window + in.context].narrow(0, margin, side).narrow(1, margin, side);
    io::ScImage im = io::overlay_image(crop, torch::zeros({1, 1}), 0.0, 384);
    im.sources = {ref->second};
    im.burned_text = {"study " + study_id + " " + kLevelNames[static_cast<std::size_t>(c.level)] + " " + c.weighting +
                      " image " + std::to_string(c.instance_number)};
    for (int cond : c.conditions) {
      const torch::Tensor p = prob[label_index(cond, c.level)];
      const int g = static_cast<int>(p.argmax().item<int64_t>());
      im.burned_text.push_back(std::string(kConditionShort[static_cast<std::size_t>(cond)]) + ": " +
                               kGradeNames[static_cast<std::size_t>(g)] + " (p " + p2(p[g].item<double>()) + ")");
    }
    im.comment = "tomograd lumbar: the crop graded at this level, not for diagnostic use";
    images.push_back(std::move(im));
  }
  if (images.empty()) return 0;
  const VolumeInfo& info = sources.begin()->second.info;
  for (const auto& [id, s] : sources) {
    if (s.info.study_uid != info.study_uid) {
      throw IoError("study " + study_id + ": its series belong to different StudyInstanceUIDs (" + info.study_uid +
                    ", " + s.info.study_uid + "); --dicom-out places results in one study");
    }
  }
  io::ScSeriesOptions so;
  so.patient_id = info.patient_id;
  so.study_uid = info.study_uid;
  so.series_description = "tomograd lumbar graded crops";
  so.derivation = "Crops of the source series around the localised disc levels, graded by the tomograd lumbar model";
  so.overwrite = force ? Overwrite::kAllow : Overwrite::kNever;
  return io::write_secondary_capture(dir / study_id, images, so).size();
}

}  // namespace tomograd::tasks::lumbar::internal
