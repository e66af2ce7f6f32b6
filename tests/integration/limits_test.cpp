// Limits that bite, in a real crmd against a real PostgreSQL: a slice filled to its storage
// quota refuses writes that add data (507) but still reads and deletes, and writes again once
// space is freed and measured; a server at CRM_MAX_SLICES refuses to provision (sign-up 503,
// `crmctl slices provision` exit 2) and opens server_slices_full; the host's own storage pass
// records what a slice writes, frees and uploads; CRM_SLICE_CPU_LIMIT puts each
// slice under a cgroup CPU quota where the host allows it, recorded and listed; a slice process
// is in its groups from its first instruction (it joins them before exec).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "crm/orchestrator/limits.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

class StorageQuotaTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_STORAGE_QUOTA"] = "64 MiB";
    // The host records every slice's storage each second.
    env["CRM_SLICE_STORAGE_INTERVAL"] = "1s";
  }
};

TEST_F(StorageQuotaTest, FullSliceRefusesWritesButReadsAndDeletes) {
  Tenant t = Register("quota@example.com");
  ASSERT_GT(t.slice, 0);
  long long kept = CreateContact(t, "Kept", "+351910000001");
  ASSERT_GT(kept, 0);

  // 64 MiB of files in a 64 MiB quota (sparse: the accounting counts file sizes).
  fs::path big = data_ / "slices" / std::to_string(t.slice) / "files" / "big.bin";
  std::ofstream(big).close();
  fs::resize_file(big, 64ull << 20);
  // Until the next measurement the writes still go through: each with a phone of its own.
  int next_phone = 100;
  auto post = [&] {
    return Fetch("POST", Url("/api/contacts"),
                 json{{"name", "New"}, {"phone", "+3519100" + std::to_string(next_phone++)}}.dump(),
                 t.AuthJson());
  };
  HttpResult refused;
  ASSERT_TRUE(Eventually([&] {
    refused = post();
    return refused.status == 507;
  })) << refused.status
      << " " << refused.body;
  std::string message = refused.Json().value("error", "");
  EXPECT_NE(message.find("64.0 MiB storage quota"), std::string::npos) << refused.body;
  EXPECT_NE(message.find("delete"), std::string::npos) << refused.body;
  EXPECT_EQ(Fetch("PATCH", Url("/api/contacts/" + std::to_string(kept)),
                  json{{"name", "Renamed"}}.dump(), t.AuthJson())
                .status,
            507);

  // Reading and deleting still work: that is how the tenant gets back under the quota.
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status, 200);
  EXPECT_EQ(Fetch("GET", Url("/api/status"), {}, t.Auth()).status, 200);
  EXPECT_EQ(Fetch("DELETE", Url("/api/contacts/" + std::to_string(kept)), {}, t.Auth()).status,
            204);

  // Freed and measured again: writes work.
  fs::remove(big);
  HttpResult created;
  ASSERT_TRUE(Eventually([&] {
    created = post();
    return created.status == 201;
  })) << created.status
      << " " << created.body;
}

// The same quota, followed through the host's pass (slice_storage_interval). After its first
// pass it sizes again only a schema written since it last sized it (every schema only once an
// hour, OrchestratorOptions::storage_full_interval), so what is under test is that a write, a
// shrink and new files each reach the recorded size, and with it the quota the gateway enforces.
class StoragePassTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_STORAGE_QUOTA"] = "16 MiB";
    env["CRM_SLICE_STORAGE_INTERVAL"] = "1s";
  }

  long long Recorded(long long slice) {
    std::string bytes =
        Sql(pg_->ConnectionString(),
            "SELECT storage_bytes FROM gateway.slices WHERE id = " + std::to_string(slice));
    return bytes.empty() || bytes.starts_with("ERROR") ? -1 : std::stoll(bytes);
  }
};

