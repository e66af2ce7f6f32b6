// Tenant region pinning end to end: two PostgreSQL clusters, two `crmd --role all` on loopback
// configured as regions eu and us with each other's origins (docs/operations.md, "Regions").
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crm/ports.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

const std::string kRegionSecret = "the regions' shared secret, 32+ characters";

// A TCP port that accepts connections (the kernel's backlog) and never answers: a peer that
// hangs, as a region behind a dead load balancer does.
class SilentPeer {
 public:
  SilentPeer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot open the silent peer's socket");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPeer() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct Region {
  std::unique_ptr<PgCluster> pg;
  fs::path data;
  std::map<std::string, std::string> env;
  std::unique_ptr<CrmdProcess> crmd;
  std::string url;
};

class RegionPinningTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto* region : {&eu_, &us_}) {
      if (HasFailure() && region->crmd) {
        std::cerr << "--- crmd log (" << region->url << ") ---\n" << region->crmd->Log() << "\n";
      }
      region->crmd.reset();
      region->pg.reset();
      if (!region->data.empty()) {
        fs::remove_all(region->data);
      }
    }
  }

  // Starts `region` named `name` on `port` with `regions` (CRM_REGIONS).
  static void Start(Region& region, const std::string& name, int port, const std::string& regions) {
    region.pg = PgCluster::Start();
    region.data =
        fs::temp_directory_path() /
        ("crm-region-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(port));
    fs::create_directories(region.data);
    region.url = "http://127.0.0.1:" + std::to_string(port);
    region.env = {{"CRM_DATABASE_URL", region.pg->ConnectionString()},
                  {"CRM_DATA_DIR", region.data.string()},
                  {"CRM_LISTEN", "127.0.0.1:" + std::to_string(port)},
                  {"CRM_PUBLIC_URL", region.url},
                  {"CRM_TRUSTED_PROXIES", "127.0.0.1"},
                  {"CRM_REGION", name},
                  {"CRM_REGIONS", regions},
                  {"CRM_REGION_SECRET", kRegionSecret},
                  {"CRM_REGION_PEER_TIMEOUT", "1s"}};
    if (const char* limit = std::getenv("CRM_SLICE_MEMORY_LIMIT")) {
      region.env["CRM_SLICE_MEMORY_LIMIT"] = limit;
    }
    region.crmd = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, region.env,
                                     region.data / "crmd.log");
  }

  // eu and us, each knowing the other.
  void StartBoth() {
    int eu_port = FreeLoopbackPort();
    int us_port = FreeLoopbackPort();
    std::string regions = "eu=http://127.0.0.1:" + std::to_string(eu_port) +
                          ",us=http://127.0.0.1:" + std::to_string(us_port);
    Start(eu_, "eu", eu_port, regions);
    Start(us_, "us", us_port, regions);
  }

  static HttpResult Post(const Region& region, const std::string& path, const json& body,
                         const std::string& ip = "198.51.100.7") {
    return Fetch("POST", region.url + path, body.dump(), {kJson, "X-Forwarded-For: " + ip});
  }

  static std::string SignUp(const Region& region, const std::string& email) {
    HttpResult r = Post(region, "/auth/register", {{"email", email}, {"password", kPassword}});
    EXPECT_EQ(r.status, 201) << r.body;
    return CookieValue(r.headers["set-cookie"], "crm_session");
  }

  static std::string Users(const Region& region) {
    return Sql(region.pg->ConnectionString(), "SELECT count(*) FROM gateway.users");
  }

  Region eu_;
  Region us_;
};

TEST_F(RegionPinningTest, ATenantOfEuSigningInAtUsIsSentToEu) {
  StartBoth();
  std::string token = SignUp(eu_, "ana@example.com");
  EXPECT_EQ(token.rfind("eu.", 0), 0u) << "the token names its region: " << token;

  HttpResult login =
      Post(us_, "/auth/login", {{"email", "Ana@Example.com"}, {"password", kPassword}});
  EXPECT_EQ(login.status, 409) << login.body;
  json body = login.Json();
  EXPECT_EQ(body.value("region", ""), "eu") << login.body;
  EXPECT_EQ(body.value("url", ""), eu_.url + "/login?email=ana%40example.com") << login.body;
  EXPECT_EQ(body.value("field", ""), "email");
  EXPECT_EQ(login.headers.count("set-cookie"), 0u) << "no session at us";

  // A wrong password is sent there too: only eu can check it, and eu's limits apply there.
  HttpResult wrong =
      Post(us_, "/auth/login", {{"email", "ana@example.com"}, {"password", "not the password"}});
  EXPECT_EQ(wrong.status, 409) << wrong.body;

  HttpResult reset = Post(us_, "/auth/forgot-password", {{"email", "ana@example.com"}});
  EXPECT_EQ(reset.status, 409) << reset.body;
  EXPECT_EQ(reset.Json().value("url", ""), eu_.url + "/forgot-password?email=ana%40example.com");

  HttpResult again =
      Post(us_, "/auth/register", {{"email", "ana@example.com"}, {"password", kPassword}});
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.Json().value("region", ""), "eu") << again.body;
  EXPECT_EQ(Users(us_), "0") << "nothing of ana's is stored at us";

  // Addresses nobody holds keep their usual answers.
  HttpResult nobody =
      Post(us_, "/auth/login", {{"email", "nobody@example.com"}, {"password", kPassword}});
  EXPECT_EQ(nobody.status, 401) << nobody.body;
  HttpResult nobody_reset = Post(us_, "/auth/forgot-password", {{"email", "nobody@example.com"}});
  EXPECT_EQ(nobody_reset.status, 202) << nobody_reset.body;

  // At home the sign-in works, and a tenant of us signs in at us as before.
  HttpResult home =
      Post(eu_, "/auth/login", {{"email", "ana@example.com"}, {"password", kPassword}});
  EXPECT_EQ(home.status, 200) << home.body;
  std::string bob = SignUp(us_, "bob@example.com");
  EXPECT_EQ(bob.rfind("us.", 0), 0u) << bob;
  EXPECT_EQ(Users(us_), "1");
}

