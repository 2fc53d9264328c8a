#pragma once
/// @file Typed model parameters: a plain struct per model plus a table that knows each field's
/// name, default, bounds and description (after XGBoost's DMLC_DECLARE_FIELD), so command-line
/// `--param k=v` text, saved JSON and `--help` listings all go through one checked path.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::classic {

/// Parameter values as text, keyed by name (what `--param k=v` gives).
using ParamMap = std::map<std::string, std::string>;

/// One parameter, for listings and messages.
struct ParamInfo {
  std::string name;
  std::string type;           ///< "number", "integer", "boolean", "choice" or "number|keyword"
  std::string default_value;  ///< as text
  std::string range;          ///< e.g. "(0, inf)", "[0, 1]", "rbf|linear"
  std::string description;
};

/// Formats a number so that parsing it gives the same double back.
inline std::string format_number(double v) {
  if (v == std::numeric_limits<double>::infinity()) return "inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest text that round-trips ("0.1", not "0.10000000000000001").
  for (int precision = 1; precision < 17; ++precision) {
    char shorter[40];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

/// Bounds of a numeric parameter; an open end excludes the bound itself.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  bool contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string text() const {
    return std::string(lo_open ? "(" : "[") + format_number(lo) + ", " + format_number(hi) + (hi_open ? ")" : "]");
  }
};

/// Closed range [lo, hi].
inline Range closed(double lo, double hi) { return Range{lo, hi, false, false}; }
/// (lo, hi]; with hi = inf: every number above lo.
inline Range above(double lo, double hi = std::numeric_limits<double>::infinity()) {
  return Range{lo, hi, true, hi == std::numeric_limits<double>::infinity()};
}
/// [lo, inf).
inline Range at_least(double lo) { return Range{lo, std::numeric_limits<double>::infinity(), false, true}; }

/// The fields of parameter struct @p P: parse, validate, list and serialize them.
///
/// Every setter throws ConfigError "<model>: parameter '<key>' expects <what>, got '<text>'"; an
/// unknown key throws ConfigError listing the valid keys.
template <typename P>
class ParamTable {
 public:
  explicit ParamTable(std::string model) : model_(std::move(model)) {}

  /// A floating-point field.
  ParamTable& add(const std::string& name, double P::*field, Range range, std::string description) {
    Entry e;
    e.info = {name, "number", "", range.text(), std::move(description)};
    e.set = [model = model_, name, field, range](P& p, const std::string& text) {
      auto v = parse_number(text);
      if (!v || !range.contains(*v)) fail(model, name, "a number in " + range.text(), text);
      p.*field = *v;
    };
    e.get = [field](const P& p) { return nlohmann::json(p.*field); };
    e.text = [field](const P& p) { return format_number(p.*field); };
    return push(std::move(e));
  }

  /// An integer field.
  ParamTable& add(const std::string& name, int P::*field, int lo, int hi, std::string description) {
    Entry e;
    std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    e.info = {name, "integer", "", range, std::move(description)};
    e.set = [model = model_, name, field, lo, hi, range](P& p, const std::string& text) {
      auto v = parse_number(text);
      if (!v || *v != std::floor(*v) || *v < lo || *v > hi) fail(model, name, "an integer in " + range, text);
      p.*field = static_cast<int>(*v);
    };
    e.get = [field](const P& p) { return nlohmann::json(p.*field); };
    e.text = [field](const P& p) { return std::to_string(p.*field); };
    return push(std::move(e));
  }

  /// A boolean field ("true"/"false", also "1"/"0").
  ParamTable& add(const std::string& name, bool P::*field, std::string description) {
    Entry e;
    e.info = {name, "boolean", "", "true|false", std::move(description)};
    e.set = [model = model_, name, field](P& p, const std::string& text) {
      if (text == "true" || text == "1") p.*field = true;
      else if (text == "false" || text == "0") p.*field = false;
      else fail(model, name, "true or false", text);
    };
    e.get = [field](const P& p) { return nlohmann::json(p.*field); };
    e.text = [field](const P& p) { return std::string(p.*field ? "true" : "false"); };
    return push(std::move(e));
  }

