// BenchOp: what an io_uring completion of the load generator or its backend is about (the low
// four bits of user_data, see proxy/net/io_ring.hpp).
#pragma once

#include <cstdint>

namespace tlsfront::bench {

enum class BenchOp : uint8_t {
    ignore = 0,  // cancellations: nothing to do when they complete
    connect,
    recv,
    send,
    accept,
};

}  // namespace tlsfront::bench
