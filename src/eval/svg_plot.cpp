#include "tomograd/eval/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "tomograd/core/error.hpp"

namespace tomograd::eval {

namespace {

// Okabe & Ito's colour-blind-safe palette.
const char* const kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"};

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v, double step) {
  char buf[32];
  if (v == 0.0) return "0";
  if (std::abs(v) >= 1e5 || step < 1e-4) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

std::pair<double, double> padded(double lo, double hi) {
  if (!(lo <= hi)) return {0.0, 1.0};
  if (lo == hi) {
    double d = lo == 0.0 ? 1.0 : std::abs(lo) * 0.1;
    return {lo - d, hi + d};
  }
  double pad = (hi - lo) * 0.04;
  return {lo - pad, hi + pad};
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi <= lo || target < 1) return {lo};
  double rough = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(rough)));
  double r = rough / mag;
  double step = (r < 1.5 ? 1.0 : r < 3.0 ? 2.0 : r < 7.0 ? 5.0 : 10.0) * mag;
  double start = std::ceil(lo / step - 1e-9);
  std::vector<double> ticks;
  for (int i = 0; i < 1000; ++i) {
    double v = (start + i) * step;
    if (v > hi + step * 1e-9) break;
    if (std::abs(v) < step * 1e-9) v = 0.0;
    ticks.push_back(v);
  }
  return ticks;
}

SvgPlot::SvgPlot(std::string title, std::string x_label, std::string y_label)
    : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)) {}

std::string SvgPlot::next_color() { return kPalette[color_index_++ % 7]; }

SvgPlot& SvgPlot::line(std::vector<double> x, std::vector<double> y, std::string label, bool dashed, std::string color) {
  if (x.size() != y.size()) throw ValueError("plot '" + title_ + "': line has " + std::to_string(x.size()) + " x and " + std::to_string(y.size()) + " y values");
  series_.push_back({Series::Kind::kLine, std::move(x), std::move(y), std::move(label),
                     color.empty() ? next_color() : color, dashed});
  return *this;
}

SvgPlot& SvgPlot::scatter(std::vector<double> x, std::vector<double> y, std::string label, std::string color) {
  if (x.size() != y.size()) throw ValueError("plot '" + title_ + "': scatter has " + std::to_string(x.size()) + " x and " + std::to_string(y.size()) + " y values");
  series_.push_back({Series::Kind::kScatter, std::move(x), std::move(y), std::move(label),
                     color.empty() ? next_color() : color, false});
  return *this;
}

SvgPlot& SvgPlot::bars(std::vector<double> edges, std::vector<double> heights, std::string label, std::string color) {
  if (edges.size() != heights.size() + 1) throw ValueError("plot '" + title_ + "': histogram needs one more edge than bars");
  series_.push_back({Series::Kind::kBars, std::move(edges), std::move(heights), std::move(label),
                     color.empty() ? next_color() : color, false});
  return *this;
}

SvgPlot& SvgPlot::hline(double y, std::string label, bool dashed, std::string color) {
  series_.push_back({Series::Kind::kHLine, {}, {y}, std::move(label), color.empty() ? next_color() : color, dashed});
  return *this;
}

SvgPlot& SvgPlot::vline(double x, std::string label, bool dashed, std::string color) {
  series_.push_back({Series::Kind::kVLine, {x}, {}, std::move(label), color.empty() ? next_color() : color, dashed});
  return *this;
}

SvgPlot& SvgPlot::marker(double x, double y, std::string label, std::string color) {
  series_.push_back({Series::Kind::kMarker, {x}, {y}, std::move(label), std::move(color), false});
  return *this;
}

SvgPlot& SvgPlot::x_range(double lo, double hi) {
  x_range_ = std::make_pair(lo, hi);
  return *this;
}
SvgPlot& SvgPlot::y_range(double lo, double hi) {
  y_range_ = std::make_pair(lo, hi);
  return *this;
}
SvgPlot& SvgPlot::legend(Legend where) {
  legend_ = where;
  return *this;
}

SvgPlot& SvgPlot::line_right(std::vector<double> x, std::vector<double> y, std::string label, std::string axis_label,
                             std::string color) {
  line(std::move(x), std::move(y), std::move(label) + " (right axis)", false, std::move(color));
  series_.back().right = true;
  y2_label_ = std::move(axis_label);
  return *this;
}

