#include "crm/planner/batch.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"
#include "crm/planner/workload.hpp"

namespace crm::planner {
namespace {

struct BatchRun {
  BatchResult result;
  std::string out;
  std::string err;
};

BatchRun RunOn(const std::string& csv, BatchOptions options = {}) {
  std::istringstream in(csv);
  std::ostringstream out;
  std::ostringstream err;
  BatchRun run;
  run.result = RunBatch(in, "in.csv", Catalog::Embedded(), options, out, err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

BatchOptions Json() {
  BatchOptions options;
  options.format = OutputFormat::kJson;
  return options;
}

std::string ErrorOf(const std::string& csv, BatchOptions options = {}) {
  try {
    RunOn(csv, options);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<nlohmann::json> ParseLines(const std::string& text) {
  std::vector<nlohmann::json> docs;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    docs.push_back(nlohmann::json::parse(line));
  }
  return docs;
}

std::string CsvHeader() {
  std::string header;
  AppendPlanCsvHeader(header);
  return header;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST(RunBatchTest, RejectsAnEmptyFile) {
  EXPECT_TRUE(StartsWith(ErrorOf(""), "in.csv: empty file (expected a header row"));
  EXPECT_TRUE(StartsWith(ErrorOf("\n\r\n"), "in.csv: empty file"));
}

TEST(RunBatchTest, WritesOnlyTheCsvHeaderForAHeaderOnlyFile) {
  const BatchRun run = RunOn("name,customers\n");
  EXPECT_EQ(run.result.rows, 0);
  EXPECT_EQ(run.result.planned, 0);
  EXPECT_EQ(run.out, CsvHeader());
  EXPECT_EQ(run.err, "");
}

TEST(RunBatchTest, RejectsAnUnknownColumnListingTheKnownOnes) {
  const std::string error = ErrorOf("name,custmers\nx,5\n");
  EXPECT_TRUE(StartsWith(error, "in.csv:1: unknown column 'custmers' (expected: customers, "))
      << error;
  EXPECT_NE(error.find("engine"), std::string::npos) << error;
}

TEST(RunBatchTest, RejectsADuplicateColumn) {
  EXPECT_EQ(ErrorOf("customers,engine,engine\n5,noweb,webjs\n"),
            "in.csv:1: duplicate column 'engine' (columns 2 and 3)");
}

TEST(RunBatchTest, RejectsAHeaderWithoutCustomers) {
  EXPECT_TRUE(
      StartsWith(ErrorOf("name,engine\nx,noweb\n"), "in.csv:1: missing column 'customers'"));
}

TEST(RunBatchTest, NamesTheHeaderLineAfterBlankLines) {
  EXPECT_TRUE(StartsWith(ErrorOf("\n\ncustomers,,engine\n"), "in.csv:3: column 2 has no name"));
}

TEST(RunBatchTest, RejectsFormatsOtherThanCsvAndJson) {
  BatchOptions options;
  options.format = OutputFormat::kTable;
  EXPECT_TRUE(StartsWith(ErrorOf("customers\n5\n", options), "-o/--output:"));
}

TEST(RunBatchTest, ReportsBadRowsByLineAndPlansTheOthers) {
  const std::string csv =
      "name,customers,engine\n"    // 1
      "good one,5,whatsmeow\n"     // 2
      "typo,12x,whatsmeow\n"       // 3
      "short,5\n"                  // 4
      "\n"                         // 5 (blank: skipped, not a row)
      "\"two\nlines\",7,noweb\n"   // 6-7
      "engine,8,carrier-pigeon\n"  // 8
      "missing,,noweb\n"           // 9
      "\"quoted\"x,1,noweb\n"      // 10
      "last,9,\n";                 // 11
  const BatchRun run = RunOn(csv, Json());
  EXPECT_EQ(run.result.rows, 8);
  EXPECT_EQ(run.result.planned, 3);
  EXPECT_EQ(run.result.bad, 5);
  std::vector<std::string> lines;
  std::istringstream err(run.err);
  for (std::string line; std::getline(err, line);) {
    lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 5u) << run.err;
  EXPECT_EQ(lines[0], "in.csv:3: customers: expected a whole number, got \"12x\"");
  EXPECT_EQ(lines[1], "in.csv:4: expected 3 fields, got 2");
  EXPECT_TRUE(StartsWith(lines[2], "in.csv:8: engine: unknown 'carrier-pigeon'")) << lines[2];
  EXPECT_TRUE(StartsWith(lines[3], "in.csv:9: customers: required")) << lines[3];
  EXPECT_TRUE(StartsWith(lines[4], "in.csv:10: unexpected text after a closing quote")) << lines[4];

  const std::vector<nlohmann::json> plans = ParseLines(run.out);
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0]["workload"]["name"], "good one");
  EXPECT_EQ(plans[1]["workload"]["name"], "two\nlines");
  EXPECT_EQ(plans[1]["workload"]["engine"], "noweb");
  EXPECT_EQ(plans[2]["workload"]["name"], "last");
  EXPECT_EQ(plans[2]["workload"]["engine"], "whatsmeow");  // empty cell: the default
}

TEST(RunBatchTest, StrictStopsAtTheFirstBadRowAfterWritingThePlansBefore) {
  BatchOptions options;
  options.strict = true;
  std::istringstream in("customers\n5\nlots\n6\n");
  std::ostringstream out;
  std::ostringstream err;
  try {
    RunBatch(in, "in.csv", Catalog::Embedded(), options, out, err);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "in.csv:3: customers: expected a whole number, got \"lots\"");
  }
  EXPECT_EQ(err.str(), "");
  const std::string written = out.str();
  ASSERT_TRUE(StartsWith(written, CsvHeader()));
  std::string rows = written.substr(CsvHeader().size());
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 1);
  EXPECT_TRUE(StartsWith(rows, ",5,")) << rows;  // the unnamed row with 5 customers
}

TEST(RunBatchTest, StrictStopsAtAMalformedQuote) {
  BatchOptions options;
  options.strict = true;
  EXPECT_TRUE(StartsWith(ErrorOf("customers\n\"5\n", options), "in.csv:2: unterminated quoted"));
}

TEST(RunBatchTest, ReadsBomCrlfAndQuotedNames) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "name,customers,devices_per_customer,ha\r\n"
      "\"Acme, \"\"Blue\"\" Ltd\",40,3,true\r\n"
      "\r\n"
      "Plain,2,,\r\n";
  const BatchRun run = RunOn(csv, Json());
  EXPECT_EQ(run.err, "");
  const std::vector<nlohmann::json> plans = ParseLines(run.out);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[0]["workload"]["name"], "Acme, \"Blue\" Ltd");
  EXPECT_EQ(plans[0]["workload"]["customers"], 40);
  EXPECT_EQ(plans[0]["workload"]["devices_per_customer"], 3);
  EXPECT_EQ(plans[0]["workload"]["ha"], true);
  EXPECT_EQ(plans[1]["workload"]["devices_per_customer"], 2);
  EXPECT_EQ(plans[1]["workload"]["ha"], false);
}

