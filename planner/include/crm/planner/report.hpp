// Presenting a Plan: JSON/YAML (the keys docs/capacity-model.md lists under "Tiers", base units), a
// table for people, CSV, markdown, and the --explain listing.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

#include "crm/planner/plan.hpp"

namespace crm::planner {

enum class OutputFormat { kTable, kJson, kYaml, kCsv, kMarkdown };

/// Parses "table|json|yaml|csv|markdown"; throws InputError naming -o/--output.
OutputFormat ParseOutputFormat(std::string_view text);

/// The JSON document (docs/capacity-model.md): workload, demand, tier, layout, utilization, zone,
/// knobs, postgres, cost, growth, revenue (only with a price), warnings. Base units only.
nlohmann::ordered_json PlanToJson(const Plan& plan);

/// Renders a JSON value as block YAML (keys in the JSON's order).
std::string JsonToYaml(const nlohmann::ordered_json& value);

/// A human report (what `crmctl plan` prints by default). `color` adds ANSI zone colours.
std::string PlanToTable(const Plan& plan, bool color);
std::string PlanToMarkdown(const Plan& plan);

/// A PostgreSQL setting's value in postgresql.conf notation ("2GB", "22310kB", "30s", "1.1");
/// sizes in Plan::postgres are bytes.
std::string PostgresValueText(std::string_view name, double value);

/// The --explain listing: one line per figure with its arithmetic.
std::string ExplainToText(const Plan& plan);

/// The flat CSV form shared by `plan -o csv` and `plan --batch -o csv`: a header and one row
/// per plan. Appends to `out` without allocating per field (batch speed).
void AppendPlanCsvHeader(std::string& out);
void AppendPlanCsvRow(std::string& out, const Plan& plan);

/// The most bytes a plan's CSV row can take (its line break included).
std::size_t PlanCsvRowBound(const Plan& plan);
/// Writes the plan's CSV row (what AppendPlanCsvRow appends) at `dest`, which has room for
/// PlanCsvRowBound(plan) bytes, and returns the end of what it wrote. Batch writes rows straight
/// into its output buffer this way, with no copy in between.
char* WritePlanCsvRow(char* dest, const Plan& plan);

}  // namespace crm::planner
