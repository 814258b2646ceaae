import { existsSync } from 'node:fs';
import { checkWritableFolder } from '../common/atomic-write.ts';
import { dirname, join } from 'node:path';
import { BlockDataset } from '../data/blocks.ts';
import { tokenizeCorpus, type CorpusData } from '../data/tokenize-corpus.ts';
import type { Tokenizer } from '../data/tokenizer/tokenizer.ts';
import type { Job } from '../spec/job-spec.ts';
import { planStage } from '../spec/plan-stages.ts';
import { loadTokenizer } from '../data/tokenizer/load-tokenizer.ts';
import { isDirectory } from '../data/tokenizer/tokenizer.ts';
import { buildWordPieceVocab } from '../data/tokenizer/train-wordpiece.ts';
import { readBertConfig, resolveBertConfig, type BertConfig } from '../model/bert-config.ts';
import { familyOf, familyOfConfig } from '../model/families/registry.ts';
import { prepareClassification } from './prepare-classification.ts';
import type { ClassificationData, RunSpec } from './run-spec.ts';

/**
 * The coordinator's half of a run, job spec → RunSpec: resolve the model
 * config and tokenizer, build (or reuse) the token caches, and plan every
 * stage for the given world size. Everything that can be wrong with a job is
 * found here, before any rank starts.
 */
export async function prepareRun(
  job: Job,
  worldSize: number,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
  /** An elastic run's world sizes: every one uses the same samples per epoch (planStage). */
  epochWorlds: readonly number[] = [worldSize],
): Promise<RunSpec> {
  const runDir = join(job.output_dir, job.name);
  checkWritableFolder(runDir, 'output_dir');

  let tokenizerPath = job.tokenizer.path;
  if (!tokenizerPath) {
    const dir = join(runDir, 'tokenizer');
    tokenizerPath = join(dir, 'vocab.txt');
    if (!existsSync(tokenizerPath)) {
      log(`tokenizer: building a ${job.tokenizer.build_vocab_size}-token WordPiece vocabulary from the training corpus`);
      await buildWordPieceVocab({
        files: job.corpus.train,
        vocabSize: job.tokenizer.build_vocab_size,
        out: tokenizerPath,
        read: { field: job.corpus.field, column: job.corpus.column, maxChars: job.corpus.max_chars },
      });
    }
  }
  const tokenizer = loadTokenizer(tokenizerPath);
  const tokenizerDir = isDirectory(tokenizerPath) ? tokenizerPath : dirname(tokenizerPath);

  let modelConfig: BertConfig;
  if (job.model.init_from) {
    modelConfig = readBertConfig(join(job.model.init_from, 'config.json'));
  } else {
    const base = job.model.config_file ? readBertConfig(job.model.config_file) : {};
    const given = { ...base, ...job.model.config } as Record<string, unknown>;
    // The tokenizer's special ids, under the names the family's config.json uses for them.
    const ids = familyOf(given.model_type, job.model.config_file || 'model.config').tokenIdFields(tokenizer.special);
    modelConfig = resolveBertConfig(
      { vocab_size: tokenizer.vocabSize, pad_token_id: tokenizer.special.pad, ...ids, ...given },
      job.model.config_file || 'model.config',
    );
  }
  const family = familyOfConfig(modelConfig);
  const conventional = family.specialTokens.mask;
  if (tokenizer.idToToken(tokenizer.special.mask) !== conventional) {
    // Not an error (a model learns whatever ids it is given), but not what the family's published tokenizers use.
    log(`tokenizer: ${family.modelType} tokenizers spell the mask token ${conventional}; this one uses ${tokenizer.idToToken(tokenizer.special.mask)} (${tokenizerPath})`);
  }
  if (tokenizer.vocabSize > modelConfig.vocab_size) {
    throw new Error(
      `model: vocab_size ${modelConfig.vocab_size} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens (${tokenizerPath})`,
    );
  }
  job.stages.forEach((s, i) => {
    if (s.task === 'classification' && family.modelType !== 'bert') {
      throw new Error(`stages[${i}].task: classification stages train BertForSequenceClassification; model_type ${family.modelType} trains MLM stages only`);
    }
    if (s.seq_len > family.maxSeqLen(modelConfig)) {
      const why = family.maxSeqLen(modelConfig) === modelConfig.max_position_embeddings ? '' : ` (${family.modelType} numbers positions from pad_token_id + 1)`;
      throw new Error(`stages[${i}].seq_len: ${s.seq_len} exceeds the ${family.maxSeqLen(modelConfig)} positions of the model's max_position_embeddings ${modelConfig.max_position_embeddings}${why}`);
    }
  });

  const data = job.corpus.train.length ? await tokenizeMlmCorpus(job, tokenizer, log) : null;
  const classification = await prepareClassification(job, tokenizer, log);
  const plans = job.stages.map((s, i) => {
    const samples = s.task === 'classification' ? countExamples(classification[i]!) : new BlockDataset(data!.train, s.seq_len, tokenizer.special).length;
    return planStage(s, i, worldSize, samples, epochWorlds);
  });
  return {
    job,
    runDir,
    modelConfig,
    initFrom: job.model.init_from || null,
    tokenizerDir,
    special: tokenizer.special,
    trainCache: data?.train.path ?? '',
    validCache: data?.valid.path ?? '',
    cacheKey: data?.key ?? '',
    plans,
    classification,
  };
}

async function tokenizeMlmCorpus(job: Job, tokenizer: Tokenizer, log: (l: string) => void): Promise<CorpusData> {
  const data = await tokenizeCorpus({
    files: job.corpus.train,
    validFiles: job.corpus.valid,
    validRatio: job.corpus.valid_ratio,
    splitSeed: job.seed,
    tokenizer,
    cacheDir: job.corpus.cache_dir,
    read: { field: job.corpus.field, column: job.corpus.column, maxChars: job.corpus.max_chars },
    maxBadFraction: job.corpus.max_bad_fraction,
    log,
  });
  if (data.valid.numTokens === 0) throw new Error('corpus: the validation split is empty (more valid files or a larger valid_ratio)');
  return data;
}

const countExamples = (d: ClassificationData) => d.trainPerLabel.reduce((a, b) => a + b, 0);