TEST_F(RegionPinningTest, AnEuTokenAtUsIsRedirectedWithNothingServed) {
  StartBoth();
  std::string token = SignUp(eu_, "ana@example.com");
  std::string cookie = "Cookie: crm_session=" + token;
  ASSERT_EQ(SliceCall(eu_.url, cookie, "POST", "/api/contacts",
                      json{{"name", "Bob"}, {"phone", "+14155550123"}}.dump())
                .status,
            201);

  HttpResult get = Fetch("GET", us_.url + "/api/contacts?q=bob&limit=5", "", {cookie});
  EXPECT_EQ(get.status, 307) << get.body;
  EXPECT_EQ(get.headers["location"], eu_.url + "/api/contacts?q=bob&limit=5");
  EXPECT_EQ(get.Json().value("region", ""), "eu") << get.body;
  EXPECT_EQ(get.body.find("Bob"), std::string::npos) << "nothing served: " << get.body;

  // A bearer token and a write are sent the same way; the write is not made anywhere.
  HttpResult post = Fetch("POST", us_.url + "/api/contacts",
                          json{{"name", "Eve"}, {"phone", "+14155550199"}}.dump(),
                          {"Authorization: Bearer " + token, kJson});
  EXPECT_EQ(post.status, 307) << post.body;
  EXPECT_EQ(post.headers["location"], eu_.url + "/api/contacts");
  HttpResult me = Fetch("GET", us_.url + "/auth/me", "", {cookie});
  EXPECT_EQ(me.status, 307) << me.body;

  // Following the redirect reaches the tenant's data at home.
  HttpResult followed = Fetch("GET", get.headers["location"], "", {cookie});
  EXPECT_EQ(followed.status, 200) << followed.body;
  EXPECT_NE(followed.body.find("Bob"), std::string::npos) << followed.body;
  EXPECT_EQ(ContactNames(eu_.url, cookie), std::set<std::string>{"Bob"});

  // No database lookup decides it: with us's PostgreSQL gone the answer is the same.
  us_.pg->Stop();
  HttpResult without_db = Fetch("GET", us_.url + "/api/contacts", "", {cookie});
  EXPECT_EQ(without_db.status, 307) << without_db.body;
  EXPECT_EQ(without_db.headers["location"], eu_.url + "/api/contacts");
}

TEST_F(RegionPinningTest, AdminSeesWhetherEachRegionAnswers) {
  StartBoth();
  auto [code, out] = RunCommand({CRM_CRMD_BINARY, "admin", "create", "--email", "root@example.com"},
                                eu_.env, "an admin password\n");
  ASSERT_EQ(code, 0) << out;
  HttpResult login =
      Post(eu_, "/auth/login", {{"email", "root@example.com"}, {"password", "an admin password"}});
  ASSERT_EQ(login.status, 200) << login.body;
  std::string cookie =
      "Cookie: crm_session=" + CookieValue(login.headers["set-cookie"], "crm_session");

  HttpResult regions = Fetch("GET", eu_.url + "/admin/regions", "", {cookie});
  ASSERT_EQ(regions.status, 200) << regions.body;
  json body = regions.Json();
  EXPECT_EQ(body.value("region", ""), "eu");
  EXPECT_EQ(body.value("url", ""), eu_.url);
  ASSERT_EQ(body["peers"].size(), 1u) << regions.body;
  EXPECT_EQ(body["peers"][0].value("region", ""), "us");
  EXPECT_EQ(body["peers"][0].value("status", ""), "ok") << regions.body;
  EXPECT_TRUE(body["peers"][0].value("answers", false));

  us_.crmd->Stop();
  regions = Fetch("GET", eu_.url + "/admin/regions", "", {cookie});
  ASSERT_EQ(regions.status, 200) << regions.body;
  EXPECT_EQ(regions.Json()["peers"][0].value("status", ""), "unreachable") << regions.body;
  EXPECT_FALSE(regions.Json()["peers"][0].value("answers", true));
}

TEST_F(RegionPinningTest, AHangingRegionDelaysSignInOnlyByTheBound) {
  SilentPeer hanging;
  int eu_port = FreeLoopbackPort();
  Start(eu_, "eu", eu_port,
        "eu=http://127.0.0.1:" + std::to_string(eu_port) + ",us=" + hanging.url());
  // Sign-up asks every other region (1 s bound), then signs up here.
  auto started = std::chrono::steady_clock::now();
  std::string token = SignUp(eu_, "ana@example.com");
  auto signup = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(token.empty());
  EXPECT_LT(signup, std::chrono::seconds(6)) << "sign-up waited beyond the peer bound";

  // A local tenant's sign-in asks no one.
  started = std::chrono::steady_clock::now();
  HttpResult login =
      Post(eu_, "/auth/login", {{"email", "ana@example.com"}, {"password", kPassword}});
  EXPECT_EQ(login.status, 200) << login.body;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));

  // An address nobody holds: the hanging region is skipped after the bound, with a log line.
  started = std::chrono::steady_clock::now();
  HttpResult nobody =
      Post(eu_, "/auth/login", {{"email", "nobody@example.com"}, {"password", kPassword}});
  EXPECT_EQ(nobody.status, 401) << nobody.body;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(6));
  EXPECT_NE(eu_.crmd->Log().find("region us: skipped in the account lookup"), std::string::npos);
}

}  // namespace
}  // namespace crm::testing
