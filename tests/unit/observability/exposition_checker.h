#pragma once
// A strict checker for the Prometheus text exposition format 0.0.4, written for the tests from the
// format's description: every line is a comment (# HELP / # TYPE / other), blank, or a sample
//   name[{label="value",...}] value [timestamp]
// plus the family rules: HELP and TYPE at most once per family and before its samples, a
// family's samples contiguous, histogram series with increasing `le`, cumulative (non-decreasing)
// buckets, a `+Inf` bucket equal to `_count`, and a `_sum`.
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ds::testing {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values, in order
  double value = 0;
  std::optional<std::string> label(const std::string& k) const {
    for (const auto& [n, v] : labels) {
      if (n == k) return v;
    }
    return std::nullopt;
  }
};

struct Exposition {
  std::vector<std::string> errors;  // empty = valid
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|...
  std::map<std::string, std::string> helps;  // family -> unescaped help

  // The value of the single sample `name` whose labels include all of `want`; NaN if none,
  // and an error entry if several match.
  double value(const std::string& name, const std::vector<std::pair<std::string, std::string>>& want = {}) {
    std::optional<double> found;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : want) ok = ok && s.label(k) == v;
      if (!ok) continue;
      if (found) errors.push_back("ambiguous lookup " + name);
      found = s.value;
    }
    return found.value_or(std::nan(""));
  }
};

