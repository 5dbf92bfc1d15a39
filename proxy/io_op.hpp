// IoOp: what an io_uring completion is about. user_data = object address | IoOp; objects that
// receive completions are 16-byte aligned, which leaves the low four bits for the op.
#pragma once

#include <cstdint>

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

inline uint64_t make_user_data(const void* object, IoOp op) {
    return reinterpret_cast<uintptr_t>(object) | static_cast<uint64_t>(op);
}
inline IoOp op_of(uint64_t user_data) { return static_cast<IoOp>(user_data & 15); }
template <typename T>
T* object_of(uint64_t user_data) {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(user_data & ~uint64_t{15}));
}

constexpr uint16_t kNoBuffer = 0xffff;

}  // namespace tlsfront
