// Time in whole seconds since the epoch (Stripe's unit), written as ISO 8601 UTC; and the clock
// the billing policy, its scheduler and the monitor read, which tests move.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace crm {

using Time = std::chrono::sys_seconds;

/// "2026-11-02T09:30:00Z".
std::string FormatIso(Time t);
/// "2026-11-02T09:30:00Z" (or with a fraction, or "+00:00"); nullopt when it is not one.
std::optional<Time> ParseIso(const std::string& text);

/// What "now" is for billing and the monitor.
using Clock = std::function<Time()>;

/// The system clock.
Clock SystemClock();

/// For tests only (billing_clock_file, monitor_clock_file): "now" is the ISO 8601 time written in
/// `file`, re-read on every call; the system clock while the file is missing or unreadable.
Clock FileClock(std::filesystem::path file);

}  // namespace crm
