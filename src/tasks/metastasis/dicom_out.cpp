// `metastasis infer --dicom-out`: each patient's top slices (the ones MAX pooling ranks highest)
// as a DICOM Secondary Capture series in the source study, with the Grad-CAM overlay and the
// probability burned in, each image referencing the source CT image(s) it was made from.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <map>

#include "metastasis_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/dicom_sc.hpp"
#include "tomograd/models/cam.hpp"
#include "tomograd/preprocess/cache.hpp"

namespace tomograd::tasks::metastasis::detail {
namespace fs = std::filesystem;

namespace {

Vec3 slice_axis(const Mat3& d) { return {d[0][2], d[1][2], d[2][2]}; }
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/// A probability as burned into an image: three decimals.
std::string p3(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", p);
  return buf;
}

/// The source series of a patient, its slice references and geometry (in read_dicom_series()
/// order, the order preprocessing starts from).
struct Source {
  io::DicomSeries series;
  io::SeriesGeometry geometry;
  std::vector<io::DicomReference> refs;
};

Source read_source(const Patient& p) {
  const std::string where = "patient " + p.patient_id + " (" + p.path.string() + "): ";
  Source s;
  try {
    s.series = io::select_series(io::scan_dicom(p.path, {1, false}), p.series);
  } catch (const Error& e) {
    // Only a DICOM study has the Study Instance UID and SOP Instance UIDs a result links to.
    throw IoError(where + "--dicom-out needs the DICOM source series (" + e.what() + ")");
  }
  if (s.series.info.study_uid.empty() || s.series.info.patient_id.empty()) {
    throw IoError(where + "the source series has no StudyInstanceUID or PatientID: a result cannot be placed in its "
                  "study (--dicom-out)");
  }
  s.geometry = io::series_geometry(s.series);
  s.refs = io::slice_references(s.series);
  return s;
}

/// The source slices (indices into Source::refs) that preprocessed slice @p z was made from:
/// preprocessing may flip the slice order (reorient) and resample z (preprocess.spacing_mm), so
/// the slice's position along the source normal decides: one source slice when it lies on one,
/// else the two it was interpolated between.
std::vector<std::size_t> source_slices(const Source& src, const preprocess::PreprocessedStudy& study, int64_t z,
                                       const std::string& patient_id) {
  const Vec3 normal = slice_axis(src.geometry.direction);
  const Vec3 axis = slice_axis(study.direction);
  if (std::abs(dot(normal, axis)) < 0.99) {
    throw ValueError("patient " + patient_id + ": the preprocessed slices cut across the source slices (preprocess."
                     "reorient changed the slice plane), so no source image can be referenced (--dicom-out)");
  }
  Vec3 pos;
  for (int r = 0; r < 3; ++r) pos[r] = study.origin_lps[r] + axis[r] * study.spacing_mm[0] * static_cast<double>(z);
  const Vec3& o = src.geometry.origin_lps;
  const double t = dot({pos[0] - o[0], pos[1] - o[1], pos[2] - o[2]}, normal) / src.geometry.spacing_mm[0];
  const double n = static_cast<double>(src.refs.size());
  if (t < -0.5 || t > n - 0.5) {
    throw ValueError("patient " + patient_id + ": preprocessed slice " + std::to_string(z) +
                     " lies outside the source series (--dicom-out)");
  }
  // Within half a slice of the first or last slice (an extent-preserving resampling puts the
  // outermost slices there): the edge slice alone.
  if (t <= 0) return {0};
  if (t >= n - 1) return {src.refs.size() - 1};
  const double lo = std::floor(t);
  if (t - lo < 0.05) return {static_cast<std::size_t>(lo)};
  if (lo + 1 - t < 0.05) return {static_cast<std::size_t>(lo + 1)};
  return {static_cast<std::size_t>(lo), static_cast<std::size_t>(lo + 1)};
}

/// The @p k highest-scoring slices of @p score, best first.
std::vector<std::pair<int, double>> top_slices(const PatientScore& score, int k) {
  auto s = score.slice_probabilities;
  std::stable_sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  s.resize(std::min<std::size_t>(s.size(), static_cast<std::size_t>(std::max(k, 1))));
  return s;
}

/// Grad-CAM of the slice logit [h,w], or nothing for a model without spatial feature maps (such
/// as SimpleCNN): the image is then the windowed slice alone.
torch::Tensor cam_or_none(models::Model& model, const torch::Tensor& x, bool& cam_ok) {
  if (!cam_ok) return {};
  try {
    return models::grad_cam(model, x, 0)[0].to(torch::kCPU);
  } catch (const ValueError& e) {
    cam_ok = false;
    logger()->info("--dicom-out: no Grad-CAM for this model ({}); the images show the slices alone", e.what());
    return {};
  }
}

/// One patient's series: returns the number of images written.
std::size_t write_patient(Loaded& l, const Patient& p, const SliceStudy& st, const PatientScore& score,
                          const DicomOutOptions& o, bool& cam_ok) {
  const Source src = read_source(p);
  const preprocess::PreprocessCache cache(cache_dir(l.config.data.cache_dir), l.config.prep.preprocess);
  const preprocess::PreprocessedStudy study = cache.get_or_build(p.path, p.series);  // its geometry
  const auto top = top_slices(score, o.top > 0 ? o.top : l.config.eval.top_slices);
  const int64_t ctx = l.config.prep.slices.context;
  std::vector<io::ScImage> images;
  for (std::size_t k = 0; k < top.size(); ++k) {
    const auto [z, prob] = top[k];
    const torch::Tensor x =
        preprocess::stack_slices(st.data, z, ctx, l.config.prep.slices.step).unsqueeze(0).to(l.device);
    const torch::Tensor cam = cam_or_none(*l.model, x, cam_ok);
    const torch::Tensor grey = x[0][ctx].to(torch::kCPU);  // the centre slice of the first window
    io::ScImage im = io::overlay_image(grey, cam.defined() ? cam : torch::zeros({1, 1}));
    std::string source_numbers;
    for (std::size_t i : source_slices(src, study, z, p.patient_id)) {
      im.sources.push_back(src.refs[i]);
      const auto& frame = src.series.frames[src.geometry.order[i]];
      source_numbers += (source_numbers.empty() ? "" : "+") + std::to_string(frame.instance_number);
    }
    im.burned_text = {p.patient_id + " slice " + std::to_string(z) + " (image " + source_numbers + ")",
                      "p(metastasis) = " + p3(prob) + (k == 0 ? " (max)" : ""),
                      "patient: " + p3(score.probability) + (score.prediction ? " suspected" : " not suspected")};
    if (!cam.defined()) im.burned_text.push_back("no Grad-CAM for this model");
    im.comment = "tomograd metastasis: rank " + std::to_string(k + 1) + " of the patient's slices, threshold " +
                 num(l.threshold) + ", not for diagnostic use";
    images.push_back(std::move(im));
  }
  io::ScSeriesOptions so;
  so.patient_id = src.series.info.patient_id;
  so.study_uid = src.series.info.study_uid;
  so.series_description = "tomograd metastasis top slices";
  so.derivation = cam_ok ? "Grad-CAM of the tomograd metastasis model's slice logit over the preprocessed slice"
                         : "Preprocessed (windowed) slice scored by the tomograd metastasis model";
  so.overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
  return io::write_secondary_capture(o.dir / p.patient_id, images, so).size();
}

}  // namespace

void write_dicom_results(Loaded& l, const std::vector<Patient>& patients, const std::vector<SliceStudy>& studies,
                         const std::vector<PatientScore>& scores, const DicomOutOptions& o) {
  std::map<std::string, const Patient*> by_id;
  for (const auto& p : patients) by_id[p.patient_id] = &p;
  bool cam_ok = true;
  std::size_t n = 0;
  for (std::size_t i = 0; i < studies.size() && i < scores.size(); ++i) {
    const auto it = by_id.find(studies[i].patient_id);
    if (it == by_id.end()) continue;
    n += write_patient(l, *it->second, studies[i], scores[i], o, cam_ok);
  }
  logger()->info("--dicom-out: {} Secondary Capture image(s) of {} patient(s) in {}", n, studies.size(),
                 o.dir.string());
}

}  // namespace tomograd::tasks::metastasis::detail
