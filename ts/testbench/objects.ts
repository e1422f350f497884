/**
 * The files the upload and PTP cases use: deterministic bytes, written into
 * the bench's storage/ at init (a real camera gets a copy of them on its card)
 * and checked again at each run, so the bench knows each one's SHA-256.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The files the upload cases send, made at init (and again here when missing), with their SHA-256. */
export const BENCH_OBJECTS = {
  photo: { path: 'DCIM/100CAMWR/TB000001.JPG', size: 200 * 1024, contentType: 'image/jpeg' },
  video: { path: 'DCIM/100CAMWR/TB000002.MP4', size: 1024 * 1024, contentType: 'video/mp4' },
} as const;
/** The S3 store's smallest part on the bench, so a 1 MiB video is a multipart upload of several parts. */
export const BENCH_PART_SIZE = 128 * 1024;

export function benchObjectBytes(name: keyof typeof BENCH_OBJECTS): Buffer {
  // Deterministic content, so a camera loaded with these files once and the bench agree on the SHA-256.
  const o = BENCH_OBJECTS[name];
  const out = Buffer.alloc(o.size);
  let block = crypto.createHash('sha256').update(`camwire testbench ${o.path}`).digest();
  for (let off = 0; off < o.size; off += block.length) {
    block.copy(out, off);
    block = crypto.createHash('sha256').update(block).digest();
  }
  return out;
}

export function writeBenchObjects(storage: string): void {
  for (const name of Object.keys(BENCH_OBJECTS) as Array<keyof typeof BENCH_OBJECTS>) {
    const file = path.join(storage, BENCH_OBJECTS[name].path);
    const want = benchObjectBytes(name);
    if (fs.existsSync(file) && fs.statSync(file).size === want.length && fs.readFileSync(file).equals(want)) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, want);
  }
}
