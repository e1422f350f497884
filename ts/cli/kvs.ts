import fs from 'node:fs';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import { packageAnnexB } from '../kvs';
import { Output } from './output';
import { positiveInt } from './pki';

type Out = () => Output;

export function kvsCommand(out: Out): Command {
  const kvs = new Command('kvs').description('Kinesis Video Streams: H.264 into KVS-ready MKV (PutMedia streaming lands with the producer)');
  kvs.command('stream')
    .description('package an Annex-B H.264 stream into the MKV PutMedia sends, written to --out (the offline sink, no network)')
    .requiredOption('--input <file>', 'Annex-B H.264 (- for stdin, e.g. ffmpeg ... -f h264 -)')
    .requiredOption('--out <file>', 'MKV file to write')
    .addOption(new Option('--fps <n>', 'frame rate of the input').argParser(Number).default(30))
    .addOption(new Option('--fragment-ms <ms>', 'fragment (cluster) duration').argParser(positiveInt).default(2000))
    .option('--absolute', 'ABSOLUTE cluster timecodes (epoch ms) instead of RELATIVE', false)
    .action(async (o: { input: string; out: string; fps: number; fragmentMs: number; absolute: boolean }) => {
      let h264: Buffer;
      try {
        h264 = fs.readFileSync(o.input === '-' ? 0 : o.input);
      } catch (e) {
        throw new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${o.input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
      }
      const t0 = Date.now();
      const r = await packageAnnexB(h264, { fps: o.fps, fragmentDurationMs: o.fragmentMs, absoluteTimecodes: o.absolute });
      fs.writeFileSync(o.out, r.mkv);
      out().result({ out: o.out, bytes: r.mkv.length, frames: r.frames, fragments: r.fragments, width: r.width, height: r.height, ms: Date.now() - t0 },
        `${o.out}: ${r.frames} frames in ${r.fragments} fragment(s), ${r.width}x${r.height}, ${r.mkv.length} bytes`);
    });
  return kvs;
}
