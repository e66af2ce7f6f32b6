// The inverse of planning: how many customers and devices fit one given server.
#pragma once

#include <string>
#include <vector>

#include "crm/planner/catalog.hpp"
#include "crm/planner/workload.hpp"

namespace crm::planner {

struct ResourceCapacity {
  std::string resource;                 // "RAM", "CPU", "disk"
  double capacity = 0;                  // bytes or cores
  double fixed = 0;                     // used before the first customer (services)
  double per_customer = 0;              // added by each customer
  long long max_customers = 0;          // at 100 %
  long long comfortable_customers = 0;  // at the target utilisation
  bool unlimited = false;               // per_customer is 0: this resource never binds
};

struct Capacity {
  const Server* server = nullptr;
  Workload workload;  // per-customer assumptions (customers itself is unused)
  long long max_customers = 0;
  long long comfortable_customers = 0;
  long long max_devices = 0;
  long long comfortable_devices = 0;
  std::string binding_resource;  // the one that binds first at the target
  std::vector<ResourceCapacity> resources;
  std::vector<std::string> notes;
};

/// How many customers (with `workload`'s per-customer figures and engine) fit `server_name`
/// when every role runs on it, as on a single-host tier. Throws InputError for an unknown server
/// (naming the known ones) or one that cannot host crmd (a managed database).
Capacity ComputeCapacity(const std::string& server_name, const Workload& workload,
                         const Catalog& catalog);

}  // namespace crm::planner
