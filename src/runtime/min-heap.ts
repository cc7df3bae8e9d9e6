/** A binary min-heap of numbers (event-time timers). Duplicates are allowed. */
export class MinHeap {
  private readonly items: number[] = [];

  /** The items in heap order (for snapshots; `MinHeap.of` rebuilds an equivalent heap). */
  toArray(): number[] {
    return this.items.slice();
  }

  /** Replaces the content with `values`. */
  reset(values: readonly number[]): void {
    this.items.length = 0;
    for (const v of values) this.push(v);
  }

  get size(): number {
    return this.items.length;
  }

  /** The smallest item; only valid when size > 0. */
  peek(): number {
    return this.items[0]!;
  }

  push(value: number): void {
    const items = this.items;
    let i = items.length;
    items.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= value) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      const n = items.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && items[r]! < items[l]! ? r : l;
        if (items[c]! >= last) break;
        items[i] = items[c]!;
        i = c;
      }
      items[i] = last;
    }
    return top;
  }
}