TEST(RunBatchTest, WritesJsonLinesWithTheFullPlan) {
  const BatchRun run =
      RunOn("customers,growth_per_month,price_per_customer_month\n50,0.1,30\n", Json());
  const std::vector<nlohmann::json> plans = ParseLines(run.out);
  ASSERT_EQ(plans.size(), 1u);
  const nlohmann::json& plan = plans[0];
  for (const char* key : {"workload", "demand", "tier", "layout", "utilization", "zone", "knobs",
                          "postgres", "cost", "growth", "revenue", "warnings"}) {
    EXPECT_TRUE(plan.contains(key)) << key;
  }
  EXPECT_FALSE(plan["growth"]["projection"].empty());
  EXPECT_EQ(plan["workload"]["customers"], 50);
}

TEST(RunBatchTest, ReplacesBytesThatAreNotUtf8InJsonLines) {
  const BatchRun run = RunOn("name,customers\nCaf\xe9,5\n", Json());  // Latin-1 "Café"
  EXPECT_EQ(run.result.planned, 1);
  const std::vector<nlohmann::json> plans = ParseLines(run.out);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0]["workload"]["name"], "Caf\xef\xbf\xbd");
}

TEST(RunBatchTest, WritesOneCsvRowPerPlan) {
  const BatchRun run = RunOn("customers,engine\n5,noweb\n600,whatsmeow\n");
  ASSERT_TRUE(StartsWith(run.out, CsvHeader()));
  const std::string rows = run.out.substr(CsvHeader().size());
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 2);
  EXPECT_NE(rows.find(",5,"), std::string::npos);
  EXPECT_NE(rows.find(",600,"), std::string::npos);
}