TEST_F(StoragePassTest, WhatASliceWritesFreesAndStoresAsFilesReachesItsRecordedSizeAndQuota) {
  Tenant t = Register("pass@example.com");
  ASSERT_GT(t.slice, 0);
  const std::string schema = "slice_" + std::to_string(t.slice);
  ASSERT_TRUE(Eventually([&] { return Recorded(t.slice) > 0; })) << Recorded(t.slice);
  const long long empty = Recorded(t.slice);
  ASSERT_LT(empty, 16ll << 20) << "a new slice starts under its quota";
  int next_phone = 100;
  auto post = [&] {
    return Fetch("POST", Url("/api/contacts"),
                 json{{"name", "New"}, {"phone", "+3519200" + std::to_string(next_phone++)}}.dump(),
                 t.AuthJson());
  };
  ASSERT_EQ(post().status, 201);
  // Repeats `request` until it answers `status` or the wait ends: its last answer.
  auto until = [](int status, const std::function<HttpResult()>& request) {
    HttpResult last;
    Eventually([&] {
      last = request();
      return last.status == status;
    });
    return last;
  };

  // ~20 MiB of contacts written straight into the schema (names indexed by lower(name)).
  const std::string filled =
      Sql(pg_->ConnectionString(),
          "INSERT INTO " + schema +
              ".contacts (name, phone) SELECT repeat('n', 190) || g, '+1' || (2000000000 + g) "
              "FROM generate_series(1, 40000) AS g");
  ASSERT_FALSE(filled.starts_with("ERROR")) << filled;
  HttpResult refused = until(507, post);
  ASSERT_EQ(refused.status, 507) << refused.body << "; recorded " << Recorded(t.slice);
  EXPECT_GE(Recorded(t.slice), 16ll << 20);

  // Emptied: the files shrink, the pass sees the schema written, writes work again.
  const std::string emptied =
      Sql(pg_->ConnectionString(), "TRUNCATE " + schema + ".contacts CASCADE");
  ASSERT_FALSE(emptied.starts_with("ERROR")) << emptied;
  HttpResult created = until(201, post);
  ASSERT_EQ(created.status, 201) << created.body << "; recorded " << Recorded(t.slice);
  EXPECT_LT(Recorded(t.slice), 16ll << 20);

  // Files are measured at every pass, whether or not the schema was written: a 16 MiB upload
  // (sparse: the accounting counts file sizes) fills the quota with the schema left alone (a
  // PATCH of no contact writes nothing: the slice answers 404 until the gateway refuses it).
  fs::path big = data_ / "slices" / std::to_string(t.slice) / "files" / "upload.bin";
  std::ofstream(big).close();
  fs::resize_file(big, 16ull << 20);
  refused = until(507, [&] {
    return Fetch("PATCH", Url("/api/contacts/0"), json{{"name", "x"}}.dump(), t.AuthJson());
  });
  ASSERT_EQ(refused.status, 507) << refused.body << "; recorded " << Recorded(t.slice);
  EXPECT_GE(Recorded(t.slice), 16ll << 20);
}

class MaxSlicesTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_MAX_SLICES"] = "1";  // the warm slice is the only one
    env["CRM_MONITOR_PROCESS_INTERVAL"] = "1s";
  }

  bool SlicesFullOpen(const std::string& admin) {
    auto r = Fetch("GET", Url("/admin/alerts?state=all&limit=1000"), {},
                   {"Cookie: crm_session=" + admin});
    json body = r.Json();  // kept: a loop over a temporary's member would dangle
    for (const auto& a : body["items"]) {
      if (a["subject"] == "server" && a["kind"] == "server_slices_full" &&
          a["resolved_at"].is_null()) {
        return true;
      }
    }
    return false;
  }
};

TEST_F(MaxSlicesTest, FullServerRefusesProvisioningAndAlerts) {
  Tenant first = Register("first@example.com");
  ASSERT_GT(first.slice, 0);

  auto second =
      Fetch("POST", Url("/auth/register"),
            json{{"email", "second@example.com"}, {"password", kPassword}}.dump(), {kJson});
  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_NE(second.body.find("CRM_MAX_SLICES"), std::string::npos) << second.body;

  std::string admin = Admin();
  auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "slices", "provision"},
                                {{"CRM_URL", crmd_->url()}, {"CRM_ADMIN_TOKEN", admin}}, "");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("CRM_MAX_SLICES"), std::string::npos) << out;
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM gateway.slices WHERE state <> 'destroyed'"),
            "1");
  EXPECT_TRUE(Eventually([&] { return SlicesFullOpen(admin); }))
      << Fetch("GET", Url("/admin/alerts?state=all"), {}, {"Cookie: crm_session=" + admin}).body;
}

class ConcurrentProvisioningTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_MAX_SLICES"] = "4";  // the warm slice and three more
  }
};

// Slices provision concurrently (docs/benchmarks.md, "Density"), but the capacity check and the
// insert stay one at a time: six requests at once on a server with room for three more get three
// slices, each serving, and three refusals naming the key, never a fifth slice.
TEST_F(ConcurrentProvisioningTest, SixAtOnceGetTheThreeThatFitEachServingAndNoMore) {
  std::string admin = Admin();
  std::vector<HttpResult> answers(6);
  std::vector<std::thread> requests;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    requests.emplace_back([&, i] {
      answers[i] = Fetch("POST", Url("/admin/slices"), {},
                         {"Cookie: crm_session=" + admin, "Content-Type: application/json"});
    });
  }
  for (auto& t : requests) {
    t.join();
  }
  std::set<long long> ids;
  int refused = 0;
  for (const auto& a : answers) {
    if (a.status == 201) {
      EXPECT_EQ(a.Json()["state"], "available") << a.body;
      ids.insert(a.Json()["id"].get<long long>());
    } else {
      EXPECT_EQ(a.status, 409) << a.body;  // docs/api.md: the server is full
      EXPECT_NE(a.body.find("CRM_MAX_SLICES"), std::string::npos) << a.body;
      ++refused;
    }
  }
  EXPECT_EQ(ids.size(), 3U);
  EXPECT_EQ(refused, 3);
  EXPECT_EQ(
      Sql(pg_->ConnectionString(), "SELECT count(*) FROM gateway.slices WHERE state = 'available'"),
      "4");
  for (long long id : ids) {
    EXPECT_FALSE(SlicePid(id).empty()) << "slice " << id << " runs no process";
  }
}

class CpuLimitTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_CPU_LIMIT"] = "0.5";
  }
};

// The group of `pid` in hierarchy `controller` ("" for cgroup v2), from /proc/<pid>/cgroup.
std::string GroupOf(const std::string& pid, const std::string& controller) {
  std::ifstream in("/proc/" + pid + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    std::string controllers = line.substr(first + 1, second - first - 1);
    bool match = controller.empty()
                     ? controllers.empty()
                     : ("," + controllers + ",").find("," + controller + ",") != std::string::npos;
    if (match) {
      return line.substr(second + 1);
    }
  }
  return {};
}

TEST_F(CpuLimitTest, SliceRunsUnderTheQuotaWhereTheHostAllowsAndSaysSo) {
  Tenant t = Register("cpu@example.com");
  ASSERT_GT(t.slice, 0);
  std::string admin = Admin();
  auto slice = Fetch("GET", Url("/admin/slices/" + std::to_string(t.slice)), {},
                     {"Cookie: crm_session=" + admin})
                   .Json();
  EXPECT_DOUBLE_EQ(slice.value("cpu_limit_cores", 0.0), 0.5) << slice;
  std::string mechanism = slice.value("cpu_limit_mechanism", "");
  std::string pid = SlicePid(t.slice);
  // What the host offers decides the mechanism; where it is a cgroup, the quota is really set.
  if (mechanism == "cgroup-v2") {
    std::ifstream max("/sys/fs/cgroup" + GroupOf(pid, "") + "/cpu.max");
    std::string text;
    std::getline(max, text);
    EXPECT_EQ(text, "50000 100000");
  } else if (mechanism == "cgroup-v1") {
    std::string group = GroupOf(pid, "cpu");
    EXPECT_NE(group.find("slice_" + std::to_string(t.slice)), std::string::npos) << group;
    std::string quota;
    for (const char* h : {"cpu", "cpu,cpuacct"}) {
      std::ifstream in("/sys/fs/cgroup/" + std::string(h) + group + "/cpu.cfs_quota_us");
      if (in && std::getline(in, quota)) {
        break;
      }
    }
    EXPECT_EQ(quota, "50000");
  } else {
    EXPECT_EQ(mechanism, "unavailable") << slice;
  }
  auto [code, list] = RunCommand({CRM_CRMCTL_BINARY, "slices", "list"},
                                 {{"CRM_URL", crmd_->url()}, {"CRM_ADMIN_TOKEN", admin}}, "");
  ASSERT_EQ(code, 0) << list;
  EXPECT_NE(list.find("cpu 0.5 (" + mechanism + ")"), std::string::npos) << list;
}

