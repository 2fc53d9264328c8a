#include "tomograd/core/config.hpp"

#include <sstream>

#include "tomograd/core/atomic_file.hpp"

namespace tomograd {

namespace {
// Configs are a few KiB; a bigger file is a mistake (a data file passed as --config), and YAML
// nodes take tens of bytes per input byte.
constexpr std::uintmax_t kMaxConfigBytes = std::uintmax_t{16} << 20;
}  // namespace

YAML::Node parse_yaml_text(const std::string& text, const std::string& source) {
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) throw ConfigError(source + ": expected a map of keys at the top level");
    return root;
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ": YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

YAML::Node load_yaml_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw ConfigError("config file '" + path.string() + "' does not exist");
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxConfigBytes) {
    throw ConfigError(path.string() + ": " + std::to_string(size) + " bytes; expected a YAML config of at most " +
                      std::to_string(kMaxConfigBytes >> 20) + " MiB");
  }
  return parse_yaml_text(read_file(path), path.string());
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides) {
  for (const auto& item : overrides) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set '" + item + "': expected KEY=VALUE, e.g. train.lr=1e-4");
    }
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '.');) {
      if (p.empty()) throw ConfigError("--set '" + item + "': empty key component");
      parts.push_back(p);
    }
    YAML::Node parsed;
    try {
      parsed = YAML::Load(value);
    } catch (const YAML::Exception& e) {
      throw ConfigError("--set '" + item + "': cannot parse value: " + e.msg);
    }
    // yaml-cpp's operator[] returns handles; walk with fresh nodes so the tree is modified in place.
    std::vector<YAML::Node> chain{root};
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node next = chain.back()[parts[i]];
      if (next && !next.IsNull() && !next.IsMap()) {
        throw ConfigError("--set '" + item + "': '" + parts[i] + "' is not a section");
      }
      if (!next || next.IsNull()) chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(chain.back()[parts[i]]);
    }
    chain.back()[parts.back()] = parsed;
  }
}

ConfigReader::ConfigReader(YAML::Node node, std::string source, std::string path)
    : node_(std::move(node)), source_(std::move(source)), path_(std::move(path)) {
  if (node_ && !node_.IsNull() && !node_.IsMap()) {
    throw ConfigError(source_ + ": '" + (path_.empty() ? "<root>" : path_) + "' must be a map");
  }
}

bool ConfigReader::has(const std::string& key) const {
  if (!node_ || !node_.IsMap()) return false;
  YAML::Node v = node_[key];
  return v && !v.IsNull();
}

std::string ConfigReader::dotted(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

ConfigReader ConfigReader::child(const std::string& key) {
  used_.insert(key);
  YAML::Node v = node_ && node_.IsMap() ? node_[key] : YAML::Node();
  if (v && !v.IsNull() && !v.IsMap()) {
    throw ConfigError(source_ + ": key '" + dotted(key) + "' must be a section (a map of keys)");
  }
  return ConfigReader(v && !v.IsNull() ? v : YAML::Node(YAML::NodeType::Map), source_, dotted(key));
}

void ConfigReader::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (const auto& kv : node_) {
    // A key may itself be a map or a list ("? [a, b]: 1"): name it as text, never convert it.
    const std::string key = scalar_text(kv.first);
    if (used_.count(key) == 0) {
      std::string known;
      for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
      throw ConfigError(source_ + ": unknown key '" + dotted(key) + "'" +
                        (known.empty() ? "" : " (valid keys here: " + known + ")"));
    }
  }
}

std::string ConfigReader::scalar_text(const YAML::Node& v) {
  if (v.IsScalar()) return v.Scalar();
  std::ostringstream s;
  s << YAML::Dump(v);
  std::string t = s.str();
  for (auto& c : t) if (c == '\n') c = ' ';
  return t;
}

}  // namespace tomograd
