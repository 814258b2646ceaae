/**
 * The currency between engines, checkpoints and the Hugging Face folder: named
 * float32 host tensors in PyTorch's layout (Linear weights are [out, in]).
 */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Ordered by insertion, like a PyTorch state dict. */
export type StateDict = Map<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
