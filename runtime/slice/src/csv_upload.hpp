// Uploaded CSV bodies (broadcast recipients, contact imports) read with the shared CsvReader: the
// separator sniffed, blank records skipped, header cells matched, and the first bad rows
// collected so that one answer names them all.
#pragma once

#include <cstddef>
#include <istream>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "crm/csv.hpp"

namespace crm::slice {

/// A header cell as compared: lower case, without the blanks around it.
std::string HeaderName(std::string_view cell);
/// The names a column of phone numbers goes by: phone, number, mobile, whatsapp, wa_id,
/// phone_number (any case).
bool IsPhoneHeader(std::string_view cell);
/// Those names, for messages.
inline constexpr const char* kPhoneHeaders =
    "phone (or number, mobile, whatsapp, wa_id, phone_number)";

/// An upload's records, read in place (the body is not copied).
class CsvUpload {
 public:
  /// `name` prefixes the reader's own errors ("recipients:3: unterminated quoted field").
  CsvUpload(std::string_view body, const std::string& name);
  /// The next record that has a non-blank cell; false at the end. Throws InputError for bad
  /// quoting, after which reading goes on with the next line.
  bool Next(std::vector<std::string_view>& fields);
  /// The line where the last record started.
  std::size_t line() const { return reader_.line(); }

 private:
  // An istream over bytes already in memory, without copying them.
  class ViewStreamBuf : public std::streambuf {
   public:
    explicit ViewStreamBuf(std::string_view bytes) {
      char* begin = const_cast<char*>(bytes.data());  // only ever read
      setg(begin, begin, begin + bytes.size());
    }
  };
  ViewStreamBuf bytes_;
  std::istream in_;
  CsvReader reader_;
};

/// Throws http::TooLarge (413) naming `field` once an upload reaches row `rows` > `max_rows`
/// (counted without the header), stating the limit: the caller stops reading there, so an upload of
/// any length holds at most `max_rows` rows in memory.
void RefuseRowsBeyond(std::size_t rows, std::size_t max_rows, std::size_t line,
                      const std::string& what, const std::string& field);

/// The errors of an upload: all counted, the first ten kept for the answer.
class UploadErrors {
 public:
  void Add(const std::string& message);
  bool empty() const { return count_ == 0; }
  /// When there were errors, throws InputError "<N> <what>: <first ten, '; '-separated> (and M
  /// more)" naming `field` (none when empty).
  void ThrowIfAny(const std::string& what, const std::string& field = {}) const;

 private:
  static constexpr std::size_t kMaxReported = 10;
  std::string reported_;
  std::size_t count_ = 0;
};

}  // namespace crm::slice
