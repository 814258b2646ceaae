import type { GradientSync } from '../../train/gradient-sync.ts';

/**
 * N ranks in one process: all-reduce and broadcast meet at a barrier, like the
 * collectives do across processes, so a data-parallel run can be checked
 * against a single-rank one without workers. Sums in rank order.
 */
export class MemoryGroup {
  private pending: Array<{ buf: Float32Array; done: () => void }> = [];
  constructor(readonly worldSize: number) {}

  syncs(): GradientSync[] {
    return Array.from({ length: this.worldSize }, (_, rank) => ({
      rank,
      worldSize: this.worldSize,
      allReduceSum: (buf: Float32Array) => this.meet(rank, buf, (bufs) => {
        const sum = new Float32Array(buf.length);
        for (const b of bufs) for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + b[i]!;
        for (const b of bufs) b.set(sum);
      }),
      broadcast: (buf: Float32Array, root: number) => this.meet(rank, buf, (bufs) => {
        for (const b of bufs) if (b !== bufs[root]) b.set(bufs[root]!);
      }),
    }));
  }

  private meet(rank: number, buf: Float32Array, combine: (bufs: Float32Array[]) => void): Promise<void> {
    return new Promise((resolve) => {
      this.pending[rank] = { buf, done: resolve };
      if (this.pending.filter(Boolean).length < this.worldSize) return;
      const arrived = this.pending;
      this.pending = [];
      combine(arrived.map((p) => p.buf));
      for (const p of arrived) p.done();
    });
  }
}