// Only the file's columns are set per row: a cell left empty after a row that filled it takes
// the default again, and a column the file lacks keeps its default, whatever the rows before.
TEST(RunBatchTest, EmptyCellsTakeTheDefaultAfterARowThatFilledThem) {
  const std::string header =
      "devices_per_customer,customers,name,engine,price_per_customer_month\n";
  const std::string filled = "5,40,first,noweb,19\n";
  const std::string empty = ",40,,,\n";
  for (unsigned jobs : {1U, 2U}) {
    BatchOptions options = Json();
    options.jobs = jobs;
    options.chunk_rows = 3;
    const BatchRun after = RunOn(header + filled + empty + filled + empty, options);
    const BatchRun alone = RunOn(header + empty, Json());
    ASSERT_EQ(after.result.bad, 0) << after.err;
    const std::vector<nlohmann::json> plans = ParseLines(after.out);
    const std::vector<nlohmann::json> reference = ParseLines(alone.out);
    ASSERT_EQ(plans.size(), 4U);
    ASSERT_EQ(reference.size(), 1U);
    EXPECT_EQ(plans[0]["workload"]["devices_per_customer"], 5);
    EXPECT_EQ(plans[0]["workload"]["engine"], "noweb");
    EXPECT_EQ(plans[1], reference[0]);
    EXPECT_EQ(plans[3], reference[0]);
    EXPECT_EQ(plans[1]["workload"]["devices_per_customer"], 2);
    EXPECT_EQ(plans[1]["workload"]["engine"], "whatsmeow");
    EXPECT_FALSE(plans[1].contains("revenue"));
  }
}

