// defer_queue.cpp: the uv_idle-driven closure queue.
#include "resolver/defer_queue.hpp"

namespace sluice::resolver {

struct DeferQueue::Handle {
  uv_idle_t idle;
  std::vector<std::function<void()>> items;
  bool alive = true;  // false once the owner is gone: running closures stop
};

namespace {

// Idle callback: runs the closures queued so far; new ones wait for the next turn.
void onIdle(uv_idle_t* idle) {
  auto* h = static_cast<DeferQueue::Handle*>(idle->data);
  std::vector<std::function<void()>> batch;
  batch.swap(h->items);
  for (auto& fn : batch) {
    if (!h->alive) return;  // the owner was destroyed by a closure (not allowed, but stay safe)
    fn();
  }
  if (h->alive && h->items.empty()) uv_idle_stop(&h->idle);
}

}  // namespace

// Allocates and initialises the idle handle (not started until something is posted).
DeferQueue::DeferQueue(uv_loop_t* loop) : h_(new Handle) {
  uv_idle_init(loop, &h_->idle);
  h_->idle.data = h_;
}

// Drops queued closures and closes the handle; the memory goes in the close callback.
DeferQueue::~DeferQueue() {
  h_->alive = false;
  h_->items.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&h_->idle),
           [](uv_handle_t* handle) { delete static_cast<Handle*>(handle->data); });
}

// Appends and makes sure the idle handle runs.
void DeferQueue::post(std::function<void()> fn) {
  h_->items.push_back(std::move(fn));
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&h_->idle))) uv_idle_start(&h_->idle, onIdle);
}

}  // namespace sluice::resolver
