#include "crm/planner/calibration.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <Eigen/Dense>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <string>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/units.hpp"

namespace crm::planner {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The costs the synthetic telemetry is generated from (docs/capacity-model.md rule defaults + a
// slice baseline).
constexpr double kDevice = 2e6;
constexpr double kWebsocket = 80e3;
constexpr double kTask = 150;
constexpr double kCustomer = 3e6;
constexpr double kBaseline = 50e6;
constexpr double kNoise = 2e6;  // standard deviation of rss_bytes around the model

struct Sample {
  double devices = 0;
  double ws = 0;
  double tasks = 0;
  double customers = 0;
  double rss = 0;
};

// Hosts with 10-500 customers, 1-3 devices and 0.5-3 tabs per customer, up to 200k queued
// tasks: correlated like real telemetry (everything grows with customers) but not collinear.
std::vector<Sample> Synthetic(std::size_t rows, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> customers(10, 500);
  std::uniform_real_distribution<double> devices_per_customer(1, 3);
  std::uniform_real_distribution<double> tabs_per_customer(0.5, 3);
  std::uniform_real_distribution<double> tasks(0, 200000);
  std::normal_distribution<double> noise(0, kNoise);
  std::vector<Sample> out;
  for (std::size_t i = 0; i < rows; ++i) {
    Sample s;
    s.customers = std::round(customers(rng));
    s.devices = std::round(s.customers * devices_per_customer(rng));
    s.ws = std::round(s.customers * tabs_per_customer(rng));
    s.tasks = std::round(tasks(rng));
    s.rss = std::round(kDevice * s.devices + kWebsocket * s.ws + kTask * s.tasks +
                       kCustomer * s.customers + kBaseline + noise(rng));
    out.push_back(s);
  }
  return out;
}

TelemetryTable Table(const std::vector<Sample>& samples) {
  TelemetryTable t;
  t.file = "telemetry.csv";
  t.columns = {"devices", "ws_connections", "pending_tasks", "customers", "rss_bytes"};
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    t.rows.push_back({s.devices, s.ws, s.tasks, s.customers, s.rss});
    t.lines.push_back(i + 2);
  }
  return t;
}

std::string Csv(const std::vector<Sample>& samples) {
  std::string csv = "devices,ws_connections,pending_tasks,customers,rss_bytes\n";
  for (const Sample& s : samples) {
    csv += fmt::format("{},{},{},{},{}\n", s.devices, s.ws, s.tasks, s.customers, s.rss);
  }
  return csv;
}

TelemetryTable Read(const std::string& csv) {
  std::istringstream in(csv);
  return ReadTelemetryCsv(in, "telemetry.csv");
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return {};
}

const Coefficient& Find(const CalibrationFit& fit, const std::string& rule) {
  for (const Coefficient& c : fit.coefficients) {
    if (c.rule == rule) {
      return c;
    }
  }
  throw std::logic_error("no coefficient " + rule);
}

TEST(CalibrationTest, RecoversKnownCoefficientsFromNoisyTelemetry) {
  const CalibrationFit fit = FitRules(Read(Csv(Synthetic(200))));

  ASSERT_EQ(fit.coefficients.size(), 5u);
  EXPECT_EQ(fit.rows, 200u);
  EXPECT_EQ(fit.residuals.size(), 200u);
  // Tolerance: 5 % of each true cost, and within 4 standard errors of it (the standard errors
  // must be honest, not just small).
  const std::vector<std::pair<std::string, double>> truth = {
      {"ram_per_device", kDevice}, {"ram_per_websocket", kWebsocket},
      {"bytes_per_task", kTask},   {"buffer_per_customer", kCustomer},
      {"baseline", kBaseline},
  };
  for (const auto& [rule, value] : truth) {
    const Coefficient& c = Find(fit, rule);
    EXPECT_NEAR(c.value, value, 0.05 * value) << rule;
    EXPECT_GT(c.std_error, 0) << rule;
    EXPECT_LT(std::fabs(c.value - value), 4 * c.std_error) << rule;
  }
  EXPECT_EQ(Find(fit, "ram_per_device").column, "devices");
  EXPECT_EQ(Find(fit, "baseline").column, "");
  EXPECT_GT(fit.r_squared, 0.99);
  EXPECT_NEAR(fit.rmse, kNoise, 0.2 * kNoise);
  EXPECT_LT(fit.condition_number, 1e3);
  EXPECT_TRUE(fit.warnings.empty()) << fit.warnings.front();
}

TEST(CalibrationTest, FitsExactTelemetryExactly) {
  std::vector<Sample> samples = Synthetic(20);
  for (Sample& s : samples) {
    s.rss = kDevice * s.devices + kWebsocket * s.ws + kTask * s.tasks + kCustomer * s.customers +
            kBaseline;
  }
  const CalibrationFit fit = FitRules(Table(samples));
  EXPECT_NEAR(Find(fit, "bytes_per_task").value, kTask, 1e-6);
  EXPECT_NEAR(Find(fit, "ram_per_websocket").value, kWebsocket, 1e-3);
  EXPECT_NEAR(fit.r_squared, 1, 1e-12);
}

TEST(CalibrationTest, RefusesFewerThanTwoRowsPerParameter) {
  const std::string message = ErrorOf([] { FitRules(Table(Synthetic(9))); });
  EXPECT_THAT(message, StartsWith("telemetry.csv: 9 rows"));
  EXPECT_THAT(message, HasSubstr("at least 10 rows"));
  EXPECT_NO_THROW(FitRules(Table(Synthetic(10))));
}

TEST(CalibrationTest, RefusesExactlyCollinearColumns) {
  std::vector<Sample> samples = Synthetic(50);
  for (Sample& s : samples) {
    s.ws = 2 * s.devices;
  }
  const std::string message = ErrorOf([&] { FitRules(Table(samples)); });
  EXPECT_THAT(message, HasSubstr("can't separate devices and ws_connections"));
  // Either side may be written in terms of the other.
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr("ws_connections ≈ 2 × devices"),
                                        HasSubstr("devices ≈ 0.5 × ws_connections")));
  EXPECT_THAT(message, HasSubstr("condition number"));
  EXPECT_THAT(message, HasSubstr("vary independently"));
}

