#include "crm/csv.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "crm/error.hpp"

namespace crm {
namespace {

using Records = std::vector<std::vector<std::string>>;

Records ReadAll(const std::string& text, std::size_t chunk_size = CsvReader::kDefaultChunkSize) {
  std::istringstream in(text);
  CsvReader reader(in, "in.csv", chunk_size);
  Records records;
  std::vector<std::string_view> fields;
  while (reader.Next(fields)) {
    records.emplace_back(fields.begin(), fields.end());
  }
  return records;
}

std::vector<std::size_t> ReadLines(const std::string& text, std::size_t chunk_size) {
  std::istringstream in(text);
  CsvReader reader(in, "in.csv", chunk_size);
  std::vector<std::size_t> lines;
  std::vector<std::string_view> fields;
  while (reader.Next(fields)) {
    lines.push_back(reader.line());
  }
  return lines;
}

std::string ErrorOf(const std::string& text, std::size_t chunk_size) {
  try {
    ReadAll(text, chunk_size);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// Chunk sizes that put every byte of a small input on a read boundary at least once.
const std::vector<std::size_t> kChunkSizes = {1, 2,  3,  4,  5,
                                              7, 11, 16, 64, CsvReader::kDefaultChunkSize};

TEST(CsvReaderTest, SplitsUnquotedFields) {
  EXPECT_EQ(ReadAll("a,b,c\n1,2,3\n"), (Records{{"a", "b", "c"}, {"1", "2", "3"}}));
}

TEST(CsvReaderTest, ReadsLastRecordWithoutNewline) {
  EXPECT_EQ(ReadAll("a,b\n1,2"), (Records{{"a", "b"}, {"1", "2"}}));
}

TEST(CsvReaderTest, KeepsEmptyFields) {
  EXPECT_EQ(ReadAll(",a,,\n,\n"), (Records{{"", "a", "", ""}, {"", ""}}));
}

TEST(CsvReaderTest, KeepsTrailingEmptyFieldAtEndOfInput) {
  EXPECT_EQ(ReadAll("a,"), (Records{{"a", ""}}));
}

TEST(CsvReaderTest, StripsCarriageReturnOfCrlf) {
  EXPECT_EQ(ReadAll("a,b\r\n1,\r\n\"q\"\r\n"), (Records{{"a", "b"}, {"1", ""}, {"q"}}));
}

TEST(CsvReaderTest, KeepsCarriageReturnInsideAField) {
  EXPECT_EQ(ReadAll("a\rb,c\n"), (Records{{"a\rb", "c"}}));
}

TEST(CsvReaderTest, KeepsCommasInsideQuotes) {
  EXPECT_EQ(ReadAll("\"a,b\",c\n"), (Records{{"a,b", "c"}}));
}

TEST(CsvReaderTest, UnescapesDoubledQuotes) {
  EXPECT_EQ(ReadAll("\"say \"\"hi\"\"\",\"\"\"\",\"\"\n"), (Records{{"say \"hi\"", "\"", ""}}));
}

TEST(CsvReaderTest, KeepsNewlinesInsideQuotes) {
  EXPECT_EQ(ReadAll("\"line 1\nline 2\r\nline 3\",x\ny\n"),
            (Records{{"line 1\nline 2\r\nline 3", "x"}, {"y"}}));
}

TEST(CsvReaderTest, TreatsQuoteInsideUnquotedFieldAsText) {
  EXPECT_EQ(ReadAll("5\" screen,b\n"), (Records{{"5\" screen", "b"}}));
}

TEST(CsvReaderTest, StripsByteOrderMarkOfFirstRecordOnly) {
  EXPECT_EQ(ReadAll("\xEF\xBB\xBFname,customers\n\xEF\xBB\xBFx,1\n"),
            (Records{{"name", "customers"}, {"\xEF\xBB\xBFx", "1"}}));
}

TEST(CsvReaderTest, StripsByteOrderMarkBeforeQuotedField) {
  EXPECT_EQ(ReadAll("\xEF\xBB\xBF\"name\"\n"), (Records{{"name"}}));
}

TEST(CsvReaderTest, SkipsBlankLines) {
  EXPECT_EQ(ReadAll("\n\r\na\n\n\r\nb\r\n\n"), (Records{{"a"}, {"b"}}));
}

TEST(CsvReaderTest, ReturnsNothingForEmptyOrBlankInput) {
  EXPECT_TRUE(ReadAll("").empty());
  EXPECT_TRUE(ReadAll("\xEF\xBB\xBF").empty());
  EXPECT_TRUE(ReadAll("\n\r\n\n\r").empty());
}

TEST(CsvReaderTest, ReportsPhysicalLineOfEachRecord) {
  const std::string text = "h\n\n\"two\nlines\"\n\r\nlast\n";
  for (std::size_t chunk : kChunkSizes) {
    EXPECT_EQ(ReadLines(text, chunk), (std::vector<std::size_t>{1, 3, 6})) << "chunk " << chunk;
  }
}

TEST(CsvReaderTest, ReportsUnterminatedQuoteAtTheLineItOpened) {
  const std::string text = "a,b\n1,\"open\n\nstill open";
  for (std::size_t chunk : kChunkSizes) {
    EXPECT_EQ(ErrorOf(text, chunk).rfind("in.csv:2: unterminated quoted field", 0), 0u)
        << ErrorOf(text, chunk) << " (chunk " << chunk << ")";
  }
}

TEST(CsvReaderTest, ReportsTextAfterClosingQuoteWithItsLine) {
  const std::string text = "a\n\"x\ny\"z,1\n";
  for (std::size_t chunk : kChunkSizes) {
    EXPECT_EQ(ErrorOf(text, chunk).rfind("in.csv:3: unexpected text after a closing quote", 0), 0u)
        << ErrorOf(text, chunk) << " (chunk " << chunk << ")";
  }
}

TEST(CsvReaderTest, ResumesOnTheLineAfterTextAfterClosingQuote) {
  for (std::size_t chunk : kChunkSizes) {
    std::istringstream in("a\n\"x\"y,\"z\nz\"\nb,c\n");
    CsvReader reader(in, "in.csv", chunk);
    std::vector<std::string_view> fields;
    ASSERT_TRUE(reader.Next(fields));
    EXPECT_THROW(reader.Next(fields), InputError);
    // The rest of line 2 is skipped, so its open quote is not taken for a field's start.
    ASSERT_TRUE(reader.Next(fields)) << "chunk " << chunk;
    EXPECT_EQ(reader.line(), 3u);
    EXPECT_EQ(fields, (std::vector<std::string_view>{"z\""}));
    ASSERT_TRUE(reader.Next(fields));
    EXPECT_EQ(reader.line(), 4u);
    EXPECT_EQ(fields, (std::vector<std::string_view>{"b", "c"}));
    EXPECT_FALSE(reader.Next(fields));
  }
}

TEST(CsvReaderTest, EndsAfterAnUnterminatedQuote) {
  std::istringstream in("a\n\"open\nb,c\n");
  CsvReader reader(in, "in.csv", 3);
  std::vector<std::string_view> fields;
  ASSERT_TRUE(reader.Next(fields));
  EXPECT_THROW(reader.Next(fields), InputError);
  EXPECT_FALSE(reader.Next(fields));
}

TEST(CsvReaderTest, GivesTheSameRecordsWhateverTheChunkSize) {
  const std::string text =
      "\xEF\xBB\xBFname,customers,engine\r\n"
      "\"Acme, \"\"Blue\"\" Ltd\",12,whatsmeow\r\n"
      "\r\n"
      "plain,3,\"multi\r\nline\"\r\n"
      "\"\",,\n"
      "last,\"\"\"\",x";
  const Records expected = {{"name", "customers", "engine"},
                            {"Acme, \"Blue\" Ltd", "12", "whatsmeow"},
                            {"plain", "3", "multi\r\nline"},
                            {"", "", ""},
                            {"last", "\"", "x"}};
  for (std::size_t chunk = 1; chunk <= text.size() + 1; ++chunk) {
    EXPECT_EQ(ReadAll(text, chunk), expected) << "chunk " << chunk;
  }
}

TEST(CsvReaderTest, ReadsRecordsAcrossTheDefaultReadBoundary) {
  // A quoted field whose "" pair is split by the first 1 MiB read, then a 1 MiB unquoted field
  // that spans the second read entirely.
  const std::size_t boundary = CsvReader::kDefaultChunkSize;
  std::string text = "head\n";
  const std::string pad(boundary - 4 - text.size() - 1, 'p');
  text += pad + "\n";
  ASSERT_EQ(text.size(), boundary - 4);
  text += "\"ab\"\"c\nd\",tail\n";  // the pair's first quote is the chunk's last byte
  const std::string long_field(boundary, 'z');
  text += long_field + ",end\n";
  const Records records = ReadAll(text);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[1], (std::vector<std::string>{pad}));
  EXPECT_EQ(records[2], (std::vector<std::string>{"ab\"c\nd", "tail"}));
  EXPECT_EQ(records[3], (std::vector<std::string>{long_field, "end"}));
}

TEST(CsvReaderTest, TracksBytesConsumed) {
  std::istringstream in("a,b\n\"c\nd\"\n");
  CsvReader reader(in, "in.csv", 2);
  std::vector<std::string_view> fields;
  EXPECT_EQ(reader.offset(), 0u);
  ASSERT_TRUE(reader.Next(fields));
  EXPECT_EQ(reader.offset(), 4u);
  ASSERT_TRUE(reader.Next(fields));
  EXPECT_EQ(reader.offset(), 10u);
  EXPECT_FALSE(reader.Next(fields));
}

TEST(CsvReaderTest, ReadsManyRowsThroughASmallChunk) {
  std::string text;
  for (int i = 0; i < 200'000; ++i) {
    text += "name " + std::to_string(i) + ",\"q\"\"" + std::to_string(i) + "\"\n";
  }
  std::istringstream in(text);
  CsvReader reader(in, "in.csv", 4096);
  std::vector<std::string_view> fields;
  std::size_t count = 0;
  while (reader.Next(fields)) {
    ASSERT_EQ(fields.size(), 2u);
    ASSERT_EQ(fields[1], "q\"" + std::to_string(count));
    ++count;
  }
  EXPECT_EQ(count, 200'000u);
  EXPECT_EQ(reader.offset(), text.size());
}

}  // namespace
}  // namespace crm
