import type { Tokenizer } from './tokenizer/tokenizer.ts';

/**
 * One classification input as BERT reads it: `[CLS] a [SEP]`, or
 * `[CLS] a [SEP] b [SEP]` with token type 1 on b, truncated to `seqLen`
 * (a pair loses tokens from its longer text first, Hugging Face's
 * "longest_first") and padded with [PAD]. Training and `gradpool classify`
 * encode alike.
 */
export interface EncodedExample {
  ids: Int32Array;
  tokenTypes: Uint8Array;
  /** Real tokens; the attention mask is 1 below it. */
  length: number;
}

export function encodeExample(tok: Tokenizer, text: string, pair: string, seqLen: number): EncodedExample {
  const a = [...tok.encode(text).ids];
  const b = pair ? tok.encode(pair).ids : [];
  const room = seqLen - (pair ? 3 : 2);
  if (room < 1) throw new Error(`seq_len ${seqLen} leaves no room for text between the special tokens`);
  while (a.length + b.length > room) {
    if (a.length > b.length) a.pop();
    else b.pop();
  }
  const ids = new Int32Array(seqLen).fill(tok.special.pad);
  const tokenTypes = new Uint8Array(seqLen);
  const body = pair ? [tok.special.cls, ...a, tok.special.sep, ...b, tok.special.sep] : [tok.special.cls, ...a, tok.special.sep];
  ids.set(body);
  if (pair) tokenTypes.fill(1, a.length + 2, body.length);
  return { ids, tokenTypes, length: body.length };
}
