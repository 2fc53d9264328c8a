// BMD cohort: manifest checks that report every problem, stratified splits and folds, and the
// preprocessed studies behind the datasets.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "bmd_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/preprocess/cache.hpp"

namespace tomograd::tasks::bmd {

namespace {

/// The target cell of a manifest row into p.bmd: a positive number, or empty when not required.
/// Returns false (with a problem "<where>...") otherwise.
bool read_target(const std::string& cell, const std::string& target, bool require_target, const std::string& where,
                 Patient& p, std::vector<std::string>& problems) {
  char* end = nullptr;
  const double v = cell.empty() ? std::nan("") : std::strtod(cell.c_str(), &end);
  const bool numeric = !cell.empty() && end && *end == '\0' && std::isfinite(v);
  if (numeric) {
    p.bmd = v;
    if (v > 0) return true;
    problems.push_back(where + target + " must be positive (g/cm²), got '" + cell + "'");
    return false;
  }
  if (!require_target && cell.empty()) return true;
  problems.push_back(where + (cell.empty() ? "missing " + target : target + " is not a number: '" + cell + "'"));
  return false;
}

}  // namespace

std::vector<Patient> read_manifest(const std::filesystem::path& manifest, const std::string& target,
                                   bool require_target, std::vector<std::string>& problems) {
  if (manifest.empty()) {
    problems.push_back("no manifest given (set data.manifest in the config or pass --manifest)");
    return {};
  }
  if (!std::filesystem::is_regular_file(manifest)) {
    problems.push_back(manifest.string() + ": manifest file does not exist");
    return {};
  }
  const CsvTable t = CsvTable::read(manifest);
  const std::string name = manifest.filename().string();
  std::vector<std::string> missing;
  for (const std::string& c : {std::string("patient_id"), std::string("path")}) {
    if (!t.has_column(c)) missing.push_back(c);
  }
  if (require_target && !t.has_column(target)) missing.push_back(target);
  if (!missing.empty()) {
    std::string cols;
    for (const auto& h : t.header()) cols += (cols.empty() ? "" : ", ") + h;
    for (const auto& m : missing) problems.push_back(name + ": missing column '" + m + "' (columns: " + cols + ")");
    return {};
  }
  const std::size_t id_col = t.column_index("patient_id"), path_col = t.column_index("path");
  const bool has_target = t.has_column(target);
  const bool has_split = t.has_column("split");
  const std::filesystem::path base = std::filesystem::absolute(manifest).parent_path();
  std::vector<Patient> out;
  std::map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    Patient p;
    p.line = t.line_of(r);
    p.patient_id = t.at(r, id_col);
    const std::string where = name + " line " + std::to_string(p.line) +
                              (p.patient_id.empty() ? "" : " (patient " + p.patient_id + ")") + ": ";
    bool ok = true;
    if (p.patient_id.empty()) {
      problems.push_back(where + "empty patient_id");
      ok = false;
    } else if (auto it = seen.find(p.patient_id); it != seen.end()) {
      problems.push_back(where + "patient listed twice (first on line " + std::to_string(it->second) +
                         "); give one row per patient");
      ok = false;
    } else {
      seen.emplace(p.patient_id, p.line);
    }
    const std::string path_text = t.at(r, path_col);
    if (path_text.empty()) {
      problems.push_back(where + "empty path");
      ok = false;
    } else {
      std::filesystem::path path = path_text;
      if (path.is_relative()) path = base / path;
      p.path = path.lexically_normal();
      std::error_code ec;  // a path the file system refuses (too long) does not exist
      if (!std::filesystem::exists(p.path, ec)) {
        problems.push_back(where + "path '" + path_text + "' does not exist");
        ok = false;
      }
    }
    p.bmd = std::nan("");
    if (has_target) ok = read_target(t.at(r, t.column_index(target)), target, require_target, where, p, problems) && ok;
    if (has_split) {
      p.split = t.at(r, t.column_index("split"));
      if (!p.split.empty() && p.split != "train" && p.split != "val" && p.split != "test") {
        problems.push_back(where + "split must be train, val or test (or empty), got '" + p.split + "'");
        ok = false;
      }
    }
    if (ok) out.push_back(std::move(p));
  }
  if (t.num_rows() == 0) problems.push_back(name + ": the manifest has no rows");
  return out;
}

