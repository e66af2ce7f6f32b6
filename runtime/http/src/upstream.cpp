#include "crm/http/upstream.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crm/error.hpp"
#include "crm/http/deadline.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/http/response.hpp"
#include "crm/http/response_head.hpp"
#include "crm/http/stream_head.hpp"

namespace crm::http {
namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// For Pass's reads and writes: awaited as they are, with no coroutine frame of their own
// (use_awaitable wraps each operation in one, an allocation per read or write).
constexpr auto kDeferredTuple = asio::as_tuple(asio::deferred);
constexpr std::uint64_t kMaxUpstreamBody = 64ull << 20;
constexpr std::chrono::seconds kMaxIdle{20};
constexpr std::size_t kLiveChunk = 256;
constexpr std::size_t kDownloadChunk = 8192;

bool Idempotent(bhttp::verb method) {
  return method == bhttp::verb::get || method == bhttp::verb::head || method == bhttp::verb::put ||
         method == bhttp::verb::delete_ || method == bhttp::verb::options;
}

Unavailable Unreachable() {
  return Unavailable(
      "your workspace is not reachable right now (it may be restarting); retry in a moment",
      std::chrono::seconds(1));
}

ServiceError FailedWhileAnswering() {
  return ServiceError(Status::bad_gateway,
                      "your workspace stopped while answering; the request may not have completed, "
                      "check before retrying");
}

bool ClosedBeforeAnswer(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

constexpr std::size_t kPassHead = 512;
constexpr std::size_t kPassRead = 16 * 1024;

// Reads an upstream's response for Upstream::Pass: the client's head is written as the
// upstream's fields are parsed (the status line, then the first of each kept field), with no
// header container in between; the body is handed on as views into the read buffer, or
// collected when its length is not known in advance.
class PassParser : public bhttp::basic_parser<false> {
 public:
  PassParser(std::span<const bhttp::field> keep, unsigned version, std::string& head)
      : keep_(keep), version_(version), head_(head) {}

  unsigned status() const { return status_; }
  /// From now on the body is appended to `sink`.
  void CollectInto(std::string& sink) { sink_ = &sink; }
  /// The body bytes the last put() consumed (not collected): they point into its input.
  std::string_view TakeBody() { return std::exchange(body_, {}); }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}

  void on_response_impl(int code, beast::string_view, int, beast::error_code& ec) override {
    if (code < 100 || code > 999) {
      ec = bhttp::error::bad_status;
      return;
    }
    status_ = static_cast<unsigned>(code);
    char digits[4];
    std::to_chars(digits, digits + sizeof digits, code);
    head_.append(version_ >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ")
        .append(digits, 3)
        .append(" ")
        .append(std::string_view(bhttp::obsolete_reason(bhttp::int_to_status(status_))))
        .append("\r\n");
  }

  void on_field_impl(bhttp::field name, beast::string_view, beast::string_view value,
                     beast::error_code&) override {
    for (std::size_t i = 0; i < keep_.size() && i < 32; ++i) {
      if (keep_[i] == name && (seen_ & (1u << i)) == 0) {
        seen_ |= 1u << i;
        head_.append(std::string_view(bhttp::to_string(name)))
            .append(": ")
            .append(std::string_view(value))
            .append("\r\n");
      }
    }
  }

  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}

  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    if (sink_ != nullptr) {
      sink_->append(body.data(), body.size());
      return body.size();
    }
    if (!body_.empty()) {
      return 0;  // one piece per put(): the caller writes it before it reads on
    }
    body_ = std::string_view(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& ec) override {
    if (sink_ == nullptr) {
      ec = bhttp::error::bad_chunk;  // chunked bodies are collected (Pass sets the sink)
      return 0;
    }
    sink_->append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(beast::error_code&) override {}

  std::span<const bhttp::field> keep_;
  unsigned version_;
  std::string& head_;
  std::string* sink_ = nullptr;
  std::string_view body_;
  unsigned status_ = 0;
  std::uint32_t seen_ = 0;
};

// What one Upstream::Pass keeps across its waits, off its coroutine's frame, and reused from one
// request to the next on the same thread: Asio's per-thread cache recycles no frame over 1020
// bytes (each would be a memalign and a free per request), and a 16 KiB read buffer is too large
// for glibc's per-thread cache (docs/benchmarks.md, "Gateway proxy"). A thread keeps at most
// kKeptScratch of them, none grown past its first size (a long answer's is freed).
struct PassScratch {
  std::string head;  ///< the client's
  beast::flat_buffer buffer;
  std::string collected;             ///< a body of unknown length
  std::optional<PassParser> parser;  ///< the rarer answers' (PassParsed)
  ResponseHead scanned;
  std::array<asio::const_buffer, 2> parts;
};
constexpr std::size_t kKeptScratch = 32;

class ScratchLease {
 public:
  ScratchLease() {
    auto& kept = Kept();
    if (kept.empty()) {
      scratch_ = std::make_unique<PassScratch>();
      scratch_->head.reserve(kPassHead);
      // Room for a whole ordinary answer: Beast reads max(512, free capacity) at a time, so an
      // empty buffer would take a 1.5 kB answer in four reads, each one more wake-up and write to
      // the client.
      scratch_->buffer.reserve(kPassRead);
    } else {
      scratch_ = std::move(kept.back());
      kept.pop_back();
    }
  }
  ~ScratchLease() {
    auto& kept = Kept();
    PassScratch& s = *scratch_;
    s.parser.reset();
    if (kept.size() < kKeptScratch && s.buffer.capacity() <= kPassRead &&
        s.head.capacity() <= kPassHead && s.collected.capacity() == 0) {
      s.head.clear();
      s.buffer.clear();
      kept.push_back(std::move(scratch_));
    }
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  PassScratch* operator->() { return scratch_.get(); }
  PassScratch* get() { return scratch_.get(); }

 private:
  static std::vector<std::unique_ptr<PassScratch>>& Kept() {
    thread_local std::vector<std::unique_ptr<PassScratch>> kept;
    return kept;
  }
  std::unique_ptr<PassScratch> scratch_;
};

// The end of the client's head, once the upstream's head is parsed (and a body of unknown length
// collected): what `extra` adds, the length and what the client's keep-alive needs.
void EndClientHead(std::string& out, std::string_view extra, unsigned status,
                   std::optional<std::uint64_t> given, std::optional<std::size_t> collected,
                   bool head_only, unsigned version, bool keep_alive) {
  out.append(extra);
  // 1xx, 204 and 304 carry no length (RFC 9110, 8.6); a HEAD's answer the length of what a GET
  // would get, when the slice gave it; anything else the length of the body that follows.
  std::optional<std::uint64_t> length;
  if (status >= 200 && status != 204 && status != 304) {
    if (collected) {
      length = *collected;
    } else if (given) {
      length = *given;
    } else if (!head_only) {
      length = 0;
    }
  }
  if (length) {
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, *length).ptr;
    out.append("Content-Length: ").append(digits, end).append("\r\n");
  }
  if (version >= 11 && !keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version < 11 && keep_alive) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

std::string_view Unread(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// Writes `scratch.parts` to the client of `exchange`: a client that does not take its answer
// holds the connection (and, before the last piece, the slice's) for the server's write timeout
// at most. The connection's own deadline, on the socket itself: no timer armed.
auto WriteDown(Exchange& exchange, PassScratch& scratch) {
  exchange.client_deadline().Set(exchange.write_timeout());
  return asio::async_write(exchange.stream().socket(), scratch.parts, kDeferredTuple);
}

struct Parsed {
  boost::system::error_code failed;  ///< before any byte reached the client: throw as ThrowFailed
  bool reusable = false;             ///< the upstream's connection may be kept
};

// The rarer answers of Upstream::Pass (a chunked body, a body that ends with the connection):
// read by Beast's parser from the head on (whole in the buffer: the scan found its end). A body
// of unknown length is read whole first, for its Content-Length. Calls exchange.Answered once
// anything reached the client.
asio::awaitable<Parsed> PassParsed(Exchange& exchange, Protocol::socket& socket,
                                   PassScratch& scratch, std::span<const bhttp::field> keep,
                                   std::string_view extra, bool head_only) {
  const Request& request = exchange.request();
  std::string& out = scratch.head;
  beast::flat_buffer& buffer = scratch.buffer;
  out.clear();
  PassParser& parser = scratch.parser.emplace(keep, request.version(), out);
  parser.body_limit(kMaxUpstreamBody);
  parser.skip(head_only);
  beast::error_code hec;
  buffer.consume(parser.put(buffer.data(), hec));
  if (hec || !parser.is_header_done()) {
    co_return Parsed{hec ? hec : bhttp::error::bad_value};
  }
  // (No body: 204, 304, a length of 0, the answer to a HEAD.)
  const bool collect = !parser.is_done() && !parser.content_length();
  if (collect) {
    parser.CollectInto(scratch.collected);
    while (!parser.is_done()) {
      auto [bec, bn] = co_await bhttp::async_read_some(socket, buffer, parser, kUseTuple);
      if (bec) {
        co_return Parsed{bec};
      }
    }
  }
  const bool keep_alive = exchange.keep_alive();
  const unsigned status = parser.status();
  std::optional<std::uint64_t> given;
  if (auto length = parser.content_length()) {
    given = *length;
  }
  EndClientHead(out, extra, status, given,
                collect ? std::optional<std::size_t>(scratch.collected.size()) : std::nullopt,
                head_only, request.version(), keep_alive);
  bool head_sent = false;
  for (;;) {
    std::string_view piece = scratch.collected;
    std::size_t used = 0;
    if (!collect && buffer.size() > 0 && !parser.is_done()) {
      beast::error_code pec;
      used = parser.put(buffer.data(), pec);
      if (pec && !head_sent) {
        co_return Parsed{pec};
      }
      if (pec) {
        exchange.Answered(status, false);  // cut short: the client sees less than its length
        co_return Parsed{};
      }
      piece = parser.TakeBody();
    }
    if (!head_sent || !piece.empty()) {
      scratch.parts = {asio::buffer(out.data(), head_sent ? 0 : out.size()),
                       asio::buffer(piece.data(), piece.size())};
      auto [dec, dn] = co_await WriteDown(exchange, scratch);
      exchange.client_deadline().Clear();
      head_sent = true;
      if (dec) {
        exchange.Answered(status, false);
        co_return Parsed{};
      }
    }
    buffer.consume(used);
    if (parser.is_done()) {
      break;
    }
    auto [bec, bn] = co_await socket.async_read_some(buffer.prepare(kPassRead), kDeferredTuple);
    if (bec) {
      exchange.Answered(status, false);
      co_return Parsed{};
    }
    buffer.commit(bn);
  }
  exchange.Answered(status, keep_alive);
  co_return Parsed{{}, parser.keep_alive() && buffer.size() == 0};
}

}  // namespace

asio::awaitable<std::unique_ptr<Stream>> Upstream::Connect() {
  auto stream = std::make_unique<Stream>(co_await asio::this_coro::executor);
  stream->expires_after(std::min(timeout_, std::chrono::milliseconds(2000)));
  auto [ec] = co_await stream->async_connect(endpoint_.Generic(), kUseTuple);
  if (ec) {
    throw Unreachable();
  }
  co_return stream;
}

Upstream::~Upstream() {
  for (auto& slot : contexts_) {
    delete slot.load(std::memory_order_acquire);
  }
}

Upstream::ContextIdle* Upstream::IdleOf(const asio::execution_context* context) {
  for (auto& slot : contexts_) {
    ContextIdle* idle = slot.load(std::memory_order_acquire);
    if (idle == nullptr) {
      auto made = std::make_unique<ContextIdle>(context);
      if (slot.compare_exchange_strong(idle, made.get(), std::memory_order_acq_rel)) {
        return made.release();
      }
      // Another context took this slot first: `idle` is now its entry.
    }
    if (idle->context == context) {
      return idle;
    }
  }
  return nullptr;
}

std::unique_ptr<Stream> Upstream::TakeIdle(const asio::execution_context* context) {
  ContextIdle* mine = IdleOf(context);
  if (mine == nullptr) {
    return nullptr;
  }
  std::lock_guard lock(mine->mutex);
  // The oldest are in front: drop the stale ones, then take the newest.
  auto now = std::chrono::steady_clock::now();
  while (!mine->idle.empty() && now - mine->idle.front().since >= kMaxIdle) {
    mine->idle.pop_front();
  }
  if (mine->idle.empty()) {
    return nullptr;
  }
  std::unique_ptr<Stream> stream = std::move(mine->idle.back().stream);
  mine->idle.pop_back();
  return stream;
}

void Upstream::KeepIdle(std::unique_ptr<Stream> stream, const asio::execution_context* context) {
  stream->expires_never();
  ContextIdle* mine = IdleOf(context);
  if (mine == nullptr) {
    return;
  }
  std::lock_guard lock(mine->mutex);
  if (mine->idle.size() < max_idle_) {
    mine->idle.push_back({std::move(stream), std::chrono::steady_clock::now()});
  }
}

bool Upstream::ResendOrThrow(bool reused, int attempt, std::size_t read,
                             const boost::system::error_code& wrote,
                             const boost::system::error_code& received, bhttp::verb method) const {
  // A kept-alive connection the upstream closed meanwhile (it restarted): nothing came back on
  // the first attempt. Resending is safe when the request never left, or when repeating it
  // changes nothing.
  if (reused && attempt == 0 && read == 0 &&
      (wrote || (Idempotent(method) && ClosedBeforeAnswer(received)))) {
    return true;
  }
  ThrowFailed(received, read);
}

void Upstream::ThrowFailed(const boost::system::error_code& ec, std::size_t received) const {
  if (ec == beast::error::timeout) {
    throw ServiceError(Status::gateway_timeout, "your workspace did not answer within " +
                                                    std::to_string(timeout_.count() / 1000) + " s");
  }
  if (received == 0 && (ec == asio::error::connection_refused || ec == asio::error::not_found)) {
    throw Unreachable();
  }
  throw FailedWhileAnswering();
}

asio::awaitable<Response> Upstream::Send(Request& request) {
  request.keep_alive(true);
  request.prepare_payload();
  const asio::execution_context* context =
      &asio::query(co_await asio::this_coro::executor, asio::execution::context);
  for (int attempt = 0;; ++attempt) {
    // A kept connection (the usual case) is taken without a coroutine frame of its own.
    std::unique_ptr<Stream> stream = TakeIdle(context);
    const bool reused = stream != nullptr;
    if (!reused) {
      stream = co_await Connect();
    }
    stream->expires_after(timeout_);
    auto [wec, wn] = co_await bhttp::async_write(*stream, request, kUseTuple);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxUpstreamBody);
    boost::system::error_code rec = wec;
    std::size_t rn = 0;
    if (!wec) {
      std::tie(rec, rn) = co_await bhttp::async_read(*stream, buffer, parser, kUseTuple);
    }
    if (rec && ResendOrThrow(reused, attempt, rn, wec, rec, request.method())) {
      continue;
    }
    Response response = parser.release();
    if (response.keep_alive() && buffer.size() == 0) {
      KeepIdle(std::move(stream), context);
    }
    co_return response;
  }
}

asio::awaitable<void> Upstream::Pass(Exchange& exchange, std::string_view head,
                                     std::string_view body, std::span<const bhttp::field> keep,
                                     std::string_view extra) {
  const Request& request = exchange.request();
  const asio::execution_context* context =
      &asio::query(co_await asio::this_coro::executor, asio::execution::context);
  ScratchLease scratch;
  std::string& out = scratch->head;
  beast::flat_buffer& buffer = scratch->buffer;
  const ResponseHead& answer = scratch->scanned;
  // The answer to a HEAD has a length but no body.
  const bool head_only = request.method() == bhttp::verb::head;
  for (int attempt = 0;; ++attempt) {
    // A kept connection (the usual case) is taken without a coroutine frame of its own.
    std::unique_ptr<Stream> stream = TakeIdle(context);
    const bool reused = stream != nullptr;
    if (!reused) {
      stream = co_await Connect();
      stream->expires_never();
    }
    // One deadline for the whole exchange, on the socket itself: no timer armed and cancelled
    // around each read and write, as basic_stream would.
    Protocol::socket& socket = stream->socket();
    Deadline deadline(exchange.deadlines(), &socket);
    deadline.Set(timeout_);
    scratch->parts = {asio::buffer(head.data(), head.size()),
                      asio::buffer(body.data(), body.size())};
    auto [wec, wn] = co_await asio::async_write(socket, scratch->parts, kDeferredTuple);
    wec = deadline.Reported(wec);
    buffer.clear();
    boost::system::error_code rec = wec;
    std::size_t rn = 0;
    // The head read and scanned in the buffer as it arrives (ScanResponseHead: no parser, no
    // header container); the client's head is written as it goes.
    for (HeadScan scan = HeadScan::kNeedMore; !rec && scan == HeadScan::kNeedMore;) {
      std::size_t got = 0;
      std::tie(rec, got) =
          co_await socket.async_read_some(buffer.prepare(kPassRead), kDeferredTuple);
      rec = deadline.Reported(rec);
      if (rec == asio::error::eof) {
        rec = rn > 0 ? bhttp::error::partial_message : bhttp::error::end_of_stream;
      }
      if (!rec) {
        buffer.commit(got);
        rn += got;
        out.clear();
        scan = ScanResponseHead(Unread(buffer), keep, request.version(), scratch->scanned, out);
        if (scan == HeadScan::kBad) {
          rec = bhttp::error::bad_value;
        }
      }
    }
    if (rec && ResendOrThrow(reused, attempt, rn, wec, rec, request.method())) {
      continue;
    }
    const unsigned status = answer.status;
    const bool no_body = head_only || status < 200 || status == 204 || status == 304;
    if (answer.transfer_encoding || (!no_body && !answer.content_length)) {
      // Chunked, or ended by the connection's end: rare from a slice.
      Parsed parsed = co_await PassParsed(exchange, socket, *scratch.get(), keep, extra, head_only);
      if (parsed.failed) {
        ThrowFailed(deadline.Reported(parsed.failed), 1);
      }
      deadline.Clear();
      if (parsed.reusable) {
        KeepIdle(std::move(stream), context);
      }
      co_return;
    }
    if (answer.content_length && *answer.content_length > kMaxUpstreamBody) {
      ThrowFailed(bhttp::error::body_limit, 1);
    }
    const bool keep_alive = exchange.keep_alive();
    EndClientHead(out, extra, status, answer.content_length, std::nullopt, head_only,
                  request.version(), keep_alive);
    buffer.consume(answer.size);
    // The body, as many bytes as the upstream's Content-Length, handed on from the read buffer
    // as they arrive.
    std::uint64_t left = no_body ? 0 : *answer.content_length;
    bool head_sent = false;
    for (;;) {
      const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), left));
      if (!head_sent || piece > 0) {
        scratch->parts = {asio::buffer(out.data(), head_sent ? 0 : out.size()),
                          asio::buffer(buffer.data().data(), piece)};
        auto [dec, dn] = co_await WriteDown(exchange, *scratch.get());
        exchange.client_deadline().Clear();
        head_sent = true;
        if (dec) {
          exchange.Answered(status, false);  // the client's connection ends
          co_return;
        }
      }
      buffer.consume(piece);
      left -= piece;
      if (left == 0) {
        break;
      }
      auto [bec, bn] = co_await socket.async_read_some(buffer.prepare(kPassRead), kDeferredTuple);
      if (bec) {
        exchange.Answered(status, false);  // cut short: the client sees less than its length
        co_return;
      }
      buffer.commit(bn);
    }
    deadline.Clear();
    if (answer.keep_alive && buffer.size() == 0) {
      KeepIdle(std::move(stream), context);
    }
    exchange.Answered(status, keep_alive);
    co_return;
  }
}

