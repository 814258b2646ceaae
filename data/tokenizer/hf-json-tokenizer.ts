import { existsSync } from 'node:fs';
import { parseJsonNamed, readFileNamed, readJsonNamed } from '../../common/read-file.ts';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { fingerprintOf, specialIdsFrom, type Encoded, type SpecialIds, type Tokenizer } from './tokenizer.ts';
import { WordPieceTokenizer } from './wordpiece.ts';
import { specialTokenRoles } from './byte-level-bpe-files.ts';

/**
 * A Hugging Face tokenizer.json, run by @huggingface/tokenizers (the
 * maintained JS port): BERT's WordPiece, or a byte-level BPE (RoBERTa,
 * ModernBERT). Word boundaries: WordPiece words start at every token without
 * the continuation prefix (as Hugging Face's whole-word-masking collator finds
 * them); byte-level BPE words at the text's first token, every token that
 * starts with "Ġ" (a space) and every special token and the token after it,
 * so a word is a whitespace-delimited unit, punctuation attached.
 */
export class HfJsonTokenizer implements Tokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly special: SpecialIds;
  readonly fingerprint: string;
  private readonly hf: HfTokenizer;
  private readonly idToTok: string[];
  private readonly continuation: string;
  /** Byte-level BPE (RoBERTa, ModernBERT) rather than WordPiece. */
  private readonly byteLevel: boolean;
  private readonly specialSet: Set<number>;
  readonly maskTakesSpaceBefore: boolean;
  /** BERT's own procedure over the same vocabulary, when the file describes exactly that (4× faster). */
  private readonly fast: WordPieceTokenizer | null;

  /**
   * `useLibrary` forces @huggingface/tokenizers even for plain BERT files (the tests compare both).
   * `json`: the file's content already built (a vocab.json + merges.txt folder); `path` then names the folder's files.
   */
  constructor(path: string, o: { useLibrary?: boolean; json?: Record<string, unknown> } = {}) {
    const raw = o.json ? JSON.stringify(o.json) : readFileNamed(path, 'tokenizer').toString('utf8');
    const json = (o.json ?? parseJsonNamed<TokenizerJson>(raw, path, 'tokenizer')) as TokenizerJson;
    // Files written by older `tokenizers` releases (bert-base-uncased's among them) carry no model.type.
    if (json.model && json.model.type === undefined && json.model.merges === undefined) json.model.type = 'WordPiece';
    if (json.model && json.model.type === undefined && json.model.merges !== undefined) json.model.type = 'BPE';
    this.byteLevel = json.model?.type === 'BPE';
    if (json.model?.type !== 'WordPiece' && !(this.byteLevel && isByteLevel(json))) {
      throw new Error(
        `${path}: model type ${JSON.stringify(json.model?.type)}${json.model?.type === 'BPE' ? ' without a ByteLevel pre-tokenizer' : ''} is not supported ` +
          "(BERT's WordPiece and byte-level BPE, as RoBERTa and ModernBERT, are)",
      );
    }
    const dir = dirname(path);
    const cfgPath = join(dir, 'tokenizer_config.json');
    const cfg = existsSync(cfgPath) ? readJsonNamed<Record<string, unknown>>(cfgPath, 'tokenizer config') : {};
    // decode() would otherwise "clean up" spaces before punctuation: the text would not round-trip.
    if (this.byteLevel && cfg.clean_up_tokenization_spaces === undefined) cfg.clean_up_tokenization_spaces = false;
    this.hf = new HfTokenizer(json, cfg);
    this.continuation = json.model.continuing_subword_prefix || '##';
    const vocab = this.hf.get_vocab(true);
    this.vocabSize = Math.max(...vocab.values()) + 1;
    this.idToTok = new Array<string>(this.vocabSize).fill('[UNK]');
    for (const [tok, id] of vocab) this.idToTok[id] = tok;
    this.special = specialIdsOf(dir, (t) => vocab.get(t), path);
    this.specialSet = new Set((json.added_tokens ?? []).filter((t) => t.special).map((t) => vocab.get(t.content)!));
    for (const id of Object.values(this.special)) this.specialSet.add(id);
    this.maskTakesSpaceBefore = (json.added_tokens ?? []).some((t) => vocab.get(t.content) === this.special.mask && (t as { lstrip?: boolean }).lstrip === true);
    this.fingerprint = fingerprintOf('tokenizer.json', raw, JSON.stringify(cfg));
    this.fast = !o.useLibrary && standardBert(json) ? new WordPieceTokenizer(this.idToTok, Boolean(json.normalizer!.lowercase), path) : null;
  }

  encode(text: string): Encoded {
    if (this.fast) return this.fast.encode(text);
    const { ids } = this.hf.encode(text, { add_special_tokens: false });
    if (!this.byteLevel) {
      const wordStarts = ids.map((id: number) => (this.idToTok[id]!.startsWith(this.continuation) ? 0 : 1));
      return { ids, wordStarts };
    }
    const wordStarts = ids.map((id: number, i: number) =>
      i === 0 || this.idToTok[id]!.startsWith(SPACE) || this.specialSet.has(id) || this.specialSet.has(ids[i - 1]!) ? 1 : 0,
    );
    return { ids, wordStarts };
  }

  /** The text of `ids` (special tokens left out); byte-level BPE round-trips text exactly. */
  decode(ids: number[]): string {
    const kept = ids.filter((id) => !this.specialSet.has(id));
    return kept.length ? this.hf.decode(kept, { skip_special_tokens: true }) : '';
  }

  idToToken(id: number): string {
    return this.idToTok[id] ?? '[UNK]';
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }
}

