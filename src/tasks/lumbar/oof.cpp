// A fold's out-of-fold predictions, RUN/fold_<K>/oof.csv: read with every problem named by line,
// and written with probabilities that read back to the same double.
#include <array>
#include <charconv>
#include <map>
#include <tuple>

#include "../common.hpp"
#include "evaluate_impl.hpp"
#include "internal.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"
#include "tomograd/tasks/lumbar/oof.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;
using internal::kGradeKeys;

namespace {

const std::array<std::string, 7> kOofColumns{"study_id", "condition", "level", "label",
                                             "normal_mild", "moderate", "severe"};

/// Shortest decimal that reads back to the same double.
std::string exact(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::vector<OofRow> read_oof(const fs::path& csv, int fold) {
  const CsvTable t = CsvTable::read(csv);
  const std::string file = csv.string();
  std::vector<std::string> problems;
  for (const auto& c : kOofColumns) {
    if (!t.has_column(c)) problems.push_back("missing column '" + c + "'");
  }
  if (!problems.empty()) {
    problems.push_back("expected columns: study_id,condition,level,label,normal_mild,moderate,severe");
    internal::throw_problems(file, problems);
  }
  std::array<std::size_t, 7> col{};
  for (std::size_t i = 0; i < col.size(); ++i) col[i] = t.column_index(kOofColumns[i]);
  std::vector<OofRow> out;
  out.reserve(t.num_rows());
  std::map<std::tuple<std::string, int, int>, std::size_t> seen;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    OofRow o;
    o.fold = fold;
    o.line = t.line_of(r);
    o.study_id = t.at(r, col[0]);
    const std::string where = "line " + std::to_string(o.line) + (o.study_id.empty() ? "" : " (study " + o.study_id + ")") + ": ";
    bool ok = true;
    if (o.study_id.empty()) {
      problems.push_back(where + "empty study_id");
      ok = false;
    }
    const std::string& cond = t.at(r, col[1]);
    const std::string& level = t.at(r, col[2]);
    o.condition = condition_index(cond);
    o.level = level_index(level);
    if (o.condition < 0) {
      problems.push_back(where + "unknown condition '" + cond + "' (expected spinal_canal_stenosis, "
                                 "left_neural_foraminal_narrowing, right_neural_foraminal_narrowing, "
                                 "left_subarticular_stenosis or right_subarticular_stenosis)");
      ok = false;
    }
    if (o.level < 0) {
      problems.push_back(where + "unknown level '" + level + "' (expected l1_l2, l2_l3, l3_l4, l4_l5 or l5_s1)");
      ok = false;
    }
    const std::string& label = t.at(r, col[3]);
    if (label.empty()) o.label = -1;
    else if (label == "0" || label == "1" || label == "2") o.label = label[0] - '0';
    else {
      problems.push_back(where + "label is '" + label + "'; expected 0 (Normal/Mild), 1 (Moderate), 2 (Severe) or empty");
      ok = false;
    }
    for (int k = 0; k < 3; ++k) {
      const std::string& v = t.at(r, col[4 + k]);
      const auto x = parse_number(v);
      if (!x || *x < 0) {
        problems.push_back(where + kGradeKeys[k] + " must be a finite probability >= 0, got '" + v + "'");
        ok = false;
      } else {
        o.probabilities[k] = *x;
      }
    }
    if (!ok) continue;
    const auto [it, fresh] = seen.emplace(std::make_tuple(o.study_id, o.condition, o.level), o.line);
    if (!fresh) {
      problems.push_back(where + condition_keys()[o.condition] + " " + level_keys()[o.level] +
                         " listed twice (first on line " + std::to_string(it->second) + ")");
      continue;
    }
    out.push_back(std::move(o));
  }
  internal::throw_problems(file, problems);
  return out;
}

void write_oof(const fs::path& csv, const std::vector<OofRow>& rows, bool force) {
  CsvTable t(std::vector<std::string>(kOofColumns.begin(), kOofColumns.end()), {});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const OofRow& r = rows[i];
    if (r.condition < 0 || r.condition > 4 || r.level < 0 || r.level > 4 || r.label < -1 || r.label > 2) {
      throw ValueError(csv.string() + ": row " + std::to_string(i) + " (study " + r.study_id + ") has condition " +
                       std::to_string(r.condition) + ", level " + std::to_string(r.level) + ", label " +
                       std::to_string(r.label) + "; expected 0..4, 0..4 and -1..2");
    }
    t.add_row({r.study_id, condition_keys()[r.condition], level_keys()[r.level],
               r.label < 0 ? "" : std::to_string(r.label), exact(r.probabilities[0]), exact(r.probabilities[1]),
               exact(r.probabilities[2])});
  }
  detail::write_csv(csv, t, force);
}

}  // namespace tomograd::tasks::lumbar
