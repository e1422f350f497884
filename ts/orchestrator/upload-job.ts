/**
 * One upload job from target to published result: run the upload, then
 * publish the upload result (DESIGN.md) on cameras/{thing}/uploads at QoS 1
 * through the connection's outbox, on success and on failure alike.
 */
import { CamwireError } from '../errors';
import { DeviceConnection, topics } from '../mqtt';
import { Uploader, UploadResult, UploadTarget } from '../upload';

export interface UploadJobOptions {
  file: string;
  target: UploadTarget;
  uploader: Uploader;
  /** Publish the result here; without it the result is only returned. */
  connection?: DeviceConnection;
  thing?: string;
  source?: string;
  /** Wait for the broker's PUBACK (default true); false returns once the result is in the outbox. */
  waitForPuback?: boolean;
}

export interface UploadJobOutcome {
  result: UploadResult;
  published: boolean;
}

export async function runUploadJob(o: UploadJobOptions): Promise<UploadJobOutcome> {
  const startedAt = new Date().toISOString();
  let result: UploadResult;
  let failure: unknown;
  try {
    result = await o.uploader.upload(o.file, o.target);
  } catch (e) {
    // A shutdown is not a result: the job stays queued and resumes next time.
    if (e instanceof CamwireError && e.code === 'UPLOAD_ABORTED') throw e;
    failure = e;
    const err = e instanceof CamwireError ? e : new CamwireError('UPLOAD_FAILED', String(e), { cause: e });
    result = {
      version: 1,
      id: o.target.id,
      ...(o.thing ? { thing: o.thing } : {}),
      status: 'failed',
      ...(o.target.objectUrl ? { objectUrl: o.target.objectUrl } : {}),
      bytes: 0,
      ...(o.target.contentType ? { contentType: o.target.contentType } : {}),
      parts: o.target.multipart?.parts.length ?? 1,
      ...(o.source ? { source: o.source } : {}),
      startedAt,
      completedAt: new Date().toISOString(),
      error: { code: err.code, message: err.message },
    };
  }
  if (o.thing && result.thing === undefined) result = { ...result, thing: o.thing };
  if (o.source && result.source === undefined) result = { ...result, source: o.source };
  let published = false;
  if (o.connection) {
    const thing = o.thing ?? o.connection.thing;
    const payload = JSON.stringify(result);
    if (o.waitForPuback === false) await o.connection.enqueue(topics.uploads(thing), payload);
    else await o.connection.publish(topics.uploads(thing), payload);
    published = true;
  }
  if (failure) {
    const err = failure instanceof CamwireError ? failure : new CamwireError('UPLOAD_FAILED', String(failure), { cause: failure });
    throw Object.assign(err, { result, published });
  }
  return { result, published };
}
