// toy_translation: two small SVG pictures without a plotting library: a line chart (the learning
// curve) and a labelled scatter plot (the PCA of sentence vectors, like Figure 2 of the paper).
#ifndef TOY_TRANSLATION_SVG_HPP
#define TOY_TRANSLATION_SVG_HPP

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace toy {

/// Text escaped for an XML text node or attribute.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string fmt(double v, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

/// One line of a chart: points (x, y) drawn in `color`.
struct Series {
  std::string name, color;
  std::vector<double> x, y;
  bool markers = false;
};

namespace detail {

struct Frame {
  double width = 720, height = 440, left = 70, right = 170, top = 40, bottom = 55;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool log_y = false;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (width - left - right); }
  double py(double y) const {
    const double v = log_y ? std::log10(y) : y;
    const double a = log_y ? std::log10(y0) : y0, b = log_y ? std::log10(y1) : y1;
    return height - bottom - (v - a) / (b - a) * (height - top - bottom);
  }
};

inline void header(std::ostringstream& out, const Frame& f, const std::string& title) {
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << f.width << "\" height=\"" << f.height
      << "\" viewBox=\"0 0 " << f.width << ' ' << f.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << f.width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(title)
      << "</text>\n";
}

/// Round tick positions covering [lo, hi].
inline std::vector<double> ticks(double lo, double hi, int target = 6) {
  std::vector<double> t;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(std::abs(v) < 1e-12 * step ? 0 : v);
  return t;
}

}  // namespace detail

/// A line chart of `series` with axis labels; `log_y` draws y on a log10 scale (values must be > 0).
inline std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                                  const std::vector<Series>& series, bool log_y) {
  detail::Frame f;
  f.log_y = log_y;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const Series& s : series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (log_y && s.y[i] <= 0)) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 1, ymax = 10;
  if (xmin > 0 && xmin < 0.1 * (xmax - xmin)) xmin = 0;  // start the axis at 0 when the data nearly do
  if (xmax <= xmin) xmax = xmin + 1;
  if (log_y) {
    ymin = std::pow(10.0, std::floor(std::log10(ymin) * 4) / 4);
    ymax = std::pow(10.0, std::ceil(std::log10(ymax) * 4) / 4);
    if (ymax <= ymin) ymax = ymin * 10;
  } else {
    if (ymax <= ymin) ymax = ymin + 1;
    const double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
  }
  f.x0 = xmin, f.x1 = xmax, f.y0 = ymin, f.y1 = ymax;
  std::ostringstream out;
  detail::header(out, f, title);
  const double L = f.left, R = f.width - f.right, T = f.top, B = f.height - f.bottom;
  out << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << R - L << "\" height=\"" << B - T
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double x : detail::ticks(xmin, xmax))
    out << "<line x1=\"" << f.px(x) << "\" y1=\"" << B << "\" x2=\"" << f.px(x) << "\" y2=\"" << T
        << "\" stroke=\"#ddd\"/><text x=\"" << f.px(x) << "\" y=\"" << B + 16 << "\" text-anchor=\"middle\">" << fmt(x)
        << "</text>\n";
  std::vector<double> yt;
  if (log_y) {
    for (double d = std::floor(std::log10(ymin)); d <= std::ceil(std::log10(ymax)); d += 1)
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10.0, d);
        if (v >= ymin * 0.999 && v <= ymax * 1.001) yt.push_back(v);
      }
  } else {
    yt = detail::ticks(ymin, ymax);
  }
  for (double y : yt)
    out << "<line x1=\"" << L << "\" y1=\"" << f.py(y) << "\" x2=\"" << R << "\" y2=\"" << f.py(y)
        << "\" stroke=\"#ddd\"/><text x=\"" << L - 6 << "\" y=\"" << f.py(y) + 4 << "\" text-anchor=\"end\">" << fmt(y)
        << "</text>\n";
  out << "<text x=\"" << (L + R) / 2 << "\" y=\"" << f.height - 14 << "\" text-anchor=\"middle\">" << xml_escape(x_label)
      << "</text>\n<text transform=\"translate(18," << (T + B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(y_label) << (log_y ? " (log scale)" : "") << "</text>\n";
  double legend_y = T + 10;
  for (const Series& s : series) {
    out << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.6\" points=\"";
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i]) && (!log_y || s.y[i] > 0)) out << fmt(f.px(s.x[i]), 6) << ',' << fmt(f.py(s.y[i]), 6) << ' ';
    out << "\"/>\n";
    if (s.markers)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.y[i]) && (!log_y || s.y[i] > 0))
          out << "<circle cx=\"" << fmt(f.px(s.x[i]), 6) << "\" cy=\"" << fmt(f.py(s.y[i]), 6) << "\" r=\"3\" fill=\""
              << s.color << "\"/>\n";
    out << "<line x1=\"" << R + 12 << "\" y1=\"" << legend_y << "\" x2=\"" << R + 36 << "\" y2=\"" << legend_y
        << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"/><text x=\"" << R + 42 << "\" y=\"" << legend_y + 4 << "\">"
        << xml_escape(s.name) << "</text>\n";
    legend_y += 20;
  }
  out << "</svg>\n";
  return out.str();
}