  /// A string field restricted to @p choices.
  ParamTable& add_choice(const std::string& name, std::string P::*field, std::vector<std::string> choices,
                         std::string description) {
    Entry e;
    std::string list = join(choices, "|");
    e.info = {name, "choice", "", list, std::move(description)};
    e.set = [model = model_, name, field, choices, list](P& p, const std::string& text) {
      for (const auto& c : choices) {
        if (c == text) {
          p.*field = text;
          return;
        }
      }
      fail(model, name, "one of " + list, text);
    };
    e.get = [field](const P& p) { return nlohmann::json(p.*field); };
    e.text = [field](const P& p) { return p.*field; };
    return push(std::move(e));
  }

  /// A string field holding either one of @p keywords or a number in @p range (e.g. SVR's
  /// gamma: "scale", "auto" or a positive number).
  ParamTable& add_number_or(const std::string& name, std::string P::*field, std::vector<std::string> keywords,
                            Range range, std::string description) {
    Entry e;
    std::string what = join(keywords, "|") + " or a number in " + range.text();
    e.info = {name, "number|keyword", "", what, std::move(description)};
    e.set = [model = model_, name, field, keywords, range, what](P& p, const std::string& text) {
      for (const auto& k : keywords) {
        if (k == text) {
          p.*field = text;
          return;
        }
      }
      auto v = parse_number(text);
      if (!v || !range.contains(*v)) fail(model, name, what, text);
      p.*field = format_number(*v);
    };
    e.get = [field](const P& p) {
      auto v = parse_number(p.*field);
      return v ? nlohmann::json(*v) : nlohmann::json(p.*field);
    };
    e.text = [field](const P& p) { return p.*field; };
    return push(std::move(e));
  }

  /// Sets one field from text. Throws ConfigError for an unknown key or a bad value.
  void set(P& p, const std::string& key, const std::string& text) const { entry(key).set(p, text); }

  /// Defaults overridden by @p values, every key and value checked.
  P parse(const ParamMap& values) const {
    P p;
    for (const auto& [k, v] : values) set(p, k, v);
    return p;
  }

  /// Throws ConfigError listing the valid keys when @p key is not a parameter.
  void check_key(const std::string& key) const { entry(key); }
  bool has(const std::string& key) const { return index_.count(key) > 0; }

  /// Every field as typed JSON ({"C": 1.0, "kernel": "rbf", ...}).
  nlohmann::json to_json(const P& p) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& e : entries_) j[e.info.name] = e.get(p);
    return j;
  }
  /// Every field as text (round-trips through parse()).
  ParamMap to_map(const P& p) const {
    ParamMap m;
    for (const auto& e : entries_) m[e.info.name] = e.text(p);
    return m;
  }

  /// The fields with their defaults, in declaration order.
  std::vector<ParamInfo> info() const {
    P defaults;
    std::vector<ParamInfo> out;
    for (const auto& e : entries_) {
      ParamInfo i = e.info;
      i.default_value = e.text(defaults);
      out.push_back(i);
    }
    return out;
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.info.name);
    return out;
  }
  const std::string& model() const { return model_; }

 private:
  struct Entry {
    ParamInfo info;
    std::function<void(P&, const std::string&)> set;
    std::function<nlohmann::json(const P&)> get;
    std::function<std::string(const P&)> text;
  };

  ParamTable& push(Entry e) {
    index_[e.info.name] = entries_.size();
    entries_.push_back(std::move(e));
    return *this;
  }
  const Entry& entry(const std::string& key) const {
    auto it = index_.find(key);
    if (it == index_.end()) {
      throw ConfigError(model_ + ": unknown parameter '" + key + "' (valid: " + join(keys(), ", ") + ")");
    }
    return entries_[it->second];
  }
  [[noreturn]] static void fail(const std::string& model, const std::string& name, const std::string& what,
                                const std::string& text) {
    throw ConfigError(model + ": parameter '" + name + "' expects " + what + ", got '" + text + "'");
  }
  static std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
  }

  std::string model_;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t> index_;
};

/// Converts saved typed JSON parameters ({"C": 1.0, "kernel": "rbf"}) back to text.
inline ParamMap param_map_from_json(const nlohmann::json& j) {
  ParamMap m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& v = it.value();
    if (v.is_string()) m[it.key()] = v.get<std::string>();
    else if (v.is_boolean()) m[it.key()] = v.get<bool>() ? "true" : "false";
    else if (v.is_number_integer()) m[it.key()] = std::to_string(v.get<long long>());
    else if (v.is_number()) m[it.key()] = format_number(v.get<double>());
    else throw ConfigError("parameter '" + it.key() + "': expected a number, string or boolean, got " + v.dump());
  }
  return m;
}

}  // namespace tomograd::classic