namespace detail {

inline bool is_name_char(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

inline size_t read_name(const std::string& s, size_t i, bool colon) {
  size_t j = i;
  while (j < s.size() && is_name_char(s[j], j == i, colon)) ++j;
  return j;
}

inline std::optional<double> parse_value(const std::string& t) {
  if (t == "+Inf" || t == "Inf") return INFINITY;
  if (t == "-Inf") return -INFINITY;
  if (t == "NaN") return std::nan("");
  if (t.empty()) return std::nullopt;
  for (char c : t) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return std::nullopt;
  }
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return v;
}

inline std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_count", "_sum"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.ends_with(sfx)) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace detail

inline Exposition check_exposition(const std::string& text) {
  using detail::read_name;
  Exposition ex;
  auto err = [&](size_t line_no, const std::string& m) {
    ex.errors.push_back("line " + std::to_string(line_no) + ": " + m);
  };
  if (!text.empty() && text.back() != '\n') ex.errors.push_back("no final newline");
  std::set<std::string> finished_families;  // families whose samples ended (must not resume)
  std::string current_family;
  std::set<std::string> sampled;  // families that have samples
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        const bool help = line[2] == 'H';
        const size_t end = read_name(line, 7, true);
        const std::string name = line.substr(7, end - 7);
        if (name.empty()) err(line_no, "bad metric name in comment");
        if (end < line.size() && line[end] != ' ') err(line_no, "bad metric name in comment");
        const std::string rest = end < line.size() ? line.substr(end + 1) : "";
        if (sampled.count(name)) err(line_no, "HELP/TYPE after samples of " + name);
        if (help) {
          if (ex.helps.count(name)) err(line_no, "second HELP for " + name);
          std::string unesc;
          for (size_t i = 0; i < rest.size(); ++i) {
            if (rest[i] == '\\') {
              if (i + 1 < rest.size() && rest[i + 1] == 'n') unesc += '\n';
              else if (i + 1 < rest.size() && rest[i + 1] == '\\') unesc += '\\';
              else err(line_no, "bad escape in HELP");
              ++i;
            } else {
              unesc += rest[i];
            }
          }
          ex.helps[name] = unesc;
        } else {
          if (ex.types.count(name)) err(line_no, "second TYPE for " + name);
          static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
          if (!kTypes.count(rest)) err(line_no, "bad TYPE " + rest);
          ex.types[name] = rest;
        }
      }
      continue;
    }
    // Sample line.
    Sample s;
    size_t i = read_name(line, 0, true);
    s.name = line.substr(0, i);
    if (s.name.empty()) {
      err(line_no, "bad metric name: " + line);
      continue;
    }
    bool bad = false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      std::set<std::string> seen;
      while (i < line.size() && line[i] != '}') {
        const size_t ne = read_name(line, i, false);
        const std::string lname = line.substr(i, ne - i);
        if (lname.empty() || ne + 1 >= line.size() || line[ne] != '=' || line[ne + 1] != '"') {
          bad = true;
          break;
        }
        if (!seen.insert(lname).second) err(line_no, "duplicate label " + lname);
        i = ne + 2;
        std::string v;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            const char e = line[i++];
            if (e == '\\') v += '\\';
            else if (e == '"') v += '"';
            else if (e == 'n') v += '\n';
            else bad = true;
          } else {
            v += c;
          }
        }
        if (!closed) bad = true;
        if (bad) break;
        s.labels.emplace_back(lname, v);
        if (i < line.size() && line[i] == ',') ++i;
        else if (i < line.size() && line[i] != '}') bad = true;
        if (bad) break;
      }
      if (bad || i >= line.size() || line[i] != '}') {
        err(line_no, "bad label set: " + line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      err(line_no, "no space before value: " + line);
      continue;
    }
    const std::string rest = line.substr(i + 1);
    const size_t sp = rest.find(' ');
    const auto v = detail::parse_value(rest.substr(0, sp));
    if (!v) {
      err(line_no, "bad value: " + line);
      continue;
    }
    if (sp != std::string::npos) {
      const std::string ts = rest.substr(sp + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) err(line_no, "bad timestamp");
    }
    s.value = *v;
    const std::string fam = detail::family_of(s.name, ex.types);
    if (fam != current_family) {
      if (finished_families.count(fam)) err(line_no, "samples of " + fam + " not contiguous");
      if (!current_family.empty()) finished_families.insert(current_family);
      current_family = fam;
    }
    sampled.insert(fam);
    if (!ex.types.count(fam)) err(line_no, "sample without TYPE: " + s.name);
    if (ex.types[fam] == "counter" && (s.value < 0 || std::isnan(s.value))) err(line_no, "negative counter");
    ex.samples.push_back(std::move(s));
  }

  // Histogram rules, per family and per label set without `le`.
  for (const auto& [fam, type] : ex.types) {
    if (type != "histogram") continue;
    using Key = std::vector<std::pair<std::string, std::string>>;
    struct Series {
      std::vector<std::pair<double, double>> buckets;  // (le, count) in order of appearance
      std::optional<double> count, sum;
    };
    std::map<Key, Series> series;
    for (const auto& s : ex.samples) {
      if (detail::family_of(s.name, ex.types) != fam) continue;
      Key key;
      std::optional<std::string> le;
      for (const auto& kv : s.labels) {
        if (kv.first == "le") le = kv.second;
        else key.push_back(kv);
      }
      Series& sr = series[key];
      if (s.name == fam + "_bucket") {
        const auto b = le ? detail::parse_value(*le) : std::nullopt;
        if (!b) ex.errors.push_back(fam + ": bucket without valid le");
        else sr.buckets.emplace_back(*b, s.value);
      } else if (s.name == fam + "_count") {
        sr.count = s.value;
      } else if (s.name == fam + "_sum") {
        sr.sum = s.value;
      } else {
        ex.errors.push_back(fam + ": unexpected sample " + s.name);
      }
    }
    for (const auto& [key, sr] : series) {
      if (sr.buckets.empty() || !std::isinf(sr.buckets.back().first)) {
        ex.errors.push_back(fam + ": no +Inf bucket");
        continue;
      }
      for (size_t k = 1; k < sr.buckets.size(); ++k) {
        if (!(sr.buckets[k - 1].first < sr.buckets[k].first)) ex.errors.push_back(fam + ": le not increasing");
        if (sr.buckets[k - 1].second > sr.buckets[k].second) ex.errors.push_back(fam + ": buckets not cumulative");
      }
      if (!sr.count || *sr.count != sr.buckets.back().second) ex.errors.push_back(fam + ": +Inf != _count");
      if (!sr.sum) ex.errors.push_back(fam + ": no _sum");
    }
  }
  return ex;
}

}  // namespace ds::testing