namespace {

/// Patient indices sorted by target (ties by id), shuffled within consecutive blocks of @p block.
std::vector<std::size_t> stratified_order(const std::vector<std::size_t>& idx, const std::vector<Patient>& patients,
                                          std::size_t block, uint64_t seed) {
  std::vector<std::size_t> order = idx;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (patients[a].bmd != patients[b].bmd) return patients[a].bmd < patients[b].bmd;
    return patients[a].patient_id < patients[b].patient_id;
  });
  std::mt19937_64 rng(seed);
  for (std::size_t s = 0; s < order.size(); s += block) {
    const std::size_t e = std::min(order.size(), s + block);
    seeded_shuffle(order, s, e, rng);  // not std::shuffle: its draws differ between standard libraries
  }
  return order;
}

}  // namespace

void assign_splits(std::vector<Patient>& patients, double train, double val, double test, uint64_t seed) {
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < patients.size(); ++i) {
    if (patients[i].split.empty()) todo.push_back(i);
  }
  if (todo.empty()) return;
  const double total = train + val + test;
  const auto n = static_cast<double>(todo.size());
  const std::array<double, 3> share{train / total, val / total, test / total};
  std::array<std::size_t, 3> want{0, static_cast<std::size_t>(std::llround(n * share[1])),
                                  static_cast<std::size_t>(std::llround(n * share[2]))};
  want[0] = todo.size() - std::min(todo.size(), want[1] + want[2]);
  // Systematic sampling along the BMD-sorted order: each patient goes to the split furthest
  // behind its quota, so every split spans the whole range.
  const auto order = stratified_order(todo, patients, 10, seed);
  std::array<std::size_t, 3> got{0, 0, 0};
  static const char* kNames[] = {"train", "val", "test"};
  for (std::size_t k = 0; k < order.size(); ++k) {
    int pick = -1;
    double best = -1e300;
    for (int s = 0; s < 3; ++s) {
      if (got[s] >= want[s]) continue;
      const double deficit = static_cast<double>(want[s]) * static_cast<double>(k + 1) / n - static_cast<double>(got[s]);
      if (deficit > best) {
        best = deficit;
        pick = s;
      }
    }
    patients[order[k]].split = kNames[pick];
    ++got[pick];
  }
}

std::vector<int> stratified_folds(const std::vector<Patient>& patients, int folds, uint64_t seed) {
  if (folds < 2) throw ValueError("cross-validation needs at least 2 folds, got " + std::to_string(folds));
  if (patients.size() < static_cast<std::size_t>(folds)) {
    throw ValueError("cross-validation with " + std::to_string(folds) + " folds needs at least as many patients; have " +
                     std::to_string(patients.size()));
  }
  std::vector<std::size_t> idx(patients.size());
  std::iota(idx.begin(), idx.end(), 0);
  const auto order = stratified_order(idx, patients, static_cast<std::size_t>(folds), seed);
  std::vector<int> fold(patients.size(), 0);
  for (std::size_t k = 0; k < order.size(); ++k) fold[order[k]] = static_cast<int>(k % static_cast<std::size_t>(folds));
  return fold;
}

namespace detail {

std::vector<SliceStudy> load_studies(const BmdConfig& config, const std::vector<Patient>& patients, double mean,
                                     double std, std::vector<std::string>& problems) {
  std::vector<preprocess::CacheInput> inputs;
  for (const auto& p : patients) inputs.push_back({p.patient_id, p.path, ""});
  return tasks::detail::labelled_slice_studies(config, inputs, problems, [&](std::size_t i, SliceStudy& s) {
    const double y = patients[i].bmd;
    if (std::isfinite(y)) s.target = torch::tensor({static_cast<float>((y - mean) / std)});
    s.label = std::isfinite(y) ? num(y) : "";
  });
}

std::vector<Patient> patients_of(const std::vector<Patient>& patients, const std::string& split) {
  std::vector<Patient> out;
  for (const auto& p : patients) {
    if (split == "all" || p.split == split) out.push_back(p);
  }
  return out;
}

PatientPredictions read_predictions(const std::filesystem::path& file, const std::string& true_col,
                                    const std::string& pred_col) {
  if (!std::filesystem::is_regular_file(file)) throw IoError(file.string() + ": predictions file does not exist");
  const CsvTable t = CsvTable::read(file);
  PatientPredictions p;
  p.ids = t.strings(t.header().at(0));
  p.y_true = t.numbers(true_col);
  p.y_pred = t.numbers(pred_col);
  return p;
}

}  // namespace detail
}  // namespace tomograd::tasks::bmd
