// How a transaction's statements are planned, for statements whose parameters are whole batches.
#pragma once

#include <pqxx/pqxx>

namespace crm::db {

/// From here to the end of `tx` (or to PlanWithValues), statements are planned without their
/// parameters' values: plan_cache_mode = force_generic_plan, SET LOCAL. For statements that take
/// a batch as a parameter (a jsonb of thousands of results, a bigint[] of their ids) and find
/// every row through a key, so that no value could change the plan. A plan made with the values
/// (PostgreSQL's default for a statement with parameters) folds each use of such a parameter into
/// a constant, copies it with every pass over the expression tree and estimates `= ANY(array)`
/// element by element: for a batch of 5,000 results, ~25 ms and ~1,900 page faults (~13 µs each
/// on a VM), more than the update itself (docs/benchmarks.md, "Outbound queue").
void PlanWithoutValues(pqxx::transaction_base& tx);

/// Back to the session's plan_cache_mode for the rest of `tx`: for statements that may use a
/// partial index or a limit only their parameters' values allow.
void PlanWithValues(pqxx::transaction_base& tx);

}  // namespace crm::db
