// Every augmentation transform's options, declared once: each field's key, bounds and type give
// the YAML reading (read_transform_options), the JSON writing (transform_to_json) and the
// validation (validate_transform). Adding an option is one line in the transform's table.
#include "transform_fields.hpp"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tomograd/core/error.hpp"

namespace tomograd::preprocess {

void detail::check_option(bool ok, const std::string& where, const std::string& field, const std::string& expected) {
  if (!ok) throw ConfigError(where + ": " + field + " must be " + expected);
}

namespace {

/// One option of a transform with options struct O.
template <class O>
struct Field {
  std::function<void(ConfigReader&, O&)> read;
  std::function<void(const O&, nlohmann::json&)> write;
  std::function<void(const O&, const std::string& where)> check;
};

using detail::check_option;

void read_range(ConfigReader& r, const std::string& key, Range& out) {
  if (!r.has(key)) {
    r.get(key, out.low);  // marks the key as known
    return;
  }
  std::vector<double> v;
  r.get(key, v);
  if (v.size() != 2) {
    throw ConfigError(r.source() + ": key '" + r.dotted(key) + "' expected [low, high], got " +
                      std::to_string(v.size()) + " values");
  }
  out = Range{v[0], v[1]};
}

/// The probability p in [0, 1] that the transform runs.
template <class O>
Field<O> probability() {
  return {[](ConfigReader& r, O& o) { r.get("p", o.p); }, [](const O& o, nlohmann::json& j) { j["p"] = o.p; },
          [](const O& o, const std::string& where) { check_option(o.p >= 0 && o.p <= 1, where, "p", "in [0, 1]"); }};
}

/// A [low, high] range within [min, max]; @p extra (optional) must hold too, else "@p key must
/// be @p extra_expected".
template <class O>
Field<O> range(const std::string& key, Range O::*member, double min, double max,
               std::function<bool(const Range&)> extra = nullptr, const std::string& extra_expected = "") {
  return {[key, member](ConfigReader& r, O& o) { read_range(r, key, o.*member); },
          [key, member](const O& o, nlohmann::json& j) {
            j[key] = nlohmann::json::array({(o.*member).low, (o.*member).high});
          },
          [=](const O& o, const std::string& where) {
            const Range& v = o.*member;
            check_option(std::isfinite(v.low) && std::isfinite(v.high) && v.low <= v.high, where, key,
                  "[low, high] with low <= high");
            check_option(v.low >= min && v.high <= max, where, key,
                  "within [" + std::to_string(min) + ", " + std::to_string(max) + "]");
            if (extra) check_option(extra(v), where, key, extra_expected);
          }};
}

/// A number or integer (T) for which @p ok holds ("@p key must be @p expected" otherwise).
template <class O, class T>
Field<O> value(const std::string& key, T O::*member, std::function<bool(T)> ok = nullptr,
               const std::string& expected = "") {
  return {[key, member](ConfigReader& r, O& o) { r.get(key, o.*member); },
          [key, member](const O& o, nlohmann::json& j) { j[key] = o.*member; },
          [=](const O& o, const std::string& where) {
            if (ok) check_option(ok(o.*member), where, key, expected);
          }};
}

template <class O>
using Fields = std::vector<Field<O>>;

// The tables, one per transform (in the order of TransformConfig's alternatives).
template <class O>
const Fields<O>& fields();

template <>
const Fields<FlipOptions>& fields() {
  static const Fields<FlipOptions> f{probability<FlipOptions>()};
  return f;
}
template <>
const Fields<AffineOptions>& fields() {
  using O = AffineOptions;
  static const Fields<O> f{probability<O>(), range("rotate_deg", &O::rotate_deg, -180, 180),
                           range("scale", &O::scale, 0.1, 10), range("translate_frac", &O::translate_frac, -1, 1)};
  return f;
}
template <>
const Fields<GammaOptions>& fields() {
  using O = GammaOptions;
  static const Fields<O> f{probability<O>(), range("gamma", &O::gamma, 1e-3, 100),
                           value("inside_mask_only", &O::inside_mask_only)};
  return f;
}
template <>
const Fields<BrightnessContrastOptions>& fields() {
  using O = BrightnessContrastOptions;
  static const Fields<O> f{probability<O>(), range("brightness", &O::brightness, -1, 1),
                           range("contrast", &O::contrast, 0, 10), value("inside_mask_only", &O::inside_mask_only)};
  return f;
}
template <>
const Fields<NoiseOptions>& fields() {
  using O = NoiseOptions;
  static const Fields<O> f{probability<O>(), range("std", &O::std, 0, 1),
                           value("inside_mask_only", &O::inside_mask_only)};
  return f;
}
template <>
const Fields<BlurOptions>& fields() {
  using O = BlurOptions;
  static const Fields<O> f{probability<O>(), range("sigma_px", &O::sigma_px, 0, 50)};
  return f;
}
template <>
const Fields<SharpenOptions>& fields() {
  using O = SharpenOptions;
  static const Fields<O> f{probability<O>(), range("amount", &O::amount, 0, 10),
                           value<O, double>("sigma_px", &O::sigma_px, [](double v) { return v > 0 && v <= 50; },
                                            "in (0, 50]")};
  return f;
}
template <>
const Fields<ClaheOptions>& fields() {
  using O = ClaheOptions;
  static const Fields<O> f{probability<O>(), range("clip_limit", &O::clip_limit, 1e-3, 100),
                           value<O, int>("tiles", &O::tiles, [](int v) { return v >= 1 && v <= 64; }, "in [1, 64]")};
  return f;
}
template <>
const Fields<ElasticOptions>& fields() {
  using O = ElasticOptions;
  static const Fields<O> f{probability<O>(), range("alpha_px", &O::alpha_px, 0, 100),
                           value<O, double>("sigma_px", &O::sigma_px, [](double v) { return v > 0 && v <= 100; },
                                            "in (0, 100]")};
  return f;
}
template <>
const Fields<RandomCropOptions>& fields() {
  using O = RandomCropOptions;
  static const Fields<O> f{probability<O>(),
                           range("scale", &O::scale, 0, 1, [](const Range& r) { return r.low > 0; },
                                 "a fraction of each side in (0, 1]"),
                           value("resize_back", &O::resize_back)};
  return f;
}

/// The alternative number @p index of TransformConfig, its fields read from @p reader.
template <std::size_t I = 0>
TransformConfig read_alternative(std::size_t index, ConfigReader& reader) {
  if constexpr (I + 1 < std::variant_size_v<TransformConfig>) {
    if (index != I) return read_alternative<I + 1>(index, reader);
  }
  std::variant_alternative_t<I, TransformConfig> options;
  for (const auto& f : fields<decltype(options)>()) f.read(reader, options);
  return options;
}

}  // namespace

TransformConfig read_transform_options(std::size_t index, ConfigReader& reader) {
  return read_alternative(index, reader);
}

void validate_transform(const TransformConfig& config, const std::string& where) {
  std::visit(
      [&](const auto& options) {
        for (const auto& f : fields<std::decay_t<decltype(options)>>()) f.check(options, where);
      },
      config);
}

nlohmann::json transform_to_json(const TransformConfig& config) {
  nlohmann::json j{{"name", transform_name(config)}};
  std::visit(
      [&](const auto& options) {
        for (const auto& f : fields<std::decay_t<decltype(options)>>()) f.write(options, j);
      },
      config);
  return j;
}

}  // namespace tomograd::preprocess
