#pragma once
/// @file CSV tables (RFC 4180: quoted fields, embedded commas, quotes and newlines).
///
/// Lives in core because eval and classic read label, prediction and feature files and must not
/// depend on io. Every error names the file, the 1-based line and the column.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tomograd {

/// A CSV file held as strings: a header row and data rows of the same width.
class CsvTable {
 public:
  CsvTable() = default;
  CsvTable(std::vector<std::string> header, std::vector<std::vector<std::string>> rows, std::string source = "");

  /// Largest file read() accepts (checked before reading it): 1 GiB.
  static constexpr std::uintmax_t kMaxBytes = std::uintmax_t{1} << 30;

  /// Reads @p path. Throws CsvError for a missing, empty or too large file, a missing header,
  /// duplicate column names, or a row whose field count differs from the header (naming the line).
  static CsvTable read(const std::filesystem::path& path);
  /// Parses CSV text; @p source names it in messages.
  static CsvTable parse(const std::string& text, const std::string& source);

  const std::vector<std::string>& header() const { return header_; }
  std::size_t num_rows() const { return rows_.size(); }
  std::size_t num_cols() const { return header_.size(); }
  const std::string& source() const { return source_; }

  bool has_column(const std::string& name) const;
  /// Index of a column. Throws CsvError "<file>: missing column 'x' (columns: ...)".
  std::size_t column_index(const std::string& name) const;
  const std::string& at(std::size_t row, std::size_t col) const { return rows_.at(row).at(col); }
  const std::vector<std::string>& row(std::size_t r) const { return rows_.at(r); }

  /// The column as strings.
  std::vector<std::string> strings(const std::string& name) const;
  /// The column as numbers. Empty cells, text and NaN/inf throw CsvError naming the line (1-based,
  /// counting the header as line 1) and the value, unless @p allow_missing, which gives NaN for
  /// empty cells (text still throws).
  std::vector<double> numbers(const std::string& name, bool allow_missing = false) const;

  /// The line number (1-based, header = 1) of data row @p r, for messages.
  std::size_t line_of(std::size_t r) const { return r < lines_.size() ? lines_[r] : r + 2; }

  /// Serializes with quoting where needed ("\n" line ends).
  std::string to_string() const;
  void add_row(std::vector<std::string> row);

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::size_t> lines_;
  std::string source_;
};

/// Quotes a CSV field when it contains a comma, quote, CR or LF.
std::string csv_escape(const std::string& field);

/// Parses a number the way CsvTable::numbers() does: the whole string must be a finite number.
std::optional<double> parse_number(const std::string& text);

}  // namespace tomograd
