// defer_queue.hpp: runs closures on a later turn of a libuv loop (a uv_idle handle), so that no resolver ever
// calls back from inside the call that started a lookup.
//
// Loop thread only. The uv handle lives apart from this object and is freed from its close callback, so the
// queue may be destroyed at any time outside its own callbacks; closures still queued are dropped unrun.
#pragma once

#include <uv.h>

#include <functional>
#include <vector>

namespace sluice::resolver {

class DeferQueue {
 public:
  explicit DeferQueue(uv_loop_t* loop);
  ~DeferQueue();
  DeferQueue(const DeferQueue&) = delete;
  DeferQueue& operator=(const DeferQueue&) = delete;

  // Queues fn to run on a later loop turn, in posting order.
  void post(std::function<void()> fn);

  struct Handle;  // the uv handle and the queue; outlives this object until the handle is closed

 private:
  Handle* h_;
};

}  // namespace sluice::resolver
