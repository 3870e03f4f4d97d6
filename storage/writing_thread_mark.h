#pragma once

#include <atomic>
#include <thread>

namespace escrow::storage {

// Marks the thread inside a Store::Write for as long as the mark lives, however the Write
// ends: a store uses it to refuse a Read or Write started from inside its own Write (which
// would deadlock or see uncommitted rows).
class WritingThreadMark {
 public:
  explicit WritingThreadMark(std::atomic<std::thread::id>& mark) : mark_(mark) {
    mark_ = std::this_thread::get_id();
  }
  WritingThreadMark(const WritingThreadMark&) = delete;  // one mark per Write
  WritingThreadMark& operator=(const WritingThreadMark&) = delete;
  WritingThreadMark(WritingThreadMark&&) = delete;
  WritingThreadMark& operator=(WritingThreadMark&&) = delete;
  ~WritingThreadMark() { mark_ = std::thread::id(); }

 private:
  std::atomic<std::thread::id>& mark_;
};

}  // namespace escrow::storage
