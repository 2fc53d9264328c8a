#include "tomograd/core/csv.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd {

std::string csv_escape(const std::string& field) {
  // A leading byte order mark would be taken for the file's own by the reader.
  if (field.find_first_of(",\"\r\n") == std::string::npos && field.compare(0, 3, "\xEF\xBB\xBF") != 0) {
    return field;
  }
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
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxBytes) {
    throw CsvError(path.string() + ": " + std::to_string(size) + " bytes; expected a CSV table of at most " +
                   std::to_string(kMaxBytes >> 20) + " MiB (label, manifest and feature files are far smaller)");
  }
  return parse(read_file(path), path.string());
}

namespace {

// RFC 4180 records with the 1-based line each starts on. Rows are checked against the header's
// width as they are read: fields beyond it are counted, not stored, so a line of a million commas
// costs no memory before its error.
struct CsvRecords {
  std::vector<std::vector<std::string>> records;
  std::vector<std::size_t> lines;
};

class CsvSplitter {
 public:
  explicit CsvSplitter(const std::string& source) : source_(source) {}

  CsvRecords split(const std::string& text) {
    std::size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // UTF-8 byte order mark (Excel)
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (in_quotes_) {
        if (c != '"') {
          if (c == '\n') ++line_;
          field_ += c;
        } else if (i + 1 < text.size() && text[i + 1] == '"') {
          field_ += '"';
          ++i;
        } else {
          in_quotes_ = false;
        }
      } else if (c == '"' && !field_started_) {
        in_quotes_ = field_started_ = quoted_ = true;
      } else if (c == ',') {
        end_field();
      } else if (c == '\n') {
        end_record();
        record_line_ = ++line_;
      } else if (c != '\r') {  // CRLF line ends
        field_ += c;
        field_started_ = true;
      }
    }
    if (in_quotes_) throw CsvError(source_ + ": line " + std::to_string(record_line_) + ": unterminated quoted field");
    if (!field_.empty() || !fields_.empty() || dropped_ > 0) end_record();
    if (out_.records.empty()) throw CsvError(source_ + ": empty CSV file (expected a header row)");
    return std::move(out_);
  }

 private:
  void end_field() {
    if (!out_.records.empty() && fields_.size() >= out_.records[0].size()) ++dropped_;
    else fields_.push_back(field_);
    field_.clear();
    field_started_ = false;
  }

  void end_record() {
    end_field();
    const std::size_t count = fields_.size() + dropped_;
    if (!(count == 1 && fields_[0].empty() && !quoted_)) {  // blank lines are skipped, "" is a field
      if (!out_.records.empty() && count != out_.records[0].size()) {
        throw CsvError(source_ + ": line " + std::to_string(record_line_) + ": " + std::to_string(count) +
                       " fields, expected " + std::to_string(out_.records[0].size()) + " as in the header");
      }
      out_.records.push_back(std::move(fields_));
      out_.lines.push_back(record_line_);
    }
    fields_.clear();
    dropped_ = 0;
    quoted_ = false;
  }

  const std::string& source_;
  CsvRecords out_;
  std::vector<std::string> fields_;
  std::string field_;
  std::size_t dropped_ = 0;
  bool in_quotes_ = false, field_started_ = false, quoted_ = false;
  std::size_t line_ = 1, record_line_ = 1;
};

}  // namespace

CsvTable CsvTable::parse(const std::string& text, const std::string& source) {
  CsvRecords split = CsvSplitter(source).split(text);
  auto& records = split.records;
  const auto& record_lines = split.lines;
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
    // A row of one empty field is written quoted: an empty line is a blank line to the reader.
    if (fields.size() == 1 && fields[0].empty()) {
      s += "\"\"\n";
      return;
    }
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + csv_escape(fields[i]);
    s += "\n";
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return s;
}

}  // namespace tomograd
