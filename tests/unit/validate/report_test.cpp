#include "crm/validate/report.hpp"

#include <gtest/gtest.h>

#include "crm/validate/tool_output.hpp"

namespace crm::validate {
namespace {

TEST(ToolOutputTest, LinesNamingTheScratchCopyLandOnTheRenderedFileWithTheirLine) {
  std::vector<Finding> findings;
  FindingsFromOutput(
      "nginx: [emerg] unknown directive \"lsten\" in /tmp/x/nginx-0/site.conf:12\n"
      "nginx: configuration file /tmp/x/nginx-0/nginx.conf test failed\n",
      "/tmp/x/nginx-0/site.conf", "etc/nginx/sites-available/crm.conf", "nginx -t", "fix it",
      findings);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].file, "etc/nginx/sites-available/crm.conf");
  EXPECT_EQ(findings[0].line, 12);
  EXPECT_EQ(findings[0].message,
            "nginx: [emerg] unknown directive \"lsten\" in etc/nginx/sites-available/crm.conf:12");
}

TEST(ToolOutputTest, ABareLineNumberCountsAndSilenceIsStillAFinding) {
  std::vector<Finding> findings;
  FindingsFromOutput("error at line 7: bad key\n", "/s/copy.ini", "pgbouncer.ini", "pgbouncer", "",
                     findings);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].line, 7);
  findings.clear();
  FindingsFromOutput("", "/s/copy.ini", "pgbouncer.ini", "pgbouncer", "", findings);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].message, "the tool failed without saying why");
}

TEST(ReportTest, FormatsFindingsAndRequiredToolsBecomeFindings) {
  EXPECT_EQ(FormatFinding({"a.conf", 3, "unique-ports", "port 80 twice", "move one"}),
            "a.conf:3: unique-ports: port 80 twice (fix: move one)");
  EXPECT_EQ(FormatFinding({"a.conf", 0, "manifest", "missing", ""}), "a.conf: manifest: missing");
  DirReport report{"out",
                   {},
                   {{"nginx -t", ToolStatus::kSkipped, "nginx is not installed", 0},
                    {"promtool check config", ToolStatus::kPassed, "", 1}}};
  EXPECT_EQ(FormatReport(report, true), "out: ok\n");
  RequireTools(report);
  ASSERT_EQ(report.findings.size(), 1U);
  EXPECT_EQ(report.findings[0].rule, "nginx -t");
  const auto doc = ReportJson(report);
  EXPECT_EQ(doc["tools"][0]["status"], "skipped");
  EXPECT_EQ(doc["findings"][0]["message"], "skipped: nginx is not installed (--require-tools)");
}

}  // namespace
}  // namespace crm::validate
