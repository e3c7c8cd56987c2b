#pragma once
// Small statistics helpers with numpy's conventions (the numbers vLLM's bench reports).
#include <vector>

namespace ds::bench {
double mean(const std::vector<double>& v);                     // 0 for an empty vector
double stddev(const std::vector<double>& v);                   // population std (numpy default)
// numpy.percentile with linear interpolation; p in [0, 100]; 0 for an empty vector.
double percentile(std::vector<double> v, double p);
double median(const std::vector<double>& v);
}  // namespace ds::bench
