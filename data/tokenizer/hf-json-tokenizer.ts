import { existsSync } from 'node:fs';
import { parseJsonNamed, readFileNamed, readJsonNamed } from '../../common/read-file.ts';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { fingerprintOf, specialIdsFrom, type Encoded, type SpecialIds, type Tokenizer } from './tokenizer.ts';
import { WordPieceTokenizer } from './wordpiece.ts';

/**
 * A Hugging Face tokenizer.json, run by @huggingface/tokenizers (the
 * maintained JS port). Word boundaries come from the WordPiece continuation
 * prefix, exactly as Hugging Face's whole-word-masking collator finds them.
 */
export class HfJsonTokenizer implements Tokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly special: SpecialIds;
  readonly fingerprint: string;
  private readonly hf: HfTokenizer;
  private readonly idToTok: string[];
  private readonly continuation: string;
  /** BERT's own procedure over the same vocabulary, when the file describes exactly that (4× faster). */
  private readonly fast: WordPieceTokenizer | null;

  /** `useLibrary` forces @huggingface/tokenizers even for plain BERT files (the tests compare both). */
  constructor(path: string, o: { useLibrary?: boolean } = {}) {
    const raw = readFileNamed(path, 'tokenizer').toString('utf8');
    const json = parseJsonNamed<TokenizerJson>(raw, path, 'tokenizer');
    // Files written by older `tokenizers` releases (bert-base-uncased's among them) carry no model.type.
    if (json.model && json.model.type === undefined && json.model.merges === undefined) json.model.type = 'WordPiece';
    if (json.model?.type !== 'WordPiece') {
      throw new Error(`${path}: model type ${JSON.stringify(json.model?.type)} is not supported (BERT's WordPiece is)`);
    }
    const cfgPath = join(dirname(path), 'tokenizer_config.json');
    const cfg = existsSync(cfgPath) ? readJsonNamed(cfgPath, 'tokenizer config') : {};
    this.hf = new HfTokenizer(json, cfg);
    this.continuation = json.model.continuing_subword_prefix ?? '##';
    const vocab = this.hf.get_vocab(true);
    this.vocabSize = Math.max(...vocab.values()) + 1;
    this.idToTok = new Array<string>(this.vocabSize).fill('[UNK]');
    for (const [tok, id] of vocab) this.idToTok[id] = tok;
    this.special = specialIdsFrom((t) => vocab.get(t), path);
    this.fingerprint = fingerprintOf('tokenizer.json', raw, JSON.stringify(cfg));
    this.fast = !o.useLibrary && standardBert(json) ? new WordPieceTokenizer(this.idToTok, Boolean(json.normalizer!.lowercase), path) : null;
  }

  encode(text: string): Encoded {
    if (this.fast) return this.fast.encode(text);
    const { ids } = this.hf.encode(text, { add_special_tokens: false });
    const wordStarts = ids.map((id: number) => (this.idToTok[id]!.startsWith(this.continuation) ? 0 : 1));
    return { ids, wordStarts };
  }

  idToToken(id: number): string {
    return this.idToTok[id] ?? '[UNK]';
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }
}

interface TokenizerJson {
  model?: { type?: string; continuing_subword_prefix?: string; merges?: unknown; max_input_chars_per_word?: number };
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