// The crmd engine: each tenant's one simulated device lives inside its slice, so devices track
// customers and a per-device cost is not there to find. Held at 0, the rest is fitted, and the
// held rule is reported as held, not as a fit.
TEST(CalibrationTest, AHeldRuleIsTakenOffAndTheRestIsFitted) {
  std::vector<Sample> samples = Synthetic(200);
  for (Sample& s : samples) {
    s.devices = s.customers;  // exactly collinear
    s.rss = std::round(kWebsocket * s.ws + kTask * s.tasks + kCustomer * s.customers + kBaseline);
  }
  EXPECT_THAT(ErrorOf([&] { FitRules(Table(samples)); }), HasSubstr("can't separate"));
  const CalibrationFit fit = FitRules(Table(samples), {{"ram_per_device", 0}});
  ASSERT_EQ(fit.coefficients.size(), 5U);
  EXPECT_TRUE(fit.coefficients[0].held);
  EXPECT_EQ(fit.coefficients[0].value, 0);
  EXPECT_NEAR(fit.coefficients[3].value, kCustomer, 1e-3 * kCustomer);  // buffer_per_customer
  EXPECT_NEAR(fit.coefficients[1].value, kWebsocket, 1e-3 * kWebsocket);
  EXPECT_NEAR(fit.coefficients[4].value, kBaseline, 1e-3 * kBaseline);
  EXPECT_GT(fit.r_squared, 0.999);
  // A held value is taken off the memory first: holding 1 MB per device leaves the rest for
  // customers (devices = customers here).
  const CalibrationFit shifted = FitRules(Table(samples), {{"ram_per_device", 1e6}});
  EXPECT_NEAR(shifted.coefficients[3].value, kCustomer - 1e6, 1e-3 * kCustomer);
  EXPECT_THAT(ErrorOf([&] {
                FitRules(Table(samples), {{"ram_per_tab", 0}});
              }),
              HasSubstr("--hold: 'ram_per_tab' is not a fitted rule"));
}

