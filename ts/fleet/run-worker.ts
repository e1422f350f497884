/**
 * One worker process of `fleet run --workers W`: receives its options (its
 * range of devices) from the parent over IPC, runs them, sends progress, notes
 * and its report back, and exits. It shares nothing else with its siblings.
 */
import { CamwireError } from '../errors';
import { runFleet, WorkerMessage, WorkerRequest } from './run';

const send = (m: WorkerMessage) => process.send?.(m);

process.once('message', (m: WorkerRequest) => {
  if (m.kind !== 'run') return;
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  runFleet(m.options, { signal: ac.signal, onProgress: (progress) => send({ kind: 'progress', progress }), onNote: (note) => send({ kind: 'note', note }) })
    .then((report) => send({ kind: 'report', report }))
    .catch((e: unknown) => {
      const err = e instanceof CamwireError ? e : new CamwireError('FLEET_WORKER_FAILED', e instanceof Error ? e.message : String(e));
      send({ kind: 'error', code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) });
    })
    .finally(() => process.disconnect?.());
});