// The slice joins its groups itself before exec (docs/architecture.md, "Isolation"): the first
// line of its log, written before it starts anything, names its own memory and CPU groups. With
// the orchestrator moving it in after the spawn, that line could name crmd's group instead, and
// a sidecar started in that window would stay outside the limit.
TEST_F(CpuLimitTest, SliceIsInItsGroupsFromItsFirstInstruction) {
  Tenant t = Register("first-instruction@example.com");
  ASSERT_GT(t.slice, 0);
  std::string admin = Admin();
  auto slice = Fetch("GET", Url("/admin/slices/" + std::to_string(t.slice)), {},
                     {"Cookie: crm_session=" + admin})
                   .Json();
  // "… slice 7 started in cgroups memory:/a/crmd-slices/slice_7 cpu:/…" → {memory: /a/…}.
  std::map<std::string, std::string> groups;
  std::ifstream in(data_ / "slices" / std::to_string(t.slice) / "slice.log");
  for (std::string line; std::getline(in, line);) {
    auto at = line.find("started in cgroups ");
    if (at == std::string::npos) {
      continue;
    }
    std::istringstream words(line.substr(at + 19));
    for (std::string word; words >> word;) {
      auto colon = word.find(':');
      groups[word.substr(0, colon)] = word.substr(colon + 1);
    }
    break;
  }
  ASSERT_FALSE(groups.empty()) << "no start line in the slice's log";
  auto own = [&](const std::string& path) {
    std::string tail = "/slice_" + std::to_string(t.slice);
    return path.size() >= tail.size() && path.ends_with(tail);
  };
  std::string memory = slice.value("limit_mechanism", "");
  if (memory == "cgroup-v1") {
    EXPECT_TRUE(own(groups["memory"])) << groups["memory"];
  } else if (memory == "cgroup-v2") {
    EXPECT_TRUE(own(groups["unified"])) << groups["unified"];
  } else {
    EXPECT_EQ(memory, "rlimit-as") << slice;
  }
  if (slice.value("cpu_limit_mechanism", "") == "cgroup-v1") {
    std::string cpu = groups.count("cpu") ? groups["cpu"] : groups["cpu,cpuacct"];
    EXPECT_TRUE(own(cpu)) << cpu;
  }
}

// The mechanism itself, with no crmd around it: a child that joins the group between fork and
// exec runs the new program in that group from its first instruction, with nobody moving it
// afterwards. `cat /proc/self/cgroup` is that program: what it prints is where it started.
TEST(GroupJoinTest, AProgramStartedAfterJoiningRunsInTheGroupFromItsFirstInstruction) {
  auto limiter = orchestrator::MemoryLimiter::Detect();
  if (limiter.mechanism() == orchestrator::LimitMechanism::kRlimit) {
    GTEST_SKIP() << "this host gives crmd no writable memory cgroup (the slices get rlimits)";
  }
  constexpr long long kSlice = 990'001;
  auto procs = limiter.Prepare(kSlice, 256ull << 20);
  ASSERT_TRUE(procs.has_value());
  std::string output;
  {
    orchestrator::GroupJoin join;
    join.Add(*procs);
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      if (!join.Join()) {
        ::_exit(3);
      }
      ::execl("/bin/cat", "cat", "/proc/self/cgroup", static_cast<char*>(nullptr));
      ::_exit(4);
    }
    ::close(out[1]);
    char buffer[4096];
    for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) {
      output.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  limiter.Release(kSlice);
  std::string want = "/slice_" + std::to_string(kSlice) + "\n";
  bool v2 = limiter.mechanism() == orchestrator::LimitMechanism::kCgroupV2;
  std::istringstream lines(output);
  bool found = false;
  for (std::string line; std::getline(lines, line);) {
    bool memory = v2 ? line.starts_with("0::")
                     : line.find(":memory:") != std::string::npos ||
                           line.find(",memory:") != std::string::npos ||
                           line.find(":memory,") != std::string::npos;
    if (memory) {
      found = true;
      EXPECT_TRUE((line + "\n").ends_with(want)) << line;
    }
  }
  EXPECT_TRUE(found) << output;
}

}  // namespace
}  // namespace crm::testing