TEST(CalibrationTest, RefusesAColumnThatIsZeroInEveryRow) {
  std::vector<Sample> samples = Synthetic(50);
  for (Sample& s : samples) {
    s.tasks = 0;
  }
  const std::string message = ErrorOf([&] { FitRules(Table(samples)); });
  EXPECT_THAT(message, HasSubstr("pending_tasks is 0 in every row"));
  EXPECT_THAT(message, HasSubstr("bytes_per_task can't be measured"));
  EXPECT_THAT(message, HasSubstr("broadcast backlog"));
}

TEST(CalibrationTest, RefusesAConstantColumnAsIndistinguishableFromTheBaseline) {
  std::vector<Sample> samples = Synthetic(50);
  for (Sample& s : samples) {
    s.customers = 1;  // one tenant per slice: its buffer is just part of the fixed cost
  }
  const std::string message = ErrorOf([&] { FitRules(Table(samples)); });
  EXPECT_THAT(message, HasSubstr("customers is 1 in every row"));
  EXPECT_THAT(message, HasSubstr("told apart from the baseline"));
}

TEST(CalibrationTest, RefusesANegativeCoefficientAndNamesIt) {
  std::vector<Sample> samples = Synthetic(100);
  for (Sample& s : samples) {
    s.rss -= 2 * kWebsocket * s.ws;  // memory falling as tabs open: not a per-unit cost
  }
  const std::string message = ErrorOf([&] { FitRules(Table(samples)); });
  EXPECT_THAT(message, HasSubstr("ram_per_websocket came out negative"));
  EXPECT_THAT(message, HasSubstr("per websocket"));
  EXPECT_THAT(message, HasSubstr("can't support"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("ram_per_device came out")));
}

TEST(CalibrationTest, WarnsWhenACostIsIndistinguishableFromZero) {
  constexpr double kSmallTask = 1e3;
  std::vector<Sample> samples = Synthetic(200);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> few_tasks(0, 100);
  Eigen::MatrixXd design(200, 5);
  for (Eigen::Index i = 0; i < 200; ++i) {
    Sample& s = samples[static_cast<std::size_t>(i)];
    s.tasks = std::round(few_tasks(rng));
    s.rss = kDevice * s.devices + kWebsocket * s.ws + kSmallTask * s.tasks +
            kCustomer * s.customers + kBaseline;
    design.row(i) << s.devices, s.ws, s.tasks, s.customers, 1;
  }
  // Noise with no component along any column: the fit lands exactly on the true costs and only
  // the standard errors see the noise, so the outcome does not hang on the draw. At most 100 KB
  // of tasks against 2 MB of noise leaves bytes_per_task well inside two standard errors.
  std::normal_distribution<double> normal(0, 1);
  Eigen::VectorXd noise(200);
  for (Eigen::Index i = 0; i < 200; ++i) {
    noise(i) = normal(rng);
  }
  noise -= design * design.colPivHouseholderQr().solve(noise);
  noise *= kNoise / std::sqrt(noise.squaredNorm() / 200);
  for (Eigen::Index i = 0; i < 200; ++i) {
    samples[static_cast<std::size_t>(i)].rss += noise(i);
  }

  const CalibrationFit fit = FitRules(Table(samples));
  EXPECT_NEAR(Find(fit, "bytes_per_task").value, kSmallTask, 1e-3 * kSmallTask);
  EXPECT_GT(Find(fit, "bytes_per_task").std_error, kSmallTask / 2);
  ASSERT_EQ(fit.warnings.size(), 1u);
  EXPECT_THAT(fit.warnings.front(), StartsWith("bytes_per_task = "));
  EXPECT_THAT(fit.warnings.front(), HasSubstr("per pending task is not clearly above zero"));
  EXPECT_THAT(fit.warnings.front(), HasSubstr("broadcast backlog"));
}

