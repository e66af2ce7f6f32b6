// libFuzzer target: the CSV reader and `crmctl plan --batch` over arbitrary bytes.
// The reader must give the same records and errors whatever its read size, always make progress
// after an error, and RunBatch must answer with plans, bad-row reports or an InputError only.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "crm/error.hpp"
#include "crm/planner/batch.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/csv.hpp"

namespace {

// Every record and error the reader gives, flattened so two runs can be compared.
std::string Transcript(std::string_view bytes, std::size_t chunk_size) {
  std::istringstream in{std::string(bytes)};
  crm::CsvReader reader(in, "fuzz.csv", chunk_size);
  std::vector<std::string_view> fields;
  std::string transcript;
  std::uint64_t last_offset = 0;
  for (;;) {
    try {
      if (!reader.Next(fields)) {
        break;
      }
      transcript += std::to_string(reader.line());
      for (std::string_view field : fields) {
        transcript += '|';
        transcript += std::to_string(field.size());
        transcript += ':';
        transcript += field;
      }
    } catch (const crm::InputError& e) {
      transcript += e.what();
    }
    transcript += '\n';
    // Each call must consume input, or a caller looping over bad rows would never end.
    if (reader.offset() <= last_offset || reader.offset() > bytes.size()) {
      __builtin_trap();
    }
    last_offset = reader.offset();
  }
  return transcript;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace crm::planner;
  if (size == 0) {
    return 0;
  }
  // The first byte picks a small read size so that record boundaries fall across reads.
  const std::size_t chunk_size = 1 + data[0] % 16;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Compared with reading everything at once (not with the 1 MiB default, whose buffer would
  // dominate the time of each run and slow the fuzzer down; RunBatch below uses the default).
  if (Transcript(bytes, chunk_size) != Transcript(bytes, bytes.size() + 1)) {
    __builtin_trap();
  }

  static const Catalog& catalog = Catalog::Embedded();
  std::istringstream in{std::string(bytes)};
  std::ostringstream out;
  std::ostringstream err;
  BatchOptions options;
  options.format = (data[0] & 0x10) != 0 ? OutputFormat::kJson : OutputFormat::kCsv;
  try {
    const BatchResult result = RunBatch(in, "fuzz.csv", catalog, options, out, err);
    if (result.planned + result.bad != result.rows) {
      __builtin_trap();
    }
  } catch (const crm::InputError&) {
    // Expected: a bad header or an empty input.
  }
  return 0;
}
