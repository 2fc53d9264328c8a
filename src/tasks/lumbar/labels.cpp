// RSNA 2024 lumbar CSV files and the competition score of a submission.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"
#include "internal.hpp"

namespace tomograd::tasks::lumbar {
namespace {

std::string lower_snake(std::string s) {
  for (char& c : s) {
    if (c == ' ' || c == '/') c = '_';
    else c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}


}  // namespace

namespace {

/// The vocabulary's C strings as std::string, for the callers that compare and concatenate.
template <std::size_t N>
std::array<std::string, N> strings(const std::array<const char*, N>& words) {
  std::array<std::string, N> out;
  for (std::size_t i = 0; i < N; ++i) out[i] = words[i];
  return out;
}

}  // namespace

const std::array<std::string, 5>& condition_keys() {
  static const std::array<std::string, 5> k = strings(kConditionKeys);
  return k;
}

const std::array<std::string, 5>& level_keys() {
  static const std::array<std::string, 5> k = strings(kLevelKeys);
  return k;
}

const std::array<std::string, 3>& grade_names() {
  static const std::array<std::string, 3> k = strings(kGradeNames);
  return k;
}

std::vector<std::string> label_columns() {
  std::vector<std::string> out;
  for (const auto& c : condition_keys()) {
    for (const auto& l : level_keys()) out.push_back(c + "_" + l);
  }
  return out;
}

int condition_index(const std::string& name) {
  const std::string key = lower_snake(name);
  const auto& k = condition_keys();
  const auto it = std::find(k.begin(), k.end(), key);
  return it == k.end() ? -1 : static_cast<int>(it - k.begin());
}

int level_index(const std::string& name) {
  const std::string key = lower_snake(name);
  const auto& k = level_keys();
  const auto it = std::find(k.begin(), k.end(), key);
  return it == k.end() ? -1 : static_cast<int>(it - k.begin());
}

int grade_index(const std::string& name) {
  const auto& k = grade_names();
  const auto it = std::find(k.begin(), k.end(), name);
  return it == k.end() ? -1 : static_cast<int>(it - k.begin());
}

std::vector<StudyLabels> read_train_csv(const std::filesystem::path& path) {
  const CsvTable t = CsvTable::read(path);
  const std::string file = path.filename().string();
  std::vector<std::string> problems;
  if (!t.has_column("study_id")) problems.push_back("missing column 'study_id'");
  const auto columns = label_columns();
  std::vector<std::size_t> col(columns.size(), 0);
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (t.has_column(columns[c])) col[c] = t.column_index(columns[c]);
    else problems.push_back("missing label column '" + columns[c] + "'");
  }
  for (const auto& h : t.header()) {
    const bool known = h == "study_id" || std::find(columns.begin(), columns.end(), h) != columns.end();
    const bool looks_like_label = h.find("stenosis") != std::string::npos || h.find("narrowing") != std::string::npos;
    if (!known && looks_like_label) {
      problems.push_back("unknown label column '" + h + "' (conditions: spinal_canal_stenosis, "
                         "left/right_neural_foraminal_narrowing, left/right_subarticular_stenosis; levels l1_l2 ... l5_s1)");
    }
  }
  internal::throw_problems(file, problems);
  std::vector<StudyLabels> out;
  std::map<std::string, std::size_t> seen;
  const std::size_t id_col = t.column_index("study_id");
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    StudyLabels s;
    s.line = t.line_of(r);
    s.study_id = t.at(r, id_col);
    const std::string where = "line " + std::to_string(s.line) + " (study " + s.study_id + "): ";
    if (s.study_id.empty()) {
      problems.push_back("line " + std::to_string(s.line) + ": empty study_id");
      continue;
    }
    if (auto it = seen.find(s.study_id); it != seen.end()) {
      problems.push_back(where + "study listed twice (first on line " + std::to_string(it->second) + ")");
      continue;
    }
    seen.emplace(s.study_id, s.line);
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string& v = t.at(r, col[c]);
      if (v.empty()) {
        s.grades[c] = -1;
        continue;
      }
      s.grades[c] = grade_index(v);
      if (s.grades[c] < 0) {
        problems.push_back(where + columns[c] + " is '" + v + "'; expected Normal/Mild, Moderate, Severe or empty");
      }
    }
    out.push_back(s);
  }
  internal::throw_problems(file, problems);
  return out;
}

