#include "tomograd/core/csv.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd {

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string q = "\"";
  for (char c : field) {
    if (c == '"') q += "\"\"";
    else q += c;
  }
  return q + "\"";
}

std::optional<double> parse_number(const std::string& text) {
  std::size_t b = text.find_first_not_of(" \t"), e = text.find_last_not_of(" \t");
  if (b == std::string::npos) return std::nullopt;
  std::string t = text.substr(b, e - b + 1);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

CsvTable::CsvTable(std::vector<std::string> header, std::vector<std::vector<std::string>> rows, std::string source)
    : header_(std::move(header)), source_(std::move(source)) {
  for (auto& r : rows) add_row(std::move(r));
}

void CsvTable::add_row(std::vector<std::string> row) {
  if (row.size() != header_.size()) {
    throw CsvError(source_ + ": row has " + std::to_string(row.size()) + " fields, header has " +
                   std::to_string(header_.size()));
  }
  lines_.push_back(rows_.size() + 2);
  rows_.push_back(std::move(row));
}

CsvTable CsvTable::read(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw CsvError("CSV file '" + path.string() + "' does not exist");
  return parse(read_file(path), path.string());
}

CsvTable CsvTable::parse(const std::string& text, const std::string& source) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::size_t> record_lines;
  std::vector<std::string> fields;
  std::string field;
  bool in_quotes = false, field_started = false;
  std::size_t line = 1, record_line = 1;
  std::size_t i = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 byte order mark (Excel)
  auto end_record = [&] {
    fields.push_back(field);
    field.clear();
    field_started = false;
    // Skip blank lines.
    if (!(fields.size() == 1 && fields[0].empty())) {
      records.push_back(std::move(fields));
      record_lines.push_back(record_line);
    }
    fields.clear();
  };
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      in_quotes = true;
      field_started = true;
    } else if (c == ',') {
      fields.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\r') {
      // CRLF line ends
    } else if (c == '\n') {
      end_record();
      ++line;
      record_line = line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (in_quotes) throw CsvError(source + ": line " + std::to_string(record_line) + ": unterminated quoted field");
  if (!field.empty() || !fields.empty()) end_record();
  if (records.empty()) throw CsvError(source + ": empty CSV file (expected a header row)");

  CsvTable t;
  t.source_ = source;
  t.header_ = records[0];
  std::set<std::string> seen;
  for (auto& h : t.header_) {
    auto b = h.find_first_not_of(" \t"), e = h.find_last_not_of(" \t");
    h = b == std::string::npos ? "" : h.substr(b, e - b + 1);
    if (h.empty()) throw CsvError(source + ": line 1: empty column name");
    if (!seen.insert(h).second) throw CsvError(source + ": line 1: duplicate column '" + h + "'");
  }
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != t.header_.size()) {
      throw CsvError(source + ": line " + std::to_string(record_lines[r]) + ": " + std::to_string(records[r].size()) +
                     " fields, expected " + std::to_string(t.header_.size()) + " as in the header");
    }
    t.rows_.push_back(std::move(records[r]));
    t.lines_.push_back(record_lines[r]);
  }
  return t;
}

bool CsvTable::has_column(const std::string& name) const {
  for (const auto& h : header_) {
    if (h == name) return true;
  }
  return false;
}

std::size_t CsvTable::column_index(const std::string& name) const {
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  std::string cols;
  for (const auto& h : header_) cols += (cols.empty() ? "" : ", ") + h;
  throw CsvError(source_ + ": missing column '" + name + "' (columns: " + cols + ")");
}

std::vector<std::string> CsvTable::strings(const std::string& name) const {
  std::size_t c = column_index(name);
  std::vector<std::string> out;
  out.reserve(rows_.size());
  for (const auto& r : rows_) out.push_back(r[c]);
  return out;
}

std::vector<double> CsvTable::numbers(const std::string& name, bool allow_missing) const {
  std::size_t c = column_index(name);
  std::vector<double> out;
  out.reserve(rows_.size());
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    const std::string& cell = rows_[r][c];
    if (allow_missing && cell.find_first_not_of(" \t") == std::string::npos) {
      out.push_back(std::nan(""));
      continue;
    }
    auto v = parse_number(cell);
    if (!v) {
      throw CsvError(source_ + ": line " + std::to_string(line_of(r)) + ", column '" + name +
                     "': expected a finite number, got '" + cell + "'");
    }
    out.push_back(*v);
  }
  return out;
}

std::string CsvTable::to_string() const {
  std::string s;
  auto line = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + csv_escape(fields[i]);
    s += "\n";
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return s;
}

}  // namespace tomograd