TEST(CalibrationTest, WarnsWhenColumnsAreStronglyButNotExactlyCorrelated) {
  std::vector<Sample> samples = Synthetic(200);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> jitter(-1, 1);
  for (Sample& s : samples) {
    const double ws = 2 * s.devices + jitter(rng);
    s.rss += kWebsocket * (ws - s.ws);
    s.ws = ws;
  }
  const CalibrationFit fit = FitRules(Table(samples));
  EXPECT_GT(fit.condition_number, 1e3);
  EXPECT_LT(fit.condition_number, kMaxConditionNumber);
  bool named = false;
  for (const std::string& w : fit.warnings) {
    named = named || (w.find("devices and ws_connections move together") != std::string::npos);
  }
  EXPECT_TRUE(named) << ::testing::PrintToString(fit.warnings);
}

TEST(CalibrationTest, ReadsColumnsInAnyOrderAndIgnoresOthers) {
  const TelemetryTable t = Read(
      "host,rss_bytes,customers,pending_tasks,ws_connections,devices\r\n"
      "a,1000,1,2,3,4\r\n"
      "\r\n"
      "\"b,c\",2000.5, 5 ,6,7,8\r\n");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"devices", "ws_connections", "pending_tasks",
                                                 "customers", "rss_bytes"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<double>{4, 3, 2, 1, 1000}));
  EXPECT_EQ(t.rows[1], (std::vector<double>{8, 7, 6, 5, 2000.5}));
  EXPECT_EQ(t.lines, (std::vector<std::size_t>{2, 4}));
  EXPECT_EQ(t.file, "telemetry.csv");
}

TEST(CalibrationTest, MissingColumnErrorCarriesFileAndLine) {
  const std::string message =
      ErrorOf([] { Read("devices,ws_connections,customers,rss_bytes\n1,2,3,4\n"); });
  EXPECT_THAT(message, StartsWith("telemetry.csv:1: pending_tasks: missing column"));
  EXPECT_THAT(message, HasSubstr("the header has: devices, ws_connections, customers, rss_bytes"));
}

TEST(CalibrationTest, RepeatedColumnIsAnError) {
  EXPECT_THAT(
      ErrorOf([] { Read("devices,ws_connections,pending_tasks,customers,rss_bytes,devices\n"); }),
      StartsWith("telemetry.csv:1: devices: column appears twice (fields 1 and 6)"));
}

TEST(CalibrationTest, BadCellErrorCarriesFileLineAndColumn) {
  const std::string header = "devices,ws_connections,pending_tasks,customers,rss_bytes\n";
  EXPECT_EQ(ErrorOf([&] { Read(header + "1,2,3,4,5\n1,2,3,4,5\n12x,2,3,4,5\n"); }),
            "telemetry.csv:4: devices: expected a finite non-negative number, got \"12x\"");
  EXPECT_EQ(ErrorOf([&] { Read(header + "1,-2,3,4,5\n"); }),
            "telemetry.csv:2: ws_connections: expected a finite non-negative number, got \"-2\"");
  EXPECT_EQ(ErrorOf([&] { Read(header + "1,2,3,4,inf\n"); }),
            "telemetry.csv:2: rss_bytes: expected a finite non-negative number, got \"inf\"");
  EXPECT_EQ(ErrorOf([&] { Read(header + "1,2, ,4,5\n"); }),
            "telemetry.csv:2: pending_tasks: empty cell; expected a non-negative number");
  EXPECT_EQ(ErrorOf([&] { Read(header + "1,2,3,4\n"); }),
            "telemetry.csv:2: expected 5 fields as in the header, got 4");
}

TEST(CalibrationTest, EmptyFileIsAnError) {
  EXPECT_THAT(ErrorOf([] { Read(""); }), StartsWith("telemetry.csv:1: empty file"));
}

TEST(CalibrationTest, HeaderWithoutRowsIsReadButNotFitted) {
  const TelemetryTable t = Read("devices,ws_connections,pending_tasks,customers,rss_bytes\n");
  EXPECT_TRUE(t.rows.empty());
  EXPECT_THAT(ErrorOf([&] { FitRules(t); }), StartsWith("telemetry.csv: 0 rows"));
}

TEST(CalibrationTest, FitRefusesATableMissingAColumn) {
  TelemetryTable t = Table(Synthetic(20));
  t.columns[2] = "tasks";
  EXPECT_THAT(ErrorOf([&] { FitRules(t); }),
              StartsWith("telemetry.csv: telemetry has no column 'pending_tasks'"));
}

