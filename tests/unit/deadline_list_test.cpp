// DeadlineList keeps hooks in deadline order with O(1) arm, re-arm and removal.
#include <doctest/doctest.h>

#include "proxy/net/deadline_list.hpp"

using namespace tlsfront;

TEST_CASE("hooks expire in deadline order; re-arming moves a hook to the back") {
    DeadlineList list(100);
    DeadlineHook a, b, c;
    list.arm(a, 0);
    list.arm(b, 10);
    list.arm(c, 20);
    list.arm(a, 50);  // activity on a: now due at 150
    CHECK(list.pop_expired(109) == nullptr);
    CHECK(list.pop_expired(110) == &b);
    CHECK(list.pop_expired(200) == &c);
    CHECK(list.pop_expired(200) == &a);
    CHECK(list.pop_expired(1000) == nullptr);
}

TEST_CASE("a removed hook never expires, and moving between lists is safe") {
    DeadlineList fast(10), slow(1000);
    DeadlineHook a, b;
    fast.arm(a, 0);
    fast.arm(b, 0);
    DeadlineList::remove(a);
    DeadlineList::remove(a);  // twice is harmless
    slow.arm(b, 0);           // moves b off the fast list
    CHECK(fast.pop_expired(100) == nullptr);
    CHECK(slow.pop_expired(100) == nullptr);
    CHECK(slow.pop_expired(1000) == &b);
}
