// SPDX-License-Identifier: MIT
// The threads of the async bulk calls (QueryBuilder::bulkInsertAsync & co., src/async.cpp): one
// pool of kAsyncThreads threads for the whole process, started at the first async call; calls
// beyond that wait in a first-in first-out queue. Each call runs the blocking bulk call on a pool
// thread (which drives its `concurrency` requests on one transport session, as a blocking call does).
#pragma once

#include <pgrestify/result.hpp>

#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <utility>

namespace pgrestify {

/// Threads that run async bulk calls, for every Client of the process together.
inline constexpr std::size_t kAsyncThreads = 4;

namespace detail {

/// A queued call (move-only: it owns its input).
struct AsyncTask {
  virtual ~AsyncTask() = default;
  virtual void run() noexcept = 0;
};

/// Queues @p task on the async pool.
void submitAsync(std::unique_ptr<AsyncTask> task);

/// Runs @p work (returning R) on the pool; its result or exception goes to the future.
template <class R, class F>
std::future<R> runAsync(F work) {
  struct Task final : AsyncTask {
    explicit Task(F f) : work(std::move(f)) {}
    F work;
    std::promise<R> promise;
    void run() noexcept override {
      try {
        promise.set_value(work());
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    }
  };
  auto task = std::make_unique<Task>(std::move(work));
  auto future = task->promise.get_future();
  submitAsync(std::move(task));
  return future;
}

/// Runs @p work on the pool and hands its result (or exception, with a default R) to @p done,
/// on the pool thread. An exception from @p done is swallowed.
template <class R, class F>
void runAsync(F work, std::function<void(R, std::exception_ptr)> done) {
  struct Task final : AsyncTask {
    Task(F f, std::function<void(R, std::exception_ptr)> d) : work(std::move(f)), done(std::move(d)) {}
    F work;
    std::function<void(R, std::exception_ptr)> done;
    void run() noexcept override {
      std::exception_ptr error;
      R result{};
      try {
        result = work();
      } catch (...) {
        error = std::current_exception();
      }
      try {
        if (done) done(std::move(result), error);
      } catch (...) {
      }
    }
  };
  submitAsync(std::make_unique<Task>(std::move(work), std::move(done)));
}

}  // namespace detail
}  // namespace pgrestify
