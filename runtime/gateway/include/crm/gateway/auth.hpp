// Credentials: argon2id password hashes (libsodium), 256-bit session tokens stored only as their
// SHA-256, and the rules for e-mail addresses and passwords.
#pragma once

#include <string>

namespace crm::gateway {

/// argon2id with OWASP's parameters (t=2, m=19 MiB, p=1). Throws RuntimeError when out of memory.
std::string HashPassword(const std::string& password);
/// Constant-time check of `password` against a stored hash.
bool VerifyPassword(const std::string& password, const std::string& hash);

/// A fresh token: 32 random bytes, base64url without padding (43 characters).
std::string NewToken();
/// SHA-256 of the token, hex: what the database stores.
std::string TokenHash(const std::string& token);

/// Lower-cases and checks an e-mail address; InputError naming "email" otherwise.
std::string NormalizeEmail(const std::string& email);
/// 10 to 256 bytes; InputError naming `field` otherwise.
void CheckPassword(const std::string& password, const std::string& field = "password");

}  // namespace crm::gateway
