#include "tomograd/eval/report_model.hpp"

#include <cctype>
#include <cstdint>
#include <set>
#include <sstream>

#include "tomograd/core/error.hpp"
#include "tomograd/eval/svg_plot.hpp"

namespace fs = std::filesystem;

namespace tomograd::eval {

namespace {

using Kind = ReportBlock::Kind;

const char* const kStyle =
    "body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1120px;color:#222;padding:0 16px}\n"
    "h1{font-size:24px;margin-bottom:8px}h2{font-size:19px;margin:24px 0 8px 0}h3{font-size:15px;margin:0 0 6px 0}\n"
    ".summary{font-size:15px;line-height:1.5;max-width:900px;background:#f6f8fa;border-left:4px solid #0072B2;"
    "padding:10px 14px}\n"
    ".meta{color:#555;margin:2px 0}.note{color:#555;font-size:13px;max-width:900px}\n"
    "table{border-collapse:collapse;margin:8px 0 16px 0}th,td{border-bottom:1px solid #ddd;padding:4px 12px;text-align:right}\n"
    "th.t,td.t{text-align:left}td{font-variant-numeric:tabular-nums}th{background:#f3f3f3}tr.strong td{font-weight:bold}\n"
    "caption{caption-side:bottom;color:#555;font-size:13px;text-align:left;padding-top:4px}\n"
    ".figures{display:flex;flex-wrap:wrap;gap:16px;margin:8px 0}\n"
    "figure{margin:0;border:1px solid #e3e3e3;padding:12px;border-radius:4px;background:#fff}\n"
    "figcaption{color:#555;font-size:13px;max-width:520px;margin-top:6px}\n"
    "svg,img{max-width:100%;height:auto;display:block}\n";

std::string base64(const std::string& bytes) {
  static const char* const k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k[v & 63] : '=';
  }
  return out;
}

// Escapes the text and turns the two inline marks (**bold**, `code`) into tags; an unclosed mark
// is closed at the end so the page stays well formed.
std::string inline_html(const std::string& text) {
  std::string out;
  bool bold = false, code = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!code && text.compare(i, 2, "**") == 0) {
      out += bold ? "</b>" : "<b>";
      bold = !bold;
      ++i;
    } else if (text[i] == '`') {
      out += code ? "</code>" : "<code>";
      code = !code;
    } else {
      out += xml_escape(std::string(1, text[i]));
    }
  }
  if (code) out += "</code>";
  if (bold) out += "</b>";
  return out;
}

// Table cells may not hold a bare '|' in Markdown.
std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string anchor(const ReportSection& s) {
  if (!s.id.empty()) return s.id;
  std::string id;
  for (unsigned char c : s.title) {
    if (std::isalnum(c)) id += static_cast<char>(std::tolower(c));
    else if (!id.empty() && id.back() != '-') id += '-';
  }
  while (!id.empty() && id.back() == '-') id.pop_back();
  return id.empty() ? "section" : id;
}

void table_html(std::ostream& o, const ReportTable& t) {
  auto cls = [&](std::size_t c) { return c < t.text_columns ? " class=\"t\"" : ""; };
  o << "<table>\n";
  if (!t.caption.empty()) o << "<caption>" << inline_html(t.caption) << "</caption>\n";
  o << "<tr>";
  for (std::size_t c = 0; c < t.header.size(); ++c) o << "<th" << cls(c) << ">" << inline_html(t.header[c]) << "</th>";
  o << "</tr>\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    o << (r < t.strong.size() && t.strong[r] ? "<tr class=\"strong\">" : "<tr>");
    for (std::size_t c = 0; c < t.rows[r].size(); ++c) o << "<td" << cls(c) << ">" << inline_html(t.rows[r][c]) << "</td>";
    o << "</tr>\n";
  }
  o << "</table>\n";
}