std::vector<SubmissionRow> read_submission(const std::filesystem::path& path) {
  const CsvTable t = CsvTable::read(path);
  const std::string file = path.filename().string();
  std::vector<std::string> problems;
  for (const char* c : {"row_id", "normal_mild", "moderate", "severe"}) {
    if (!t.has_column(c)) problems.push_back(std::string("missing column '") + c + "'");
  }
  internal::throw_problems(file, problems);
  const std::size_t id = t.column_index("row_id");
  const std::array<std::size_t, 3> pc{t.column_index("normal_mild"), t.column_index("moderate"), t.column_index("severe")};
  std::vector<SubmissionRow> out;
  std::map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    SubmissionRow s;
    s.line = t.line_of(r);
    s.row_id = t.at(r, id);
    const std::string where = "line " + std::to_string(s.line) + " (" + s.row_id + "): ";
    bool ok = true;
    if (auto it = seen.find(s.row_id); it != seen.end()) {
      problems.push_back(where + "row_id listed twice (first on line " + std::to_string(it->second) + ")");
      ok = false;
    }
    seen.emplace(s.row_id, s.line);
    const auto us = s.row_id.find('_');
    const std::string rest = us == std::string::npos ? "" : s.row_id.substr(us + 1);
    const std::string level = rest.size() > 6 ? rest.substr(rest.size() - 5) : "";
    const std::string condition = rest.size() > 6 ? rest.substr(0, rest.size() - 6) : "";
    if (us == 0 || us == std::string::npos || condition_index(condition) < 0 || level_index(level) < 0) {
      problems.push_back(where + "row_id must be <study_id>_<condition>_<level>, e.g. "
                                 "4003253_spinal_canal_stenosis_l1_l2");
      ok = false;
    }
    for (int k = 0; k < 3; ++k) {
      const std::string& v = t.at(r, pc[k]);
      char* end = nullptr;
      const double x = v.empty() ? std::nan("") : std::strtod(v.c_str(), &end);
      if (v.empty() || !end || *end != '\0' || !std::isfinite(x) || x < 0) {
        problems.push_back(where + t.header()[pc[k]] + " must be a finite probability >= 0, got '" + v + "'");
        ok = false;
      }
      s.probabilities[k] = x;
    }
    if (ok) out.push_back(s);
  }
  internal::throw_problems(file, problems);
  return out;
}

eval::LumbarScore score_submission(const std::vector<StudyLabels>& solution,
                                   const std::vector<SubmissionRow>& submission) {
  std::map<std::string, const SubmissionRow*> by_id;
  for (const auto& s : submission) by_id[s.row_id] = &s;
  const auto columns = label_columns();
  std::vector<eval::LumbarRow> rows;
  std::vector<std::string> missing;
  for (const auto& st : solution) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (st.grades[c] < 0) continue;  // no label: not scored
      const std::string row_id = st.study_id + "_" + columns[c];
      auto it = by_id.find(row_id);
      if (it == by_id.end()) {
        missing.push_back(row_id);
        continue;
      }
      eval::LumbarRow r = eval::parse_lumbar_row_id(row_id);
      r.severity = st.grades[c];
      r.probabilities = it->second->probabilities;
      rows.push_back(r);
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < std::min<std::size_t>(missing.size(), 5); ++i) list += (i ? ", " : "") + missing[i];
    throw ValueError("the submission lacks " + std::to_string(missing.size()) + " labelled row(s) of the solution: " +
                     list + (missing.size() > 5 ? ", ..." : ""));
  }
  return eval::rsna_lumbar_score(rows);
}

namespace internal {

void throw_problems(const std::string& what, const std::vector<std::string>& problems, const std::string& context) {
  if (problems.empty()) return;
  std::string msg = what + ": " + std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") +
                    context + ":";
  const std::size_t shown = std::min<std::size_t>(problems.size(), 50);
  for (std::size_t i = 0; i < shown; ++i) msg += "\n  - " + problems[i];
  if (shown < problems.size()) msg += "\n  - ... and " + std::to_string(problems.size() - shown) + " more";
  throw CsvError(msg);
}

}  // namespace internal

}  // namespace tomograd::tasks::lumbar
