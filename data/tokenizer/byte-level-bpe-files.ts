import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFileNamed, readJsonNamed } from '../../common/read-file.ts';

/**
 * A slow-tokenizer folder (vocab.json + merges.txt, as GPT-2 and roberta-base
 * publish them next to, or instead of, tokenizer.json) as the tokenizer.json
 * Hugging Face's converter would make of it: byte-level pre-tokenizer and
 * decoder, BPE model, RobertaProcessing, the special tokens of
 * tokenizer_config.json / special_tokens_map.json as added tokens (<mask>
 * with lstrip, as RobertaTokenizer declares it).
 */
export function tokenizerJsonFromVocabAndMerges(dir: string): Record<string, unknown> {
  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const vocab = readJsonNamed<Record<string, number>>(vocabPath, 'BPE vocabulary');
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new Error(`${vocabPath}: not a JSON object of token → id`);
  const merges = readFileNamed(mergesPath, 'BPE merges')
    .toString('utf8')
    .split('\n')
    .filter((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#version')));
  merges.forEach((m, i) => {
    if (m.split(' ').length !== 2) throw new Error(`${mergesPath}: line ${i + 2} is not two tokens separated by a space: ${JSON.stringify(m)}`);
  });
  const roles = specialTokenRoles(dir);
  const special = (content: string) => {
    const id = vocab[content];
    if (id === undefined) throw new Error(`${vocabPath}: has no ${content} token (named in the tokenizer config)`);
    return { id, content, single_word: false, lstrip: content === roles.mask, rstrip: false, normalized: false, special: true };
  };
  const names = [...new Set([roles.cls, roles.pad, roles.sep, roles.unk, roles.mask].filter((t): t is string => Boolean(t)))];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: names.map(special).sort((a, b) => a.id - b.id),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: [roles.sep, vocab[roles.sep!]], cls: [roles.cls, vocab[roles.cls!]], trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

export interface SpecialTokenRoles {
  cls?: string;
  sep?: string;
  pad?: string;
  mask?: string;
  unk?: string;
}

/**
 * The special tokens' roles as a folder's tokenizer_config.json (else
 * special_tokens_map.json) names them; each may be a string or an AddedToken
 * object ({"content": "<mask>", ...}). RoBERTa's defaults where neither says.
 */
export function specialTokenRoles(dir: string): SpecialTokenRoles {
  const read = (f: string): Record<string, unknown> => (existsSync(join(dir, f)) ? readJsonNamed<Record<string, unknown>>(join(dir, f), 'tokenizer config') : {});
  const cfg = { ...read('special_tokens_map.json'), ...read('tokenizer_config.json') };
  const text = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : undefined;
  return {
    cls: text(cfg.cls_token) ?? text(cfg.bos_token),
    sep: text(cfg.sep_token) ?? text(cfg.eos_token),
    pad: text(cfg.pad_token),
    mask: text(cfg.mask_token),
    unk: text(cfg.unk_token),
  };
}