void figure_html(std::ostream& o, const ReportFigure& f) {
  o << "<figure id=\"" << xml_escape(f.name) << "\">\n<h3>" << inline_html(f.title) << "</h3>\n";
  if (f.png.empty()) o << f.svg;
  else o << "<img alt=\"" << xml_escape(f.title) << "\" src=\"data:image/png;base64," << base64(f.png) << "\">\n";
  if (!f.caption.empty()) o << "<figcaption>" << inline_html(f.caption) << "</figcaption>\n";
  o << "</figure>\n";
}

void links_html(std::ostream& o, const std::vector<ReportLink>& links) {
  o << "<ul class=\"links\">\n";
  for (const auto& l : links) {
    o << "<li><a href=\"" << xml_escape(l.href) << "\">" << inline_html(l.text) << "</a> <code>" << xml_escape(l.href)
      << "</code></li>\n";
  }
  o << "</ul>\n";
}

void block_html(std::ostream& o, const ReportBlock& b) {
  switch (b.kind) {
    case Kind::kParagraph: o << "<p>" << inline_html(b.text) << "</p>\n"; break;
    case Kind::kNote: o << "<p class=\"note\">" << inline_html(b.text) << "</p>\n"; break;
    case Kind::kList:
      o << "<ul>\n";
      for (const auto& item : b.items) o << "<li>" << inline_html(item) << "</li>\n";
      o << "</ul>\n";
      break;
    case Kind::kLinks: links_html(o, b.links); break;
    case Kind::kTable: table_html(o, b.table); break;
    case Kind::kFigure: figure_html(o, b.figure); break;
  }
}

void table_md(std::ostream& o, const ReportTable& t) {
  o << "|";
  for (const auto& h : t.header) o << " " << md_cell(h) << " |";
  o << "\n|";
  for (std::size_t c = 0; c < t.header.size(); ++c) o << (c < t.text_columns ? "---|" : "---:|");
  o << "\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const bool strong = r < t.strong.size() && t.strong[r];
    o << "|";
    for (const auto& c : t.rows[r]) o << " " << (strong && !c.empty() ? "**" + md_cell(c) + "**" : md_cell(c)) << " |";
    o << "\n";
  }
  if (!t.caption.empty()) o << "\n" << t.caption << "\n";
}

void block_md(std::ostream& o, const ReportBlock& b, const std::string& figure_dir) {
  switch (b.kind) {
    case Kind::kParagraph: o << b.text << "\n\n"; break;
    case Kind::kNote: o << "*" << b.text << "*\n\n"; break;
    case Kind::kList:
      for (const auto& item : b.items) o << "- " << item << "\n";
      o << "\n";
      break;
    case Kind::kLinks:
      for (const auto& l : b.links) o << "- [" << l.text << "](" << l.href << ")\n";
      o << "\n";
      break;
    case Kind::kTable:
      table_md(o, b.table);
      o << "\n";
      break;
    case Kind::kFigure: {
      const ReportFigure& f = b.figure;
      o << "![" << f.title << "](" << figure_dir << "/" << f.name << "." << f.extension() << ")\n\n";
      if (!f.caption.empty()) o << "*" << f.title << ".* " << f.caption << "\n\n";
      break;
    }
  }
}

nlohmann::json block_json(const ReportBlock& b, const std::string& figure_dir) {
  nlohmann::json j;
  switch (b.kind) {
    case Kind::kParagraph: j = {{"type", "paragraph"}, {"text", b.text}}; break;
    case Kind::kNote: j = {{"type", "note"}, {"text", b.text}}; break;
    case Kind::kList: j = {{"type", "list"}, {"items", b.items}}; break;
    case Kind::kLinks: {
      j = {{"type", "links"}, {"links", nlohmann::json::array()}};
      for (const auto& l : b.links) j["links"].push_back({{"text", l.text}, {"href", l.href}});
      break;
    }
    case Kind::kTable: {
      std::vector<bool> strong = b.table.strong;
      strong.resize(b.table.rows.size(), false);
      j = {{"type", "table"}, {"header", b.table.header}, {"rows", b.table.rows}, {"strong", strong},
           {"text_columns", b.table.text_columns}, {"caption", b.table.caption}};
      break;
    }
    case Kind::kFigure:
      j = {{"type", "figure"}, {"name", b.figure.name}, {"title", b.figure.title},
           {"file", figure_dir + "/" + b.figure.name + "." + b.figure.extension()}, {"caption", b.figure.caption}};
      break;
  }
  return j;
}

