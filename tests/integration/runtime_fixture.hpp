// The runtime end to end, shared by the integration tests that run a real `crmd --role all`
// against a real PostgreSQL started per test.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crm/testing/crmd_process.hpp"
#include "crm/testing/eventually.hpp"
#include "crm/testing/http_client.hpp"
#include "crm/testing/pg_cluster.hpp"

namespace crm::testing {

namespace fs = std::filesystem;
using nlohmann::json;

inline const std::string kJson = "Content-Type: application/json";
inline const std::string kPassword = "correct horse battery";

// First value of the first row, or "ERROR: <message>".
inline std::string Sql(const std::string& conninfo, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return std::string("ERROR: ") + PQerrorMessage(conn.get());
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), sql.c_str()), &PQclear);
  auto status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    return std::string("ERROR: ") + PQerrorMessage(conn.get());
  }
  if (status == PGRES_COMMAND_OK || PQntuples(res.get()) == 0) {
    return "";
  }
  return PQgetvalue(res.get(), 0, 0);
}

// A call through the gateway at `gateway` to the slice of the tenant whose `cookie` header
// ("Cookie: crm_session=…") it carries, retried for up to a minute while the slice (re)starts:
// no answer, 502 or 503. Backups and restores stop and start slices under the tests.
/// `n` distinct E.164 numbers: `prefix` followed by 7 digits, counting from 0.
inline std::vector<std::string> Numbers(int n, const std::string& prefix = "+49151") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string digits = std::to_string(i);
    out.push_back(prefix + std::string(7 - digits.size(), '0') + digits);
  }
  return out;
}

