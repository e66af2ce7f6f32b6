// Logging for crmd: spdlog, one JSON object per line when stderr is not a terminal (journald,
// Loki, kubectl logs), human-readable on a terminal.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace crm::config {

/// Installs the default logger named `name` ("gateway", "slice-7") at `level` (trace … off).
/// Throws InputError on an unknown level.
void SetupLogging(const std::string& name, const std::string& level);

/// Changes the default logger's level (a reload). Throws InputError on an unknown level.
void SetLogLevel(const std::string& level);

}  // namespace crm::config
