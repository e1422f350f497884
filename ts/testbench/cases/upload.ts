/**
 * The upload family: targets over MQTT, uploads to the bench's S3 store with
 * faults on the way, results checked against the contract and the stored
 * object.
 */
import crypto from 'node:crypto';
import { uploadResultProblems } from '../../common/upload-result-check';
import { BenchCase, CaseContext } from '../case';
import { BENCH_OBJECTS, benchObjectBytes } from '../bench';

const RESULT_MS = 45_000;

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

type Result = Record<string, unknown>;

export async function resultOf(ctx: CaseContext, since: number, id: string, timeoutMs = RESULT_MS): Promise<Result> {
  const r = await ctx.waitFor(`the result of ${id} on cameras/${ctx.bench.thing}/uploads`, timeoutMs, () => ctx.bench.results(since, id)[0]);
  ctx.note('device', `result: ${String(r.result?.['status'])}${r.result?.['error'] ? ` ${JSON.stringify(r.result['error'])}` : ''}`, r.at);
  return r.result!;
}

/** The result matches the contract, says uploaded, and its SHA-256 is the file's and the stored object's. */
export function checkUploaded(ctx: CaseContext, result: Result, key: string, object: keyof typeof BENCH_OBJECTS): void {
  const problems = uploadResultProblems(result);
  ctx.check(!problems, `the result does not match the contract (DESIGN.md): ${problems}; got ${JSON.stringify(result).slice(0, 400)}`);
  ctx.check(result['status'] === 'uploaded', `the upload failed: ${JSON.stringify(result['error'])}`);
  ctx.check(result['thing'] === ctx.bench.thing, `the result names thing ${String(result['thing'])}, not ${ctx.bench.thing}`);
  const want = sha256(benchObjectBytes(object));
  const stored = ctx.bench.cloud.s3!.object(ctx.bench.files.config.bucket, key);
  ctx.check(stored, `the result says uploaded but the bench's S3 store has no object ${key}`);
  ctx.evidence(`file ${want}; stored ${stored.sha256}; published ${String(result['sha256'])}`);
  ctx.check(
    stored.sha256 === want,
    `the stored object is not the file: SHA-256 ${stored.sha256}, the file's is ${want} (${stored.size} of ${BENCH_OBJECTS[object].size} bytes)`,
  );
  ctx.check(result['sha256'] === want, `the published sha256 ${String(result['sha256'])} is not the object's ${want}`);
  ctx.check(result['bytes'] === BENCH_OBJECTS[object].size, `the result says ${String(result['bytes'])} bytes, the object has ${BENCH_OBJECTS[object].size}`);
}