struct SvgPlot::Frame {
  double x0, x1, y0, y1, r0 = 0, r1 = 1;  // data ranges: x, left y, right y
  double px0, px1, py0, py1;              // plot box in pixels
  bool has_right = false;
  double X(double v) const { return px0 + (v - x0) / (x1 - x0) * (px1 - px0); }
  double Y(double v, bool right = false) const {
    return right ? py1 - (v - r0) / (r1 - r0) * (py1 - py0) : py1 - (v - y0) / (y1 - y0) * (py1 - py0);
  }
  bool inside(double x, double y, bool right = false) const {
    const double lo = right ? r0 : y0, hi = right ? r1 : y1;
    return std::isfinite(x) && std::isfinite(y) && x >= std::min(x0, x1) && x <= std::max(x0, x1) &&
           y >= std::min(lo, hi) && y <= std::max(lo, hi);
  }
};

SvgPlot::Frame SvgPlot::frame(int width, int height) const {
  const double inf = std::numeric_limits<double>::infinity();
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf, rlo = inf, rhi = -inf;
  bool has_right = false;
  auto see = [](double v, double& lo, double& hi) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  };
  for (const auto& s : series_) {
    has_right = has_right || s.right;
    for (double v : s.x) see(v, xlo, xhi);
    for (double v : s.y) s.right ? see(v, rlo, rhi) : see(v, ylo, yhi);
    if (s.kind == Series::Kind::kBars) see(0.0, ylo, yhi);
  }
  const auto xr = x_range_ ? *x_range_ : padded(xlo, xhi);
  const auto yr = y_range_ ? *y_range_ : padded(ylo, yhi);
  const auto rr = padded(rlo, rhi);
  const double left = 68, right = has_right ? 68 : 18, top = 38, bottom = 50;
  return Frame{xr.first, xr.second, yr.first, yr.second, rr.first, rr.second,
               left, width - right, top, height - bottom, has_right};
}

void SvgPlot::draw_axes(std::ostream& o, const Frame& f, int width, int height) const {
  // Grid from the bottom axis and the left axis; the right axis has tick labels only.
  auto xt = nice_ticks(f.x0, f.x1), yt = nice_ticks(f.y0, f.y1);
  double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  for (double t : xt) {
    o << "<line x1=\"" << coord(f.X(t)) << "\" y1=\"" << coord(f.py0) << "\" x2=\"" << coord(f.X(t)) << "\" y2=\""
      << coord(f.py1) << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << coord(f.X(t)) << "\" y=\"" << coord(f.py1 + 16) << "\" text-anchor=\"middle\" fill=\"#333\">"
      << tick_label(t, xstep) << "</text>\n";
  }
  for (double t : yt) {
    o << "<line x1=\"" << coord(f.px0) << "\" y1=\"" << coord(f.Y(t)) << "\" x2=\"" << coord(f.px1) << "\" y2=\""
      << coord(f.Y(t)) << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << coord(f.px0 - 6) << "\" y=\"" << coord(f.Y(t) + 4) << "\" text-anchor=\"end\" fill=\"#333\">"
      << tick_label(t, ystep) << "</text>\n";
  }
  if (f.has_right) {
    auto rt = nice_ticks(f.r0, f.r1);
    double rstep = rt.size() > 1 ? rt[1] - rt[0] : 1;
    for (double t : rt) {
      o << "<text x=\"" << coord(f.px1 + 6) << "\" y=\"" << coord(f.Y(t, true) + 4) << "\" text-anchor=\"start\" fill=\"#333\">"
        << tick_label(t, rstep) << "</text>\n";
    }
    o << "<text transform=\"translate(" << coord(width - 12.0) << "," << coord((f.py0 + f.py1) / 2)
      << ") rotate(90)\" text-anchor=\"middle\">" << xml_escape(y2_label_) << "</text>\n";
  }
  o << "<rect x=\"" << coord(f.px0) << "\" y=\"" << coord(f.py0) << "\" width=\"" << coord(f.px1 - f.px0) << "\" height=\""
    << coord(f.py1 - f.py0) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << coord(width / 2.0) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << xml_escape(title_) << "</text>\n";
  o << "<text x=\"" << coord((f.px0 + f.px1) / 2) << "\" y=\"" << coord(height - 12.0) << "\" text-anchor=\"middle\">"
    << xml_escape(x_label_) << "</text>\n";
  o << "<text transform=\"translate(16," << coord((f.py0 + f.py1) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(y_label_) << "</text>\n";
}

void SvgPlot::draw_series(std::ostream& o, const Frame& f, const Series& s) const {
  auto dash = [](bool d) { return d ? " stroke-dasharray=\"6 4\"" : ""; };
  switch (s.kind) {
    case Series::Kind::kLine: {
      // A non-finite or out-of-range point breaks the line.
      std::string pts;
      auto flush = [&] {
        if (!pts.empty()) {
          o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash(s.dashed)
            << " points=\"" << pts << "\"/>\n";
        }
        pts.clear();
      };
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!f.inside(s.x[i], s.y[i], s.right)) {
          flush();
          continue;
        }
        pts += (pts.empty() ? "" : " ") + coord(f.X(s.x[i])) + "," + coord(f.Y(s.y[i], s.right));
      }
      flush();
      break;
    }
    case Series::Kind::kScatter:
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!f.inside(s.x[i], s.y[i])) continue;
        o << "<circle cx=\"" << coord(f.X(s.x[i])) << "\" cy=\"" << coord(f.Y(s.y[i])) << "\" r=\"3.2\" fill=\"" << s.color
          << "\" fill-opacity=\"0.75\"/>\n";
      }
      break;
    case Series::Kind::kBars:
      for (std::size_t i = 0; i < s.y.size(); ++i) {
        double a = f.X(s.x[i]), b = f.X(s.x[i + 1]), top_y = f.Y(std::max(s.y[i], 0.0)), base = f.Y(std::max(f.y0, 0.0));
        if (!std::isfinite(a + b + top_y) || s.y[i] <= 0) continue;
        o << "<rect x=\"" << coord(std::min(a, b)) << "\" y=\"" << coord(top_y) << "\" width=\"" << coord(std::abs(b - a))
          << "\" height=\"" << coord(std::max(0.0, base - top_y)) << "\" fill=\"" << s.color
          << "\" fill-opacity=\"0.8\" stroke=\"#ffffff\"/>\n";
      }
      break;
    case Series::Kind::kHLine:
      if (!f.inside(f.x0, s.y[0])) break;
      o << "<line x1=\"" << coord(f.px0) << "\" y1=\"" << coord(f.Y(s.y[0])) << "\" x2=\"" << coord(f.px1) << "\" y2=\""
        << coord(f.Y(s.y[0])) << "\" stroke=\"" << s.color << "\" stroke-width=\"1.5\"" << dash(s.dashed) << "/>\n";
      break;
    case Series::Kind::kVLine:
      if (!f.inside(s.x[0], f.y0)) break;
      o << "<line x1=\"" << coord(f.X(s.x[0])) << "\" y1=\"" << coord(f.py0) << "\" x2=\"" << coord(f.X(s.x[0])) << "\" y2=\""
        << coord(f.py1) << "\" stroke=\"" << s.color << "\" stroke-width=\"1.5\"" << dash(s.dashed) << "/>\n";
      break;
    case Series::Kind::kMarker:
      if (!f.inside(s.x[0], s.y[0])) break;
      o << "<circle cx=\"" << coord(f.X(s.x[0])) << "\" cy=\"" << coord(f.Y(s.y[0])) << "\" r=\"6.5\" fill=\"" << s.color
        << "\" stroke=\"#000\" stroke-width=\"1.5\"/>\n";
      break;
  }
}