TEST(CalibrationTest, OverrideYamlRoundTripsThroughYamlAndUnits) {
  const CalibrationFit fit = FitRules(Table(Synthetic(200)));
  const std::string text = RulesOverrideYaml(fit, "noweb", "telemetry.csv");

  const YAML::Node root = YAML::Load(text);
  ASSERT_TRUE(root.IsMap());
  EXPECT_EQ(root.size(), 4u);  // engines + three rules; the baseline is only a comment
  const YAML::Node device = root["engines"]["noweb"]["ram_per_device"];
  ASSERT_TRUE(device.IsMap());
  EXPECT_NEAR(ParseBytes(device["value"].as<std::string>()), Find(fit, "ram_per_device").value,
              1e-3 * Find(fit, "ram_per_device").value);
  EXPECT_THAT(device["source"].as<std::string>(),
              StartsWith(fmt::format("crmctl calibrate telemetry.csv: 200 rows, R²={:.6g}, ",
                                     fit.r_squared)));
  for (const std::string rule : {"ram_per_websocket", "bytes_per_task", "buffer_per_customer"}) {
    const YAML::Node node = root[rule];
    ASSERT_TRUE(node.IsMap()) << rule;
    EXPECT_EQ(node.size(), 2u) << rule;
    const double expected = Find(fit, rule).value;
    EXPECT_NEAR(ParseBytes(node["value"].as<std::string>()), expected, 1e-3 * expected) << rule;
    EXPECT_THAT(node["source"].as<std::string>(), HasSubstr("standard error")) << rule;
  }
  EXPECT_THAT(text, HasSubstr("# Rules override fitted by `crmctl calibrate telemetry.csv"));
  EXPECT_THAT(text, HasSubstr("not a rule"));
}

TEST(CalibrationTest, OverrideYamlWritesSmallAndLargeSizesExactly) {
  CalibrationFit fit;
  fit.rows = 10;
  fit.coefficients = {{"ram_per_device", "devices", 0.25, 0.01},
                      {"ram_per_websocket", "ws_connections", 81234.56, 10},
                      {"bytes_per_task", "pending_tasks", 0, 0},
                      {"buffer_per_customer", "customers", 1234567891.0, 1e3},
                      {"baseline", "", 5e7, 1e5}};
  const YAML::Node root = YAML::Load(RulesOverrideYaml(fit, "whatsmeow", "t.csv"));
  EXPECT_EQ(root["engines"]["whatsmeow"]["ram_per_device"]["value"].as<std::string>(), "0.25 B");
  EXPECT_EQ(root["ram_per_websocket"]["value"].as<std::string>(), "81.2346 KB");
  EXPECT_EQ(root["bytes_per_task"]["value"].as<std::string>(), "0 B");
  EXPECT_EQ(root["buffer_per_customer"]["value"].as<std::string>(), "1.23457 GB");
}

TEST(CalibrationTest, OverrideYamlIsAcceptedByTheCatalog) {
  const CalibrationFit fit = FitRules(Table(Synthetic(200)));
  Catalog catalog = Catalog::Embedded();
  catalog.ApplyOverride(RulesOverrideYaml(fit, "whatsmeow", "telemetry.csv"), "override.yaml");

  const Engine* engine = catalog.FindEngine("whatsmeow");
  ASSERT_NE(engine, nullptr);
  EXPECT_NEAR(engine->ram_per_device.value, Find(fit, "ram_per_device").value,
              1e-3 * Find(fit, "ram_per_device").value);
  EXPECT_THAT(engine->ram_per_device.source, StartsWith("crmctl calibrate telemetry.csv"));
  EXPECT_NEAR(catalog.rules().ram_per_websocket.value, Find(fit, "ram_per_websocket").value,
              1e-3 * Find(fit, "ram_per_websocket").value);
  EXPECT_NEAR(catalog.rules().bytes_per_task.value, Find(fit, "bytes_per_task").value,
              1e-3 * Find(fit, "bytes_per_task").value);
  EXPECT_NEAR(catalog.rules().buffer_per_customer.value, Find(fit, "buffer_per_customer").value,
              1e-3 * Find(fit, "buffer_per_customer").value);
  // Rules the fit does not touch keep their catalog values.
  EXPECT_EQ(catalog.rules().disk_per_message.value,
            Catalog::Embedded().rules().disk_per_message.value);
}

