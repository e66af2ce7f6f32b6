#include "crm/planner/batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "crm/csv.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/workload.hpp"
#include "crm/units.hpp"

namespace crm::planner {
namespace {

// The bar is redrawn at most this often, and the clock read only every so many rows, so that a
// fast batch spends nothing measurable on it.
constexpr std::chrono::milliseconds kRedrawInterval{100};
constexpr long long kRowsPerClockCheck = 256;
constexpr int kBarCells = 24;

std::string ExpectedColumns() {
  std::string expected;
  for (std::string_view key : WorkloadKeys()) {
    expected.append(key).append(", ");
  }
  return expected + "name";
}

// Maps each column of the header row to the workload field it sets (resolved once, so that rows
// set fields without comparing key names); rejects what would make every row wrong, naming the
// header's line.
std::vector<WorkloadField> ParseHeader(const std::vector<std::string_view>& fields,
                                       const std::string& file, std::size_t line) {
  std::vector<std::string> names;
  std::vector<WorkloadField> columns;
  names.reserve(fields.size());
  columns.reserve(fields.size());
  for (std::string_view field : fields) {
    const std::string_view name = TrimBlanks(field);
    if (name.empty()) {
      throw InputError(fmt::format("{}:{}: column {} has no name (expected: {})", file, line,
                                   names.size() + 1, ExpectedColumns()));
    }
    const std::optional<WorkloadField> column = FindWorkloadField(name);
    if (!column) {
      throw InputError(fmt::format("{}:{}: unknown column '{}' (expected: {})", file, line, name,
                                   ExpectedColumns()));
    }
    const auto previous = std::find(names.begin(), names.end(), name);
    if (previous != names.end()) {
      throw InputError(fmt::format("{}:{}: duplicate column '{}' (columns {} and {})", file, line,
                                   name, previous - names.begin() + 1, names.size() + 1));
    }
    names.emplace_back(name);
    columns.push_back(*column);
  }
  if (std::find(columns.begin(), columns.end(), WorkloadField::kCustomers) == columns.end()) {
    throw InputError(fmt::format(
        "{}:{}: missing column 'customers' (the number of tenants to size for; columns: {})", file,
        line, fmt::join(names, ", ")));
  }
  return columns;
}

// A one-line progress bar redrawn in place with '\r'. Whoever writes to the same stream calls
// Clear() first so that messages do not land in the middle of the bar.
class ProgressBar {
 public:
  ProgressBar(std::ostream& out, bool enabled, long long total_bytes)
      : out_(out),
        enabled_(enabled),
        total_bytes_(total_bytes),
        last_draw_(std::chrono::steady_clock::now()) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() { Clear(); }

  void Update(std::uint64_t bytes, long long rows) {
    if (!enabled_ || rows % kRowsPerClockCheck != 0) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < kRedrawInterval) {
      return;
    }
    last_draw_ = now;
    Draw(bytes, rows);
  }

  void Clear() {
    if (width_ == 0) {
      return;
    }
    line_.assign(1, '\r');
    line_.append(width_, ' ');
    line_ += '\r';
    out_ << line_ << std::flush;
    width_ = 0;
  }

 private:
  void Draw(std::uint64_t bytes, long long rows) {
    std::string text;
    if (total_bytes_ > 0) {
      const double done =
          std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_bytes_));
      const int cells = static_cast<int>(done * kBarCells);
      text =
          fmt::format("[{:#<{}}{:-<{}}] {:3.0f}%  ", "", cells, "", kBarCells - cells, done * 100);
    }
    text += fmt::format("{} rows  {}", FormatNumber(static_cast<double>(rows)),
                        FormatBytes(static_cast<double>(bytes)));
    line_.assign(1, '\r');
    line_ += text;
    if (text.size() < width_) {
      line_.append(width_ - text.size(), ' ');  // wipe the tail of a longer previous bar
    }
    width_ = std::max(width_, text.size());
    out_ << line_ << std::flush;
  }

  std::ostream& out_;
  bool enabled_;
  long long total_bytes_;
  std::chrono::steady_clock::time_point last_draw_;
  std::size_t width_ = 0;  // characters on screen; 0 = nothing drawn
  std::string line_;
};

