import fs from 'node:fs';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import { LocalKvsEndpoint, packageAnnexB } from '../kvs';
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
  kvs.command('serve-local')
    .description('a local KVS endpoint (GetDataEndpoint + PutMedia with acks, SigV4 checked) on 127.0.0.1, storing sessions in --dir')
    .addOption(new Option('--port <port>', 'port (0 = any free one)').argParser(Number).default(0))
    .requiredOption('--dir <dir>', 'where sessions are stored (DIR/<stream>/session-N.mkv and .json)')
    .option('--region <region>', 'region the signatures must be scoped to', 'us-east-1')
    .addOption(new Option('--drop-after <n>', 'fault: drop each PutMedia connection after n fragments').argParser(positiveInt))
    .addOption(new Option('--error-after <n>', 'fault: send an ERROR ack (5000) after n fragments').argParser(positiveInt))
    .option('--stall-acks', 'fault: send no acks', false)
    .action(async (o: { port: number; dir: string; region: string; dropAfter?: number; errorAfter?: number; stallAcks: boolean }) => {
      // The endpoint checks signatures against the credentials in this environment;
      // it never invents and prints a secret.
      const accessKeyId = process.env['AWS_ACCESS_KEY_ID'];
      const secretAccessKey = process.env['AWS_SECRET_ACCESS_KEY'];
      if (!accessKeyId || !secretAccessKey) {
        throw new CamwireError('KVS_NO_CREDENTIALS', 'serve-local checks SigV4 against AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment',
          { hint: 'set both (any values for local testing) and give the producer the same pair' });
      }
      const ep = new LocalKvsEndpoint({
        dir: o.dir, port: o.port, region: o.region, credentials: [{ accessKeyId, secretAccessKey }],
        faults: { ...(o.dropAfter ? { dropAfterFragments: o.dropAfter } : {}), ...(o.errorAfter ? { errorAck: { afterFragments: o.errorAfter, errorId: 5000 } } : {}), stallAcks: o.stallAcks },
      });
      await ep.start();
      out().result({ url: ep.url, region: o.region, accessKeyId, dir: o.dir },
        `local KVS endpoint on ${ep.url} (region ${o.region}, access key ${accessKeyId}), sessions in ${o.dir}\nCtrl-C stops it`);
      await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
      await ep.stop();
    });
  return kvs;
}
