// Child process for the crash-safety test: rewrites one .pth file in a loop,
// each version filled with its own number, until it is killed.
import { saveTorchFile } from '../../model/formats/torch-file.ts';

const path = process.argv[2]!;
const n = 4_000_000;
for (let version = 1; ; version++) {
  const data = new Float32Array(n).fill(version);
  saveTorchFile(path, new Map<string, unknown>([['version', version], ['w', { shape: [n], data }]]) as never);
  process.stdout.write(`${version}\n`);
}