// Rows written straight into the batch's buffer are the rows AppendPlanCsvRow appends, and stay
// within the bound the buffer is sized by.
TEST(RunBatchTest, CsvRowsMatchAppendPlanCsvRowAndTheirBound) {
  std::string input =
      "name,customers,messages_per_customer_day,peak_pending_tasks,price_plan,coupon\n";
  input += "\"Acme, \"\"Inc\"\"\",5,100,0,,\n";
  input += "big,4000,150,300,basic,launch50\n";
  input += "wide,1500,180,5000,,\n";
  const BatchRun run = RunOn(input);
  ASSERT_EQ(run.result.bad, 0) << run.err;
  std::string expected = CsvHeader();
  for (const auto& [name, customers, messages, pending, plan_name, coupon] :
       {std::tuple{"Acme, \"Inc\"", 5, 100, 0, "", ""},
        std::tuple{"big", 4000, 150, 300, "basic", "launch50"},
        std::tuple{"wide", 1500, 180, 5000, "", ""}}) {
    Workload w;
    w.name = name;
    w.customers = customers;
    w.messages_per_customer_day = messages;
    w.peak_pending_tasks = pending;
    w.price_plan = plan_name;
    w.coupon = coupon;
    PlanOptions options;
    options.projection = false;
    options.reasons = false;
    options.compare_plans = false;
    options.settings = false;
    const Plan plan = MakePlan(w, Catalog::Embedded(), options);
    std::string row;
    AppendPlanCsvRow(row, plan);
    EXPECT_LE(row.size(), PlanCsvRowBound(plan));
    std::string direct(PlanCsvRowBound(plan), '\0');
    direct.resize(static_cast<std::size_t>(WritePlanCsvRow(direct.data(), plan) - direct.data()));
    EXPECT_EQ(direct, row);
    expected += row;
  }
  EXPECT_EQ(run.out, expected);
}

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> cells(1);
  for (char c : line) {
    if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

// The CSV writes its integers itself (two digits at a time, the digit count from the bit width):
// counts and byte totals of every length, against the same plans' JSON lines (nlohmann's own
// integer formatting).
TEST(RunBatchTest, WritesCountsAndByteTotalsOfEveryLengthAsJsonDoes) {
  std::string input = "customers,devices_per_customer,messages_per_customer_day,retention_days\n";
  for (long long customers : {1LL, 9LL, 10LL, 99LL, 100LL, 101LL, 999LL, 1000LL, 9999LL, 10000LL,
                              12345LL, 99999LL, 100000LL, 1234567LL, 9999999LL}) {
    for (const char* rest : {"1,1,1", "3,1000,365", "5,5000,3650"}) {
      input += std::to_string(customers) + "," + rest + "\n";
    }
  }
  const BatchRun csv = RunOn(input);
  const BatchRun json = RunOn(input, Json());
  ASSERT_EQ(csv.result.bad, 0) << csv.err;
  const std::vector<nlohmann::json> plans = ParseLines(json.out);
  std::istringstream lines(csv.out.substr(CsvHeader().size()));
  const std::vector<std::string> header =
      SplitCsvLine(CsvHeader().substr(0, CsvHeader().size() - 1));
  const auto column = [&header](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  std::string line;
  std::size_t row = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(row, plans.size());
    const std::vector<std::string> cells = SplitCsvLine(line);
    const nlohmann::json& plan = plans[row];
    ASSERT_GT(cells.size(), column("db_connections"));
    EXPECT_EQ(cells[column("customers")], plan["workload"]["customers"].dump());
    EXPECT_EQ(cells[column("retention_days")], plan["workload"]["retention_days"].dump());
    EXPECT_EQ(cells[column("ram_bytes")], plan["demand"]["ram_bytes"]["total"].dump());
    EXPECT_EQ(cells[column("disk_bytes")], plan["demand"]["disk_bytes"]["total"].dump());
    EXPECT_EQ(cells[column("db_connections")], plan["demand"]["db_connections"].dump());
    ++row;
  }
  EXPECT_EQ(row, plans.size());
  EXPECT_EQ(row, 45U);
}

// What a terminal would show after `text`: '\r' returns to the line's start and overwrites.
std::vector<std::string> Screen(const std::string& text) {
  std::vector<std::string> lines(1);
  std::size_t column = 0;
  for (char c : text) {
    if (c == '\n') {
      lines.emplace_back();
      column = 0;
    } else if (c == '\r') {
      column = 0;
    } else {
      std::string& line = lines.back();
      if (column < line.size()) {
        line[column] = c;
      } else {
        line += c;
      }
      ++column;
    }
  }
  return lines;
}

TEST(RunBatchTest, PlansManyRowsWithFlatCountsAndACleanProgressBar) {
  constexpr int kRows = 100'000;
  std::string csv = "name,customers,engine,messages_per_customer_day\n";
  const char* engines[] = {"whatsmeow", "noweb", "webjs", "cloud-api"};
  for (int i = 0; i < kRows; ++i) {
    csv += "\"p \"\"" + std::to_string(i) + "\"\"\"," + std::to_string(1 + i % 5000) + "," +
           engines[i % 4] + "," + std::to_string(50 + i % 150) + "\n";
  }
  csv += "bad,-1,noweb,10\n";
  BatchOptions options;
  options.progress = true;
  options.total_bytes = static_cast<long long>(csv.size());
  const BatchRun run = RunOn(csv, options);
  EXPECT_EQ(run.result.rows, kRows + 1);
  EXPECT_EQ(run.result.planned, kRows);
  EXPECT_EQ(run.result.bad, 1);
  const std::string rows = run.out.substr(CsvHeader().size());
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), kRows);
  // Whether or not the bar was drawn (it depends on speed), it leaves only the message behind.
  const std::vector<std::string> screen = Screen(run.err);
  ASSERT_EQ(screen.size(), 2u) << run.err;
  EXPECT_TRUE(StartsWith(screen[0], "in.csv:100002: customers: ")) << screen[0];
  EXPECT_EQ(screen[1].find_first_not_of(' '), std::string::npos) << screen[1];
}

// Chunks reuse the buffers of chunks already written: rows of later chunks, shorter than the
// earlier ones, must not carry anything of them, and quoted names keep their doubled quotes.
TEST(RunBatchTest, WritesEveryRowOfManyChunksInOrderWithItsOwnQuotedName) {
  constexpr int kRows = 30'000;  // several chunks per worker, so buffers come back and are reused
  std::string csv = "name,customers\n";
  std::vector<std::string> expected;
  for (int i = 0; i < kRows; ++i) {
    // Long names first, short ones later: a reused buffer holds longer text than a new row.
    const std::string pad(i < kRows / 2 ? 40 : 1, 'x');
    csv += "\"say \"\"" + pad + std::to_string(i) + "\"\"\"," + std::to_string(1 + i % 300) + "\n";
    expected.push_back("\"say \"\"" + pad + std::to_string(i) + "\"\"\"," +
                       std::to_string(1 + i % 300) + ",");
  }
  const BatchRun run = RunOn(csv, BatchOptions{});
  EXPECT_EQ(run.err, "");
  ASSERT_EQ(run.result.planned, kRows);
  std::istringstream lines(run.out.substr(CsvHeader().size()));
  std::string line;
  int i = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(i, kRows);
    ASSERT_EQ(line.substr(0, expected[static_cast<std::size_t>(i)].size()),
              expected[static_cast<std::size_t>(i)])
        << "row " << i;
    ++i;
  }
  EXPECT_EQ(i, kRows);
}

