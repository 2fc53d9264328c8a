// The RSNA 2024 lumbar dataset folder: series descriptions and label coordinates checked against
// the images, and annotated PNG export.
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/png_export.hpp"
#include "tomograd/io/volume_io.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/tasks/lumbar/dataset.hpp"
#include "internal.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;

const std::array<std::string, 3>& series_descriptions() {
  static const std::array<std::string, 3> k{"Sagittal T1", "Sagittal T2/STIR", "Axial T2"};
  return k;
}

fs::path LumbarDataset::series_dir(const std::string& study_id, const std::string& series_id) const {
  return dir / (split + "_images") / study_id / series_id;
}

namespace {

std::optional<double> number(const std::string& text) {
  char* end = nullptr;
  const double v = text.empty() ? std::nan("") : std::strtod(text.c_str(), &end);
  if (text.empty() || !end || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

using SeriesKeys = std::set<std::pair<std::string, std::string>>;

/// The rows of <split>_series_descriptions.csv with a known description and an image folder,
/// into ds.series; returns their (study, series) keys.
SeriesKeys read_series_rows(LumbarDataset& ds, const CsvTable& desc, const std::string& desc_name,
                            std::vector<std::string>& problems) {
  SeriesKeys known_series;
  const auto& kinds = series_descriptions();
  for (std::size_t r = 0; r < desc.num_rows(); ++r) {
    SeriesRow s{desc.at(r, desc.column_index("study_id")), desc.at(r, desc.column_index("series_id")),
                desc.at(r, desc.column_index("series_description")), desc.line_of(r)};
    const std::string where = desc_name + " line " + std::to_string(s.line) + " (study " + s.study_id + ", series " +
                              s.series_id + "): ";
    if (std::find(kinds.begin(), kinds.end(), s.description) == kinds.end()) {
      problems.push_back(where + "unknown series description '" + s.description +
                         "' (known: Sagittal T1, Sagittal T2/STIR, Axial T2)");
      continue;
    }
    std::error_code ec;  // ids the file system refuses (too long) are folders that do not exist
    if (!fs::is_directory(ds.series_dir(s.study_id, s.series_id), ec)) {
      problems.push_back(where + "no folder " + ds.split + "_images/" + s.study_id + "/" + s.series_id);
      continue;
    }
    known_series.emplace(s.study_id, s.series_id);
    ds.series.push_back(s);
  }
  return known_series;
}

/// Every labelled study must have a series.
void check_labelled_studies(const LumbarDataset& ds, const std::string& desc_name, std::vector<std::string>& problems) {
  std::set<std::string> studies_with_images;
  for (const auto& s : ds.series) studies_with_images.insert(s.study_id);
  for (const auto& l : ds.labels) {
    if (!studies_with_images.count(l.study_id)) {
      problems.push_back("train.csv line " + std::to_string(l.line) + " (study " + l.study_id +
                         "): no series of this study in " + desc_name);
    }
  }
}

/// Reading <split>_label_coordinates.csv: the problems found and the image sizes already read.
struct CoordinateReader {
  const LumbarDataset& ds;
  const SeriesKeys& known_series;
  std::string name, desc_name;
  bool check_images;
  std::vector<std::string>& problems;
  std::map<std::string, std::pair<int, int>> image_size;  // instance file -> rows, cols

  /// Row @p r with its values checked, or nothing (the problems recorded).
  std::optional<CoordinateRow> parse(const CsvTable& c, std::size_t r) {
    auto cell = [&](const char* col) { return c.at(r, c.column_index(col)); };
    CoordinateRow k;
    k.study_id = cell("study_id");
    k.series_id = cell("series_id");
    k.line = c.line_of(r);
    const std::string at = where(k);
    k.condition = condition_index(cell("condition"));
    k.level = level_index(cell("level"));
    const auto inst = number(cell("instance_number"));
    const auto x = number(cell("x")), y = number(cell("y"));
    bool ok = true;
    if (k.condition < 0) {
      problems.push_back(at + "unknown condition '" + cell("condition") + "'");
      ok = false;
    }
    if (k.level < 0) {
      problems.push_back(at + "unknown level '" + cell("level") + "' (L1/L2 ... L5/S1)");
      ok = false;
    }
    if (!inst || *inst != std::floor(*inst) || !x || !y) {
      problems.push_back(at + "instance_number, x and y must be numbers (instance_number an integer)");
      ok = false;
    }
    if (!known_series.count({k.study_id, k.series_id})) {
      problems.push_back(at + "series " + k.series_id + " is not a usable series of " + desc_name);
      ok = false;
    }
    if (!ok) return std::nullopt;
    k.instance_number = static_cast<int>(*inst);
    k.x = *x;
    k.y = *y;
    return k;
  }

  std::string where(const CoordinateRow& k) const {
    return name + " line " + std::to_string(k.line) + " (study " + k.study_id + "): ";
  }

  /// True when the instance file exists and (with check_images) the point lies in its image.
  bool in_image(const CoordinateRow& k, const std::string& x_text, const std::string& y_text) {
    const fs::path file = ds.series_dir(k.study_id, k.series_id) / (std::to_string(k.instance_number) + ".dcm");
    std::error_code ec;  // ids the file system refuses (too long) are files that do not exist
    if (!fs::is_regular_file(file, ec)) {
      problems.push_back(where(k) + "instance " + std::to_string(k.instance_number) + " has no file " +
                         file.lexically_relative(ds.dir).string());
      return false;
    }
    if (!check_images) return true;
    auto it = image_size.find(file.string());
    if (it == image_size.end()) {
      try {
        io::DicomScanOptions so;
        so.threads = 1;
        so.show_progress = false;
        const auto series = io::scan_dicom(file, so);
        it = image_size.emplace(file.string(), std::make_pair(series.at(0).rows, series.at(0).cols)).first;
      } catch (const Error& e) {
        problems.push_back(where(k) + "unreadable instance " + file.lexically_relative(ds.dir).string() + ": " + e.what());
        return false;
      }
    }
    const auto [rows, cols] = it->second;
    if (k.x < 0 || k.y < 0 || k.x >= cols || k.y >= rows) {
      problems.push_back(where(k) + "coordinate (" + x_text + ", " + y_text + ") is outside the " +
                         std::to_string(cols) + "x" + std::to_string(rows) + " image");
      return false;
    }
    return true;
  }
};

void read_coordinates(LumbarDataset& ds, const fs::path& coords_file, const std::string& desc_name,
                      const SeriesKeys& known_series, bool check_images, std::vector<std::string>& problems) {
  CoordinateReader reader{ds, known_series, coords_file.filename().string(), desc_name, check_images, problems, {}};
  const CsvTable c = CsvTable::read(coords_file);
  bool columns = true;
  for (const char* col : {"study_id", "series_id", "instance_number", "condition", "level", "x", "y"}) {
    if (!c.has_column(col)) {
      problems.push_back(reader.name + ": missing column '" + col + "'");
      columns = false;
    }
  }
  for (std::size_t r = 0; columns && r < c.num_rows(); ++r) {
    const auto k = reader.parse(c, r);
    if (k && reader.in_image(*k, c.at(r, c.column_index("x")), c.at(r, c.column_index("y")))) {
      ds.coordinates.push_back(*k);
    }
  }
}

}  // namespace

LumbarDataset read_dataset(const fs::path& dir, const std::string& split, bool check_images) {
  if (split != "train" && split != "test") throw ValueError("dataset split must be train or test, got '" + split + "'");
  if (!fs::is_directory(dir)) throw IoError(dir.string() + ": not a folder");
  LumbarDataset ds;
  ds.dir = dir;
  ds.split = split;
  std::vector<std::string> problems;
  if (split == "train") {
    try {
      ds.labels = read_train_csv(dir / "train.csv");
    } catch (const IoError& e) {
      problems.push_back(e.what());
    }
  }
  const std::string desc_name = split + "_series_descriptions.csv";
  const CsvTable desc = CsvTable::read(dir / desc_name);
  for (const char* c : {"study_id", "series_id", "series_description"}) {
    if (!desc.has_column(c)) problems.push_back(desc_name + ": missing column '" + c + "'");
  }
  internal::throw_problems(dir.string(), problems, " in the dataset");
  const SeriesKeys known_series = read_series_rows(ds, desc, desc_name, problems);
  check_labelled_studies(ds, desc_name, problems);
  const fs::path coords_file = dir / (split + "_label_coordinates.csv");
  if (fs::is_regular_file(coords_file)) read_coordinates(ds, coords_file, desc_name, known_series, check_images, problems);
  internal::throw_problems(dir.string(), problems, " in the dataset");
  return ds;
}

std::size_t export_pngs(const LumbarDataset& ds, const fs::path& out, bool annotate,
                        const std::vector<std::string>& studies, bool force) {
  std::map<std::string, std::array<int, 25>> grades;
  for (const auto& l : ds.labels) grades[l.study_id] = l.grades;
  std::map<std::tuple<std::string, std::string, int>, std::vector<const CoordinateRow*>> marks;
  for (const auto& c : ds.coordinates) marks[{c.study_id, c.series_id, c.instance_number}].push_back(&c);
  std::vector<const SeriesRow*> todo;
  for (const auto& s : ds.series) {
    if (studies.empty() || std::find(studies.begin(), studies.end(), s.study_id) != studies.end()) todo.push_back(&s);
  }
  fs::create_directories(out);
  std::size_t written = 0;
  ProgressBar bar(static_cast<int64_t>(todo.size()), "exporting", "series");
  for (const SeriesRow* s : todo) {
    const Volume v = io::load_volume(ds.series_dir(s->study_id, s->series_id));
    const auto pct = preprocess::percentiles_of(v.data(), {0.5, 99.5});
    const Window w{(pct[0] + pct[1]) / 2.0, std::max(pct[1] - pct[0], 1e-6)};
    for (int64_t z = 0; z < v.depth(); ++z) {
      const int instance = z < static_cast<int64_t>(v.info().instance_numbers.size())
                               ? v.info().instance_numbers[static_cast<std::size_t>(z)]
                               : static_cast<int>(z + 1);
      const fs::path file = out / (s->study_id + "_" + s->series_id + "_" + std::to_string(instance) + ".png");
      if (fs::exists(file) && !force) continue;
      const auto grey = io::window_slice(v, z, w, 8);
      cv::Mat img(static_cast<int>(v.rows()), static_cast<int>(v.cols()), CV_8UC1);
      for (std::size_t i = 0; i < grey.size(); ++i) img.data[i] = static_cast<uchar>(grey[i]);
      if (annotate) {
        cv::cvtColor(img, img, cv::COLOR_GRAY2BGR);
        auto it = marks.find({s->study_id, s->series_id, instance});
        if (it != marks.end()) {
          const double scale = std::max(0.35, img.rows / 600.0);
          for (const CoordinateRow* c : it->second) {
            const int g = grades.count(c->study_id) ? grades[c->study_id][c->condition * 5 + c->level] : -1;
            static const cv::Scalar kColour[] = {cv::Scalar(0, 200, 0), cv::Scalar(0, 200, 255), cv::Scalar(0, 0, 255)};
            const cv::Scalar colour = g >= 0 ? kColour[g] : cv::Scalar(255, 200, 0);
            const cv::Point p(static_cast<int>(std::lround(c->x)), static_cast<int>(std::lround(c->y)));
            cv::circle(img, p, std::max(3, img.rows / 60), colour, 1, cv::LINE_AA);
            const std::string text = std::string(kConditionShort[c->condition]) + " " + kLevelNames[c->level] + " " +
                                     (g >= 0 ? grade_names()[static_cast<std::size_t>(g)] : std::string("?"));
            cv::putText(img, text, p + cv::Point(std::max(4, img.rows / 50), 0), cv::FONT_HERSHEY_SIMPLEX,
                        scale, colour, 1, cv::LINE_AA);
          }
        }
      }
      std::vector<uchar> png;
      cv::imencode(".png", img, png);
      write_file_atomic(file, std::string(png.begin(), png.end()), force ? Overwrite::kAllow : Overwrite::kNever);
      ++written;
    }
    bar.tick();
  }
  bar.finish();
  return written;
}

}  // namespace tomograd::tasks::lumbar