void SvgPlot::draw_legend(std::ostream& o, const Frame& f) const {
  auto dash = [](bool d) { return d ? " stroke-dasharray=\"6 4\"" : ""; };
  std::vector<const Series*> entries;
  for (const auto& s : series_) {
    if (!s.label.empty()) entries.push_back(&s);
  }
  if (legend_ == Legend::kNone || entries.empty()) return;
  std::size_t longest = 0;
  for (const auto* s : entries) longest = std::max(longest, s->label.size());
  double w = 34 + 6.6 * static_cast<double>(longest), h = 8 + 18.0 * static_cast<double>(entries.size());
  bool is_left = legend_ == Legend::kTopLeft || legend_ == Legend::kBottomLeft;
  bool is_top = legend_ == Legend::kTopLeft || legend_ == Legend::kTopRight;
  double lx = is_left ? f.px0 + 8 : f.px1 - 8 - w, ly = is_top ? f.py0 + 8 : f.py1 - 8 - h;
  o << "<rect x=\"" << coord(lx) << "\" y=\"" << coord(ly) << "\" width=\"" << coord(w) << "\" height=\"" << coord(h)
    << "\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Series& s = *entries[i];
    double cy = ly + 13 + 18.0 * static_cast<double>(i);
    if (s.kind == Series::Kind::kScatter || s.kind == Series::Kind::kMarker) {
      o << "<circle cx=\"" << coord(lx + 15) << "\" cy=\"" << coord(cy) << "\" r=\"" << (s.kind == Series::Kind::kMarker ? 5 : 3.5)
        << "\" fill=\"" << s.color << "\"" << (s.kind == Series::Kind::kMarker ? " stroke=\"#000\"" : "") << "/>\n";
    } else if (s.kind == Series::Kind::kBars) {
      o << "<rect x=\"" << coord(lx + 8) << "\" y=\"" << coord(cy - 5) << "\" width=\"14\" height=\"10\" fill=\"" << s.color << "\"/>\n";
    } else {
      o << "<line x1=\"" << coord(lx + 6) << "\" y1=\"" << coord(cy) << "\" x2=\"" << coord(lx + 24) << "\" y2=\"" << coord(cy)
        << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash(s.dashed) << "/>\n";
    }
    o << "<text x=\"" << coord(lx + 30) << "\" y=\"" << coord(cy + 4) << "\">" << xml_escape(s.label) << "</text>\n";
  }
}