void check_figures(const Report& report) {
  std::set<std::string> names;
  for (const ReportFigure* f : report.figures()) {
    if (f->name.empty()) throw ValueError("report '" + report.title + "': figure '" + f->title + "' has no name");
    if (f->svg.empty() == f->png.empty()) {
      throw ValueError("report '" + report.title + "': figure '" + f->name + "' needs exactly one of svg and png");
    }
    if (!names.insert(f->name).second) {
      throw ValueError("report '" + report.title + "': two figures are named '" + f->name + "'");
    }
  }
}

std::string extension(ReportFormat f) {
  switch (f) {
    case ReportFormat::kMarkdown: return ".md";
    case ReportFormat::kHtml: return ".html";
    case ReportFormat::kJson: return ".json";
  }
  return "";
}

}  // namespace

ReportTable& ReportTable::add(std::vector<std::string> row, bool is_strong) {
  if (!header.empty() && row.size() != header.size()) {
    throw ValueError("report table: a row has " + std::to_string(row.size()) + " cells, the header " +
                     std::to_string(header.size()));
  }
  rows.push_back(std::move(row));
  strong.resize(rows.size() - 1, false);
  strong.push_back(is_strong);
  return *this;
}

ReportSection& ReportSection::paragraph(std::string text) {
  blocks.push_back({Kind::kParagraph, std::move(text), {}, {}, {}, {}});
  return *this;
}
ReportSection& ReportSection::note(std::string text) {
  blocks.push_back({Kind::kNote, std::move(text), {}, {}, {}, {}});
  return *this;
}
ReportSection& ReportSection::list(std::vector<std::string> items) {
  blocks.push_back({Kind::kList, "", std::move(items), {}, {}, {}});
  return *this;
}
ReportSection& ReportSection::links(std::vector<ReportLink> links) {
  blocks.push_back({Kind::kLinks, "", {}, std::move(links), {}, {}});
  return *this;
}
ReportSection& ReportSection::table(ReportTable table) {
  blocks.push_back({Kind::kTable, "", {}, {}, std::move(table), {}});
  return *this;
}
ReportSection& ReportSection::figure(ReportFigure figure) {
  blocks.push_back({Kind::kFigure, "", {}, {}, {}, std::move(figure)});
  return *this;
}

ReportSection& Report::section(std::string title, std::string id) {
  sections.push_back({std::move(title), std::move(id), {}});
  return sections.back();
}

std::vector<const ReportFigure*> Report::figures() const {
  std::vector<const ReportFigure*> out;
  for (const auto& s : sections) {
    for (const auto& b : s.blocks) {
      if (b.kind == Kind::kFigure) out.push_back(&b.figure);
    }
  }
  return out;
}

std::string to_markdown(const Report& report, const std::string& figure_dir) {
  std::ostringstream o;
  o << "# " << report.title << "\n\n";
  if (!report.summary.empty()) o << report.summary << "\n\n";
  for (const auto& m : report.meta) o << "- " << m << "\n";
  if (!report.meta.empty()) o << "\n";
  for (const auto& l : report.links) o << "- [" << l.text << "](" << l.href << ")\n";
  if (!report.links.empty()) o << "\n";
  for (const auto& s : report.sections) {
    o << "## " << s.title << "\n\n";
    for (const auto& b : s.blocks) block_md(o, b, figure_dir);
  }
  return o.str();
}

