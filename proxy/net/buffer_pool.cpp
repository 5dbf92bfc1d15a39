// Block pool and provided-buffer ring registration (liburing 2.3 API: register + manual mmap).
#include "proxy/net/buffer_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tlsfront {

uint8_t* BufferPool::acquire() {
    if (free_.empty()) {
        // Not zeroed: untouched pages cost no resident memory.
        auto slab = std::make_unique_for_overwrite<uint8_t[]>(size_t{block_size_} * kBlocksPerSlab);
        for (size_t i = kBlocksPerSlab; i-- > 0;) free_.push_back(slab.get() + i * block_size_);
        slabs_.push_back(std::move(slab));
    }
    uint8_t* block = free_.back();
    free_.pop_back();
    return block;
}

ProvidedBufferRing::ProvidedBufferRing(io_uring* ring, uint16_t group_id, uint32_t capacity, uint32_t count,
                                       uint32_t size)
    : ring_(ring), group_id_(group_id), capacity_(capacity), size_(size),
      memory_(std::make_unique_for_overwrite<uint8_t[]>(size_t{capacity} * size)) {
    ring_bytes_ = capacity * sizeof(io_uring_buf);
    void* mapped = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mapped == MAP_FAILED) throw std::runtime_error(std::string("mmap buffer ring: ") + std::strerror(errno));
    buf_ring_ = static_cast<io_uring_buf_ring*>(mapped);
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
    reg.ring_entries = capacity;
    reg.bgid = group_id;
    if (int err = io_uring_register_buf_ring(ring_, &reg, 0); err < 0) {
        munmap(buf_ring_, ring_bytes_);
        throw std::runtime_error(std::string("io_uring_register_buf_ring: ") + std::strerror(-err));
    }
    grow(count);
}

bool ProvidedBufferRing::grow(uint32_t count) {
    count = std::min(count, capacity_ - provided_);
    for (uint32_t i = 0; i < count; ++i) {
        auto id = static_cast<uint16_t>(provided_ + i);
        io_uring_buf_ring_add(buf_ring_, data(id), size_, id, io_uring_buf_ring_mask(capacity_), static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
    provided_ += count;
    available_ += count;
    return count > 0;
}

ProvidedBufferRing::~ProvidedBufferRing() {
    io_uring_unregister_buf_ring(ring_, group_id_);
    munmap(buf_ring_, ring_bytes_);
}

void ProvidedBufferRing::recycle(uint16_t id) {
    io_uring_buf_ring_add(buf_ring_, data(id), size_, id, io_uring_buf_ring_mask(capacity_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
    ++available_;
}

}  // namespace tlsfront