// The reader hands whole records to the chunks, so a chunk may end anywhere: after a quoted field
// with a comma, inside a record whose quoted name spans lines, before a CRLF row, at a last line
// without a newline. Every chunk size and thread count must give the bytes of one big chunk
// planned on this thread, with each message on its record's first line.
TEST(RunBatchTest, ChunkBoundariesFallBetweenRecordsForAnyChunkSizeAndThreadCount) {
  const std::string csv =
      "\xEF\xBB\xBFname,customers,engine\r\n"  // line 1: BOM and CRLF
      "\"Comma, Inc\",5,noweb\r\n"             // 2
      "\"two\r\nlines\",7,noweb\r\n"           // 3-4: a line break inside quotes
      "plain,12x,noweb\n"                      // 5: bad number
      "\"say \"\"hi\"\"\",3,whatsmeow\n"       // 6
      "\"three\nline\nname\",4,webjs\n"        // 7-9
      "short,2\n"                              // 10: a field missing
      "\"broken\"x,2,noweb\n"                  // 11: text after a closing quote
      "last,9,cloud-api";                      // 12: no newline at the end
  BatchOptions one;
  one.jobs = 1;
  const BatchRun reference = RunOn(csv, one);
  EXPECT_EQ(reference.result.rows, 8);
  EXPECT_EQ(reference.result.planned, 5);
  EXPECT_EQ(reference.result.bad, 3);
  EXPECT_EQ(reference.err,
            "in.csv:5: customers: expected a whole number, got \"12x\"\n"
            "in.csv:10: expected 3 fields, got 2\n"
            "in.csv:11: unexpected text after a closing quote (write \"\" for a quote inside a "
            "quoted field)\n");
  EXPECT_NE(reference.out.find("\n\"two\r\nlines\",7,"), std::string::npos) << reference.out;
  EXPECT_NE(reference.out.find("\n\"three\nline\nname\",4,"), std::string::npos);
  EXPECT_NE(reference.out.find("\nlast,9,"), std::string::npos);
  for (const std::size_t chunk_rows : {1, 2, 3, 4, 7}) {
    for (const unsigned jobs : {1U, 2U, 3U}) {
      for (const OutputFormat format : {OutputFormat::kCsv, OutputFormat::kJson}) {
        BatchOptions options;
        options.format = format;
        options.jobs = jobs;
        options.chunk_rows = chunk_rows;
        BatchOptions whole = options;
        whole.jobs = 1;
        whole.chunk_rows = 4096;
        const BatchRun expected = RunOn(csv, whole);
        const BatchRun run = RunOn(csv, options);
        const std::string what = "chunk_rows " + std::to_string(chunk_rows) + ", jobs " +
                                 std::to_string(jobs) +
                                 (format == OutputFormat::kCsv ? ", csv" : ", json");
        EXPECT_EQ(run.out, expected.out) << what;
        EXPECT_EQ(run.err, reference.err) << what;
        EXPECT_EQ(run.result.rows, reference.result.rows) << what;
        EXPECT_EQ(run.result.planned, reference.result.planned) << what;
        EXPECT_EQ(run.result.bad, reference.result.bad) << what;
      }
    }
  }
}

TEST(RunBatchTest, EmptyAndHeaderOnlyFilesGiveTheSameAnswerForAnyThreadCount) {
  for (const unsigned jobs : {1U, 2U, 4U}) {
    BatchOptions options;
    options.jobs = jobs;
    options.chunk_rows = 1;
    EXPECT_TRUE(StartsWith(ErrorOf("", options), "in.csv: empty file")) << jobs;
    EXPECT_TRUE(StartsWith(ErrorOf("\r\n\n", options), "in.csv: empty file")) << jobs;
    const BatchRun header_only = RunOn("name,customers\r\n", options);
    EXPECT_EQ(header_only.out, CsvHeader()) << jobs;
    EXPECT_EQ(header_only.err, "") << jobs;
    EXPECT_EQ(header_only.result.rows, 0) << jobs;
  }
}

