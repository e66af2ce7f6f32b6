// A streaming CSV reader (RFC 4180 plus what spreadsheets really write): quoted fields with
// embedded commas, quotes and newlines, CRLF or LF, a UTF-8 BOM, blank lines skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crm/text.hpp"  // TrimBlanks, which CSV readers use on cells

namespace crm {

/// Reads one record at a time from a stream; memory stays flat in the number of rows.
class CsvReader {
 public:
  /// How much is read from the stream at a time.
  static constexpr std::size_t kDefaultChunkSize = std::size_t{1} << 20;

  /// `file` is the name used in error messages. `chunk_size` (bytes per read, at least 1) only
  /// matters for speed; tests shrink it to put record boundaries across reads. `separator` is
  /// ',' or what a spreadsheet wrote instead (';' in many locales).
  CsvReader(std::istream& in, std::string file, std::size_t chunk_size = kDefaultChunkSize,
            char separator = ',');

  /// Reads the next non-blank record into `fields` (views valid until the next call).
  /// Returns false at end of input. Throws InputError "file:line: reason" for an unterminated
  /// quote or text after a closing quote; the malformed text is skipped first (to the end of its
  /// line, or of the input for an unterminated quote) so Next() may go on with the next record.
  bool Next(std::vector<std::string_view>& fields);

  /// 1-based physical line where the last record returned by Next() started.
  std::size_t line() const { return record_line_; }
  const std::string& file() const { return file_; }
  /// Bytes of input consumed so far (through the last record returned), for progress reports.
  std::uint64_t offset() const { return consumed_before_ + pos_; }

 private:
  // Where one field of the current record lies, relative to pos_ (the record's start) so the
  // offsets survive Fill() moving the unconsumed bytes to the front of buffer_.
  struct FieldSpan {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool escaped = false;  // quoted and holding "" pairs: must be unescaped into record_
  };

  // Appends the next chunk of the stream to buffer_, first dropping the consumed bytes before
  // pos_. Returns false when nothing more could be read (end of input).
  bool Fill();
  // Makes at least `n` bytes from pos_ available unless the input ends first; returns whether
  // it succeeded.
  bool Have(std::size_t n);
  // Skips blank lines (empty or a lone "\r") at pos_; returns false at end of input.
  bool SkipBlankLines();
  // Consumes the current record up to `end` (relative to pos_), which holds `lines` newlines.
  void Consume(std::size_t end, std::size_t lines);
  // Skips the malformed record through the end of the line holding `from` (relative to pos_,
  // `lines` newlines before it), then throws InputError at `error_line`.
  [[noreturn]] void FailAndSkipLine(std::size_t from, std::size_t lines, std::size_t error_line,
                                    const char* reason);

  std::istream& in_;
  std::string file_;
  std::unique_ptr<char[]> buffer_;  // raw bytes read but not consumed: [pos_, size_)
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t pos_ = 0;  // consume position in buffer_
  std::string record_;   // unescaped copy of the current record's fields
  // The current record's fields are the first span_count_ of spans_, which only grows: records
  // have the same fields as a rule, and a push_back per field was a call per field.
  void AddSpan(FieldSpan span) {
    if (span_count_ == spans_.size()) [[unlikely]] {
      GrowSpans();
    }
    spans_[span_count_++] = span;
  }
  void GrowSpans();
  std::vector<FieldSpan> spans_;
  std::size_t span_count_ = 0;
  std::size_t chunk_size_;
  char separator_;
  std::uint64_t consumed_before_ = 0;  // bytes dropped from the front of buffer_ so far
  std::size_t line_ = 1;               // physical line at pos_
  std::size_t record_line_ = 0;
  bool eof_ = false;
  bool first_ = true;
};

}  // namespace crm
