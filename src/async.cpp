// SPDX-License-Identifier: MIT
// The pool of the async bulk calls (include/pgrestify/detail/async.hpp).
#include <pgrestify/detail/async.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace pgrestify::detail {

namespace {

class AsyncPool {
 public:
  void submit(std::unique_ptr<AsyncTask> task) {
    std::lock_guard lk(m_);
    queue_.push_back(std::move(task));
    // A thread more while there are fewer than kAsyncThreads and none is idle.
    if (idle_ == 0 && threads_ < kAsyncThreads) {
      std::thread([this] { work(); }).detach();
      ++threads_;
    } else {
      cv_.notify_one();
    }
  }

 private:
  void work() {
    std::unique_lock lk(m_);
    for (;;) {
      ++idle_;
      cv_.wait(lk, [&] { return !queue_.empty(); });
      --idle_;
      auto task = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      task->run();
      task.reset();  // the call's input and options go before the next call starts
      lk.lock();
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<AsyncTask>> queue_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
};

// Never destroyed: its detached threads may outlive static destruction at exit.
AsyncPool& pool() {
  static AsyncPool* p = new AsyncPool();
  return *p;
}

}  // namespace

void submitAsync(std::unique_ptr<AsyncTask> task) { pool().submit(std::move(task)); }

}  // namespace pgrestify::detail
