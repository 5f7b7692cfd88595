// Dense host tensors at the model boundary (NCHW order for 4-D, row-major in general).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qjit {

enum class ElemType : uint8_t { f32, u8, s8, s32 };
size_t elem_size(ElemType t);
const char* to_string(ElemType t);

using Shape = std::vector<int64_t>;
int64_t num_elements(const Shape& s);
std::string to_string(const Shape& s);

// Copies share their bytes until one of them is written through a non-const accessor
// (copy-on-write), so graphs holding large constants copy cheaply.
class Tensor {
public:
    Tensor() = default;
    Tensor(ElemType type, Shape shape); // zero-filled
    static Tensor f32(Shape shape, const std::vector<float>& values);
    static Tensor s32(Shape shape, const std::vector<int32_t>& values);
    static Tensor u8(Shape shape, const std::vector<uint8_t>& values);
    static Tensor s8(Shape shape, const std::vector<int8_t>& values);

    ElemType type() const { return type_; }
    const Shape& shape() const { return shape_; }
    int64_t numel() const { return num_elements(shape_); }
    size_t bytes() const { return bytes_ ? bytes_->size() : 0; }
    bool empty() const { return shape_.empty() && bytes() == 0; }

    template <class T> T* data() { return reinterpret_cast<T*>(mutable_bytes()); }
    template <class T> const T* data() const { return reinterpret_cast<const T*>(const_bytes()); }
    void* raw() { return mutable_bytes(); }
    const void* raw() const { return const_bytes(); }

    // Element i converted to float (any element type).
    float at_f32(int64_t i) const;

private:
    uint8_t* mutable_bytes(); // detaches shared bytes first
    const uint8_t* const_bytes() const { return bytes_ ? bytes_->data() : nullptr; }

    ElemType type_ = ElemType::f32;
    Shape shape_;
    std::shared_ptr<std::vector<uint8_t>> bytes_;
};

} // namespace qjit
