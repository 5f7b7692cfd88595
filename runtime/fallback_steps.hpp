// Non-JIT steps: the fp32 fallback of graph nodes that cannot run quantized (mixed precision), and
// layout conversions at the edges of the quantized region. describe() lists each as non-JIT.
#pragma once
#include <memory>
#include <vector>

#include "jit/ir.hpp"
#include "runtime/plan.hpp"

namespace qjit::rt {

// Runs one float node with the reference ops on plain f32 slots.
std::unique_ptr<Step> make_float_node_step(const ir::Node& node, std::vector<int> in_slots,
                                           std::vector<SlotDesc> in_descs, int out_slot);
// Activation-layout f32 (QConv float output) -> plain logical f32.
std::unique_ptr<Step> make_act_to_plain_step(const SlotDesc& from, int from_slot, int to_slot);
// Any slot -> another slot of the same logical contents, different shape/layout (u8 or f32 Reshape);
// with `perm`, the contents in that axis order (a Transpose of level indices).
std::unique_ptr<Step> make_relayout_step(const SlotDesc& from, int from_slot, const SlotDesc& to, int to_slot,
                                         const std::string& node, const std::vector<int64_t>& perm = {});
// Elementwise Quantize / Dequantize between a plain f32 slot and a u8 activation slot, scalar code
// (for layouts the JIT kernels do not cover, e.g. per-channel params on rank-2 tensors).
std::unique_ptr<Step> make_quantize_ref_step(const ir::Node& node, const SlotDesc& from, int from_slot,
                                             const SlotDesc& to, int to_slot);
std::unique_ptr<Step> make_dequantize_ref_step(const ir::Node& node, const SlotDesc& from, int from_slot,
                                               const SlotDesc& to, int to_slot);

} // namespace qjit::rt
