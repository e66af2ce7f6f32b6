#include "crm/gateway/password_hasher.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <vector>

#include "crm/error.hpp"

namespace crm::gateway {
namespace {

namespace asio = boost::asio;

TEST(PasswordHasherTest, RefusesWithRetryAfterWhenThreadsAndQueueAreFull) {
  ASSERT_GE(sodium_init(), 0);
  PasswordHasher hasher(1, 1);
  asio::io_context io;
  const std::string password = "correct horse battery";
  std::vector<std::string> hashes;
  int refused = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          try {
            hashes.push_back(co_await hasher.Hash(password));
          } catch (const Unavailable& e) {
            EXPECT_EQ(e.retry_after(), std::chrono::seconds(1));
            ++refused;
          }
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(hashes.size(), 2u) << "one running, one waiting";
  EXPECT_EQ(refused, 1) << "the third is not queued";
  EXPECT_EQ(hasher.in_flight(), 0u) << "every place is given back";
}

TEST(PasswordHasherTest, VerifiesAgainstTheHashOrADummyForAMissingAccount) {
  ASSERT_GE(sodium_init(), 0);
  PasswordHasher hasher(2, 0);
  asio::io_context io;
  const std::string password = "correct horse battery";
  const std::string wrong = "correct horse batterY";
  const std::string none;
  std::vector<bool> answers;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::string hash = co_await hasher.Hash(password);
        answers.push_back(co_await hasher.Verify(password, hash));
        answers.push_back(co_await hasher.Verify(wrong, hash));
        answers.push_back(co_await hasher.Verify(password, none));
      },
      asio::detached);
  io.run();
  EXPECT_EQ(answers, (std::vector<bool>{true, false, false}));
}

}  // namespace
}  // namespace crm::gateway
