import type { SpecialIds } from './tokenizer/tokenizer.ts';
import type { TokenCache } from './token-cache.ts';

/**
 * Fixed-length training blocks over a token cache, like Hugging Face's
 * group_texts: documents are concatenated and cut into blocks of
 * `seqLen − 2` tokens, each wrapped as [CLS] … [SEP]. The remainder
 * shorter than a block is dropped (as group_texts does), except that a corpus
 * shorter than one block still yields one padded block. Blocks are views:
 * nothing is materialised, so memory stays that of the cache.
 */
export class BlockDataset {
  readonly length: number;
  private readonly body: number;

  constructor(
    private readonly cache: TokenCache,
    readonly seqLen: number,
    private readonly special: SpecialIds,
  ) {
    if (!Number.isInteger(seqLen) || seqLen < 3) throw new Error(`sequence length ${seqLen} must be an integer ≥ 3`);
    this.body = seqLen - 2;
    const full = Math.floor(cache.numTokens / this.body);
    this.length = full === 0 && cache.numTokens > 0 ? 1 : full;
  }

  /** Tokens the dataset drops at the end (the group_texts remainder). */
  get droppedTokens(): number {
    return this.length * this.body >= this.cache.numTokens ? 0 : this.cache.numTokens - this.length * this.body;
  }

  /** Writes block `i` into `ids`, `wordStarts` and `attention` (each seqLen long). */
  read(i: number, ids: Int32Array, wordStarts: Uint8Array, attention: Int32Array): void {
    if (i < 0 || i >= this.length) throw new RangeError(`block ${i} of ${this.length}`);
    const start = i * this.body;
    const end = Math.min(start + this.body, this.cache.numTokens);
    const n = end - start;
    ids[0] = this.special.cls;
    wordStarts[0] = 1;
    const toks = this.cache.tokens;
    const ws = this.cache.wordStarts;
    for (let j = 0; j < n; j++) {
      ids[1 + j] = toks[start + j]!;
      wordStarts[1 + j] = ws[start + j]!;
    }
    // A block that starts mid-word starts a word for masking purposes.
    wordStarts[1] = 1;
    ids[1 + n] = this.special.sep;
    wordStarts[1 + n] = 1;
    attention.fill(1, 0, n + 2);
    for (let j = n + 2; j < this.seqLen; j++) {
      ids[j] = this.special.pad;
      wordStarts[j] = 1;
      attention[j] = 0;
    }
  }
}
