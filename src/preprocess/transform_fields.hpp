#pragma once
// The augmentation transforms' option tables (transform_fields.cpp): one declaration per option
// gives its YAML reading, JSON writing and validation. validate_transform() and
// transform_to_json() (declared in transform.hpp) are defined there too.
#include <cstddef>
#include <string>

#include "tomograd/core/config.hpp"
#include "tomograd/preprocess/transform.hpp"

namespace tomograd::preprocess {

/// Reads the options of transform number @p index (its position in transform_names()) from
/// @p reader: every key of its table, absent keys keeping their defaults. Does not validate and
/// does not call finish(). Throws ConfigError for a value of the wrong type.
TransformConfig read_transform_options(std::size_t index, ConfigReader& reader);

namespace detail {
/// Throws ConfigError "<where>: <field> must be <expected>" unless @p ok (transform.cpp checks
/// the options a transform's constructor is given, transform_fields.cpp the YAML ones).
void check_option(bool ok, const std::string& where, const std::string& field, const std::string& expected);
}  // namespace detail

}  // namespace tomograd::preprocess
