// Metastasis data: labels.csv + CTs/<patient>/ checks that report every problem, CT series
// selection, patient-level splits, and MAX pooling of slice logits per patient.
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "../common.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"
#include "metastasis_impl.hpp"

namespace tomograd::tasks::metastasis {
namespace fs = std::filesystem;

namespace detail {

bool pick_ct_series(Patient& p, int min_slices, std::vector<std::string>& problems) {
  const std::string where = "patient " + p.patient_id + " (" + p.path.string() + "): ";
  std::vector<io::DicomSeries> series;
  try {
    io::DicomScanOptions so;
    so.threads = 1;
    so.show_progress = false;
    series = io::scan_dicom(p.path, so);
  } catch (const Error& e) {
    problems.push_back(where + "no readable DICOM series (" + e.what() + ")");
    return false;
  }
  const io::DicomSeries* best = nullptr;
  std::vector<std::string> rejected;
  for (const auto& s : series) {
    const auto n = static_cast<int>(s.frames.size());
    if (s.info.modality != "CT") {
      rejected.push_back("series " + std::to_string(s.info.series_number) + " is " +
                         (s.info.modality.empty() ? std::string("of unknown modality") : s.info.modality) + ", not CT");
    } else if (n < min_slices) {
      rejected.push_back("series " + std::to_string(s.info.series_number) + " has only " + std::to_string(n) +
                         " slice(s), a localizer or scout rather than a head CT volume (data.min_slices " +
                         std::to_string(min_slices) + ")");
    } else if (!best || n > static_cast<int>(best->frames.size())) {
      best = &s;
    }
  }
  if (!best) {
    std::string why;
    for (const auto& r : rejected) why += (why.empty() ? "" : "; ") + r;
    problems.push_back(where + "no usable CT series: " + why);
    return false;
  }
  p.series = best->info.series_uid;
  return true;
}

}  // namespace detail

std::vector<Patient> scan_data(const DataOptions& data, bool require_labels, std::vector<std::string>& problems) {
  if (data.dir.empty()) {
    problems.push_back("no data folder given (set data.dir in the config or pass --data DIR)");
    return {};
  }
  const fs::path dir = data.dir;
  const fs::path images = dir / data.images;
  const fs::path labels = dir / data.labels;
  if (!fs::is_directory(images)) {
    problems.push_back(images.string() + ": no patient folder directory (expected DIR/" + data.images + "/<patient_id>/)");
    return {};
  }
  std::vector<std::string> folders;
  for (const auto& e : fs::directory_iterator(images)) {
    if (e.is_directory()) folders.push_back(e.path().filename().string());
  }
  std::sort(folders.begin(), folders.end());
  std::map<std::string, int> label_of;
  std::map<std::string, std::size_t> line_of;
  if (!fs::is_regular_file(labels)) {
    if (require_labels) problems.push_back(labels.string() + ": labels file does not exist (patient_id,label)");
  } else {
    const CsvTable t = CsvTable::read(labels);
    const std::string name = data.labels;
    bool columns = true;
    for (const char* c : {"patient_id", "label"}) {
      if (!t.has_column(c)) {
        problems.push_back(name + ": missing column '" + c + "'");
        columns = false;
      }
    }
    if (columns) {
      const auto ids = t.strings("patient_id"), values = t.strings("label");
      for (std::size_t r = 0; r < t.num_rows(); ++r) {
        const std::string where = name + " line " + std::to_string(t.line_of(r)) + " (patient " + ids[r] + "): ";
        if (ids[r].empty()) {
          problems.push_back(name + " line " + std::to_string(t.line_of(r)) + ": empty patient_id");
          continue;
        }
        if (line_of.count(ids[r])) {
          problems.push_back(where + "patient listed twice (first on line " + std::to_string(line_of[ids[r]]) + ")");
          continue;
        }
        line_of[ids[r]] = t.line_of(r);
        if (values[r] != "0" && values[r] != "1") {
          problems.push_back(where + "label must be 0 or 1, got '" + values[r] + "'");
          continue;
        }
        label_of[ids[r]] = values[r] == "1" ? 1 : 0;
        std::error_code ec;  // an id the file system refuses (too long) has no folder
        if (!fs::is_directory(images / ids[r], ec)) {
          problems.push_back(where + "no folder " + data.images + "/" + ids[r]);
        }
      }
    }
  }
  std::vector<Patient> out;
  for (const auto& f : folders) {
    Patient p;
    p.patient_id = f;
    p.path = fs::absolute(images / f).lexically_normal();
    auto it = label_of.find(f);
    if (it != label_of.end()) {
      p.label = it->second;
    } else if (require_labels) {
      if (!line_of.count(f)) problems.push_back("folder " + data.images + "/" + f + " has no row in " + data.labels);
      continue;
    }
    if (detail::pick_ct_series(p, data.min_slices, problems)) out.push_back(std::move(p));
  }
  if (folders.empty()) problems.push_back(images.string() + ": no patient folders");
  return out;
}

void assign_splits(std::vector<Patient>& patients, double val, double test, uint64_t seed) {
  if (val < 0 || test < 0 || val + test >= 1) {
    throw ValueError("split fractions: validation " + detail::num(val) + " and test " + detail::num(test) +
                     " must be >= 0 and leave training patients (sum below 1)");
  }
  // One generator per class, so adding patients of one class never moves those of the other;
  // the project's own shuffle, so the split is the same under every standard library.
  for (int label : {0, 1}) {
    std::mt19937_64 rng(derive_seed(seed, static_cast<uint64_t>(label)));
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < patients.size(); ++i) {
      if (patients[i].label == label && patients[i].split.empty()) idx.push_back(i);
    }
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
      return patients[a].patient_id < patients[b].patient_id;
    });
    seeded_shuffle(idx, rng);
    const auto n = static_cast<double>(idx.size());
    const auto n_test = static_cast<std::size_t>(std::llround(test * n));
    const auto n_val = std::min(idx.size() - n_test, static_cast<std::size_t>(std::llround(val * n)));
    for (std::size_t k = 0; k < idx.size(); ++k) {
      patients[idx[k]].split = k < n_test ? "test" : k < n_test + n_val ? "val" : "train";
    }
  }
}

