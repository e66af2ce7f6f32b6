#include "crm/http/deadline.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <optional>

namespace crm::http {
namespace {

using std::chrono::milliseconds;

// Two connected Unix sockets on `io`, as the server's generic stream sockets.
struct Pair {
  explicit Pair(asio::io_context& io) : a(io), b(io) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a.assign(Protocol(AF_UNIX, 0), fds[0]);
    b.assign(Protocol(AF_UNIX, 0), fds[1]);
  }
  Protocol::socket a;
  Protocol::socket b;
};

struct Read {
  std::optional<boost::system::error_code> ec;
  char byte = 0;
};

void ReadOne(Protocol::socket& socket, Read& read, const Deadline& deadline) {
  socket.async_read_some(asio::buffer(&read.byte, 1),
                         [&read, &deadline](boost::system::error_code ec, std::size_t) {
                           read.ec = deadline.Reported(ec);
                         });
}

TEST(DeadlineTest, APassedDeadlineClosesItsSocketAndItsReadReportsATimeout) {
  asio::io_context io;
  Pair pair(io);
  Deadline deadline(Deadlines::Of(io.get_executor()), &pair.a);
  Read read;
  ReadOne(pair.a, read, deadline);
  deadline.Set(milliseconds(50));
  while (!read.ec && io.run_one_for(std::chrono::seconds(10)) > 0) {
  }
  ASSERT_TRUE(read.ec.has_value());
  EXPECT_EQ(*read.ec, boost::beast::error::timeout);
  EXPECT_TRUE(deadline.expired());
  EXPECT_FALSE(pair.a.is_open());
}

TEST(DeadlineTest, ADeadlineMovedLaterOrClearedDoesNotEndTheWaitAtItsFormerTime) {
  asio::io_context io;
  Pair pair(io);
  Deadlines& deadlines = Deadlines::Of(io.get_executor());
  Deadline moved(deadlines, &pair.a);
  Deadline cleared(deadlines, &pair.b);
  Read read_moved;
  Read read_cleared;
  ReadOne(pair.a, read_moved, moved);
  ReadOne(pair.b, read_cleared, cleared);
  moved.Set(milliseconds(20));
  moved.Set(std::chrono::seconds(30));
  cleared.Set(milliseconds(20));
  cleared.Clear();
  // Well past the first times, each side gets a byte: both reads succeed.
  asio::steady_timer later(io, milliseconds(300));
  later.async_wait([&](boost::system::error_code) {
    static const char kByte = 'x';
    asio::write(pair.a, asio::buffer(&kByte, 1));
    asio::write(pair.b, asio::buffer(&kByte, 1));
  });
  while (!(read_moved.ec && read_cleared.ec) && io.run_one_for(std::chrono::seconds(10)) > 0) {
  }
  ASSERT_TRUE(read_moved.ec.has_value());
  ASSERT_TRUE(read_cleared.ec.has_value());
  EXPECT_FALSE(*read_moved.ec) << read_moved.ec->message();
  EXPECT_FALSE(*read_cleared.ec) << read_cleared.ec->message();
  EXPECT_EQ(read_moved.byte, 'x');
  EXPECT_FALSE(moved.expired());
  EXPECT_TRUE(pair.a.is_open());
}

TEST(DeadlineTest, ADeadlineEarlierThanTheOthersEndsItsWaitFirst) {
  asio::io_context io;
  Pair pair(io);
  Deadlines& deadlines = Deadlines::Of(io.get_executor());
  Deadline late(deadlines, &pair.a);
  Deadline early(deadlines, &pair.b);
  Read read_late;
  Read read_early;
  ReadOne(pair.a, read_late, late);
  ReadOne(pair.b, read_early, early);
  late.Set(std::chrono::seconds(30));
  early.Set(milliseconds(50));  // earlier than the timer's wait for `late`: it is re-armed
  while (!read_early.ec && io.run_one_for(std::chrono::seconds(10)) > 0) {
  }
  ASSERT_TRUE(read_early.ec.has_value());
  EXPECT_EQ(*read_early.ec, boost::beast::error::timeout);
  EXPECT_FALSE(read_late.ec.has_value());
  EXPECT_FALSE(late.expired());
  late.Clear();
  pair.a.close();
  while (!read_late.ec && io.run_one_for(std::chrono::seconds(10)) > 0) {
  }
  ASSERT_TRUE(read_late.ec.has_value());
  EXPECT_NE(*read_late.ec, boost::beast::error::timeout);
}

}  // namespace
}  // namespace crm::http
