#pragma once
/// @file YAML configuration decoding into typed structs (the only place that touches YAML).
///
/// A decoder walks a YAML map, reads the keys a struct knows, and finish() rejects every other
/// key with the file name and the dotted key path, so a typo never silently falls back to a
/// default. Command-line overrides "a.b=value" are applied to the YAML tree before decoding.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tomograd/core/error.hpp"

namespace tomograd {

/// Loads a YAML file. Throws ConfigError naming the file and line on a syntax error, and for a
/// file over 16 MiB (before reading it).
YAML::Node load_yaml_file(const std::filesystem::path& path);

/// Parses YAML text as load_yaml_file() does (empty = an empty map; the top level must be a map;
/// nesting deeper than yaml-cpp's limit is a syntax error). @p source names it in messages.
YAML::Node parse_yaml_text(const std::string& text, const std::string& source);

/// Applies overrides of the form "a.b.c=value" (value parsed as YAML, so "[1,2]" is a list).
/// Creates missing maps. Throws ConfigError on a malformed override.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides);

/// Reads the keys of one YAML map into typed fields, remembering which keys were used.
class ConfigReader {
 public:
  /// @param source file name used in messages; @param path dotted path of @p node ("" = root)
  ConfigReader(YAML::Node node, std::string source, std::string path = "");

  /// True when the key is present.
  bool has(const std::string& key) const;

  /// Reads @p key into @p out if present (leaves the default otherwise).
  /// Throws ConfigError "<source>: key 'a.b' expected <type>, got '<value>'".
  template <typename T>
  ConfigReader& get(const std::string& key, T& out) {
    used_.insert(key);
    YAML::Node v = node_[key];
    if (!v || v.IsNull()) return *this;
    try {
      out = v.as<T>();
    } catch (const YAML::Exception&) {
      throw ConfigError(source_ + ": key '" + dotted(key) + "' expected " + type_name<T>() +
                        ", got '" + scalar_text(v) + "'");
    }
    return *this;
  }

  /// Like get() but the key must be present.
  template <typename T>
  ConfigReader& require(const std::string& key, T& out) {
    if (!has(key)) throw ConfigError(source_ + ": missing required key '" + dotted(key) + "'");
    return get(key, out);
  }

  /// A reader for the map under @p key (an empty map when absent). Throws ConfigError if the
  /// value is not a map.
  ConfigReader child(const std::string& key);

  /// Throws ConfigError for the first key that no get()/child() asked for, listing valid keys.
  void finish() const;

  const std::string& source() const { return source_; }
  /// The dotted path of @p key under this reader.
  std::string dotted(const std::string& key) const;

 private:
  template <typename T>
  static std::string type_name();
  static std::string scalar_text(const YAML::Node& v);

  YAML::Node node_;
  std::string source_;
  std::string path_;
  std::set<std::string> used_;
};

template <typename T>
std::string ConfigReader::type_name() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean (true/false)";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else return "a list";
}

}  // namespace tomograd
