// history.csv and checkpoints/summary.csv of a run directory.
#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "trainer_impl.hpp"

namespace fs = std::filesystem;

namespace tomograd::train::detail {

namespace {
const char* const kTail[] = {"lr", "seconds", "samples_per_s", "data_wait"};

bool is_fixed_column(const std::string& c) {
  if (c == "epoch" || c == "train_loss" || c == "val_loss") return true;
  for (const char* t : kTail) {
    if (c == t) return true;
  }
  return false;
}
}  // namespace

std::string fmt(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s << std::setprecision(8) << v;
  return s.str();
}

void write_history(const fs::path& file, const std::vector<EpochRecord>& rows) {
  std::set<std::string> names;
  for (const auto& r : rows) {
    for (const auto& [k, v] : r.metrics) {
      if (k != "val_loss" && k != "train_loss") names.insert(k);
    }
  }
  std::vector<std::string> header{"epoch", "train_loss", "val_loss"};
  header.insert(header.end(), names.begin(), names.end());
  for (const char* c : kTail) header.emplace_back(c);
  CsvTable t(header, {}, file.string());
  for (const auto& r : rows) {
    std::vector<std::string> row{std::to_string(r.epoch), fmt(r.train_loss), fmt(r.val_loss)};
    for (const auto& n : names) {
      auto it = r.metrics.find(n);
      row.push_back(it == r.metrics.end() ? "" : fmt(it->second));
    }
    for (double v : {r.lr, r.seconds, r.samples_per_s, r.data_wait}) row.push_back(fmt(v));
    t.add_row(std::move(row));
  }
  write_file_atomic(file, t.to_string(), Overwrite::kAllow);
}

std::vector<EpochRecord> read_history(const fs::path& file, int up_to_epoch) {
  std::vector<EpochRecord> rows;
  std::error_code ec;
  if (!fs::exists(file, ec)) return rows;
  CsvTable t = CsvTable::read(file);
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    EpochRecord h;
    auto num = [&](const std::string& col) {
      auto v = parse_number(t.at(r, t.column_index(col)));
      return v ? *v : std::nan("");
    };
    h.epoch = static_cast<int>(num("epoch"));
    if (h.epoch > up_to_epoch) continue;
    h.train_loss = num("train_loss");
    h.val_loss = num("val_loss");
    h.lr = num("lr");
    h.seconds = num("seconds");
    h.samples_per_s = num("samples_per_s");
    h.data_wait = t.has_column("data_wait") ? num("data_wait") : std::nan("");
    for (const auto& col : t.header()) {
      if (is_fixed_column(col)) continue;
      if (auto v = parse_number(t.at(r, t.column_index(col)))) h.metrics[col] = *v;
    }
    if (std::isfinite(h.val_loss)) h.metrics["val_loss"] = h.val_loss;
    rows.push_back(h);
  }
  return rows;
}

void append_summary(const fs::path& file, const std::string& name, const CheckpointMeta& meta,
                    const std::string& reason) {
  CsvTable t({"checkpoint", "epoch", "reason", "metrics"}, {}, file.string());
  std::error_code ec;
  if (fs::exists(file, ec)) t = CsvTable::read(file);
  std::string metrics;
  for (const auto& [k, v] : meta.metrics) metrics += (metrics.empty() ? "" : ";") + k + "=" + fmt(v);
  t.add_row({name, std::to_string(meta.epoch), reason, metrics});
  write_file_atomic(file, t.to_string(), Overwrite::kAllow);
}

}  // namespace tomograd::train::detail
