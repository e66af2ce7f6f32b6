// What the planner's tests look up in a Plan: a knob by name, a warning by a piece of its text.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

#include "crm/planner/plan.hpp"

namespace crm::planner {

/// The knob `name`, or nullptr when the plan sets none.
inline const KnobValue* FindKnob(const Plan& plan, std::string_view name) {
  for (const auto& [key, value] : plan.knobs) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

/// The numeric knob `name`; a test failure (and -1) when the plan sets none.
inline long long KnobNumber(const Plan& plan, std::string_view name) {
  const KnobValue* value = FindKnob(plan, name);
  if (value == nullptr) {
    ADD_FAILURE() << "no knob " << name;
    return -1;
  }
  return std::get<long long>(*value);
}

/// Whether one of the plan's warnings contains `text`.
inline bool HasWarning(const Plan& plan, std::string_view text) {
  for (const std::string& warning : plan.warnings) {
    if (warning.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace crm::planner