// A generated list with bad rows of every kind sprinkled in: one planning thread and several, in
// chunks small enough that every thread gets many, write the same bytes and the same messages.
TEST(RunBatchTest, OneJobAndManyJobsWriteTheSameBytes) {
  std::string csv =
      "name,customers,devices_per_customer,messages_per_customer_day,engine,growth_per_month,"
      "price_plan,coupon,ha,regions,swap\n";
  const char* engines[] = {"whatsmeow", "noweb", "webjs", "cloud-api", "crmd"};
  const char* plans[] = {"", "basic", "pro", ""};
  int expected_bad = 0;
  std::uint32_t x = 20240601;  // a fixed pseudo-random sequence: the same list every run
  const auto next = [&x](std::uint32_t n) {
    x = x * 1103515245U + 12345U;
    return (x >> 8) % n;
  };
  for (int i = 0; i < 3000; ++i) {
    const std::uint32_t kind = next(40);
    std::string name =
        next(4) == 0 ? "\"Acme, \"\"" + std::to_string(i) + "\"\"\nLtd\"" : "p" + std::to_string(i);
    std::string customers = std::to_string(1 + next(20000));
    std::string engine = engines[next(5)];
    std::string tail;
    if (kind == 0) {
      customers += "x";  // not a number
      ++expected_bad;
    } else if (kind == 1) {
      engine = "pigeon";  // unknown engine
      ++expected_bad;
    } else if (kind == 2) {
      tail = ",extra";  // one field too many
      ++expected_bad;
    } else if (kind == 3) {
      name = "\"open\"quote";  // text after a closing quote
      ++expected_bad;
    }
    const std::string plan = plans[next(4)];
    csv += name + "," + customers + "," + std::to_string(next(4)) + "," +
           std::to_string(next(300)) + "," + engine + "," + (next(2) ? "0.05" : "") + "," + plan +
           "," + (plan == "basic" && next(2) ? "launch50" : "") + "," +
           (next(5) == 0 ? "true" : "false") + "," + std::to_string(1 + next(2)) + "," +
           (next(3) == 0 ? "true" : "") + tail + (next(2) ? "\r\n" : "\n");
  }
  for (const OutputFormat format : {OutputFormat::kCsv, OutputFormat::kJson}) {
    BatchOptions one;
    one.format = format;
    one.jobs = 1;
    one.chunk_rows = 64;
    const BatchRun reference = RunOn(csv, one);
    EXPECT_EQ(reference.result.rows, 3000);
    EXPECT_EQ(reference.result.bad, expected_bad);
    EXPECT_EQ(reference.result.planned, 3000 - expected_bad);
    EXPECT_GT(expected_bad, 100);
    for (const unsigned jobs : {2U, 4U}) {
      BatchOptions options = one;
      options.jobs = jobs;
      const BatchRun run = RunOn(csv, options);
      EXPECT_EQ(run.out, reference.out) << jobs;
      EXPECT_EQ(run.err, reference.err) << jobs;
      EXPECT_EQ(run.result.planned, reference.result.planned) << jobs;
    }
  }
}

TEST(RunBatchTest, StrictStopsAtTheSameRowForAnyThreadCount) {
  std::string csv = "name,customers\n";
  for (int i = 0; i < 500; ++i) {
    csv += "p" + std::to_string(i) + "," + (i == 321 ? "lots" : std::to_string(1 + i)) + "\n";
  }
  for (const unsigned jobs : {1U, 2U, 4U}) {
    BatchOptions options;
    options.strict = true;
    options.jobs = jobs;
    options.chunk_rows = 16;
    std::istringstream in(csv);
    std::ostringstream out;
    std::ostringstream err;
    try {
      RunBatch(in, "in.csv", Catalog::Embedded(), options, out, err);
      ADD_FAILURE() << "no error with jobs " << jobs;
    } catch (const InputError& e) {
      EXPECT_TRUE(StartsWith(e.what(), "in.csv:323: customers: ")) << e.what();
    }
    const std::string rows = out.str().substr(CsvHeader().size());
    EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 321) << jobs;
  }
}

}  // namespace
}  // namespace crm::planner
