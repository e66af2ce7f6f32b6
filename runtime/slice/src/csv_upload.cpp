#include "csv_upload.hpp"

#include <algorithm>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::slice {
namespace {

// ';' when the first line with content uses it and no ',' (spreadsheets in many locales).
char SeparatorOf(std::string_view csv) {
  std::size_t pos = 0;
  while (pos < csv.size()) {
    std::size_t end = csv.find('\n', pos);
    std::string_view line = csv.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? csv.size() : end + 1;
    if (line.find_first_not_of(" \t\r,;") == std::string_view::npos) {
      continue;
    }
    return line.find(';') != std::string_view::npos && line.find(',') == std::string_view::npos
               ? ';'
               : ',';
  }
  return ',';
}

bool Blank(const std::vector<std::string_view>& fields) {
  return std::all_of(fields.begin(), fields.end(),
                     [](std::string_view f) { return TrimBlanks(f).empty(); });
}

}  // namespace

std::string HeaderName(std::string_view cell) {
  std::string s(TrimBlanks(cell));
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool IsPhoneHeader(std::string_view cell) {
  std::string name = HeaderName(cell);
  return name == "phone" || name == "number" || name == "mobile" || name == "whatsapp" ||
         name == "wa_id" || name == "phone_number";
}

CsvUpload::CsvUpload(std::string_view body, const std::string& name)
    : bytes_(body),
      in_(&bytes_),
      reader_(in_, name, CsvReader::kDefaultChunkSize, SeparatorOf(body)) {}

bool CsvUpload::Next(std::vector<std::string_view>& fields) {
  while (reader_.Next(fields)) {
    if (!Blank(fields)) {
      return true;
    }
  }
  return false;
}

void RefuseRowsBeyond(std::size_t rows, std::size_t max_rows, std::size_t line,
                      const std::string& what, const std::string& field) {
  if (rows > max_rows) {
    throw http::TooLarge("line " + std::to_string(line) + ": more than " +
                             std::to_string(max_rows) + " " + what +
                             " in one upload (the limit, upload_max_rows); split the file",
                         field);
  }
}

void UploadErrors::Add(const std::string& message) {
  if (++count_ <= kMaxReported) {
    reported_ += (reported_.empty() ? "" : "; ") + message;
  }
}

void UploadErrors::ThrowIfAny(const std::string& what, const std::string& field) const {
  if (count_ == 0) {
    return;
  }
  std::string more =
      count_ > kMaxReported ? " (and " + std::to_string(count_ - kMaxReported) + " more)" : "";
  throw InputError(std::to_string(count_) + " " + what + ": " + reported_ + more, field);
}

}  // namespace crm::slice
