import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type { UploadResult } from '../upload';
// Loaded when an upload runs, not when the CLI starts.
const uploadLib = () => require('../upload') as typeof import('../upload');
import { addConnectionOptions, ConnOpts, ConnOptsPartial, openConnection } from './mqtt';
import { Output, Progress } from './output';
import { nonNegativeInt, positiveInt, readFile } from './args';

type Out = () => Output;

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export function uploadCommand(out: Out): Command {
  const cmd = addConnectionOptions(
    new Command('upload')
      .description(
        'upload FILE to a pre-signed PUT URL (--put-url) or an upload target (--target), then publish the result on cameras/{thing}/uploads (with --url)',
      )
      .argument('<file>', 'the file to upload')
      .option('--put-url <url>', 'a pre-signed PUT URL from any presigner (quote it: it contains &)')
      .option(
        '--header <header>',
        'with --put-url: a header the URL was signed with, "Name: value" (repeatable)',
        (v: string, acc: string[]) => [...acc, v],
        [] as string[],
      )
      .option('--content-type <type>', 'with --put-url: the Content-Type to send (default: from the file name)')
      .option('--id <id>', "with --put-url: the result's id (default: a digest of the URL)")
      .option('--target <file>', 'upload target JSON (- for stdin)')
      .addOption(new Option('--concurrency <n>', 'multipart parts in flight').argParser(positiveInt).default(4))
      .option(
        '--journal <dir>',
        'journal directory: a re-run of the same target sends only what is missing',
        path.join(process.env['HOME'] ?? '.', '.camwire', 'journal'),
      )
      .option('--keep-parts', 'do not abort the multipart upload after a fatal error', false)
      .addOption(
        new Option('--retry-for <s>', "keep retrying a failed request (network, idle timeout, 5xx) for this many seconds, never past the target's expiry")
          .argParser(positiveInt)
          .default(300),
      )
      .addOption(
        new Option('--idle-timeout <s>', 'cut a request after this many seconds with no byte either way (then retried)').argParser(positiveInt).default(30),
      )
      .option('--source <name>', "the result's source field", 'cli'),
    false,
  );
  cmd.action(
    async (
      file: string,
      o: ConnOptsPartial & {
        target?: string;
        putUrl?: string;
        header: string[];
        contentType?: string;
        id?: string;
        concurrency: number;
        journal: string;
        keepParts: boolean;
        retryFor: number;
        idleTimeout: number;
        source: string;
      },
    ) => {
      const output = out();
      let putUrl = o.putUrl;
      if (o.target !== undefined && uploadLib().looksLikeUrl(o.target) && !fs.existsSync(o.target)) {
        // A URL where a target file belongs: the user has a bare pre-signed URL.
        if (putUrl) throw new CamwireError('CLI_BAD_ARGUMENT', 'give --put-url or --target, not both');
        output.info('note: --target takes an upload target JSON file; that is a URL, so it is used as --put-url');
        putUrl = o.target;
      } else if (o.target !== undefined && putUrl) {
        throw new CamwireError('CLI_BAD_ARGUMENT', 'give --put-url or --target, not both');
      }
      if (!putUrl && o.target === undefined)
        throw new CamwireError('CLI_BAD_ARGUMENT', 'give --put-url URL (a pre-signed PUT URL) or --target FILE (an upload target)');
      if (!putUrl && (o.header.length || o.contentType || o.id))
        throw new CamwireError('CLI_BAD_ARGUMENT', '--header, --content-type and --id go with --put-url (a target carries its own)');
      const target = putUrl
        ? uploadLib().putUrlTarget(putUrl, {
            file,
            headers: uploadLib().parseHeaderArgs(o.header),
            ...(o.contentType ? { contentType: o.contentType } : {}),
            ...(o.id ? { id: o.id } : {}),
          })
        : uploadLib().parseUploadTarget(o.target === '-' ? fs.readFileSync(0, 'utf8') : readFile(o.target!, 'target'));
      if (o.url && !o.thing) throw new CamwireError('CLI_BAD_ARGUMENT', '--url needs --thing');
      const uploader = new (uploadLib().Uploader)({
        concurrency: o.concurrency,
        journalDir: o.journal,
        keepParts: o.keepParts,
        retryForMs: o.retryFor * 1000,
        idleTimeoutMs: o.idleTimeout * 1000,
        ...(o.thing ? { thing: o.thing } : {}),
        source: o.source,
      });
      const progress = new Progress('uploading', !output.json);
      uploader.on('progress', (p) =>
        progress.update(p.bytes, p.totalBytes, `${mib(p.bytes)} / ${mib(p.totalBytes)}  part ${p.partsDone}/${p.parts}  ${mib(p.bytesPerSecond)}/s`),
      );
      uploader.on('retry', (r) => output.info(`\n  retrying ${r.what} in ${r.delayMs} ms (attempt ${r.attempt}: ${r.error})`));
      uploader.on('resumed', (r) => output.info(`  resuming: parts ${r.parts.join(', ')} are already uploaded`));
      const conn = o.url ? await openConnection(o as ConnOpts, output) : undefined;
      let result: UploadResult;
      try {
        const { runUploadJob } = require('../orchestrator/upload-job') as typeof import('../orchestrator/upload-job');
        ({ result } = await runUploadJob({
          file,
          target,
          uploader,
          ...(conn ? { connection: conn } : {}),
          ...(o.thing ? { thing: o.thing } : {}),
          source: o.source,
        }));
      } finally {
        progress.end();
        await conn?.close();
      }
      output.result(
        result,
        [
          `uploaded ${file} (${result.bytes} bytes, ${result.parts} part(s), sha256 ${result.sha256})`,
          `  ${result.objectUrl ?? target.object.path}`,
          ...(result.shareUrl ? [`  share (until ${result.shareExpiresAt ?? 'it expires'}): ${result.shareUrl}`] : []),
          ...(conn ? [`  published on cameras/${o.thing}/uploads`] : []),
        ].join('\n'),
      );
    },
  );
  return cmd;
}