TEST(CalibrationTest, AnEngineWithItsOwnBufferAndBaseTakesTheFitThere) {
  CalibrationFit fit;
  fit.rows = 10;
  fit.coefficients = {{"ram_per_device", "devices", 1e5, 1e3},
                      {"ram_per_websocket", "ws_connections", 5e4, 10},
                      {"bytes_per_task", "pending_tasks", 20, 1},
                      {"buffer_per_customer", "customers", 9e6, 1e4},
                      {"baseline", "", 6e7, 1e5}};
  const std::string text = RulesOverrideYaml(fit, "crmd", "t.csv", true, true);
  const YAML::Node root = YAML::Load(text);
  EXPECT_FALSE(root["buffer_per_customer"]) << text;
  EXPECT_EQ(root["engines"]["crmd"]["buffer_per_customer"]["value"].as<std::string>(), "9 MB");
  EXPECT_EQ(root["engines"]["crmd"]["base_ram"]["value"].as<std::string>(), "60 MB");
  // The global rule would be ignored by the plan of an engine that carries its own.
  Catalog catalog = Catalog::Embedded();
  catalog.ApplyOverride(text, "override.yaml");
  const Engine* crmd = catalog.FindEngine("crmd");
  ASSERT_NE(crmd, nullptr);
  EXPECT_DOUBLE_EQ(crmd->buffer_per_customer.value, 9e6);
  EXPECT_DOUBLE_EQ(crmd->base_ram.value, 60e6);
  EXPECT_EQ(catalog.rules().buffer_per_customer.value,
            Catalog::Embedded().rules().buffer_per_customer.value);
}

// A day with a quiet night: some tenants idle (their slices closed their database connections)
// while others work. With idle tenants counted apart, both costs and the fixed part come back;
// folded into `customers`, an active tenant comes out cheaper than it is (and when the idle hours
// are the ones with the most tenants, the fixed part absorbs the difference).
constexpr double kIdle = 0.5e6;

TelemetryTable IdleDay(std::size_t rows, bool idle_column) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> tenants(0, 200);
  std::uniform_real_distribution<double> idle_share(0, 1);
  std::normal_distribution<double> noise(0, kNoise);
  TelemetryTable t;
  t.file = "telemetry";
  t.columns = {"devices", "ws_connections", "pending_tasks", "customers", "rss_bytes"};
  if (idle_column) {
    t.columns.insert(t.columns.end() - 1, "idle_customers");
  }
  for (std::size_t i = 0; i < rows; ++i) {
    const double all = std::round(tenants(rng));
    const double idle = std::round(all * idle_share(rng));
    const double active = all - idle;
    const double ws = std::round(active * 3 * idle_share(rng));
    const double tasks = std::round(active * 300 * idle_share(rng));
    const double rss = kDevice * all + kWebsocket * ws + kTask * tasks + kCustomer * active +
                       kIdle * idle + kBaseline + noise(rng);
    if (idle_column) {
      t.rows.push_back({all, ws, tasks, active, idle, rss});
    } else {
      t.rows.push_back({all, ws, tasks, all, rss});
    }
  }
  return t;
}

TEST(CalibrationTest, IdleTenantsAreFittedApart) {
  const CalibrationFit fit = FitRules(IdleDay(300, true), {{"ram_per_device", kDevice}});
  ASSERT_EQ(fit.coefficients.size(), 6U);
  EXPECT_EQ(fit.coefficients[4].rule, "idle_per_customer");
  EXPECT_NEAR(Find(fit, "idle_per_customer").value, kIdle, 0.05 * kIdle);
  EXPECT_NEAR(Find(fit, "buffer_per_customer").value, kCustomer, 0.01 * kCustomer);
  EXPECT_NEAR(Find(fit, "baseline").value, kBaseline, 0.02 * kBaseline);
  EXPECT_GT(fit.r_squared, 0.99);

  const CalibrationFit folded = FitRules(IdleDay(300, false), {{"ram_per_device", kDevice}});
  ASSERT_EQ(folded.coefficients.size(), 5U);
  EXPECT_LT(Find(folded, "buffer_per_customer").value, 0.9 * kCustomer);
}

