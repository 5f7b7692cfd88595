// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node) on one raw input and writes each
// output as raw float32 to OUT_DIR/output_<i>.bin. Session option session.x64quantprecision = "1":
// ORT's default AVX2 u8 x s8 path saturates dot products (../../shared/DEPENDENCIES.md).
// Optimization level "all" (QDQ groups run as ORT's integer kernels); QJIT_ORT_LEVEL overrides it
// ("basic": Q, DQ and Conv run as the literal ONNX ops, convolutions in fp32).
// usage: node run_ort.js MODEL INPUT.bin DTYPE D0,D1,... OUT_DIR
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputPath, dtype, dims, outDir] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    extra: { session: { x64quantprecision: '1' } },
    graphOptimizationLevel: process.env.QJIT_ORT_LEVEL || 'all',
  });
  const raw = fs.readFileSync(inputPath);
  const shape = dims.split(',').map(Number);
  const types = { uint8: Uint8Array, int8: Int8Array, float32: Float32Array };
  const data = new types[dtype](raw.buffer, raw.byteOffset, raw.byteLength / types[dtype].BYTES_PER_ELEMENT);
  const feeds = { [session.inputNames[0]]: new ort.Tensor(dtype, data, shape) };
  const out = await session.run(feeds);
  session.outputNames.forEach((name, i) => {
    const t = out[name];
    fs.writeFileSync(`${outDir}/output_${i}.bin`, Buffer.from(new Float32Array(t.data).buffer));
    fs.writeFileSync(`${outDir}/output_${i}.txt`, `${name} ${t.dims.join(',')}\n`);
  });
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
