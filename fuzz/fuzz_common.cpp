#include "fuzz/fuzz_common.hpp"

#include <vector>

#include "jit/ir.hpp"

namespace qjit::fuzz {

void compile_and_run(const Graph& g) {
    try {
        CompiledModel m = compile(g, fuzz_compile_options());
        std::vector<Tensor> inputs;
        int64_t total = 0;
        for (int id : g.ir().parameters()) {
            const Shape& s = g.ir().node(id).shape;
            total += num_elements(s);
            if (total > (int64_t{1} << 22)) return; // compiled; running would only cost time
            inputs.emplace_back(ElemType::f32, s);
        }
        m.run(inputs);
    } catch (const Error&) {
        // typed error: the contract
    } catch (const std::bad_alloc&) {
        bug("compile/run", "std::bad_alloc escaped (a limit is missing)");
    } catch (const std::exception& e) {
        bug("compile/run threw a non-qjit exception", e.what());
    }
}

} // namespace qjit::fuzz
