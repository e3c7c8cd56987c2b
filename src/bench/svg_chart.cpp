#include "bench/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace ds::bench {
namespace {
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string num(double v) {
  char b[32];
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-3)) std::snprintf(b, sizeof b, "%.2g", v);
  else std::snprintf(b, sizeof b, "%g", std::round(v * 1000) / 1000);
  return b;
}
}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int n) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(n, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::floor(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string render_svg(const Chart& c) {
  const double L = 80, R = 20, T = 40, B = 60;
  const double W = c.width - L - R, H = c.height - T - B;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : c.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double hw = s.style == Series::kBars ? s.bar_width / 2 : 0;
      x0 = std::min(x0, s.x[i] - hw);
      x1 = std::max(x1, s.x[i] + hw);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (c.y_from_zero) y0 = std::min(y0, 0.0);
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const auto xt = nice_ticks(x0, x1, 8), yt = nice_ticks(y0, y1 * 1.05, 6);
  x0 = std::min(x0, xt.front()), x1 = std::max(x1, xt.back());
  y0 = std::min(y0, yt.front()), y1 = std::max(y1 * 1.05, yt.back());
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * W; };
  auto py = [&](double y) { return T + H - (y - y0) / (y1 - y0) * H; };
  std::string s;
  char b[512];
  std::snprintf(b, sizeof b,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                c.width, c.height, c.width, c.height);
  s += b;
  std::snprintf(b, sizeof b, "<text x=\"%g\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">%s</text>\n",
                c.width / 2.0, esc(c.title).c_str());
  s += b;
  for (double v : yt) {
    std::snprintf(b, sizeof b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  L, py(v), L + W, py(v), L - 6, py(v) + 4, num(v).c_str());
    s += b;
  }
  for (double v : xt) {
    std::snprintf(b, sizeof b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                  px(v), T, px(v), T + H, px(v), T + H + 16, num(v).c_str());
    s += b;
  }
  std::snprintf(b, sizeof b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n", L, T, W, H);
  s += b;
  std::snprintf(b, sizeof b, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n", L + W / 2, double(c.height) - 18,
                esc(c.x_label).c_str());
  s += b;
  std::snprintf(b, sizeof b, "<text transform=\"translate(18,%g) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", T + H / 2,
                esc(c.y_label).c_str());
  s += b;
  for (const auto& se : c.series) {
    const size_t n = std::min(se.x.size(), se.y.size());
    if (se.style == Series::kBars) {
      for (size_t i = 0; i < n; ++i) {
        const double xa = px(se.x[i] - se.bar_width / 2), xb = px(se.x[i] + se.bar_width / 2);
        std::snprintf(b, sizeof b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.75\"/>\n",
                      xa, py(se.y[i]), std::max(xb - xa - 1, 0.5), py(y0) - py(se.y[i]), se.color.c_str());
        s += b;
      }
      continue;
    }
    if (se.style != Series::kPoints && n > 0) {
      s += "<polyline fill=\"none\" stroke=\"" + se.color + "\" stroke-width=\"2\" points=\"";
      for (size_t i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, "%.1f,%.1f ", px(se.x[i]), py(se.y[i]));
        s += b;
      }
      s += "\"/>\n";
    }
    if (se.style != Series::kLine)
      for (size_t i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(se.x[i]), py(se.y[i]),
                      se.color.c_str());
        s += b;
      }
  }
  double ly = T + 14;
  for (const auto& se : c.series) {
    if (se.name.empty()) continue;
    std::snprintf(b, sizeof b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                  L + W - 190, ly - 10, se.color.c_str(), L + W - 172, ly, esc(se.name).c_str());
    s += b;
    ly += 18;
  }
  s += "</svg>\n";
  return s;
}
}  // namespace ds::bench