export const uploadCases: BenchCase[] = [
  {
    id: 'upload.put',
    family: 'upload',
    title: 'a single pre-signed PUT',
    checks: 'a put target over MQTT is uploaded; the stored object is the file, the result matches the contract and publishes its SHA-256',
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('upload.put');
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `put target ${target.id} for ${target.object.path}`);
      checkUploaded(ctx, await resultOf(ctx, t, target.id), key, 'photo');
      const puts = ctx.bench.s3Requests(t, key).filter((r) => r.operation === 'PutObject');
      ctx.evidence(`PUT requests: ${puts.length}`);
    },
  },
  {
    id: 'upload.multipart',
    family: 'upload',
    title: 'a multipart upload',
    checks:
      'a multipart target is uploaded: every part sent, in order (give or take three in flight at once), the complete call lists every part and its ETag in order (the store refuses anything else), the object is the file',
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key, parts } = await ctx.bench.multipartTarget('upload.multipart');
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `multipart target ${target.id}: ${parts} parts`);
      const result = await resultOf(ctx, t, target.id);
      const reqs = ctx.bench.s3Requests(t, key);
      for (const e of ctx.bench.since(t, 's3').filter((x) => x.request.key === key))
        ctx.note(
          'device',
          `${e.request.operation}${e.request.partNumber ? ` ${e.request.partNumber}` : ''} → ${e.request.status}${e.request.code ? ` ${e.request.code}` : ''}`,
          e.at,
        );
      const complete = reqs.filter((r) => r.operation === 'CompleteMultipartUpload');
      const order = reqs.filter((r) => r.operation === 'UploadPart' && r.status === 200).map((r) => r.partNumber ?? 0);
      ctx.evidence(`parts stored, in order of arrival: ${order.join(', ')}`);
      // In order, give or take the parts in flight together (a device may send two or three at once).
      const late = order.findIndex((n, i) => n < Math.max(0, ...order.slice(0, i)) - 3);
      ctx.check(late < 0, `the parts were not sent in order: part ${order[late]} came after ${Math.max(...order.slice(0, late))} (${order.join(', ')})`);
      ctx.check(complete.length, 'the device never sent CompleteMultipartUpload');
      const bad = complete.find((r) => r.status !== 200);
      ctx.check(!complete.some((r) => r.status === 200) ? !bad : true, `CompleteMultipartUpload was refused: ${bad?.status} ${bad?.code ?? ''}`);
      checkUploaded(ctx, result, key, 'video');
      ctx.check(result['parts'] === parts, `the result says ${String(result['parts'])} parts, the target had ${parts}`);
    },
  },
  {
    id: 'upload.retry-503',
    family: 'upload',
    title: '503 answers are retried',
    checks: 'the store answers the first two PUTs with 503 SlowDown: the device retries (with a pause) and the upload completes',
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('upload.retry-503');
      ctx.bench.cloud.s3!.faults.add({
        status: 503,
        body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        headers: { 'content-type': 'application/xml' },
        count: 2,
        match: (req) => req.method === 'PUT' && (req.url ?? '').includes(encodeURIComponent(key).replace(/%2F/g, '/')),
      });
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `target ${target.id}; the next 2 PUTs of it get 503`);
      const result = await resultOf(ctx, t, target.id);
      const reqs = ctx.bench.s3Requests(t, key);
      for (const e of ctx.bench.since(t, 's3').filter((x) => x.request.key === key)) ctx.note('device', `${e.request.method} → ${e.request.status}`, e.at);
      const faulted = reqs.filter((r) => r.status === 503);
      ctx.evidence(`requests: ${reqs.map((r) => r.status).join(', ')}`);
      ctx.check(
        result['status'] !== 'failed',
        `the device gave up after ${faulted.length} 503 answer(s) instead of retrying: ${JSON.stringify(result['error'])}`,
      );
      ctx.check(faulted.length === 2, `expected the two 503 answers to be seen, got ${faulted.length}`);
      checkUploaded(ctx, result, key, 'photo');
    },
  },
  {
    id: 'upload.reset-mid-body',
    family: 'upload',
    title: 'a connection reset mid-body is retried',
    checks: 'the bench resets the connection after 64 KiB of the body: the device retries the request and the upload completes with the right bytes',
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const p = ctx.bench.cloud.proxies.s3!;
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('upload.reset-mid-body');
      // Idle keep-alive connections go first: the cut is for the connection that carries this PUT.
      p.drop();
      const n0 = p.connections;
      let cuts = 0;
      const onClosed = (c: { n: number; reset: boolean; up: number }) => {
        if (c.n > n0 && c.reset && c.up > 0) {
          cuts++;
          p.set({ kind: 'pass' });
        }
      };
      p.on('closed', onClosed);
      p.set({ kind: 'cut', afterBytes: 64 * 1024 });
      try {
        await ctx.bench.sendTarget(target);
        ctx.note('bench', `target ${target.id}; the S3 connection is reset after 64 KiB`);
        const result = await resultOf(ctx, t, target.id);
        ctx.evidence(`connections reset mid-request: ${cuts}`);
        ctx.check(cuts >= 1, 'the cut never happened (the device sent nothing through the S3 port?)');
        checkUploaded(ctx, result, key, 'photo');
      } finally {
        p.off('closed', onClosed);
        p.set({ kind: 'pass' });
      }
    },
  },
  {
    id: 'upload.expired',
    family: 'upload',
    title: 'an expired target is refused',
    checks: 'a target whose URLs expired is reported failed, and no byte is sent to the store',
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('upload.expired', { expiresIn: 1 });
      await ctx.sleep(2100);
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `target ${target.id}, expired at ${target.expiresAt}`);
      const result = await resultOf(ctx, t, target.id);
      await ctx.sleep(500);
      const reqs = ctx.bench.s3Requests(t, key);
      ctx.evidence(`requests to the store for it: ${reqs.length}`);
      ctx.check(!reqs.length, `the device sent ${reqs.length} request(s) with an expired URL (${reqs.map((r) => `${r.method} → ${r.status}`).join(', ')})`);
      ctx.check(result['status'] === 'failed', `the result says ${String(result['status'])}, not failed`);
      const problems = uploadResultProblems(result);
      ctx.check(!problems, `the result does not match the contract: ${problems}`);
    },
  },
  {
    id: 'upload.idempotent',
    family: 'upload',
    title: 'a target seen twice is one upload',
    checks: 'the same target (same id) sent again after its result is not uploaded again',
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('upload.idempotent');
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `target ${target.id}`);
      checkUploaded(ctx, await resultOf(ctx, t, target.id), key, 'photo');
      await ctx.bench.sendTarget(target);
      ctx.note('bench', 'the same target again');
      await ctx.sleep(3000);
      const puts = ctx.bench.s3Requests(t, key).filter((r) => r.operation === 'PutObject' && r.status === 200);
      ctx.evidence(`successful PUTs of the object: ${puts.length}; results published: ${ctx.bench.results(t, target.id).length}`);
      ctx.check(puts.length === 1, `the object was uploaded ${puts.length} times for one target id`);
    },
  },
  {
    id: 'upload.resume',
    family: 'upload',
    title: 'a device killed mid-multipart resumes',
    checks:
      'the bench kills the device (SIGKILL) once parts 1 and 2 are stored and answered, and starts it again: the upload completes and those parts are not sent again',
    unavailable: (d) => (d.process ? undefined : 'needs --device-cmd (the bench kills and restarts the device)'),
    async run(ctx: CaseContext) {
      const dev = ctx.device.process!;
      await ctx.connected(RESULT_MS, 0);
      const s3 = ctx.bench.cloud.s3!;
      const t = Date.now();
      const { target, key, parts } = await ctx.bench.multipartTarget('upload.resume');
      // Parts 1 and 2 go through; the answers to the others are held, so the kill lands mid-upload.
      const path = `/${ctx.bench.files.config.bucket}/${key}`;
      s3.faults.add({
        status: 503,
        count: Infinity,
        delayMs: 20_000,
        match: (req) => {
          const u = new URL(req.url ?? '/', 'http://x');
          return req.method === 'PUT' && decodeURIComponent(u.pathname) === path && Number(u.searchParams.get('partNumber')) > 2;
        },
      });
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `multipart target ${target.id} (${parts} parts); answers to parts 3 and later held`);
      const stored = () => ctx.bench.s3Requests(t, key).filter((r) => r.operation === 'UploadPart' && r.status === 200);
      await ctx.waitFor('parts 1 and 2 stored', RESULT_MS, () => stored().length >= 2);
      await ctx.sleep(1000); // the device has had their answers for a second
      const before = new Set(stored().map((r) => r.partNumber));
      await dev.kill();
      s3.faults.clear();
      ctx.note('bench', `device killed (SIGKILL) with parts ${[...before].join(', ')} stored`);
      const restartAt = Date.now();
      dev.start();
      ctx.note('bench', 'device started again');
      const result = await resultOf(ctx, t, target.id, 60_000);
      const after = ctx.bench
        .since(restartAt, 's3')
        .map((e) => e.request)
        .filter((r) => r.key === key && r.operation === 'UploadPart');
      ctx.evidence(`parts stored before the kill: ${[...before].join(', ')}; parts sent after the restart: ${after.map((r) => r.partNumber).join(', ')}`);
      const again = after.filter((r) => before.has(r.partNumber));
      ctx.check(!again.length, `parts stored (and answered) before the kill were sent again: ${again.map((r) => r.partNumber).join(', ')} (no resume)`);
      checkUploaded(ctx, result, key, 'video');
    },
  },
];
