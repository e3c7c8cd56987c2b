#pragma once
// A minimal hand-written SVG chart: axes with round ticks, line/step/scatter series, bars, legend.
#include <string>
#include <vector>

namespace ds::bench {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
  enum Style { kLine, kPoints, kLinePoints, kBars } style = kLine;
  double bar_width = 0;  // kBars: width in x units
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool y_from_zero = true;
  int width = 720, height = 420;
};

std::string render_svg(const Chart& c);
// "nice" tick values covering [lo, hi] (about n of them).
std::vector<double> nice_ticks(double lo, double hi, int n);
}  // namespace ds::bench