/** Byte-level BPE marks a token that begins after a space with "Ġ" (U+0120, the byte 0x20 in GPT-2's byte alphabet). */
const SPACE = '\u0120';

function isByteLevel(j: TokenizerJson): boolean {
  const pre = j.pre_tokenizer as { type?: string; pretokenizers?: Array<{ type?: string }> } | null | undefined;
  return pre?.type === 'ByteLevel' || (pre?.type === 'Sequence' && (pre.pretokenizers ?? []).some((p) => p.type === 'ByteLevel'));
}

/**
 * The special ids by role: the roles tokenizer_config.json / special_tokens_map.json
 * name (RoBERTa: <s> </s> <pad> <mask> <unk>; ModernBERT: [CLS] ...), else BERT's
 * names, else RoBERTa's.
 */
function specialIdsOf(dir: string, lookup: (t: string) => number | undefined, source: string): SpecialIds {
  const roles = specialTokenRoles(dir);
  const named = (['pad', 'unk', 'cls', 'sep', 'mask'] as const).every((r) => roles[r] !== undefined && lookup(roles[r]!) !== undefined);
  if (named) return { pad: lookup(roles.pad!)!, unk: lookup(roles.unk!)!, cls: lookup(roles.cls!)!, sep: lookup(roles.sep!)!, mask: lookup(roles.mask!)! };
  if (lookup('[CLS]') !== undefined || lookup('<s>') === undefined) return specialIdsFrom(lookup, source);
  const get = (t: string) => {
    const id = lookup(t);
    if (id === undefined) throw new Error(`${source}: the vocabulary has no ${t} token`);
    return id;
  };
  return { pad: get('<pad>'), unk: get('<unk>'), cls: get('<s>'), sep: get('</s>'), mask: get('<mask>') };
}

interface TokenizerJson {
  model: { type?: string; continuing_subword_prefix?: string; merges?: unknown; max_input_chars_per_word?: number };
  normalizer?: { type?: string; clean_text?: boolean; handle_chinese_chars?: boolean; strip_accents?: boolean | null; lowercase?: boolean } | null;
  pre_tokenizer?: { type?: string } | null;
  added_tokens?: Array<{ content: string; special?: boolean }>;
}

/**
 * True when the file is plain BERT (BertNormalizer with its defaults, the
 * BertPreTokenizer, WordPiece with "##" and 100-character words, only special
 * added tokens): then our own BERT procedure gives the same ids (the tests
 * check both on a real corpus) several times faster.
 */
function standardBert(j: TokenizerJson): boolean {
  const n = j.normalizer;
  return (
    n?.type === 'BertNormalizer' &&
    n.clean_text === true &&
    n.handle_chinese_chars === true &&
    (n.strip_accents === null || n.strip_accents === undefined || n.strip_accents === n.lowercase) &&
    j.pre_tokenizer?.type === 'BertPreTokenizer' &&
    j.model?.type === 'WordPiece' &&
    (j.model.continuing_subword_prefix ?? '##') === '##' &&
    (j.model.max_input_chars_per_word ?? 100) === 100 &&
    (j.added_tokens ?? []).every((t) => t.special)
  );
}
