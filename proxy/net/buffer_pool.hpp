// Per-worker I/O memory. BufferPool: fixed-size blocks for data on its way out (ciphertext to the
// client, plaintext to the backend), held only while a send is pending. ProvidedBufferRing: the
// io_uring provided-buffer ring that receives land in, so a connection waiting for data (an IMAP
// IDLE, say) holds no receive buffer at all; the kernel picks one when bytes arrive.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tlsfront {

class BufferPool {
public:
    explicit BufferPool(uint32_t block_size) : block_size_(block_size) {}
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    uint32_t block_size() const { return block_size_; }
    uint8_t* acquire();
    void release(uint8_t* block) { free_.push_back(block); }
    size_t blocks_allocated() const { return slabs_.size() * kBlocksPerSlab; }

private:
    static constexpr size_t kBlocksPerSlab = 32;
    uint32_t block_size_;
    std::vector<std::unique_ptr<uint8_t[]>> slabs_;
    std::vector<uint8_t*> free_;  // LIFO: the most recently used block is still in cache
};

class ProvidedBufferRing {
public:
    // Registers a ring of `capacity` entries (a power of two) as buffer group `group_id` and
    // provides the first `count` buffers of `size` bytes. The memory for all of them is reserved
    // up front but only what is provided gets touched. Throws std::runtime_error when the kernel refuses.
    ProvidedBufferRing(io_uring* ring, uint16_t group_id, uint32_t capacity, uint32_t count, uint32_t size);
    ~ProvidedBufferRing();
    ProvidedBufferRing(const ProvidedBufferRing&) = delete;
    ProvidedBufferRing& operator=(const ProvidedBufferRing&) = delete;

    uint16_t group_id() const { return group_id_; }
    uint32_t buffer_size() const { return size_; }
    uint8_t* data(uint16_t id) const { return memory_.get() + size_t{id} * size_; }
    // Gives buffer `id` back to the kernel.
    void recycle(uint16_t id);
    // The kernel took one for a completed receive.
    void taken() { --available_; }
    uint32_t available() const { return available_; }
    uint32_t provided() const { return provided_; }
    // Provides up to `count` more buffers (never past the capacity); false when none could be added.
    bool grow(uint32_t count);

private:
    io_uring* ring_;
    io_uring_buf_ring* buf_ring_ = nullptr;
    size_t ring_bytes_ = 0;
    uint16_t group_id_;
    uint32_t capacity_;
    uint32_t size_;
    uint32_t provided_ = 0;
    uint32_t available_ = 0;
    std::unique_ptr<uint8_t[]> memory_;
};

}  // namespace tlsfront
