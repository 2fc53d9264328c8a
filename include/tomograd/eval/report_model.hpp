#pragma once
/// @file One report model for every task: a title, a plain-language summary paragraph, links, and
/// sections of paragraphs, lists, tables and figures (SVG charts or PNG images), written out as
/// Markdown, self-contained HTML (no scripts, no external resources) or JSON.
///
/// Text in paragraphs, notes, list items and table cells is plain text with two inline marks,
/// as in Markdown: `**bold**` and `` `code` ``. HTML output escapes everything else.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"

namespace tomograd::eval {

/// A table of text cells. The first text_columns columns are left-aligned text, the others
/// right-aligned numbers.
struct ReportTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> strong;        ///< per row: shown in bold (e.g. a headline row); may be shorter than rows
  std::size_t text_columns = 1;
  std::string caption;             ///< optional, shown under the table

  /// Appends a row (throws ValueError when its width differs from the header's).
  ReportTable& add(std::vector<std::string> row, bool is_strong = false);
};

/// A chart or image. Exactly one of svg and png is set.
struct ReportFigure {
  std::string name;     ///< file stem, unique in the report: written as <figure_dir>/<name>.svg or .png
  std::string title;    ///< heading of the figure
  std::string svg;      ///< an <svg> element with xmlns (SvgPlot::render())
  std::string png;      ///< PNG bytes (e.g. a Grad-CAM overlay); embedded as a data: URI in HTML
  std::string caption;  ///< one or two sentences under it

  /// "svg" or "png".
  std::string extension() const { return png.empty() ? "svg" : "png"; }
};

/// A link; @p href is relative to the report's folder (e.g. "../../tensorboard/") or a URL.
struct ReportLink {
  std::string text, href;
};

/// One piece of a section, in reading order.
struct ReportBlock {
  enum class Kind { kParagraph, kNote, kList, kLinks, kTable, kFigure };
  Kind kind = Kind::kParagraph;
  std::string text;                ///< paragraph / note
  std::vector<std::string> items;  ///< list
  std::vector<ReportLink> links;   ///< links
  ReportTable table;
  ReportFigure figure;
};

/// A titled section. Consecutive figures are laid out side by side in HTML.
struct ReportSection {
  std::string title;
  std::string id;  ///< HTML anchor; empty: derived from the title
  std::vector<ReportBlock> blocks;

  ReportSection& paragraph(std::string text);
  ReportSection& note(std::string text);  ///< a smaller, muted paragraph (method details, caveats)
  ReportSection& list(std::vector<std::string> items);
  ReportSection& links(std::vector<ReportLink> links);
  ReportSection& table(ReportTable table);
  ReportSection& figure(ReportFigure figure);
};

/// A whole report.
struct Report {
  std::string title;
  /// The plain-language paragraph every report opens with: what was scored, on which split, how
  /// many patients, the headline metric with its interval.
  std::string summary;
  std::vector<std::string> meta;   ///< short facts under the summary (split, threshold origin, intervals)
  std::vector<ReportLink> links;   ///< shown under the summary (e.g. the run's TensorBoard folder)
  std::vector<ReportSection> sections;

  /// Appends a section and returns it for filling.
  ReportSection& section(std::string title, std::string id = "");
  /// Every figure in reading order.
  std::vector<const ReportFigure*> figures() const;
};

/// Markdown; figures are image links to <figure_dir>/<name>.<ext> (write_report_files() writes them).
std::string to_markdown(const Report& report, const std::string& figure_dir = "plots");
/// One self-contained HTML page: SVG inline, PNG as data: URIs, no scripts.
std::string to_html(const Report& report);
/// {"title", "summary", "meta", "links", "sections": [{"title", "id", "blocks": [{"type": "paragraph" |
/// "note" | "list" | "links" | "table" | "figure", ...}]}]}; figures by file ("plots/roc_curve.svg"),
/// not content.
nlohmann::json to_json(const Report& report, const std::string& figure_dir = "plots");

enum class ReportFormat { kMarkdown, kHtml, kJson };

struct ReportWriteOptions {
  std::string stem = "report";  ///< <stem>.md, <stem>.html, <stem>.json
  std::vector<ReportFormat> formats = {ReportFormat::kHtml, ReportFormat::kMarkdown};
  std::string figure_dir = "plots";  ///< folder under the output folder for figure files
  bool figure_files = true;          ///< also write each figure as a file (Markdown links to them)
  Overwrite overwrite = Overwrite::kNever;
};

/// With Overwrite::kNever, throws IoError naming the first of @p files that exists.
void refuse_existing(const std::vector<std::filesystem::path>& files, Overwrite overwrite);

/// The files write_report_files() would write, figures first.
std::vector<std::filesystem::path> report_files(const std::filesystem::path& dir, const Report& report,
                                                const ReportWriteOptions& options = {});

/// Writes the report into @p dir (created if needed), each file atomically. With Overwrite::kNever
/// nothing is written when any of the files exists (IoError naming it). Throws ValueError for two
/// figures with the same name or a figure with neither or both of svg and png.
std::vector<std::filesystem::path> write_report_files(const std::filesystem::path& dir, const Report& report,
                                                      const ReportWriteOptions& options = {});

}  // namespace tomograd::eval
