// libFuzzer harness: CSV parsing and the column checks label and manifest readers make (numbers
// with and without missing values, strings, the serialisation round trip).
#include "fuzz_common.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const CsvTable t = CsvTable::parse(text, "input.csv");
    for (const auto& column : t.header()) {
      t.strings(column);
      t.numbers(column, true);
      try {
        t.numbers(column, false);
      } catch (const CsvError&) {
      }
    }
    for (const char* name : {"patient_id", "path", "split", "label", "bmd"}) t.has_column(name);
    const CsvTable again = CsvTable::parse(t.to_string(), "round-trip.csv");
    if (again.num_rows() != t.num_rows() || again.header() != t.header()) __builtin_trap();
    for (size_t r = 0; r < t.num_rows(); ++r) {
      if (again.row(r) != t.row(r)) __builtin_trap();  // the writer must quote what the reader needs
    }
  } catch (const Error&) {
  }
  return 0;
}