// Planning is the costly part of a row (reading it is ~10 times cheaper), so rows are planned in
// chunks on worker threads while this thread reads on; chunks are written in input order, and at
// most a few are in flight, so memory stays flat in the number of rows.
//
// Rows copied out of the reader's buffer (its views die at the next read): the cells of every
// row back to back, with where each row starts.
struct Chunk {
  std::string cells;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> spans;  // (offset, length) per cell
  std::vector<std::size_t> lines;                              // per row
  // Rows already found bad while reading (wrong field count, broken quoting): reported with the
  // chunk so that every message comes out in line order.
  std::vector<std::pair<std::size_t, std::string>> bad;
  void Add(std::size_t line, const std::vector<std::string_view>& fields) {
    lines.push_back(line);
    for (std::string_view f : fields) {
      spans.emplace_back(static_cast<std::uint32_t>(cells.size()),
                         static_cast<std::uint32_t>(f.size()));
      cells.append(f);
    }
  }
  std::size_t rows() const { return lines.size(); }
  // Empties it, keeping the memory for the next chunk.
  void Clear() {
    cells.clear();
    spans.clear();
    lines.clear();
    bad.clear();
  }
};

// A chunk's plans, formatted. CSV rows are written straight into its free room (no copy through
// a scratch row), which is not zero-filled first: a std::string can only be written within its
// size, and resizing it by a row's bound zero-filled a kilobyte per row.
class TextBuffer {
 public:
  // At least `n` writable bytes at the end of the text; Commit() then takes what was written.
  char* Room(std::size_t n) {
    if (capacity_ - size_ < n) {
      Grow(size_ + n);
    }
    return data_.get() + size_;
  }
  void Commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void Append(std::string_view s) {
    std::memcpy(Room(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  // Empties it, keeping the memory for the next chunk.
  void Clear() { size_ = 0; }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  void Grow(std::size_t needed) {
    const std::size_t capacity = std::max(needed, 2 * capacity_);
    std::unique_ptr<char[]> bigger(new char[capacity]);  // default-initialised: not zero-filled
    if (size_ > 0) {
      std::memcpy(bigger.get(), data_.get(), size_);
    }
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

struct ChunkResult {
  TextBuffer text;                                          // the plans, formatted
  std::vector<std::pair<std::size_t, std::string>> errors;  // (line, message) of bad rows
  long long planned = 0;
  Chunk rows;  // handed back so that its buffers serve a later chunk
};

// Plans `chunk` into `text` (emptied first; its memory is reused).
ChunkResult PlanChunk(Chunk chunk, TextBuffer text, const std::vector<WorkloadField>& columns,
                      const Catalog& catalog, const PlanOptions& plan_options, OutputFormat format,
                      const std::string& file, bool strict) {
  ChunkResult result;
  result.errors = chunk.bad;
  result.text = std::move(text);
  result.text.Clear();
  // Room for the whole chunk up front. A CSV row is ~320 bytes and the last one asks for its
  // bound (PlanCsvRowBound, ~1 KB) beyond that: a reservation of exactly 320 a row fell short at
  // the end of most chunks, and the buffer doubled into a fresh one (a copy, and a page fault for
  // each page of it: ~13 µs each on this VM, docs/benchmarks.md). The pages of the reservation
  // that are never written are never touched, so reserving more costs no memory.
  result.text.Room(chunk.rows() * 512 + 4096);
  const Workload defaults;
  Plan plan;
  // The roles that carry no demand are sized once for the chunk's rows (one catalog, one set of
  // options).
  PlanMemo memo;
  // Rows are parsed straight into the plan's workload: MakePlan would copy it there. Only the
  // file's columns are set, each row setting every one of them (an empty cell to its default):
  // the other fields keep their defaults from one row to the next, since planning does not
  // change the workload, so nothing else needs resetting.
  Workload& workload = plan.workload;
  for (std::size_t r = 0; r < chunk.rows(); ++r) {
    const std::size_t line = chunk.lines[r];
    try {
      for (std::size_t i = 0; i < columns.size(); ++i) {
        const auto [offset, length] = chunk.spans[r * columns.size() + i];
        if (length > 0) {
          SetWorkloadField(workload, columns[i],
                           std::string_view(chunk.cells).substr(offset, length));
        } else {
          ResetWorkloadField(workload, columns[i], defaults);
        }
      }
      ValidateWorkload(workload, catalog);
      MakePlan(workload, catalog, plan_options, plan, &memo);
      if (format == OutputFormat::kCsv) {
        result.text.Commit(WritePlanCsvRow(result.text.Room(PlanCsvRowBound(plan)), plan));
      } else {
        // A spreadsheet saved as Latin-1 gives names that are not UTF-8; JSON cannot carry such
        // bytes, and dropping the row over its label would lose a plan, so they become U+FFFD.
        result.text.Append(
            PlanToJson(plan).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        result.text.Append("\n");
      }
      ++result.planned;
    } catch (const InputError& e) {
      result.errors.emplace_back(line, fmt::format("{}:{}: {}", file, line, e.what()));
      if (strict) {
        break;  // nothing after the first bad row is written
      }
    }
  }
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  result.rows = std::move(chunk);
  return result;
}

// A fixed set of planning threads taking tasks in submission order. Threads that live for the
// whole batch keep their per-thread buffers (Plan, layouts, the CSV scratch row) warm; a thread
// per chunk would build them anew every 4,096 rows.
class PlanningThreads {
 public:
  explicit PlanningThreads(unsigned count) {
    threads_.reserve(count);
    try {
      for (unsigned i = 0; i < count; ++i) {
        threads_.emplace_back([this] { Work(); });
      }
    } catch (...) {
      Stop();  // the threads already started must be joined before they are destroyed
      throw;
    }
  }
  PlanningThreads(const PlanningThreads&) = delete;
  PlanningThreads& operator=(const PlanningThreads&) = delete;
  ~PlanningThreads() { Stop(); }

  std::future<ChunkResult> Submit(std::packaged_task<ChunkResult()> task) {
    std::future<ChunkResult> result = task.get_future();
    {
      const std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
    return result;
  }

 private:
  // Waits for the tasks being run; tasks not started are dropped (their futures are abandoned:
  // only an error unwinding the batch leaves any).
  void Stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) {
      t.join();
    }
  }

  void Work() {
    for (;;) {
      std::packaged_task<ChunkResult()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (stopping_) {
          return;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();  // an exception is stored in the task's future
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<ChunkResult()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

BatchResult RunBatch(std::istream& in, const std::string& file, const Catalog& catalog,
                     const BatchOptions& options, std::ostream& out, std::ostream& err) {
  if (options.format != OutputFormat::kCsv && options.format != OutputFormat::kJson) {
    throw InputError("-o/--output: --batch writes csv or json (JSON lines)");
  }
  CsvReader reader(in, file);
  std::vector<std::string_view> fields;
  if (!reader.Next(fields)) {
    throw InputError(fmt::format(
        "{}: empty file (expected a header row such as name,customers,engine, then one row per "
        "prospect)",
        file));
  }
  const std::vector<WorkloadField> columns = ParseHeader(fields, file, reader.line());

  ProgressBar progress(err, options.progress, options.total_bytes);
  // The growth projection is a list per plan; the CSV form has no column for it.
  const bool json = options.format == OutputFormat::kJson;
  PlanOptions plan_options;
  plan_options.projection = json;
  plan_options.reasons = json;
  plan_options.compare_plans = json;
  plan_options.settings = json;
  plan_options.providers = options.providers;
  plan_options.prefer = options.prefer;
  BatchResult result;
  if (options.format == OutputFormat::kCsv) {
    std::string header;
    AppendPlanCsvHeader(header);
    out << header;
  }

  const unsigned jobs =
      options.jobs != 0 ? options.jobs : std::max(1U, std::thread::hardware_concurrency());
  const std::size_t chunk_rows = std::max<std::size_t>(1, options.chunk_rows);
  std::deque<std::future<ChunkResult>> inflight;
  // Two chunks per thread: one being planned, one waiting, so that no thread idles while this
  // one writes. With one job every chunk is planned here as soon as it is full.
  const std::size_t max_inflight = jobs == 1 ? 0 : 2 * static_cast<std::size_t>(jobs);
  std::optional<PlanningThreads> threads;  // none: plan on this thread
  if (jobs > 1) {
    threads.emplace(jobs);
  }
  Chunk chunk;
  // Buffers of finished chunks, reused: a fresh megabyte per chunk costs a page fault per page.
  std::vector<Chunk> spare_chunks;
  std::vector<TextBuffer> spare_texts;
  const auto collect_one = [&]() {
    ChunkResult done = inflight.front().get();
    inflight.pop_front();
    out.write(done.text.data(), static_cast<std::streamsize>(done.text.size()));
    result.planned += done.planned;
    done.rows.Clear();
    spare_chunks.push_back(std::move(done.rows));
    spare_texts.push_back(std::move(done.text));
    for (const auto& [line, message] : done.errors) {
      if (options.strict) {
        throw InputError(message);
      }
      ++result.bad;
      progress.Clear();
      err << message << '\n';
    }
  };
  const auto submit = [&]() {
    if (chunk.rows() == 0 && chunk.bad.empty()) {
      return;
    }
    TextBuffer text;
    if (!spare_texts.empty()) {
      text = std::move(spare_texts.back());
      spare_texts.pop_back();
    }
    std::packaged_task<ChunkResult()> task(
        [&columns, &catalog, &file, &plan_options, format = options.format, strict = options.strict,
         rows = std::move(chunk), text = std::move(text)]() mutable {
          return PlanChunk(std::move(rows), std::move(text), columns, catalog, plan_options, format,
                           file, strict);
        });
    if (threads) {
      inflight.push_back(threads->Submit(std::move(task)));
    } else {
      inflight.push_back(task.get_future());
      task();
    }
    chunk = Chunk{};
    if (!spare_chunks.empty()) {
      chunk = std::move(spare_chunks.back());
      spare_chunks.pop_back();
    }
    while (inflight.size() > max_inflight) {
      collect_one();
    }
  };
  const auto drain = [&]() {
    submit();
    while (!inflight.empty()) {
      collect_one();
    }
  };
  const auto report_bad = [&](const std::string& message) {
    if (options.strict) {
      drain();  // every plan before the bad row is written first
      throw InputError(message);
    }
    chunk.bad.emplace_back(reader.line(), message);
  };

  for (;;) {
    try {
      if (!reader.Next(fields)) {
        break;
      }
    } catch (const InputError& e) {
      // The reader has skipped the malformed text; the rows after it are still good.
      ++result.rows;
      report_bad(e.what());
      continue;
    }
    ++result.rows;
    progress.Update(reader.offset(), result.rows);
    if (fields.size() != columns.size()) {
      report_bad(fmt::format("{}:{}: expected {} fields, got {}", file, reader.line(),
                             columns.size(), fields.size()));
      continue;
    }
    chunk.Add(reader.line(), fields);
    if (chunk.rows() >= chunk_rows) {
      submit();
    }
  }
  drain();
  progress.Clear();
  return result;
}

}  // namespace crm::planner
