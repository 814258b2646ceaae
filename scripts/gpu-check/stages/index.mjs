// The gpu:check stages, in order. Each: { name, timeoutS, needs?, run(ctx) }
// where run resolves { status: 'ok' | 'failed' | 'skipped', ...figures }.
import { buildStage } from './build.mjs';
import { envStage } from './env.mjs';
import { ncclStage } from './nccl.mjs';
import { parityStage } from './parity.mjs';
import { peerStage, stepStage } from './step.mjs';
import { trainStage } from './train.mjs';

export const stages = [envStage, buildStage, parityStage, stepStage, peerStage, ncclStage, trainStage];
