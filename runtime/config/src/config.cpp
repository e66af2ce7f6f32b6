#include "crm/config/config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/hash_range.hpp"
#include "crm/units.hpp"
#include "crm/yaml_source.hpp"

namespace crm::config {
namespace {

using Setter = std::function<void(RuntimeConfig&, const std::string&)>;

struct KeyDef {
  ConfigKey key;
  Setter set;
};

// A whole number within [min, max]; the message states the range.
long long ParseWhole(const std::string& text, long long min, long long max) {
  long long value = -1;
  try {
    value = ParseCount(text);
  } catch (const InputError&) {
    // Reported below with the range, which says more than "expected a whole number".
  }
  if (value < min || value > max) {
    throw InputError("expected a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got \"" + text + "\"");
  }
  return value;
}

int Int(const std::string& text, int min, int max) {
  return static_cast<int>(ParseWhole(text, min, max));
}

// A size: bytes as a bare number (the rendered env files) or with a unit ("256 MiB").
std::uint64_t Bytes(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    return static_cast<std::uint64_t>(ParseWhole(text, 1, std::numeric_limits<long long>::max()));
  }
  double bytes = crm::ParseBytes(text);
  if (bytes < 1 || bytes > 9e18) {
    throw InputError("expected a size from 1 B to 9 EB, got \"" + text + "\"");
  }
  return static_cast<std::uint64_t>(bytes);
}

// An environment variable set to nothing means off.
bool Flag(const std::string& text) {
  return !text.empty() && ParseBool(text);
}

// "0-50", "12.5-25": a percent range of the tenant hash space (the queue reads it again).
std::string ShardRangeText(const std::string& text) {
  ParseHashRange(text);
  return text;
}

// Check intervals and durations: a second at least (the monitor counts whole seconds).
std::chrono::milliseconds AtLeastOneSecond(const std::string& text) {
  auto ms = ParseDuration(text);
  if (ms < std::chrono::seconds(1)) {
    throw InputError("expected at least 1s, got \"" + text + "\"");
  }
  return ms;
}

std::string NonEmpty(const std::string& text) {
  if (text.empty()) {
    throw InputError("must not be empty");
  }
  return text;
}

// "usd" → "USD": three ASCII letters.
std::string CurrencyCode(const std::string& text) {
  if (text.size() != 3 || !std::all_of(text.begin(), text.end(), [](char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
      })) {
    throw InputError("expected a three-letter ISO 4217 currency code such as USD, got \"" + text +
                     "\"");
  }
  std::string code = text;
  for (char& ch : code) {
    ch = static_cast<char>(ch & ~0x20);
  }
  return code;
}

// "Name <address>" or "address": one '@' with text either side, no line breaks (the mailer
// checks it again when it builds a message).
std::string MailboxText(const std::string& text) {
  auto open = text.rfind('<');
  std::string address = open == std::string::npos ? text : text.substr(open + 1);
  if (open != std::string::npos) {
    if (address.empty() || address.back() != '>') {
      throw InputError("expected \"Name <address>\" or an address, got \"" + text + "\"");
    }
    address.pop_back();
  }
  auto at = address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == address.size() ||
      text.find_first_of("\r\n") != std::string::npos ||
      address.find_first_of(" <>,;") != std::string::npos) {
    throw InputError("expected \"Name <address>\" or an address, got \"" + text + "\"");
  }
  return text;
}

// "200000-265535": uids for slices, above the system's and below 2^31; "" turns them off.
std::pair<std::uint32_t, std::uint32_t> UidRange(const std::string& text) {
  if (text.empty()) {
    return {0, 0};
  }
  auto dash = text.find('-');
  if (dash == std::string::npos || dash == 0) {
    throw InputError("expected a uid range FROM-TO such as 200000-265535, got \"" + text + "\"");
  }
  constexpr long long kMaxUid = (1LL << 31) - 1;
  long long from = ParseWhole(text.substr(0, dash), 1000, kMaxUid);
  long long to = ParseWhole(text.substr(dash + 1), 1000, kMaxUid);
  if (from >= to) {
    throw InputError("expected FROM < TO, got \"" + text + "\"");
  }
  return {static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(to)};
}

// A secret from an inherited descriptor (a sealed memfd or a pipe), read once and closed so
// nothing this process starts inherits it.
std::string ReadSecretDescriptor(const std::string& text) {
  int fd = Int(text, 3, 1 << 20);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
    throw InputError("descriptor " + text + " is not an open file or pipe");
  }
  ::lseek(fd, 0, SEEK_SET);  // a pipe cannot seek, and need not
  std::string secret;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ::close(fd);
      throw InputError("cannot read descriptor " + text + ": " + std::strerror(errno));
    }
    if (n == 0 || secret.size() > 4096) {
      break;
    }
    secret.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
    secret.pop_back();
  }
  return secret;
}

// An origin browsers and peers compare whole: http(s)://host[:port], no path, query or user.
std::string OriginText(const std::string& v) {
  if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
    throw InputError("expected an http:// or https:// origin, got \"" + v + "\"");
  }
  std::string origin = v;
  while (!origin.empty() && origin.back() == '/') {
    origin.pop_back();
  }
  auto host = origin.find("://");
  if (host == std::string::npos || origin.size() == host + 3 ||
      origin.find_first_of("/?#@ ", host + 3) != std::string::npos) {
    throw InputError("expected an origin such as https://crm.example.com (no path), got \"" + v +
                     "\"");
  }
  return origin;
}

// A region's name goes into session tokens and URLs: a short DNS label.
std::string RegionName(const std::string& v) {
  bool ok = !v.empty() && v.size() <= 32 && v.front() != '-' && v.back() != '-' &&
            v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
  if (!ok) {
    throw InputError(
        "expected a region name of 1 to 32 lower-case letters, digits or '-' (such "
        "as eu or us-east), got \"" +
        v + "\"");
  }
  return v;
}