std::string SvgPlot::render(int width, int height) const {
  const Frame f = frame(width, height);
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  o << "<title>" << xml_escape(title_) << "</title>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << height << "\" fill=\"#ffffff\"/>\n";
  draw_axes(o, f, width, height);
  for (const auto& s : series_) draw_series(o, f, s);
  draw_legend(o, f);
  o << "</svg>\n";
  return o.str();
}

std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>& counts,
                                 const std::vector<std::string>& class_names, const std::string& title, int width) {
  const std::size_t k = counts.size();
  if (k == 0 || class_names.size() != k) {
    throw ValueError("confusion matrix plot needs K×K counts and K class names (got " + std::to_string(k) + " rows, " +
                     std::to_string(class_names.size()) + " names)");
  }
  for (const auto& row : counts) {
    if (row.size() != k) throw ValueError("confusion matrix plot: counts are not square");
  }
  const double left = 120, top = 48, bottom = 70;
  const double cell = std::min(110.0, (width - left - 20) / static_cast<double>(k));
  const int height = static_cast<int>(top + cell * static_cast<double>(k) + bottom);
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
    << width << " " << height << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  o << "<title>" << xml_escape(title) << "</title>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << height << "\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << coord(width / 2.0) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << xml_escape(title) << "</text>\n";
  for (std::size_t r = 0; r < k; ++r) {
    int64_t row_total = 0;
    for (int64_t v : counts[r]) row_total += v;
    for (std::size_t c = 0; c < k; ++c) {
      double frac = row_total > 0 ? static_cast<double>(counts[r][c]) / static_cast<double>(row_total) : 0.0;
      // White to the palette's blue by the row fraction (the recall of each cell's true class).
      int red = static_cast<int>(255 - frac * (255 - 0x08)), green = static_cast<int>(255 - frac * (255 - 0x51)),
          blue = static_cast<int>(255 - frac * (255 - 0x9c));
      double x = left + cell * static_cast<double>(c), y = top + cell * static_cast<double>(r);
      char fill[16];
      std::snprintf(fill, sizeof fill, "#%02x%02x%02x", red, green, blue);
      o << "<rect x=\"" << coord(x) << "\" y=\"" << coord(y) << "\" width=\"" << coord(cell) << "\" height=\"" << coord(cell)
        << "\" fill=\"" << fill << "\" stroke=\"#ffffff\"/>\n";
      const char* ink = frac > 0.5 ? "#ffffff" : "#111111";
      o << "<text x=\"" << coord(x + cell / 2) << "\" y=\"" << coord(y + cell / 2) << "\" text-anchor=\"middle\" font-size=\"15\" fill=\""
        << ink << "\">" << counts[r][c] << "</text>\n";
      if (row_total > 0) {
        char pct[32];
        std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * frac);
        o << "<text x=\"" << coord(x + cell / 2) << "\" y=\"" << coord(y + cell / 2 + 16) << "\" text-anchor=\"middle\" font-size=\"11\" fill=\""
          << ink << "\">" << pct << "</text>\n";
      }
    }
    o << "<text x=\"" << coord(left - 6) << "\" y=\"" << coord(top + cell * (static_cast<double>(r) + 0.5) + 4)
      << "\" text-anchor=\"end\">" << xml_escape(class_names[r]) << "</text>\n";
  }
  for (std::size_t c = 0; c < k; ++c) {
    o << "<text x=\"" << coord(left + cell * (static_cast<double>(c) + 0.5)) << "\" y=\"" << coord(top + cell * static_cast<double>(k) + 16)
      << "\" text-anchor=\"middle\">" << xml_escape(class_names[c]) << "</text>\n";
  }
  o << "<text x=\"" << coord(left + cell * static_cast<double>(k) / 2) << "\" y=\"" << coord(top + cell * static_cast<double>(k) + 40)
    << "\" text-anchor=\"middle\" font-weight=\"bold\">Predicted</text>\n";
  o << "<text transform=\"translate(18," << coord(top + cell * static_cast<double>(k) / 2) << ") rotate(-90)\" text-anchor=\"middle\" font-weight=\"bold\">True</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace tomograd::eval