/// A scatter plot of labelled points (the PCA picture); `group` picks one of a few colours.
inline std::string scatter_svg(const std::string& title, const std::vector<double>& x, const std::vector<double>& y,
                               const std::vector<std::string>& labels, const std::vector<int>& group,
                               const std::string& x_label, const std::string& y_label) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  detail::Frame f;
  f.width = 900, f.height = 640, f.left = 60, f.right = 40, f.top = 40, f.bottom = 50;
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  if (!x.empty()) {
    xmin = *std::min_element(x.begin(), x.end()), xmax = *std::max_element(x.begin(), x.end());
    ymin = *std::min_element(y.begin(), y.end()), ymax = *std::max_element(y.begin(), y.end());
  }
  // Room on the right for the labels.
  const double dx = std::max(xmax - xmin, 1e-9), dy = std::max(ymax - ymin, 1e-9);
  f.x0 = xmin - 0.05 * dx, f.x1 = xmax + 0.45 * dx, f.y0 = ymin - 0.08 * dy, f.y1 = ymax + 0.08 * dy;
  std::ostringstream out;
  detail::header(out, f, title);
  const double L = f.left, R = f.width - f.right, T = f.top, B = f.height - f.bottom;
  out << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << R - L << "\" height=\"" << B - T
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
  if (f.x0 < 0 && f.x1 > 0)
    out << "<line x1=\"" << f.px(0) << "\" y1=\"" << T << "\" x2=\"" << f.px(0) << "\" y2=\"" << B << "\" stroke=\"#eee\"/>\n";
  if (f.y0 < 0 && f.y1 > 0)
    out << "<line x1=\"" << L << "\" y1=\"" << f.py(0) << "\" x2=\"" << R << "\" y2=\"" << f.py(0) << "\" stroke=\"#eee\"/>\n";
  out << "<text x=\"" << (L + R) / 2 << "\" y=\"" << f.height - 16 << "\" text-anchor=\"middle\">" << xml_escape(x_label)
      << "</text>\n<text transform=\"translate(20," << (T + B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(y_label) << "</text>\n";
  // Labels go right of their point; a label that would overlap one already placed moves down
  // (estimated box: 6.6 px per character, 13 px high), with a thin line back to its point.
  struct Box {
    double x0, x1, y0, y1;
  };
  std::vector<Box> placed;
  std::vector<std::size_t> order(x.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return f.py(y[a]) < f.py(y[b]); });
  for (std::size_t i : order) {
    const char* c = colors[static_cast<std::size_t>(group.empty() ? 0 : group[i]) % (sizeof colors / sizeof *colors)];
    const double px = f.px(x[i]), py = f.py(y[i]);
    Box box{px + 7, px + 7 + 6.6 * static_cast<double>(labels[i].size()), py - 8, py + 5};
    for (int tries = 0; tries < 40; ++tries) {
      bool clash = false;
      for (const Box& o : placed) clash = clash || (box.x0 < o.x1 && o.x0 < box.x1 && box.y0 < o.y1 && o.y0 < box.y1);
      if (!clash) break;
      box.y0 += 13;
      box.y1 += 13;
    }
    placed.push_back(box);
    out << "<circle cx=\"" << fmt(px, 6) << "\" cy=\"" << fmt(py, 6) << "\" r=\"4\" fill=\"" << c << "\"/>";
    if (box.y0 > py - 8 + 1)
      out << "<line x1=\"" << fmt(px, 6) << "\" y1=\"" << fmt(py, 6) << "\" x2=\"" << fmt(box.x0 - 1, 6) << "\" y2=\""
          << fmt(box.y1 - 4, 6) << "\" stroke=\"" << c << "\" stroke-width=\"0.5\"/>";
    out << "<text x=\"" << fmt(box.x0, 6) << "\" y=\"" << fmt(box.y1 - 1, 6) << "\" fill=\"" << c << "\">"
        << xml_escape(labels[i]) << "</text>\n";
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace toy

#endif  // TOY_TRANSLATION_SVG_HPP
