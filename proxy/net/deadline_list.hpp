// DeadlineList: connections waiting on one kind of timeout (handshake, connect, idle). Every
// member of one list has the same timeout, so appending at the tail keeps the list sorted by
// deadline: arming, re-arming and expiry are O(1), with no timer per connection.
#pragma once

#include <cstdint>

namespace tlsfront {

// Embedded in the object it times (intrusive: no allocation).
struct DeadlineHook {
    DeadlineHook* prev = nullptr;
    DeadlineHook* next = nullptr;
    uint64_t deadline_ms = 0;
    void* list = nullptr;  // the list it is on, or null
};

class DeadlineList {
public:
    explicit DeadlineList(uint64_t timeout_ms = 0) : timeout_ms_(timeout_ms) {}
    DeadlineList(const DeadlineList&) = delete;
    DeadlineList& operator=(const DeadlineList&) = delete;

    void set_timeout(uint64_t timeout_ms) { timeout_ms_ = timeout_ms; }

    // Puts `hook` at the tail with deadline now + timeout (moving it from any list it was on).
    void arm(DeadlineHook& hook, uint64_t now_ms) {
        remove(hook);
        hook.deadline_ms = now_ms + timeout_ms_;
        hook.list = this;
        hook.prev = tail_;
        hook.next = nullptr;
        (tail_ ? tail_->next : head_) = &hook;
        tail_ = &hook;
    }

    static void remove(DeadlineHook& hook) {
        auto* list = static_cast<DeadlineList*>(hook.list);
        if (!list) return;
        (hook.prev ? hook.prev->next : list->head_) = hook.next;
        (hook.next ? hook.next->prev : list->tail_) = hook.prev;
        hook.prev = hook.next = nullptr;
        hook.list = nullptr;
    }

    // The first hook whose deadline has passed (removed from the list), or null.
    DeadlineHook* pop_expired(uint64_t now_ms) {
        if (!head_ || head_->deadline_ms > now_ms) return nullptr;
        DeadlineHook* hook = head_;
        remove(*hook);
        return hook;
    }

private:
    uint64_t timeout_ms_;
    DeadlineHook* head_ = nullptr;
    DeadlineHook* tail_ = nullptr;
};

}  // namespace tlsfront
