#include "cli_context.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "crm/error.hpp"

namespace crm::cli {

planner::Catalog LoadCatalog(const GlobalOptions& options) {
  planner::Catalog catalog = options.catalog_dir.empty()
                                 ? planner::Catalog::Embedded()
                                 : planner::Catalog::LoadDir(options.catalog_dir);
  for (const std::string& file : options.rules_files) {
    catalog.ApplyOverride(ReadInputFile(file), file);
  }
  return catalog;
}

planner::OutputFormat OutputFormatOr(const GlobalOptions& options, planner::OutputFormat fallback) {
  return options.output.empty() ? fallback : planner::ParseOutputFormat(options.output);
}

bool UseColor(const GlobalOptions& options, int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  return !options.no_color && (no_color == nullptr || *no_color == '\0') && isatty(fd) == 1;
}

std::string ReadInputFile(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(fmt::format("{}: cannot open the file", path));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    throw InputError(fmt::format("{}: cannot read the file", path));
  }
  return ss.str();
}

void PrintDocument(const nlohmann::ordered_json& doc, planner::OutputFormat format) {
  if (format == planner::OutputFormat::kYaml) {
    std::cout << planner::JsonToYaml(doc);
  } else {
    std::cout << doc.dump(2) << '\n';
  }
}

}  // namespace crm::cli