// A relayed response once its head is through: what the relay loop needs, and nothing else.
struct Upstream::Opened {
  std::shared_ptr<Stream> upstream;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  beast::error_code down_error;  ///< writing the head to the client failed
};

// Its own coroutine, so the request, the head and the setup's temporaries are freed before the
// relay loop waits: a live stream may be held for hours (docs/benchmarks.md, "Gateway": the cost
// of an open stream).
asio::awaitable<std::unique_ptr<Upstream::Opened>> Upstream::Open(
    Request request, Stream& down, std::chrono::milliseconds write_timeout) {
  auto opened = std::make_unique<Opened>();
  opened->upstream = co_await Connect();
  Stream& upstream = *opened->upstream;
  request.keep_alive(false);
  request.prepare_payload();
  upstream.expires_after(timeout_);
  auto [wec, wn] = co_await bhttp::async_write(upstream, request, kUseTuple);
  if (wec) {
    throw FailedWhileAnswering();
  }
  auto& parser = opened->parser;
  parser.body_limit(boost::none);
  auto [hec, hn] = co_await bhttp::async_read_header(upstream, opened->buffer, parser, kUseTuple);
  if (hec) {
    throw FailedWhileAnswering();
  }
  upstream.expires_never();
  StreamHead head{parser.get().result(), 11};
  for (const auto& field : parser.get()) {
    auto name = field.name();
    if (name == bhttp::field::connection || name == bhttp::field::content_length ||
        name == bhttp::field::transfer_encoding || name == bhttp::field::keep_alive) {
      continue;
    }
    head.set(field.name_string(), field.value());
  }
  parser.get().clear();  // the head is copied; its fields are not needed again
  opened->down_error = co_await WriteStreamHead(down, head, write_timeout);
  co_return opened;
}