inline HttpResult SliceCall(const std::string& gateway, const std::string& cookie,
                            const std::string& method, const std::string& path,
                            const std::string& body = {}) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  HttpResult r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = Fetch(method, gateway + path, body, {cookie, kJson});
    if (r.status != 0 && r.status != 502 && r.status != 503) {
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

// Adds a contact through SliceCall, expecting 201; its id (0 when refused).
inline long long AddSliceContact(const std::string& gateway, const std::string& cookie,
                                 const std::string& name, const std::string& phone) {
  const HttpResult r = SliceCall(gateway, cookie, "POST", "/api/contacts",
                                 json{{"name", name}, {"phone", phone}}.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  const json body = r.Json();
  return body.is_object() && body.contains("id") ? body["id"].get<long long>() : 0;
}

// The names of the tenant's first 100 contacts, through SliceCall.
inline std::set<std::string> ContactNames(const std::string& gateway, const std::string& cookie) {
  const HttpResult r = SliceCall(gateway, cookie, "GET", "/api/contacts?limit=100");
  EXPECT_EQ(r.status, 200) << r.body;
  std::set<std::string> names;
  const json body = r.Json();
  if (body.is_object()) {
    for (const auto& c : body["items"]) {
      names.insert(c["name"].get<std::string>());
    }
  }
  return names;
}

struct Tenant {
  std::string token;
  long long slice = 0;
  long long user = 0;
  std::vector<std::string> Auth() const { return {"Cookie: crm_session=" + token}; }
  std::vector<std::string> AuthJson() const { return {"Cookie: crm_session=" + token, kJson}; }
};

class RuntimeTest : public ::testing::Test {
 protected:
  /// Settings a test adds to crmd's environment before it starts.
  virtual void Configure(std::map<std::string, std::string>& /*env*/) {}

  void SetUp() override {
    pg_ = PgCluster::Start();
    data_ = pg_->dir() / "crmd-data";
    fs::create_directories(data_);
    env_ = {{"CRM_DATABASE_URL", pg_->ConnectionString()},
            {"CRM_DATA_DIR", data_.string()},
            {"CRM_LISTEN", "127.0.0.1:0"},
            {"CRM_LOG_LEVEL", "info"},
            // The tests stand in for our nginx: Login sends its own X-Forwarded-For so tests do
            // not share one address's login budget. Tests of an untrusted peer erase this.
            {"CRM_TRUSTED_PROXIES", "127.0.0.1"}};
    // Sanitizer builds need more memory per slice than the default limit allows.
    if (const char* limit = std::getenv("CRM_SLICE_MEMORY_LIMIT")) {
      env_["CRM_SLICE_MEMORY_LIMIT"] = limit;
    }
    Configure(env_);
    crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env_, pg_->dir() / "crmd.log");
  }

  void TearDown() override {
    if (HasFailure() && crmd_) {
      std::cerr << "--- crmd log ---\n" << crmd_->Log() << "\n";
    }
    crmd_.reset();
    pg_.reset();
  }

  std::string Url(const std::string& path) const { return crmd_->url() + path; }

  Tenant Register(const std::string& email) {
    auto r = Fetch("POST", Url("/auth/register"),
                   json{{"email", email}, {"password", kPassword}}.dump(), {kJson});
    EXPECT_EQ(r.status, 201) << r.body;
    Tenant t;
    t.token = CookieValue(r.headers["set-cookie"], "crm_session");
    auto body = r.Json();
    if (body.is_object() && body["slice"].is_object()) {
      t.slice = body["slice"]["id"].get<long long>();
      t.user = body["user"]["id"].get<long long>();
    }
    return t;
  }

  // Logs in from its own (forwarded) address so tests do not share the per-IP login budget.
  std::string Login(const std::string& email, const std::string& password, const std::string& ip) {
    auto r =
        Fetch("POST", Url("/auth/login"), json{{"email", email}, {"password", password}}.dump(),
              {kJson, "X-Forwarded-For: " + ip});
    EXPECT_EQ(r.status, 200) << r.body;
    return CookieValue(r.headers["set-cookie"], "crm_session");
  }

  std::string Admin() {
    auto [code, out] =
        RunCommand({CRM_CRMD_BINARY, "admin", "create", "--email", "root@example.com"}, env_,
                   "an admin password\n");
    EXPECT_EQ(code, 0) << out;
    return Login("root@example.com", "an admin password", "198.51.100.200");
  }

  long long CreateContact(const Tenant& t, const std::string& name, const std::string& phone) {
    auto r = Fetch("POST", Url("/api/contacts"), json{{"name", name}, {"phone", phone}}.dump(),
                   t.AuthJson());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.Json().value("id", 0LL);
  }

  // Contacts "NAME 0", "NAME 1"… with `phones`, by a CSV import.
  void Import(const Tenant& t, const std::string& name, const std::vector<std::string>& phones) {
    std::string csv = "name,phone\n";
    for (std::size_t i = 0; i < phones.size(); ++i) {
      csv += name + " " + std::to_string(i) + "," + phones[i] + "\n";
    }
    auto r = Fetch("POST", Url("/api/contacts/import"), csv,
                   {"Cookie: crm_session=" + t.token, "Content-Type: text/csv"});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json()["created"], phones.size());
  }

  // A broadcast of "Hello" to `recipients`; its id (0 when refused).
  long long Broadcast(const Tenant& t, const std::vector<std::string>& recipients) {
    auto r = Fetch("POST", Url("/api/broadcasts"),
                   json{{"name", "Launch"}, {"text", "Hello"}, {"recipients", recipients}}.dump(),
                   t.AuthJson(), 60'000);
    EXPECT_EQ(r.status, 202) << r.body;
    return r.Json().value("id", 0LL);
  }

  json Progress(const Tenant& t, long long id) {
    return Fetch("GET", Url("/api/broadcasts/" + std::to_string(id)), {}, t.Auth()).Json();
  }

  // Every slice's log on stderr (call from TearDown when the test failed).
  void PrintSliceLogs() const {
    if (!fs::exists(data_ / "slices")) {
      return;
    }
    for (const auto& dir : fs::directory_iterator(data_ / "slices")) {
      std::ifstream log(dir.path() / "slice.log");
      std::cerr << "--- " << dir.path().string() << "/slice.log ---\n" << log.rdbuf() << "\n";
    }
  }

  std::string SlicePid(long long slice) {
    return Sql(pg_->ConnectionString(),
               "SELECT pid FROM gateway.slices WHERE id = " + std::to_string(slice));
  }

  std::unique_ptr<PgCluster> pg_;
  fs::path data_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<CrmdProcess> crmd_;
};

}  // namespace crm::testing
