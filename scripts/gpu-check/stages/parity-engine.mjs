// gpu:check parity, engine side: the libtorch addon on the reference's
// weights and batch (parity-reference.py), in float32 and with its bf16
// mixed precision; prints the relative errors against the reference as JSON.
//
//   node parity-engine.mjs DIR DEVICE
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';

const [dir, device] = process.argv.slice(2);
const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
// A Buffer may sit inside a larger pooled ArrayBuffer: copy out exactly its bytes.
const bytes = (name) => {
  const b = readFileSync(join(dir, name));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const f32 = (name) => new Float32Array(bytes(name));
const i32 = (name) => new Int32Array(bytes(name));
const { TorchEngine } = createRequire(import.meta.url)(join(ROOT, 'native/torch/build/Release/gradpool_torch.node'));

/** ‖a − b‖ / ‖b‖ in float64. */
function relErr(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / (den || 1e-300));
}

const params = f32('params.f32');
const [ids, tt, am, positions, labels] = ['ids', 'tt', 'am', 'positions', 'labels'].map((n) => i32(`${n}.i32`));
const out = {};
for (const precision of Object.keys(m.ref)) {
  const engine = new TorchEngine({ config: m.config, specs: m.specs, params, device: device === 'cuda' ? 'cuda:0' : 'cpu', threads: 4, amp: precision === 'bf16' });
  engine.zeroGrad();
  const loss = engine.forwardBackward(ids, tt, am, m.B, m.S, positions, labels, false, 0, 0);
  const grads = engine.gradients().slice();
  const logits = engine.logits(ids, tt, am, m.B, m.S);
  const ref = m.ref[precision];
  out[precision] = {
    logits: relErr(logits, f32(`ref_${precision}_logits.f32`)),
    grads: relErr(grads, f32(`ref_${precision}_grads.f32`)),
    loss: Math.abs(loss - ref.loss) / Math.abs(ref.loss),
  };
  engine.dispose();
}
console.log(JSON.stringify(out));
