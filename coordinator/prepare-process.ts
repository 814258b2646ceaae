/**
 * The coordinator's preparing process: tokenizing a corpus (prepareRun) is
 * long synchronous work, and on the coordinator's event loop it would hold
 * up intake and every event for its whole length. Here it runs beside it;
 * the coordinator sends { id, job, worldSize, epochWorlds } and gets the
 * RunSpec back (preparer.ts).
 */
import { prepareRun } from '../train/prepare-run.ts';
import { PlanError } from '../spec/plan-stages.ts';
import type { PrepareReply, PrepareRequest } from './preparer.ts';

const send = (m: PrepareReply) => process.send?.(m);

// One at a time: requests queue here, the coordinator never waits for them.
let chain = Promise.resolve();
process.on('message', (m: PrepareRequest) => {
  chain = chain.then(async () => {
    try {
      const spec = await prepareRun(m.job, m.worldSize, (line) => send({ id: m.id, type: 'log', line }), m.epochWorlds);
      send({ id: m.id, type: 'done', spec });
    } catch (e) {
      send({ id: m.id, type: 'failed', message: (e as Error).message, planError: e instanceof PlanError });
    }
  });
});
process.on('disconnect', () => process.exit(0));