TEST(CalibrationTest, AnIdleColumnOfZerosLeavesTheTermOut) {
  TelemetryTable t = IdleDay(100, true);
  for (auto& row : t.rows) {
    row[3] += row[4];
    row[5] -= kIdle * row[4] - kCustomer * row[4];
    row[4] = 0;
  }
  const CalibrationFit fit = FitRules(t, {{"ram_per_device", kDevice}});
  ASSERT_EQ(fit.coefficients.size(), 5U);
  EXPECT_THROW(Find(fit, "idle_per_customer"), std::logic_error);
  EXPECT_NEAR(Find(fit, "buffer_per_customer").value, kCustomer, 0.01 * kCustomer);
  // Held although absent: still left out, not an error.
  EXPECT_EQ(
      FitRules(t, {{"ram_per_device", kDevice}, {"idle_per_customer", 1e6}}).coefficients.size(),
      5U);
}

TEST(CalibrationTest, TheIdleColumnIsReadFromCsvAndItsCostWrittenUnderTheEngine) {
  std::string csv = "customers,idle_customers,devices,ws_connections,pending_tasks,rss_bytes\n";
  const TelemetryTable day = IdleDay(60, true);
  for (const auto& r : day.rows) {
    csv += fmt::format("{},{},{},{},{},{}\n", r[3], r[4], r[0], r[1], r[2], r[5]);
  }
  const TelemetryTable read = Read(csv);
  ASSERT_EQ(read.columns.size(), 6U);
  EXPECT_EQ(read.columns[5], "idle_customers");
  const CalibrationFit fit = FitRules(read, {{"ram_per_device", kDevice}});
  const std::string text = RulesOverrideYaml(fit, "crmd", "t.csv", true, true);
  const YAML::Node root = YAML::Load(text);
  EXPECT_FALSE(root["idle_per_customer"]) << text;
  ASSERT_TRUE(root["engines"]["crmd"]["idle_per_customer"]) << text;
  Catalog catalog = Catalog::Embedded();
  catalog.ApplyOverride(text, "override.yaml");
  EXPECT_NEAR(catalog.FindEngine("crmd")->idle_per_customer.value, kIdle, 0.05 * kIdle);

  EXPECT_THAT(ErrorOf([] {
                Read(
                    "customers,idle_customers,devices,ws_connections,pending_tasks,"
                    "rss_bytes\n1,x,1,1,1,1\n");
              }),
              HasSubstr("telemetry.csv:2: idle_customers: expected a finite non-negative number"));
}

// The crmd runtime: a tenant's memory is mostly its PostgreSQL backends, and how many it holds
// swings with its activity. Fitted per connection and folded back per tenant at the connections
// measured (an active tenant holds 1 to 5, 3 in the middle; an idle one none; 4 for the
// runtime's own at rest), and the fixed part measured on the rows without load.
constexpr double kConnection = 2.2e6;
constexpr double kAtRest = 4;

TelemetryTable BusyAndQuiet(std::size_t rows, bool with_empty_instants) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> tenants(1, 200);
  std::uniform_real_distribution<double> unit(0, 1);
  std::normal_distribution<double> noise(0, kNoise);
  TelemetryTable t;
  t.file = "telemetry";
  t.columns = {"devices",        "ws_connections", "pending_tasks", "customers",
               "idle_customers", "db_connections", "rss_bytes"};
  for (std::size_t r = 0; r < rows; ++r) {
    const bool empty = with_empty_instants && r % 10 == 0;
    const double all = empty ? 0 : std::round(tenants(rng));
    const double idle = std::round(all * unit(rng));
    const double active = all - idle;
    const double ws = std::round(active * 3 * unit(rng));
    const double tasks = std::round(active * 300 * unit(rng));
    // Pools between 1 and 5 connections per active tenant, none for an idle one.
    const double connections =
        kAtRest + std::round(active * (1 + 4 * unit(rng))) + kIdleSliceConnections * idle;
    const double rss = kWebsocket * ws + kTask * tasks + kCustomer * active + kIdle * idle +
                       kConnection * connections + kBaseline + noise(rng);
    t.rows.push_back({all, ws, tasks, active, idle, connections, rss});
  }
  return t;
}