std::string to_html(const Report& report) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << xml_escape(report.title)
    << "</title>\n<style>\n" << kStyle << "</style>\n</head>\n<body>\n<h1>" << inline_html(report.title) << "</h1>\n";
  if (!report.summary.empty()) o << "<p class=\"summary\">" << inline_html(report.summary) << "</p>\n";
  for (const auto& m : report.meta) o << "<p class=\"meta\">" << inline_html(m) << "</p>\n";
  if (!report.links.empty()) links_html(o, report.links);
  for (const auto& s : report.sections) {
    o << "<section id=\"" << xml_escape(anchor(s)) << "\">\n<h2>" << inline_html(s.title) << "</h2>\n";
    bool in_figures = false;
    for (const auto& b : s.blocks) {
      const bool is_figure = b.kind == Kind::kFigure;
      if (is_figure && !in_figures) o << "<div class=\"figures\">\n";
      if (!is_figure && in_figures) o << "</div>\n";
      in_figures = is_figure;
      block_html(o, b);
    }
    if (in_figures) o << "</div>\n";
    o << "</section>\n";
  }
  o << "</body>\n</html>\n";
  return o.str();
}

nlohmann::json to_json(const Report& report, const std::string& figure_dir) {
  nlohmann::json j = {{"title", report.title}, {"summary", report.summary}, {"meta", report.meta}};
  j["links"] = nlohmann::json::array();
  for (const auto& l : report.links) j["links"].push_back({{"text", l.text}, {"href", l.href}});
  j["sections"] = nlohmann::json::array();
  for (const auto& s : report.sections) {
    nlohmann::json blocks = nlohmann::json::array();
    for (const auto& b : s.blocks) blocks.push_back(block_json(b, figure_dir));
    j["sections"].push_back({{"title", s.title}, {"id", anchor(s)}, {"blocks", blocks}});
  }
  return j;
}

void refuse_existing(const std::vector<fs::path>& files, Overwrite overwrite) {
  if (overwrite == Overwrite::kAllow) return;
  for (const auto& f : files) {
    std::error_code ec;
    if (fs::exists(f, ec)) {
      throw IoError("refusing to overwrite existing report file '" + f.string() +
                    "' (write to another folder, or allow overwriting)");
    }
  }
}

std::vector<fs::path> report_files(const fs::path& dir, const Report& report, const ReportWriteOptions& options) {
  std::vector<fs::path> files;
  if (options.figure_files) {
    for (const ReportFigure* f : report.figures()) files.push_back(dir / options.figure_dir / (f->name + "." + f->extension()));
  }
  for (ReportFormat format : options.formats) files.push_back(dir / (options.stem + extension(format)));
  return files;
}

std::vector<fs::path> write_report_files(const fs::path& dir, const Report& report, const ReportWriteOptions& options) {
  check_figures(report);
  const auto files = report_files(dir, report, options);
  refuse_existing(files, options.overwrite);
  ensure_directory(dir);
  std::size_t i = 0;
  if (options.figure_files) {
    if (!report.figures().empty()) ensure_directory(dir / options.figure_dir);
    for (const ReportFigure* f : report.figures()) {
      const std::string content = f->png.empty() ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + f->svg : f->png;
      write_file_atomic(files[i++], content, options.overwrite);
    }
  }
  for (ReportFormat format : options.formats) {
    switch (format) {
      case ReportFormat::kMarkdown: write_file_atomic(files[i++], to_markdown(report, options.figure_dir), options.overwrite); break;
      case ReportFormat::kHtml: write_file_atomic(files[i++], to_html(report), options.overwrite); break;
      case ReportFormat::kJson: write_file_atomic(files[i++], to_json(report, options.figure_dir).dump(2) + "\n", options.overwrite); break;
    }
  }
  return files;
}

}  // namespace tomograd::eval