interface PresignOpts {
  endpoint?: string;
  region: string;
  bucket: string;
  key?: string;
  thing?: string;
  file?: string;
  expires: number;
  contentType?: string;
  virtualHost: boolean;
  id?: string;
  size?: number;
  partSize: number;
  objectPath?: string;
  shareExpires: number;
  share: boolean;
}

/** The AWS SDK loads only for presign commands, never on the device path. */
function loadPresign(): typeof import('../upload/presign') {
  // camwire pins the SDK in its lockfile, so its notice about future SDK
  // releases needing Node 22 says nothing about this install.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return require('../upload/presign') as typeof import('../upload/presign');
}

async function presignBase(o: PresignOpts) {
  const key = o.key ?? (o.thing && o.file ? uploadLib().deviceKey(o.thing, o.file) : undefined);
  if (!key) throw new CamwireError('CLI_BAD_ARGUMENT', 'give --key, or --thing and --file for the default key devices/{thing}/{yyyy}/{mm}/{dd}/{filename}');
  return {
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    region: o.region,
    bucket: o.bucket,
    key,
    expiresIn: o.expires,
    ...(o.contentType ? { contentType: o.contentType } : {}),
    ...(o.virtualHost ? { pathStyle: false } : {}),
    ...(o.id ? { id: o.id } : {}),
    shareExpiresIn: o.share ? o.shareExpires : 0,
  };
}

async function cosOptions(o: PresignOpts): Promise<import('../upload/cos').CosPresignOptions> {
  const secretId = process.env['COS_SECRET_ID'];
  const secretKey = process.env['COS_SECRET_KEY'];
  if (!secretId || !secretKey) throw new CamwireError('PRESIGN_NO_CREDENTIALS', '--cos needs COS_SECRET_ID and COS_SECRET_KEY in the environment');
  const b = await presignBase(o);
  const token = process.env['COS_SESSION_TOKEN'];
  return {
    secretId,
    secretKey,
    ...(token ? { sessionToken: token } : {}),
    bucket: o.bucket,
    region: o.region,
    key: b.key,
    expiresIn: o.expires,
    shareExpiresIn: b.shareExpiresIn,
    ...(o.contentType ? { contentType: o.contentType } : {}),
    ...(o.id ? { id: o.id } : {}),
    ...(o.endpoint ? { host: new URL(o.endpoint).host, protocol: new URL(o.endpoint).protocol === 'http:' ? ('http' as const) : ('https' as const) } : {}),
  };
}

