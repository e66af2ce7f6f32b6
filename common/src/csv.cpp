#include "crm/csv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

#include "crm/error.hpp"

namespace crm {
namespace {

constexpr char kBom[] = "\xEF\xBB\xBF";
constexpr std::size_t kBomSize = sizeof(kBom) - 1;

std::size_t CountNewlines(const char* begin, const char* end) {
  return static_cast<std::size_t>(std::count(begin, end, '\n'));
}

}  // namespace

CsvReader::CsvReader(std::istream& in, std::string file, std::size_t chunk_size, char separator)
    : in_(in),
      file_(std::move(file)),
      chunk_size_(std::max<std::size_t>(chunk_size, 1)),
      separator_(separator) {}

bool CsvReader::Fill() {
  if (eof_) {
    return false;
  }
  // Only the unfinished record stays in memory: this keeps memory flat however long the input.
  if (pos_ > 0) {
    consumed_before_ += pos_;
    size_ -= pos_;
    std::memmove(buffer_.get(), buffer_.get() + pos_, size_);
    pos_ = 0;
  }
  if (capacity_ - size_ < chunk_size_) {
    // Room for a chunk beside a partial record, so that records shorter than a chunk never
    // grow it; geometric growth for longer ones. Not zero-filled (unlike a resized std::string):
    // the untouched pages of a large buffer then cost nothing on small inputs.
    const std::size_t capacity = std::max({capacity_ * 2, size_ + chunk_size_, 2 * chunk_size_});
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ > 0) {
      std::memcpy(bigger.get(), buffer_.get(), size_);
    }
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }
  in_.read(buffer_.get() + size_, static_cast<std::streamsize>(chunk_size_));
  const auto got = static_cast<std::size_t>(in_.gcount());
  size_ += got;
  if (in_.bad()) {
    throw RuntimeError(fmt::format("{}: read error", file_));
  }
  if (got < chunk_size_) {
    eof_ = true;
  }
  return got > 0;
}

void CsvReader::GrowSpans() {
  spans_.resize(spans_.size() * 2 + 8);
}

bool CsvReader::Have(std::size_t n) {
  while (size_ - pos_ < n) {
    if (!Fill()) {
      return false;
    }
  }
  return true;
}

bool CsvReader::SkipBlankLines() {
  for (;;) {
    if (!Have(1)) {
      return false;
    }
    const char c = buffer_[pos_];
    if (c == '\n') {
      ++pos_;
      ++line_;
      continue;
    }
    if (c == '\r') {
      if (!Have(2)) {
        ++pos_;  // a lone "\r" closing the input is a blank line too
        return false;
      }
      if (buffer_[pos_ + 1] == '\n') {
        pos_ += 2;
        ++line_;
        continue;
      }
    }
    return true;
  }
}

void CsvReader::Consume(std::size_t end, std::size_t lines) {
  pos_ += end;
  line_ += lines;
}

void CsvReader::FailAndSkipLine(std::size_t from, std::size_t lines, std::size_t error_line,
                                const char* reason) {
  std::size_t scan = from;
  for (;;) {
    const char* base = buffer_.get() + pos_;
    const std::size_t avail = size_ - pos_;
    const void* hit = scan < avail ? std::memchr(base + scan, '\n', avail - scan) : nullptr;
    if (hit != nullptr) {
      Consume(static_cast<std::size_t>(static_cast<const char*>(hit) - base) + 1, lines + 1);
      break;
    }
    scan = avail;
    if (!Fill()) {
      Consume(avail, lines);
      break;
    }
  }
  throw InputError(fmt::format("{}:{}: {}", file_, error_line, reason));
}

