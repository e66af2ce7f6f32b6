#include "crm/db/plans.hpp"

namespace crm::db {

void PlanWithoutValues(pqxx::transaction_base& tx) {
  tx.exec("SET LOCAL plan_cache_mode = force_generic_plan");
}

void PlanWithValues(pqxx::transaction_base& tx) {
  tx.exec("SET LOCAL plan_cache_mode TO DEFAULT");
}

}  // namespace crm::db