export function presignCommand(): Command {
  const presign = new Command('presign').description(
    'the back-end side: make an upload target with SigV4 pre-signed URLs (credentials from the AWS environment or profile)',
  );
  const common = (c: Command) =>
    c
      .option('--endpoint <url>', 'S3-compatible endpoint (default: AWS S3 for --region)')
      .option('--region <region>', 'region', process.env['AWS_REGION'] ?? 'us-east-1')
      .requiredOption('--bucket <name>', 'bucket')
      .option('--key <key>', 'object key')
      .option('--thing <name>', 'with --file: key devices/{thing}/{yyyy}/{mm}/{dd}/{filename}')
      .option('--file <file>', 'the file to upload (its name, and for multipart its size)')
      .addOption(new Option('--expires <s>', 'seconds the URLs stay valid').argParser(positiveInt).default(3600))
      .option('--content-type <type>', 'Content-Type to sign into the upload')
      .option('--virtual-host', 'virtual-host style URLs (bucket.host) instead of path style', false)
      .option('--id <id>', 'target id (default random)')
      .option('--object-path <path>', "the file's path in the camera's storage, object.path of the target (default: the key)")
      .addOption(
        new Option('--share-expires <s>', 'seconds the share (a pre-signed GET the camera publishes as shareUrl) stays valid, up to 604800')
          .argParser(positiveInt)
          .default(604800),
      )
      .option('--no-share', 'no share: the result carries only objectUrl');
  const onCamera = <T extends { object: { path: string } }>(t: T, o: { objectPath?: string }): T =>
    o.objectPath ? { ...t, object: { path: o.objectPath } } : t;
  common(presign.command('put').description('a single-PUT upload target on stdout'))
    .option('--cos', 'Tencent COS native signature (q-sign-algorithm=sha1); keys from COS_SECRET_ID, COS_SECRET_KEY [, COS_SESSION_TOKEN]', false)
    .action(async (o: PresignOpts & { cos: boolean }) => {
      if (o.cos) {
        const { presignCosPut } = require('../upload/cos') as typeof import('../upload/cos');
        process.stdout.write(JSON.stringify(onCamera(presignCosPut(await cosOptions(o)), o), null, 2) + '\n');
        return;
      }
      const { presignPut } = loadPresign();
      process.stdout.write(JSON.stringify(onCamera(await presignPut(await presignBase(o)), o), null, 2) + '\n');
    });
  common(presign.command('multipart').description('CreateMultipartUpload now, then a target with pre-signed part, complete and abort URLs'))
    .addOption(new Option('--size <bytes>', 'file size (default: the size of --file)').argParser(nonNegativeInt))
    .addOption(new Option('--part-size <bytes>', 'part size').argParser(positiveInt).default(8 * 1024 * 1024))
    .option('--cos', 'Tencent COS native signatures; keys from COS_SECRET_ID, COS_SECRET_KEY [, COS_SESSION_TOKEN]', false)
    .action(async (o: PresignOpts & { cos: boolean }) => {
      const size = o.size ?? (o.file ? fs.statSync(o.file).size : undefined);
      if (size === undefined) throw new CamwireError('CLI_BAD_ARGUMENT', 'multipart needs --size or --file');
      if (o.cos) {
        const { presignCosMultipart } = require('../upload/cos') as typeof import('../upload/cos');
        process.stdout.write(JSON.stringify(onCamera(await presignCosMultipart({ ...(await cosOptions(o)), size, partSize: o.partSize }), o), null, 2) + '\n');
        return;
      }
      const { presignMultipart } = loadPresign();
      process.stdout.write(JSON.stringify(onCamera(await presignMultipart({ ...(await presignBase(o)), size, partSize: o.partSize }), o), null, 2) + '\n');
    });
  return presign;
}