bool CsvReader::Next(std::vector<std::string_view>& fields) {
  fields.clear();
  if (first_) {
    first_ = false;
    if (Have(kBomSize) && std::memcmp(buffer_.get() + pos_, kBom, kBomSize) == 0) {
      pos_ += kBomSize;
    }
  }
  if (!SkipBlankLines()) {
    return false;
  }
  record_line_ = line_;
  span_count_ = 0;

  // All offsets below are relative to pos_ (the record's start): Fill() may move the bytes.
  std::size_t lines = 0;     // newlines consumed so far inside the record
  std::size_t c = 0;         // start of the current field
  std::size_t line_end = 0;  // the '\n' ending the physical line that holds c (or end of data)
  bool line_end_known = false;
  bool line_has_newline = false;
  std::size_t record_end = 0;  // just past the record's terminator
  for (;;) {
    if (c == size_ - pos_ && !Have(c + 1)) {
      // The input ends right after a comma (or the record is empty): an empty last field.
      AddSpan({c, c, false});
      record_end = c;
      break;
    }
    if (buffer_[pos_ + c] == '"') {
      const std::size_t open_line = record_line_ + lines;
      bool escaped = false;
      std::size_t scan = c + 1;
      std::size_t close = 0;
      for (;;) {
        const char* base = buffer_.get() + pos_;
        const std::size_t avail = size_ - pos_;
        const void* hit = scan < avail ? std::memchr(base + scan, '"', avail - scan) : nullptr;
        if (hit == nullptr) {
          lines += CountNewlines(base + scan, base + avail);
          scan = avail;
          if (!Fill()) {
            // The quote swallowed the rest of the input: there is nothing left to resume at.
            FailAndSkipLine(avail, lines, open_line,
                            "unterminated quoted field (a field that starts with \" must end "
                            "with \"; write \"\" for a quote inside it)");
          }
          continue;
        }
        const auto quote = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
        lines += CountNewlines(base + scan, base + quote);
        if (Have(quote + 2) && buffer_[pos_ + quote + 1] == '"') {
          escaped = true;
          scan = quote + 2;
          continue;
        }
        close = quote;
        break;
      }
      AddSpan({c + 1, close, escaped});
      line_end_known = false;  // the quoted field may have crossed lines
      const std::size_t after = close + 1;
      if (!Have(after + 1)) {
        record_end = after;
        break;
      }
      const char next = buffer_[pos_ + after];
      if (next == separator_) {
        c = after + 1;
        continue;
      }
      if (next == '\n') {
        record_end = after + 1;
        ++lines;
        break;
      }
      if (next == '\r') {
        if (!Have(after + 2)) {
          record_end = after + 1;
          break;
        }
        if (buffer_[pos_ + after + 1] == '\n') {
          record_end = after + 2;
          ++lines;
          break;
        }
      }
      FailAndSkipLine(
          after, lines, record_line_ + lines,
          "unexpected text after a closing quote (write \"\" for a quote inside a quoted field)");
    }

    // Unquoted field: the fast path, no copy. It ends at the next separator or at the end of the
    // line.
    if (!line_end_known || line_end < c) {
      std::size_t scan = c;
      for (;;) {
        const char* base = buffer_.get() + pos_;
        const std::size_t avail = size_ - pos_;
        const void* hit = scan < avail ? std::memchr(base + scan, '\n', avail - scan) : nullptr;
        if (hit != nullptr) {
          line_end = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
          line_has_newline = true;
          break;
        }
        scan = avail;
        if (!Fill()) {
          line_end = avail;
          line_has_newline = false;
          break;
        }
      }
      line_end_known = true;
    }
    const char* base = buffer_.get() + pos_;
    const void* comma = std::memchr(base + c, separator_, line_end - c);
    if (comma != nullptr) {
      const auto at = static_cast<std::size_t>(static_cast<const char*>(comma) - base);
      AddSpan({c, at, false});
      c = at + 1;
      continue;
    }
    std::size_t end = line_end;
    if (end > c && base[end - 1] == '\r') {
      --end;
    }
    AddSpan({c, end, false});
    record_end = line_has_newline ? line_end + 1 : line_end;
    if (line_has_newline) {
      ++lines;
    }
    break;
  }

  // Unescaped copies go to record_, reserved up front so that appending never reallocates and
  // the views handed out stay valid.
  const auto spans = std::span(spans_).first(span_count_);
  std::size_t escaped_bytes = 0;
  for (const FieldSpan& span : spans) {
    if (span.escaped) {
      escaped_bytes += span.end - span.begin;
    }
  }
  record_.clear();
  record_.reserve(escaped_bytes);
  const char* base = buffer_.get() + pos_;
  // Assigned in place: the caller's vector keeps its size from one record to the next.
  fields.resize(span_count_);
  std::size_t f = 0;
  for (const FieldSpan& span : spans) {
    if (!span.escaped) {
      fields[f++] = std::string_view(base + span.begin, span.end - span.begin);
      continue;
    }
    const std::size_t start = record_.size();
    for (std::size_t i = span.begin; i < span.end; ++i) {
      record_.push_back(base[i]);
      if (base[i] == '"') {
        ++i;  // the second quote of a "" pair
      }
    }
    fields[f++] = std::string_view(record_.data() + start, record_.size() - start);
  }
  Consume(record_end, lines);
  return true;
}

}  // namespace crm
