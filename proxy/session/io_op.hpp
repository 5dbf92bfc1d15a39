// IoOp: what an io_uring completion of a proxy worker is about (the low four bits of user_data,
// see proxy/net/io_ring.hpp).
#pragma once

#include <cstdint>

#include "proxy/net/io_ring.hpp"

namespace tlsfront {

enum class IoOp : uint8_t {
    ignore = 0,  // cancellations and other fire-and-forget requests
    accept,
    client_recv,
    client_send,
    backend_connect,
    backend_recv,
    backend_send,
    tick,
    wake,
};

constexpr uint16_t kNoBuffer = 0xffff;

}  // namespace tlsfront
