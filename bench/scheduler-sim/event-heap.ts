/** A min-heap of timed items; equal times pop in push order, so the simulation is deterministic. */
export class EventHeap<T> {
  private readonly at: number[] = [];
  private readonly seq: number[] = [];
  private readonly items: T[] = [];
  private pushed = 0;

  get size(): number {
    return this.items.length;
  }

  push(at: number, item: T): void {
    this.at.push(at);
    this.seq.push(this.pushed++);
    this.items.push(item);
    this.up(this.items.length - 1);
  }

  pop(): { at: number; item: T } | undefined {
    if (this.items.length === 0) return undefined;
    const top = { at: this.at[0]!, item: this.items[0]! };
    const last = this.items.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.seq.pop();
    this.items.pop();
    this.down(0);
    return top;
  }

  private less(i: number, j: number): boolean {
    return this.at[i]! < this.at[j]! || (this.at[i] === this.at[j] && this.seq[i]! < this.seq[j]!);
  }

  private swap(i: number, j: number): void {
    [this.at[i], this.at[j]] = [this.at[j]!, this.at[i]!];
    [this.seq[i], this.seq[j]] = [this.seq[j]!, this.seq[i]!];
    [this.items[i], this.items[j]] = [this.items[j]!, this.items[i]!];
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.items.length && this.less(l, m)) m = l;
      if (r < this.items.length && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