Reply Upstream::Relay(Request request, Exchange& exchange, StreamEnd end) {
  const std::shared_ptr<Upstream> self = shared_from_this();
  Stream& down = exchange.stream();
  std::unique_ptr<Opened> opened = co_await Open(std::move(request), down, exchange.write_timeout());
  beast::flat_buffer& buffer = opened->buffer;
  auto& parser = opened->parser;
  beast::error_code dec = opened->down_error;
  const bool live = end == StreamEnd::kLive;
  // A live stream needs no timers: its bare socket is kept, and the stream's state (two timers
  // and their bookkeeping) is freed.
  std::shared_ptr<Protocol::socket> socket;
  if (live) {
    socket = std::make_shared<Protocol::socket>(opened->upstream->release_socket());
    opened->upstream.reset();
    if (buffer.size() == 0) {
      buffer.shrink_to_fit();  // the head's read buffer; the loop reads kLiveChunk at a time
    }
    Protocol::socket* raw = socket.get();
    exchange.OnStop([raw] {
      boost::system::error_code ec;
      raw->close(ec);
    });
    // The client sends nothing after its request: its socket turning readable means it went
    // away. Closing the upstream then frees the slice's stream at once, not at its next ping.
    std::weak_ptr<Protocol::socket> weak = socket;
    down.socket().async_wait(asio::socket_base::wait_read, [weak](beast::error_code wait_ec) {
      if (auto up = weak.lock(); up && !wait_ec) {
        up->close(wait_ec);
      }
    });
  }
  std::size_t n = 0;
  if (live) {
    // Bytes read straight from the socket into a small buffer and handed to the parser: a stream
    // waiting for its next event holds one bare read, not beast's composed one.
    parser.eager(true);
    char chunk[kLiveChunk];
    while (!dec && !parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      beast::error_code pec = bhttp::error::need_more;
      if (buffer.size() > 0) {
        pec = {};
        buffer.consume(parser.put(buffer.data(), pec));
      }
      std::size_t got = sizeof chunk - parser.get().body().size;
      if (got > 0) {
        down.expires_after(exchange.write_timeout());
        std::tie(dec, n) = co_await asio::async_write(
            down, bhttp::make_chunk(asio::buffer(chunk, got)), kUseTuple);
      }
      if (pec == bhttp::error::need_more) {
        auto [rec, rn] = co_await socket->async_read_some(buffer.prepare(kLiveChunk), kUseTuple);
        if (rec) {
          break;  // the slice ended the stream, or the client went and the relay closed it
        }
        buffer.commit(rn);
      } else if (pec && pec != bhttp::error::need_buffer) {
        break;  // not HTTP: end the stream; the browser reconnects
      }
    }
    exchange.OnStop(nullptr);
    beast::error_code cancel_ec;
    down.socket().cancel(cancel_ec);
  } else {
    Stream& upstream = *opened->upstream;
    auto chunk = std::make_unique_for_overwrite<char[]>(kDownloadChunk);
    while (!dec && !parser.is_done()) {
      parser.get().body().data = chunk.get();
      parser.get().body().size = kDownloadChunk;
      upstream.expires_after(timeout_);  // a download whose upstream went quiet has failed
      auto [rec, rn] = co_await bhttp::async_read_some(upstream, buffer, parser, kUseTuple);
      if (rec && rec != bhttp::error::need_buffer) {
        break;
      }
      std::size_t got = kDownloadChunk - parser.get().body().size;
      if (got > 0) {
        down.expires_after(exchange.write_timeout());
        std::tie(dec, n) = co_await asio::async_write(
            down, bhttp::make_chunk(asio::buffer(chunk.get(), got)), kUseTuple);
      }
    }
  }
  // Without the last chunk the client's connection closes mid-body (the server closes it when
  // the handler returns): a download cut short shows as an incomplete transfer.
  if (!dec && (live || parser.is_done())) {
    down.expires_after(std::chrono::seconds(1));
    co_await asio::async_write(down, bhttp::make_chunk_last(), kUseTuple);
  }
  co_return std::nullopt;
}

}  // namespace crm::http