// Settings that only make sense together; checked once everything is read. The secret is the
// gateway's to require (RunGateway): slice hosts read the same settings and never sign.
void CheckRegions(const RuntimeConfig& c) {
  if (c.regions.empty()) {
    return;  // one region: region alone only labels the deployment
  }
  if (c.region.empty()) {
    throw InputError("CRM_REGIONS: set; CRM_REGION (region) must name this deployment's region");
  }
  if (!c.regions.contains(c.region)) {
    throw InputError("CRM_REGIONS: does not list this deployment's region \"" + c.region +
                     "\" (CRM_REGION); list every region, this one included");
  }
}

// A host's own pooler for its slices and a pooler in front of the database are two answers to
// one question.
void CheckSlicePool(const RuntimeConfig& c) {
  if (c.slice_pool_size > 0 && !c.database_direct_url.empty()) {
    throw InputError(
        "CRM_SLICE_POOL_SIZE: the database is already behind a pooler (CRM_DATABASE_DIRECT_URL "
        "is set); set one or the other");
  }
}

const std::vector<KeyDef>& Defs() {
  static const std::vector<KeyDef> defs = {
      {{"database_url", {"CRM_DATABASE_URL"}, "PostgreSQL URL or key=value conninfo"},
       [](RuntimeConfig& c, const std::string& v) { c.database_url = NonEmpty(v); }},
      {{"database_direct_url",
        {"CRM_DATABASE_DIRECT_URL"},
        "PostgreSQL itself when database_url is a transaction-pooling PgBouncer: LISTEN, "
        "advisory locks and migrations connect here (same user and password); empty: "
        "database_url, unpooled"},
       [](RuntimeConfig& c, const std::string& v) { c.database_direct_url = v; }},
      {{"slice_pool_size",
        {"CRM_SLICE_POOL_SIZE", "SLICE_POOL_SIZE"},
        "server connections this host's slices share through a PgBouncer crmd starts for them "
        "(transaction pooling; each slice keeps its own login); 0: slices connect directly"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_pool_size = Int(v, 0, 10'000); }},
      {{"slice_pool_per_slice",
        {"CRM_SLICE_POOL_PER_SLICE"},
        "of slice_pool_size, the server connections one slice may hold at once"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_pool_per_slice = Int(v, 1, 100); }},
      {{"slice_pool_idle_timeout",
        {"CRM_SLICE_POOL_IDLE_TIMEOUT"},
        "the slices' pooler closes a server connection unused this long"},
       [](RuntimeConfig& c, const std::string& v) {
         c.slice_pool_idle_timeout =
             std::chrono::duration_cast<std::chrono::seconds>(AtLeastOneSecond(v));
       }},
      {{"pgbouncer", {"CRM_PGBOUNCER"}, "the PgBouncer binary the slices' pooler runs"},
       [](RuntimeConfig& c, const std::string& v) { c.pgbouncer = NonEmpty(v); }},
      {{"db_read_replica_url",
        {"CRM_DB_READ_REPLICA_URL", "DB_READ_REPLICA_URL"},
        "a streaming replica of the database: slices read lists, search and progress there "
        "when it has their last write and is not too far behind (same user and password); "
        "empty: none"},
       [](RuntimeConfig& c, const std::string& v) { c.db_read_replica_url = v; }},
      {{"queue_database_url",
        {"CRM_QUEUE_DATABASE_URL", "QUEUE_DATABASE_URL"},
        "a PostgreSQL database of its own for the outbound queues (reached directly, not through "
        "a transaction pooler; same password unless the URL has one): each slice's queue lives "
        "there in a schema of the slice's name; empty: in the slice's own schema"},
       [](RuntimeConfig& c, const std::string& v) { c.queue_database_url = v; }},
      {{"db_replica_max_lag",
        {"CRM_DB_REPLICA_MAX_LAG", "DB_REPLICA_MAX_LAG"},
        "a read replica further behind than this is bypassed (and one that fails, for as long)"},
       [](RuntimeConfig& c, const std::string& v) { c.db_replica_max_lag = ParseDuration(v); }},
      {{"database_password_file",
        {"CRM_DATABASE_PASSWORD_FILE"},
        "file holding the database password (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.database_password = ReadSecretFile(v, "database password");
       }},
      {{"database_password", {"CRM_DATABASE_PASSWORD"}, "the database password (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.database_password = v; }},
      {{"listen", {"CRM_LISTEN"}, "host:port or unix:/path to serve HTTP on"},
       [](RuntimeConfig& c, const std::string& v) { c.listen = NonEmpty(v); }},
      {{"data_dir", {"CRM_DATA_DIR"}, "directory for slice files, sockets and secrets"},
       [](RuntimeConfig& c, const std::string& v) { c.data_dir = NonEmpty(v); }},
      {{"public_url",
        {"CRM_PUBLIC_URL"},
        "origin browsers use and mailed links name, e.g. https://crm.example.com"},
       [](RuntimeConfig& c, const std::string& v) {
         c.public_url = v.empty() ? v : OriginText(v);
       }},
      {{"trusted_proxies",
        {"CRM_TRUSTED_PROXIES"},
        "comma list of proxy addresses/CIDRs whose X-Forwarded-For is believed; empty: none"},
       [](RuntimeConfig& c, const std::string& v) { c.trusted_proxies = ParseAddressRanges(v); }},
      {{"web_root",
        {"CRM_WEB_ROOT"},
        "the web app's files (default: web/ beside crmd, else ../share/crmd/web)"},
       [](RuntimeConfig& c, const std::string& v) { c.web_root = NonEmpty(v); }},
      {{"plan_name", {"CRM_PLAN_NAME"}, "the subscription's name on the pricing page"},
       [](RuntimeConfig& c, const std::string& v) { c.plan_name = NonEmpty(v); }},
      {{"price_monthly_cents",
        {"CRM_PRICE_MONTHLY_CENTS"},
        "list price per workspace per month, in cents of `currency`"},
       [](RuntimeConfig& c, const std::string& v) {
         c.price_monthly_cents = Int(v, 0, 10'000'000);
       }},
      {{"currency", {"CRM_CURRENCY"}, "ISO 4217 code of the prices, e.g. USD"},
       [](RuntimeConfig& c, const std::string& v) { c.currency = CurrencyCode(v); }},
      {{"launch_discount_percent",
        {"CRM_LAUNCH_DISCOUNT_PERCENT"},
        "launch discount off the list price, 0 for none"},
       [](RuntimeConfig& c, const std::string& v) { c.launch_discount_percent = Int(v, 0, 100); }},
      {{"log_level", {"CRM_LOG_LEVEL"}, "trace, debug, info, warn, error, critical or off"},
       [](RuntimeConfig& c, const std::string& v) { c.log_level = NonEmpty(v); }},
      {{"io_threads", {"CRM_IO_THREADS"}, "threads serving HTTP"},
       [](RuntimeConfig& c, const std::string& v) { c.io_threads = Int(v, 1, 256); }},
      {{"db_max_open_conns",
        {"CRM_DB_MAX_OPEN_CONNS", "DB_MAX_OPEN_CONNS"},
        "gateway database pool size"},
       [](RuntimeConfig& c, const std::string& v) { c.db_max_open_conns = Int(v, 1, 10'000); }},
      {{"slice_db_max_open_conns",
        {"CRM_SLICE_DB_MAX_OPEN_CONNS", "SLICE_DB_MAX_OPEN_CONNS"},
        "database pool size of each slice process"},
       [](RuntimeConfig& c, const std::string& v) {
         c.slice_db_max_open_conns = Int(v, 1, 1'000);
       }},
      {{"worker_concurrency",
        {"CRM_WORKER_CONCURRENCY", "WORKER_CONCURRENCY"},
        "threads running blocking work (database, password hashing)"},
       [](RuntimeConfig& c, const std::string& v) { c.worker_concurrency = Int(v, 1, 1'024); }},
      {{"statement_timeout",
        {"CRM_STATEMENT_TIMEOUT", "STATEMENT_TIMEOUT"},
        "statement_timeout of every database connection"},
       [](RuntimeConfig& c, const std::string& v) { c.statement_timeout = ParseDuration(v); }},
      {{"body_limit", {"CRM_BODY_LIMIT"}, "largest request body accepted"},
       [](RuntimeConfig& c, const std::string& v) { c.body_limit = Bytes(v); }},
      {{"header_timeout", {"CRM_HEADER_TIMEOUT"}, "time a client has to send a request's headers"},
       [](RuntimeConfig& c, const std::string& v) { c.header_timeout = ParseDuration(v); }},
      {{"idle_timeout", {"CRM_IDLE_TIMEOUT"}, "keep-alive connections idle longer are closed"},
       [](RuntimeConfig& c, const std::string& v) { c.idle_timeout = ParseDuration(v); }},
      {{"write_timeout",
        {"CRM_WRITE_TIMEOUT"},
        "time one write of an answer to a client may take before the connection is closed"},
       [](RuntimeConfig& c, const std::string& v) { c.write_timeout = ParseDuration(v); }},
      {{"max_connections_per_ip",
        {"CRM_MAX_CONNECTIONS_PER_IP"},
        "open connections per client TCP address (behind a proxy: the proxy's own address)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.max_connections_per_ip = Int(v, 1, 1'000'000);
       }},
      {{"event_streams_per_tenant",
        {"CRM_EVENT_STREAMS_PER_TENANT"},
        "open live event streams (GET /api/events) per workspace; the next gets 429"},
       [](RuntimeConfig& c, const std::string& v) {
         c.event_streams_per_tenant = Int(v, 1, 100'000);
       }},
      {{"drain_timeout",
        {"CRM_DRAIN_TIMEOUT"},
        "graceful shutdown waits this long for in-flight requests"},
       [](RuntimeConfig& c, const std::string& v) { c.drain_timeout = ParseDuration(v); }},
      {{"slice_memory_limit",
        {"CRM_SLICE_MEMORY_LIMIT", "SLICE_MEMORY_LIMIT"},
        "memory limit of each slice process"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_memory_limit = Bytes(v); }},
      {{"slice_cpu_limit",
        {"CRM_SLICE_CPU_LIMIT"},
        "CPU limit of each slice process in cores (0.5 = half a core; 0 = none)"},
       [](RuntimeConfig& c, const std::string& v) {
         std::size_t used = 0;
         double cores = -1;
         try {
           cores = std::stod(v, &used);
         } catch (const std::exception&) {
         }
         if (used != v.size() || !(cores >= 0 && cores <= 1024)) {
           throw InputError(
               "expected a number of cores from 0 to 1024 (0.5 = half a core), got \"" + v + "\"");
         }
         c.slice_cpu_limit = cores;
       }},
      {{"slice_storage_quota",
        {"CRM_SLICE_STORAGE_QUOTA", "SLICE_STORAGE_QUOTA"},
        "storage quota of each slice (database + files)"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_storage_quota = Bytes(v); }},
      {{"warm_slices", {"CRM_WARM_SLICES"}, "available (warm) slices kept ready for new tenants"},
       [](RuntimeConfig& c, const std::string& v) { c.warm_slices = Int(v, 1, 1'000); }},
      {{"max_slices",
        {"CRM_MAX_SLICES"},
        "live slices this server holds at most (0 = unlimited); provisioning past it is refused"},
       [](RuntimeConfig& c, const std::string& v) { c.max_slices = Int(v, 0, 1'000'000); }},
      {{"login_attempts_per_minute",
        {"CRM_LOGIN_ATTEMPTS_PER_MINUTE"},
        "login attempts allowed per client IP per minute"},
       [](RuntimeConfig& c, const std::string& v) {
         c.login_attempts_per_minute = Int(v, 1, 1'000'000);
       }},
      {{"rate_limit_max_addresses",
        {"CRM_RATE_LIMIT_MAX_ADDRESSES"},
        "client addresses each per-address limit remembers; the quietest is forgotten first"},
       [](RuntimeConfig& c, const std::string& v) {
         c.rate_limit_max_addresses = static_cast<std::size_t>(ParseWhole(v, 1, 10'000'000));
       }},
      {{"password_hash_threads",
        {"CRM_PASSWORD_HASH_THREADS"},
        "threads that hash and check passwords (argon2id, 19 MiB each), apart from other work"},
       [](RuntimeConfig& c, const std::string& v) { c.password_hash_threads = Int(v, 1, 64); }},
      {{"password_hash_queue",
        {"CRM_PASSWORD_HASH_QUEUE"},
        "password checks that may wait for a hashing thread; more get 503 with Retry-After"},
       [](RuntimeConfig& c, const std::string& v) { c.password_hash_queue = Int(v, 0, 100'000); }},
      {{"session_ttl", {"CRM_SESSION_TTL"}, "rolling session lifetime"},
       [](RuntimeConfig& c, const std::string& v) {
         auto ms = ParseDuration(v);
         if (ms < std::chrono::hours(1)) {
           throw InputError("expected at least 1h, got \"" + v + "\"");
         }
         c.session_ttl = std::chrono::duration_cast<std::chrono::hours>(ms);
       }},
      {{"queue_max_depth",
        {"CRM_QUEUE_MAX_DEPTH", "QUEUE_MAX_DEPTH"},
        "pending outbound tasks per slice before broadcasts are refused"},
       [](RuntimeConfig& c, const std::string& v) { c.queue_max_depth = Int(v, 1, 100'000'000); }},
      {{"phone_rps", {"CRM_PHONE_RPS", "PHONE_RPS"}, "messages per second per WhatsApp number"},
       [](RuntimeConfig& c, const std::string& v) { c.phone_rps = Int(v, 1, 100'000); }},
      {{"pair_interval",
        {"CRM_PAIR_INTERVAL", "PAIR_INTERVAL"},
        "per recipient, the time between messages once a burst of 10 is spent"},
       [](RuntimeConfig& c, const std::string& v) { c.pair_interval = ParseDuration(v); }},
      {{"queue_max_attempts",
        {"CRM_QUEUE_MAX_ATTEMPTS"},
        "send attempts before a task is dead-lettered (failed)"},
       [](RuntimeConfig& c, const std::string& v) { c.queue_max_attempts = Int(v, 1, 100); }},
      {{"queue_lease_ttl",
        {"CRM_QUEUE_LEASE_TTL"},
        "lifetime of a dispatcher's lease; another may take over this long after a crash"},
       [](RuntimeConfig& c, const std::string& v) {
         auto ms = ParseDuration(v);
         if (ms < std::chrono::seconds(1)) {
           throw InputError("expected at least 1s, got \"" + v + "\"");
         }
         c.queue_lease_ttl = ms;
       }},
      {{"slice_idle_disconnect",
        {"CRM_SLICE_IDLE_DISCONNECT"},
        "a slice's database connections (its pools, its dispatcher's) unused this long are closed"},
       [](RuntimeConfig& c, const std::string& v) {
         auto ms = ParseDuration(v);
         if (ms < std::chrono::seconds(1)) {
           throw InputError("expected at least 1s, got \"" + v + "\"");
         }
         c.slice_idle_disconnect = ms;
       }},
      {{"queue_idle_poll",
        {"CRM_QUEUE_IDLE_POLL"},
        "how often a dispatcher that closed its connection looks for work another process queued"},
       [](RuntimeConfig& c, const std::string& v) {
         auto ms = ParseDuration(v);
         if (ms < std::chrono::seconds(1)) {
           throw InputError("expected at least 1s, got \"" + v + "\"");
         }
         c.queue_idle_poll = ms;
       }},
      {{"worker_shard_range",
        {"CRM_WORKER_SHARD_RANGE", "WORKER_SHARD_RANGE"},
        "percent range of the tenant hash space whose queues this host dispatches, at most two "
        "decimals: 0-50, 12.5-25"},
       [](RuntimeConfig& c, const std::string& v) { c.worker_shard_range = ShardRangeText(v); }},
      {{"worker_shard_count",
        {"CRM_WORKER_SHARD_COUNT", "WORKER_SHARD_COUNT"},
        "slice hosts of a StatefulSet (1 to 10000): each serves its ordinal's share of the hash "
        "space (the ordinal is host_name's -N suffix); 0: worker_shard_range"},
       [](RuntimeConfig& c, const std::string& v) {
         c.worker_shard_count = static_cast<int>(ParseWhole(v, 0, kHashBuckets));
       }},
      {{"host_name",
        {"CRM_HOST_NAME", "POD_NAME"},
        "this host's name (Kubernetes: the pod's); empty: the system's host name"},
       [](RuntimeConfig& c, const std::string& v) { c.host_name = v; }},
      {{"advertise_address",
        {"CRM_ADVERTISE_ADDRESS"},
        "slice host: HOST:PORT gateways reach it at (unique per slice host); empty: host_name "
        "and the listen port, or the listen address when it is not a wildcard"},
       [](RuntimeConfig& c, const std::string& v) { c.advertise_address = v; }},
      {{"internal_token_file",
        {"CRM_INTERNAL_TOKEN_FILE"},
        "file holding the secret gateways present to slice hosts (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.internal_token = ReadSecretFile(v, "internal token");
       }},
      {{"internal_token",
        {"CRM_INTERNAL_TOKEN"},
        "the secret gateways present to slice hosts (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.internal_token = v; }},
      {{"shard_lease_ttl",
        {"CRM_SHARD_LEASE_TTL"},
        "a slice host's lease on its hash range; a host silent this long has its range adopted"},
       [](RuntimeConfig& c, const std::string& v) {
         auto ms = ParseDuration(v);
         if (ms < std::chrono::seconds(3)) {
           throw InputError("expected at least 3s, got \"" + v + "\"");
         }
         c.shard_lease_ttl = ms;
       }},
      {{"slice_host_adopt",
        {"CRM_SLICE_HOST_ADOPT"},
        "1: a slice host takes over the ranges of hosts whose leases expired"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_host_adopt = Flag(v); }},
      {{"broadcast_body_limit",
        {"CRM_BROADCAST_BODY_LIMIT"},
        "largest POST /api/broadcasts body (recipient lists, CSV uploads)"},
       [](RuntimeConfig& c, const std::string& v) { c.broadcast_body_limit = Bytes(v); }},
      {{"upload_max_rows",
        {"CRM_UPLOAD_MAX_ROWS"},
        "most recipients in one broadcast and rows in one contact import (more: 413)"},
       [](RuntimeConfig& c, const std::string& v) { c.upload_max_rows = Int(v, 1, 1'000'000); }},
      {{"channel",
        {"CRM_CHANNEL"},
        "WhatsApp channel of new slices: simulator, cloud-api or wa-web"},
       [](RuntimeConfig& c, const std::string& v) {
         if (v != "simulator" && v != "cloud-api" && v != "wa-web") {
           throw InputError("expected simulator, cloud-api or wa-web, got \"" + v + "\"");
         }
         c.channel = v;
       }},
      {{"node", {"CRM_NODE"}, "the Node binary that runs the wa-web sidecar (name or path)"},
       [](RuntimeConfig& c, const std::string& v) { c.node = NonEmpty(v); }},
      {{"wa_web_sidecar",
        {"CRM_WA_WEB_SIDECAR"},
        "the wa-web sidecar's main file (default: wa-web/sidecar.mjs beside crmd, else "
        "../share/crmd/wa-web/sidecar.mjs)"},
       [](RuntimeConfig& c, const std::string& v) { c.wa_web_sidecar = NonEmpty(v); }},
      {{"wa_web_engine",
        {"CRM_WA_WEB_ENGINE"},
        "the wa-web engine of a slice that has none of its own: noweb or webjs"},
       [](RuntimeConfig& c, const std::string& v) {
         if (v != "noweb" && v != "webjs") {
           throw InputError("expected noweb or webjs, got \"" + v + "\"");
         }
         c.wa_web_engine = v;
       }},
      {{"simulator_autopair",
        {"CRM_SIMULATOR_AUTOPAIR"},
        "1: a new slice's simulator connects without a QR scan"},
       [](RuntimeConfig& c, const std::string& v) { c.simulator_autopair = Flag(v); }},
      {{"whatsapp_app_secret_file",
        {"CRM_WHATSAPP_APP_SECRET_FILE"},
        "file holding the Meta app secret that signs webhooks (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.whatsapp_app_secret = ReadSecretFile(v, "WhatsApp app secret");
       }},
      {{"whatsapp_app_secret",
        {"CRM_WHATSAPP_APP_SECRET"},
        "the Meta app secret (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.whatsapp_app_secret = v; }},
      {{"whatsapp_verify_token_file",
        {"CRM_WHATSAPP_VERIFY_TOKEN_FILE"},
        "file holding the webhook verify token (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.whatsapp_verify_token = ReadSecretFile(v, "WhatsApp verify token");
       }},
      {{"whatsapp_verify_token",
        {"CRM_WHATSAPP_VERIFY_TOKEN"},
        "the webhook verify token (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.whatsapp_verify_token = v; }},
      {{"whatsapp_token_file",
        {"CRM_WHATSAPP_TOKEN_FILE"},
        "file holding the Cloud API access token (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.whatsapp_token = ReadSecretFile(v, "WhatsApp access token");
       }},
      {{"whatsapp_token", {"CRM_WHATSAPP_TOKEN"}, "the Cloud API access token (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.whatsapp_token = v; }},
      {{"whatsapp_api_url", {"CRM_WHATSAPP_API_URL"}, "Graph API base URL, version included"},
       [](RuntimeConfig& c, const std::string& v) {
         if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           throw InputError("expected an http:// or https:// URL, got \"" + v + "\"");
         }
         c.whatsapp_api_url = v;
       }},
      {{"whatsapp_phone_number_id",
        {"CRM_WHATSAPP_PHONE_NUMBER_ID"},
        "a slice's Cloud API phone number id (the orchestrator sets it)"},
       [](RuntimeConfig& c, const std::string& v) { c.whatsapp_phone_number_id = v; }},
      {{"smtp_url",
        {"CRM_SMTP_URL"},
        "SMTP server for outgoing mail: smtp://host:port (STARTTLS when offered) or "
        "smtps://host:port; empty: each mail is written to <data_dir>/mail/<id>.eml"},
       [](RuntimeConfig& c, const std::string& v) {
         if (!v.empty() && v.rfind("smtp://", 0) != 0 && v.rfind("smtps://", 0) != 0) {
           throw InputError("expected smtp://host:port or smtps://host:port, got \"" + v + "\"");
         }
         c.smtp_url = v;
       }},
      {{"smtp_user", {"CRM_SMTP_USER"}, "SMTP user name (empty: no authentication)"},
       [](RuntimeConfig& c, const std::string& v) { c.smtp_user = v; }},
      {{"smtp_password_file",
        {"CRM_SMTP_PASSWORD_FILE"},
        "file holding the SMTP password (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.smtp_password = ReadSecretFile(v, "SMTP password");
       }},
      {{"mail_from", {"CRM_MAIL_FROM"}, "From of outgoing mail, e.g. CRM <no-reply@example.com>"},
       [](RuntimeConfig& c, const std::string& v) { c.mail_from = MailboxText(v); }},
      {{"mail_max_attempts",
        {"CRM_MAIL_MAX_ATTEMPTS"},
        "send attempts before a mail is given up (dead)"},
       [](RuntimeConfig& c, const std::string& v) { c.mail_max_attempts = Int(v, 1, 100); }},
      {{"stripe_secret_key_file",
        {"CRM_STRIPE_SECRET_KEY_FILE"},
        "file holding the Stripe secret key; set: billing is on (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.stripe_secret_key = ReadSecretFile(v, "Stripe secret key");
       }},
      {{"stripe_secret_key",
        {"CRM_STRIPE_SECRET_KEY"},
        "the Stripe secret key; set: billing is on (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.stripe_secret_key = v; }},
      {{"stripe_webhook_secret_file",
        {"CRM_STRIPE_WEBHOOK_SECRET_FILE"},
        "file holding the Stripe webhook signing secret (whsec_…) (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.stripe_webhook_secret = ReadSecretFile(v, "Stripe webhook secret");
       }},
      {{"stripe_webhook_secret",
        {"CRM_STRIPE_WEBHOOK_SECRET"},
        "the Stripe webhook signing secret (whsec_…) (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.stripe_webhook_secret = v; }},
      {{"stripe_webhook_secret_previous_file",
        {"CRM_STRIPE_WEBHOOK_SECRET_PREVIOUS_FILE"},
        "file holding the webhook signing secret being rotated out (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.stripe_webhook_secret_previous = ReadSecretFile(v, "previous Stripe webhook secret");
       }},
      {{"stripe_webhook_secret_previous",
        {"CRM_STRIPE_WEBHOOK_SECRET_PREVIOUS"},
        "the webhook signing secret being rotated out (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.stripe_webhook_secret_previous = v; }},
      {{"stripe_api_url", {"CRM_STRIPE_API_URL"}, "Stripe API base URL (tests: a stand-in)"},
       [](RuntimeConfig& c, const std::string& v) {
         if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           throw InputError("expected an http:// or https:// URL, got \"" + v + "\"");
         }
         c.stripe_api_url = v;
       }},
      {{"stripe_price_id_file",
        {"CRM_STRIPE_PRICE_ID_FILE"},
        "file holding the recurring Stripe Price id (price_…), beside the secret key (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.stripe_price_id = ReadSecretFile(v, "Stripe price id");
       }},
      {{"stripe_price_id",
        {"CRM_STRIPE_PRICE_ID"},
        "the recurring Stripe Price (price_…) matching price_monthly_cents"},
       [](RuntimeConfig& c, const std::string& v) { c.stripe_price_id = v; }},
      {{"stripe_promotion_code",
        {"CRM_STRIPE_PROMOTION_CODE"},
        "promotion code id (promo_…) of the launch discount; empty: none"},
       [](RuntimeConfig& c, const std::string& v) { c.stripe_promotion_code = v; }},
      {{"billing_trial_days",
        {"CRM_BILLING_TRIAL_DAYS"},
        "free trial days on a slice at sign-up; 0: pay first"},
       [](RuntimeConfig& c, const std::string& v) { c.billing_trial_days = Int(v, 0, 365); }},
      {{"billing_grace_days",
        {"CRM_BILLING_GRACE_DAYS"},
        "days a workspace keeps running after a failed payment before it is suspended"},
       [](RuntimeConfig& c, const std::string& v) { c.billing_grace_days = Int(v, 0, 365); }},
      {{"billing_retention_days",
        {"CRM_BILLING_RETENTION_DAYS"},
        "days a canceled workspace's data is kept (and exportable) before it is destroyed"},
       [](RuntimeConfig& c, const std::string& v) { c.billing_retention_days = Int(v, 0, 3650); }},
      {{"billing_clock_file",
        {"CRM_BILLING_CLOCK_FILE"},
        "for tests only: billing's \"now\" is the ISO 8601 time in this file"},
       [](RuntimeConfig& c, const std::string& v) { c.billing_clock_file = v; }},
      {{"billing_test_apply_delay",
        {"CRM_BILLING_TEST_APPLY_DELAY"},
        "for tests only: a Stripe event's transaction waits this long before it applies"},
       [](RuntimeConfig& c, const std::string& v) {
         c.billing_test_apply_delay = ParseDuration(v);
       }},
      {{"monitor_enabled", {"CRM_MONITOR_ENABLED"}, "0: no checks, alerts or telemetry"},
       [](RuntimeConfig& c, const std::string& v) { c.monitor_enabled = Flag(v); }},
      {{"monitor_process_interval",
        {"CRM_MONITOR_PROCESS_INTERVAL"},
        "how often slice processes are checked (slice_down)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_process_interval = AtLeastOneSecond(v);
       }},
      {{"monitor_health_interval",
        {"CRM_MONITOR_HEALTH_INTERVAL"},
        "how often each slice's GET /health is probed (slice_unresponsive)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_health_interval = AtLeastOneSecond(v);
       }},
      {{"monitor_whatsapp_interval",
        {"CRM_MONITOR_WHATSAPP_INTERVAL"},
        "how often each tenant's WhatsApp state is read"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_whatsapp_interval = AtLeastOneSecond(v);
       }},
      {{"monitor_whatsapp_grace",
        {"CRM_MONITOR_WHATSAPP_GRACE"},
        "WhatsApp disconnected this long opens whatsapp_disconnected"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_whatsapp_grace = AtLeastOneSecond(v);
       }},
      {{"monitor_storage_interval",
        {"CRM_MONITOR_STORAGE_INTERVAL"},
        "how often slice storage is measured against its quota"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_storage_interval = AtLeastOneSecond(v);
       }},
      {{"monitor_telemetry_interval",
        {"CRM_MONITOR_TELEMETRY_INTERVAL"},
        "how often telemetry is sampled (and memory and server checked)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_telemetry_interval = AtLeastOneSecond(v);
       }},
      {{"monitor_backup_interval",
        {"CRM_MONITOR_BACKUP_INTERVAL"},
        "how often WAL archiving and the newest backup are checked (backup_stale)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_backup_interval = AtLeastOneSecond(v);
       }},
      {{"backup_stanza",
        {"CRM_BACKUP_STANZA"},
        "the pgBackRest stanza whose newest backup backup_stale reads; empty: archiving only"},
       [](RuntimeConfig& c, const std::string& v) { c.backup_stanza = v; }},
      {{"pgbackrest_config",
        {"CRM_PGBACKREST_CONFIG"},
        "pgBackRest's configuration file for the stanza; empty: pgBackRest's default"},
       [](RuntimeConfig& c, const std::string& v) { c.pgbackrest_config = v; }},
      {{"backup_max_age",
        {"CRM_BACKUP_MAX_AGE"},
        "the newest backup older than this opens backup_stale"},
       [](RuntimeConfig& c, const std::string& v) { c.backup_max_age = AtLeastOneSecond(v); }},
      {{"monitor_sustain",
        {"CRM_MONITOR_SUSTAIN"},
        "CPU and swap-ins must stay above their threshold this long"},
       [](RuntimeConfig& c, const std::string& v) { c.monitor_sustain = AtLeastOneSecond(v); }},
      {{"monitor_slice_memory_percent",
        {"CRM_MONITOR_SLICE_MEMORY_PERCENT"},
        "slice memory above this share of its limit opens slice_memory"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_slice_memory_percent = Int(v, 1, 100);
       }},
      {{"monitor_slice_storage_percent",
        {"CRM_MONITOR_SLICE_STORAGE_PERCENT"},
        "slice storage above this share of its quota opens slice_storage"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_slice_storage_percent = Int(v, 1, 100);
       }},
      {{"monitor_disk_percent",
        {"CRM_MONITOR_DISK_PERCENT"},
        "disk use above this opens server_disk"},
       [](RuntimeConfig& c, const std::string& v) { c.monitor_disk_percent = Int(v, 1, 100); }},
      {{"monitor_ram_percent", {"CRM_MONITOR_RAM_PERCENT"}, "RAM use above this opens server_ram"},
       [](RuntimeConfig& c, const std::string& v) { c.monitor_ram_percent = Int(v, 1, 100); }},
      {{"monitor_cpu_percent",
        {"CRM_MONITOR_CPU_PERCENT"},
        "CPU busy above this (sustained) opens server_cpu"},
       [](RuntimeConfig& c, const std::string& v) { c.monitor_cpu_percent = Int(v, 1, 100); }},
      {{"monitor_swapin_pages_per_s",
        {"CRM_MONITOR_SWAPIN_PAGES_PER_S"},
        "swap-ins above this many pages/s (sustained) open server_swapin"},
       [](RuntimeConfig& c, const std::string& v) {
         c.monitor_swapin_pages_per_s = Int(v, 1, 100000000);
       }},
      {{"alert_notify_interval",
        {"CRM_ALERT_NOTIFY_INTERVAL"},
        "at most one notification per alert subject and kind this often"},
       [](RuntimeConfig& c, const std::string& v) {
         c.alert_notify_interval = AtLeastOneSecond(v);
       }},
      {{"alert_webhook_url",
        {"CRM_ALERT_WEBHOOK_URL"},
        "alerts are POSTed here as JSON; empty: none"},
       [](RuntimeConfig& c, const std::string& v) {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           throw InputError("expected an http:// or https:// URL, got \"" + v + "\"");
         }
         c.alert_webhook_url = v;
       }},
      {{"alert_webhook_secret_file",
        {"CRM_ALERT_WEBHOOK_SECRET_FILE"},
        "file holding the secret that signs alert webhooks (X-CRM-Signature) (mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.alert_webhook_secret = ReadSecretFile(v, "alert webhook secret");
       }},
      {{"alert_webhook_secret",
        {"CRM_ALERT_WEBHOOK_SECRET"},
        "the secret that signs alert webhooks (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.alert_webhook_secret = v; }},
      {{"slice_reclaim_idle",
        {"CRM_SLICE_RECLAIM_IDLE"},
        "a slice idle this long has its memory reclaimed (cgroup v2 memory.reclaim); 0 = never"},
       [](RuntimeConfig& c, const std::string& v) {
         auto idle = ParseDuration(v);
         if (idle.count() != 0 && idle < std::chrono::seconds(1)) {
           throw InputError("expected 0 (off) or at least 1s, got \"" + v + "\"");
         }
         c.slice_reclaim_idle = idle;
       }},
      {{"monitor_clock_file",
        {"CRM_MONITOR_CLOCK_FILE"},
        "for tests only: the monitor's \"now\" is the ISO 8601 time in this file"},
       [](RuntimeConfig& c, const std::string& v) { c.monitor_clock_file = v; }},
      {{"slice_binary", {"CRM_SLICE_BINARY"}, "crmd binary slices run (default: this one)"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_binary = v; }},
      {{"slice_health_interval",
        {"CRM_SLICE_HEALTH_INTERVAL"},
        "how often every running slice's /health is probed (3 misses in a row: restarted)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.slice_health_interval = AtLeastOneSecond(v);
       }},
      {{"slice_storage_interval",
        {"CRM_SLICE_STORAGE_INTERVAL"},
        "how often the storage of every slice this host runs is recorded (a schema written "
        "since is sized again; files each time)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.slice_storage_interval = AtLeastOneSecond(v);
       }},
      {{"slice_uid_range",
        {"CRM_SLICE_UID_RANGE"},
        "uids for slices, FROM-TO: slice N runs as uid/gid FROM+N (needs CAP_SETUID, "
        "CAP_SETGID, CAP_CHOWN); empty: crmd's own uid"},
       [](RuntimeConfig& c, const std::string& v) {
         std::tie(c.slice_uid_first, c.slice_uid_last) = UidRange(v);
       }},
      {{"region",
        {"CRM_REGION"},
        "this deployment's region (eu); empty: one region, tenants are not pinned"},
       [](RuntimeConfig& c, const std::string& v) { c.region = v.empty() ? v : RegionName(v); }},
      {{"regions",
        {"CRM_REGIONS"},
        "every region's public origin, this one included: eu=https://eu.crm.example,us=https://"
        "us.crm.example"},
       [](RuntimeConfig& c, const std::string& v) { c.regions = ParseRegionUrls(v); }},
      {{"region_secret_file",
        {"CRM_REGION_SECRET_FILE"},
        "file holding the secret the regions' gateways sign their calls to each other with "
        "(mode 0600)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.region_secret = ReadSecretFile(v, "region secret");
       }},
      {{"region_secret",
        {"CRM_REGION_SECRET"},
        "the secret the regions' gateways sign their calls with (environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.region_secret = v; }},
      {{"region_peer_timeout",
        {"CRM_REGION_PEER_TIMEOUT"},
        "another region that does not answer within this is skipped (sign-in, sign-up, reset)"},
       [](RuntimeConfig& c, const std::string& v) {
         auto ms = ParseDuration(v);
         if (ms < std::chrono::milliseconds(100) || ms > std::chrono::seconds(30)) {
           throw InputError("expected from 100ms to 30s, got \"" + v + "\"");
         }
         c.region_peer_timeout = ms;
       }},
      {{"slice_fresh",
        {"CRM_SLICE_FRESH"},
        "1: the slice is started by its provisioning, its schema just migrated and empty (set by "
        "the orchestrator; environment only)"},
       [](RuntimeConfig& c, const std::string& v) { c.slice_fresh = Flag(v); }},
      {{"database_password_fd",
        {"CRM_DATABASE_PASSWORD_FD"},
        "descriptor to read the database password from, then close (set by the orchestrator "
        "for slices; environment only)"},
       [](RuntimeConfig& c, const std::string& v) {
         c.database_password = ReadSecretDescriptor(v);
       }},
  };
  return defs;
}

}  // namespace

std::map<std::string, std::string> ParseRegionUrls(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    auto comma = text.find(',', start);
    std::string entry =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = entry.find('=');
    if (eq == std::string::npos) {
      throw InputError(
          "expected NAME=URL entries separated by commas (eu=https://eu.crm.example)"
          ", got \"" +
          entry + "\"");
    }
    std::string name = entry.substr(0, eq);
    try {
      name = RegionName(name);
      std::string url = OriginText(entry.substr(eq + 1));
      if (!out.emplace(name, url).second) {
        throw InputError("listed twice");
      }
    } catch (const InputError& e) {
      throw InputError("region \"" + name + "\": " + e.what());
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const auto& d : Defs()) {
      out.push_back(d.key);
    }
    return out;
  }();
  return keys;
}

std::map<std::string, std::string> RawSettings(const std::optional<std::filesystem::path>& file,
                                               const EnvLookup& env) {
  std::map<std::string, std::string> raw;
  if (file) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      throw InputError(file->string() + ": cannot open the configuration file");
    }
    std::ostringstream text;
    text << in.rdbuf();
    YAML::Node root = crm::ParseYaml(text.str(), file->string());
    if (root.IsMap()) {
      for (const auto& d : Defs()) {
        YAML::Node node = root[d.key.yaml];
        if (node.IsDefined() && node.IsScalar()) {
          raw[d.key.yaml] = node.Scalar();
        }
      }
    }
  }
  for (const auto& d : Defs()) {
    for (const auto& var : d.key.env) {
      if (auto value = env(var)) {
        raw[d.key.yaml] = *value;
      }
    }
  }
  return raw;
}

RuntimeConfig LoadConfig(const std::optional<std::filesystem::path>& file, const EnvLookup& env) {
  RuntimeConfig config;
  if (file) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      throw InputError(file->string() + ": cannot open the configuration file");
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string name = file->string();
    YAML::Node root = crm::ParseYaml(text.str(), name);
    if (root.IsDefined() && !root.IsNull()) {
      crm::StrictMap map(name, root, "crmd configuration");
      for (const auto& d : Defs()) {
        if (d.key.yaml == "database_password" || d.key.yaml == "whatsapp_app_secret" ||
            d.key.yaml == "whatsapp_verify_token" || d.key.yaml == "whatsapp_token" ||
            d.key.yaml == "stripe_secret_key" || d.key.yaml == "stripe_webhook_secret" ||
            d.key.yaml == "stripe_webhook_secret_previous" ||
            d.key.yaml == "alert_webhook_secret" || d.key.yaml == "region_secret" ||
            d.key.yaml == "database_password_fd" || d.key.yaml == "internal_token") {
          continue;  // secrets are never written in configuration files
        }
        if (d.key.yaml == "slice_fresh") {
          continue;  // true of one start only: only the orchestrator says it, per start
        }
        YAML::Node node = map.Optional(d.key.yaml);
        if (!node.IsDefined() || node.IsNull()) {
          continue;
        }
        std::string value = crm::ScalarString(name, node, d.key.yaml);
        try {
          d.set(config, value);
        } catch (const InputError& e) {
          FailAt(name, node, d.key.yaml + ": " + e.what());
        }
      }
      map.Finish();
    }
  }
  for (const auto& d : Defs()) {
    for (const auto& var : d.key.env) {
      if (auto value = env(var)) {
        try {
          d.set(config, *value);
        } catch (const InputError& e) {
          throw InputError(var + ": " + e.what());
        }
      }
    }
  }
  CheckRegions(config);
  CheckSlicePool(config);
  return config;
}

}  // namespace crm::config
