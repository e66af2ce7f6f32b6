#include "crm/gateway/auth.hpp"

#include <sodium.h>

#include <vector>

#include "crm/error.hpp"

namespace crm::gateway {
namespace {
constexpr unsigned long long kOpsLimit = 2;
constexpr std::size_t kMemLimit = 19u << 20;
}  // namespace

std::string HashPassword(const std::string& password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw RuntimeError("password hashing ran out of memory");
  }
  return out;
}

bool VerifyPassword(const std::string& password, const std::string& hash) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string NewToken() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

std::string TokenHash(const std::string& token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

std::string NormalizeEmail(const std::string& email) {
  std::string out;
  for (char c : email) {
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  auto at = out.find('@');
  bool ok = out.size() >= 3 && out.size() <= 254 && at != std::string::npos && at > 0 &&
            out.find('@', at + 1) == std::string::npos &&
            out.find('.', at + 2) != std::string::npos && out.back() != '.';
  for (unsigned char c : out) {
    ok = ok && c > 0x20 && c != 0x7f && c != '<' && c != '>' && c != ',' && c != ';';
  }
  if (!ok) {
    throw InputError("email: expected an address such as ana@example.com", "email");
  }
  return out;
}

void CheckPassword(const std::string& password, const std::string& field) {
  if (password.size() < 10 || password.size() > 256) {
    throw InputError(field + ": expected 10 to 256 characters", field);
  }
}

}  // namespace crm::gateway
