#pragma once
/// @file Minimal self-contained SVG charts (no scripts, no external fonts or styles) for reports
/// and papers: lines, scatter points, histograms, reference lines, marked points, heat maps.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace tomograd::eval {

/// An x–y chart. Non-finite points are left out. Colors cycle through a colour-blind-safe palette
/// unless a series names one.
class SvgPlot {
 public:
  enum class Legend { kTopLeft, kTopRight, kBottomLeft, kBottomRight, kNone };

  SvgPlot(std::string title, std::string x_label, std::string y_label);

  /// A polyline through the points in order.
  SvgPlot& line(std::vector<double> x, std::vector<double> y, std::string label, bool dashed = false,
                std::string color = "");
  /// Points as small circles.
  SvgPlot& scatter(std::vector<double> x, std::vector<double> y, std::string label, std::string color = "");
  /// Histogram bars: @p edges has one more entry than @p heights.
  SvgPlot& bars(std::vector<double> edges, std::vector<double> heights, std::string label, std::string color = "");
  /// Horizontal reference line across the plot.
  SvgPlot& hline(double y, std::string label, bool dashed = true, std::string color = "");
  /// Vertical reference line.
  SvgPlot& vline(double x, std::string label, bool dashed = true, std::string color = "");
  /// One emphasized point (e.g. the operating point) with a legend entry.
  SvgPlot& marker(double x, double y, std::string label, std::string color = "#d62728");
  /// A polyline against a second y axis on the right, labelled @p axis_label (for a quantity of
  /// another unit or scale, e.g. samples/s beside 0–1 metrics). Its legend entry says "(right axis)".
  SvgPlot& line_right(std::vector<double> x, std::vector<double> y, std::string label, std::string axis_label,
                      std::string color = "");

  /// Fixes the axis ranges (otherwise they fit the data with a margin).
  SvgPlot& x_range(double lo, double hi);
  SvgPlot& y_range(double lo, double hi);
  SvgPlot& legend(Legend where);

  /// The chart as a standalone <svg> element (with xmlns), @p width × @p height pixels.
  std::string render(int width = 520, int height = 400) const;
  const std::string& title() const { return title_; }

 private:
  struct Series {
    enum class Kind { kLine, kScatter, kBars, kHLine, kVLine, kMarker } kind;
    std::vector<double> x, y;
    std::string label, color;
    bool dashed = false;
    bool right = false;  ///< drawn against the right axis
  };
  struct Frame;  // data ranges and pixel box of one render
  std::string next_color();
  Frame frame(int width, int height) const;
  void draw_axes(std::ostream& o, const Frame& f, int width, int height) const;
  void draw_series(std::ostream& o, const Frame& f, const Series& s) const;
  void draw_legend(std::ostream& o, const Frame& f) const;

  std::string title_, x_label_, y_label_, y2_label_;
  std::vector<Series> series_;
  std::optional<std::pair<double, double>> x_range_, y_range_;
  Legend legend_ = Legend::kBottomRight;
  int color_index_ = 0;
};

/// A confusion matrix as a heat map with counts and row percentages in the cells; rows are true
/// classes, columns predicted ones.
std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>& counts,
                                 const std::vector<std::string>& class_names, const std::string& title,
                                 int width = 480);

/// Escapes &, <, >, " and ' for XML text and attributes.
std::string xml_escape(const std::string& text);

/// About @p target "nice" tick positions (1, 2, 5 × 10^k steps) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace tomograd::eval