namespace {

/// @p slice_logits flattened to [N], checked against the @p n ids.
torch::Tensor flat_logits(const torch::Tensor& slice_logits, std::size_t n, const char* what) {
  const torch::Tensor flat = slice_logits.reshape({-1});
  if (flat.size(0) != static_cast<int64_t>(n)) {
    throw ValueError(std::string(what) + ": " + std::to_string(flat.size(0)) + " logits for " + std::to_string(n) +
                     " patient ids");
  }
  return flat;
}

/// The MAX of @p flat over each group of rows.
torch::Tensor max_of_groups(const torch::Tensor& flat, const std::vector<std::vector<int64_t>>& rows) {
  std::vector<torch::Tensor> pooled;
  pooled.reserve(rows.size());
  for (const auto& r : rows) {
    // max() routes the gradient to the arg-max slice only, as torch.max does.
    pooled.push_back(flat.index_select(0, torch::tensor(r, torch::kLong).to(flat.device())).max());
  }
  return pooled.empty() ? torch::zeros({0}, flat.options()) : torch::stack(pooled);
}

}  // namespace

torch::Tensor max_pool_patients(const torch::Tensor& slice_logits, const std::vector<std::string>& patient_ids,
                                std::vector<std::string>* order) {
  const torch::Tensor flat = flat_logits(slice_logits, patient_ids.size(), "max_pool_patients");
  std::map<std::string, std::size_t> slot;
  std::vector<std::vector<int64_t>> rows;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < patient_ids.size(); ++i) {
    auto [it, fresh] = slot.try_emplace(patient_ids[i], rows.size());
    if (fresh) {
      rows.emplace_back();
      ids.push_back(patient_ids[i]);
    }
    rows[it->second].push_back(static_cast<int64_t>(i));
  }
  if (order) *order = ids;
  return max_of_groups(flat, rows);
}

torch::Tensor max_pool_runs(const torch::Tensor& slice_logits, const std::vector<std::string>& patient_ids) {
  const torch::Tensor flat = flat_logits(slice_logits, patient_ids.size(), "max_pool_runs");
  std::vector<std::vector<int64_t>> rows;
  for (std::size_t i = 0; i < patient_ids.size(); ++i) {
    if (i == 0 || patient_ids[i] != patient_ids[i - 1]) rows.emplace_back();
    rows.back().push_back(static_cast<int64_t>(i));
  }
  return max_of_groups(flat, rows);
}

}  // namespace tomograd::tasks::metastasis