TEST(CalibrationTest, ConnectionsAreFittedAndFoldedIntoPerTenantCosts) {
  const CalibrationFit fit = FitRules(BusyAndQuiet(300, true), {{"ram_per_device", 0}});
  EXPECT_NEAR(Find(fit, "ram_per_db_connection").value, kConnection, 0.01 * kConnection);
  EXPECT_NEAR(Find(fit, "buffer_per_customer").value, kCustomer, 0.03 * kCustomer);
  ASSERT_TRUE(fit.connections_at_rest.has_value());
  EXPECT_DOUBLE_EQ(*fit.connections_at_rest, kAtRest);
  EXPECT_EQ(fit.rest_rows, 30U);
  ASSERT_TRUE(fit.connections_per_active.has_value());
  EXPECT_NEAR(*fit.connections_per_active, 3, 0.5);  // the median of 270 draws from 1..5

  const CalibrationFit written = FoldConnections(fit, 5);
  EXPECT_THROW(Find(written, "ram_per_db_connection"), std::logic_error);
  const double per_tenant = kCustomer + *fit.connections_per_active * kConnection;
  EXPECT_NEAR(Find(written, "buffer_per_customer").value, per_tenant, 0.01 * per_tenant);
  EXPECT_NEAR(Find(written, "idle_per_customer").value, kIdle + kIdleSliceConnections * kConnection,
              0.05 * (kIdle + kConnection));
  EXPECT_NEAR(Find(written, "baseline").value, kBaseline + kAtRest * kConnection, 0.05 * kBaseline);
  EXPECT_GE(Find(written, "buffer_per_customer").std_error,
            Find(fit, "buffer_per_customer").std_error);
  // Written like any fit: the per-connection cost is not a rule of the catalog.
  const std::string text = RulesOverrideYaml(written, "crmd", "t", true, true);
  EXPECT_EQ(text.find("ram_per_db_connection"), std::string::npos) << text;
  // Not something --hold can name.
  EXPECT_THAT(ErrorOf([] {
                FitRules(BusyAndQuiet(50, true), {{"ram_per_db_connection", 1}});
              }),
              HasSubstr("not a fitted rule"));
}

TEST(CalibrationTest, WithoutAnEmptyInstantTheFixedPartSaysItCountsNoConnection) {
  const CalibrationFit fit = FitRules(BusyAndQuiet(200, false), {{"ram_per_device", 0}});
  EXPECT_FALSE(fit.connections_at_rest.has_value());
  EXPECT_FALSE(fit.connections_per_active.has_value());
  EXPECT_EQ(fit.rest_rows, 0U);
  const CalibrationFit written = FoldConnections(fit, 5);
  EXPECT_DOUBLE_EQ(Find(written, "baseline").value, Find(fit, "baseline").value);
  // Unknown, the connections of an active tenant are the engine's.
  EXPECT_NEAR(Find(written, "buffer_per_customer").value,
              Find(fit, "buffer_per_customer").value + 5 * Find(fit, "ram_per_db_connection").value,
              1);
  ASSERT_FALSE(written.warnings.empty());
  EXPECT_THAT(written.warnings.back(), HasSubstr("no instant without tenants"));
  // A fit without the connections term is written as it is.
  const CalibrationFit plain = FitRules(Table(Synthetic(50)));
  EXPECT_EQ(FoldConnections(plain, 5).coefficients.size(), plain.coefficients.size());
}

TEST(CalibrationTest, OverrideYamlNeedsAnEngine) {
  const CalibrationFit fit = FitRules(Table(Synthetic(20)));
  EXPECT_THROW(RulesOverrideYaml(fit, "", "t.csv"), InputError);
}

}  // namespace
}  // namespace crm::planner
