/**
 * docs/aws-setup.md, docs/aws-china.md and docs/tencent-cos.md say what they do: every ```json
 * block is exactly what the camwire command in the HTML comment above it
 * prints (a block without such a comment fails), every camwire command line
 * in a shell block parses against the real CLI (subcommands, options,
 * required options, choices), inline `camwire ...` names real commands, the
 * JavaScript snippet is valid, and the lifecycle JSON becomes the XML COS
 * documents when Tencent's SDK sends it. Below: the generators refuse bad
 * regions, accounts, ARNs and names with PKI_BAD_ARGUMENT.
 */
import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Command, CommanderError } from 'commander';
import { allCommands, buildProgram } from '../ts/cli/main';
import {
  backendPolicy,
  bucketLifecycle,
  cosPresignerPolicy,
  iotPolicy,
  jitpRegistrationConfig,
  kvsRolePolicy,
  route53Cname,
  uploadsRuleRolePolicy,
  uploadsRuleTrustPolicy,
  uploadsTopicRule,
} from '../ts/cloud';
import { CamwireError } from '../ts/errors';
import { camwire, ROOT, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const DOCS = ['aws-setup.md', 'aws-china.md', 'tencent-cos.md'];

interface Block {
  lang: string;
  body: string;
  line: number;
  before: string;
}

/** The fenced blocks of a Markdown file, each with the last non-blank line before its fence. */
function fencedBlocks(md: string): Block[] {
  const lines = md.split('\n');
  const blocks: Block[] = [];
  let before = '';
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) {
      if (lines[i]!.trim()) before = lines[i]!.trim();
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`unclosed fence at line ${start + 1}`);
    blocks.push({ lang: open[1]!, body: body.join('\n'), line: start + 1, before });
    before = '';
  }
  return blocks;
}

type Token = { word: string } | { op: string };

/** Shell words and operators of one logical line: quotes, backslashes, $(...), comments. Enough for documentation, not a shell. */
function shellTokens(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    const op = /^(&&|\|\||;|\||&|>>|2>|>|<)/.exec(line.slice(i));
    if (op) {
      out.push({ op: op[1]! });
      i += op[1]!.length;
      continue;
    }
    let word = '';
    while (i < line.length && !/[\s;|&<>]/.test(line[i]!)) {
      const d = line[i]!;
      if (d === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new Error(`unclosed ' in: ${line}`);
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (d === '"') {
        for (i++; i < line.length && line[i] !== '"'; i++) {
          if (line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '')) i++;
          word += line[i];
        }
        if (line[i] !== '"') throw new Error(`unclosed " in: ${line}`);
        i++;
      } else if (d === '\\') {
        word += line[i + 1] ?? '';
        i += 2;
      } else if (d === '$' && line[i + 1] === '(') {
        let depth = 0;
        const from = i;
        for (; i < line.length; i++) {
          if (line[i] === '(') depth++;
          if (line[i] === ')' && --depth === 0) break;
        }
        word += line.slice(from, ++i);
      } else {
        word += d;
        i++;
      }
    }
    out.push({ word });
  }
  return out;
}

/** The camwire invocations (argument lists after `camwire`) in a shell block. */
function camwireCommands(script: string): string[][] {
  const found: string[][] = [];
  for (const line of script.replace(/\\\n/g, ' ').split('\n')) {
    let words: string[] = [];
    const flush = () => {
      while (words.length && /^[A-Za-z_]\w*=/.test(words[0]!)) words.shift();
      if (words[0] === 'camwire') found.push(words.slice(1));
      words = [];
    };
    const tokens = shellTokens(line);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if ('word' in t) words.push(t.word);
      else if (['>', '>>', '<', '2>'].includes(t.op))
        i++; // a redirection and its file
      else flush();
    }
    flush();
  }
  return found;
}

/** Parses argv with the real program, every action replaced by a no-op; the usage error, if any. */
async function parseError(argv: string[]): Promise<string | undefined> {
  const program = buildProgram();
  let err = '';
  for (const c of [program, ...allCommands(program)]) {
    c.configureOutput({
      writeOut: () => undefined,
      writeErr: (s) => {
        err += s;
      },
    });
    if (c.commands.length === 0) c.action(() => undefined);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return undefined;
  } catch (e) {
    return e instanceof CommanderError ? err.split('\n')[0] || e.message : String(e);
  }
}

/** For an inline mention like `camwire presign put|multipart`: every word before the options names a real command. */
function unknownCommand(words: string[]): string | undefined {
  let at: Command[] = [buildProgram()];
  for (const w of words) {
    if (w.startsWith('-') || w === '...') break;
    const next = at.flatMap((c) => w.split('|').map((n) => c.commands.find((s) => s.name() === n)));
    if (next.every((c) => c === undefined)) {
      // An argument (camwire upload FILE) ends the path; anything else is a wrong name.
      if (at.some((c) => c.registeredArguments.length > 0)) return undefined;
      return `"${w}" is not a subcommand of ${at.map((c) => c.name()).join('|')}`;
    }
    if (next.some((c) => c === undefined)) return `one of "${w}" is not a subcommand`;
    at = next as Command[];
  }
  return undefined;
}

const read = (doc: string) => fs.readFileSync(path.join(ROOT, 'docs', doc), 'utf8');

for (const doc of DOCS) {
  test(`${doc}: every JSON block is what the camwire command in the comment above it prints`, async (t) => {
    const md = read(doc);
    const blocks = fencedBlocks(md).filter((b) => b.lang === 'json');
    t.true(blocks.length >= 2, `${blocks.length} JSON blocks`);
    const shell = fencedBlocks(md)
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => camwireCommands(b.body));
    const problems: string[] = [];
    for (const b of blocks) {
      const m = /^<!--\s*(camwire\s.+?)\s*-->$/.exec(b.before);
      if (!m) {
        problems.push(`line ${b.line}: a JSON block without a <!-- camwire ... --> comment before it`);
        continue;
      }
      const argv = shellTokens(m[1]!)
        .map((tok) => ('word' in tok ? tok.word : tok.op))
        .slice(1);
      const usage = await parseError(argv);
      if (usage) {
        problems.push(`line ${b.line}: ${m[1]}: ${usage}`);
        continue;
      }
      // The JSON shown is what the reader's own command writes.
      if (!shell.some((c) => isDeepStrictEqual(c, argv))) problems.push(`line ${b.line}: no shell block runs ${m[1]}`);
      const r = camwire(argv);
      if (r.status !== 0) {
        problems.push(`line ${b.line}: ${m[1]} exited ${r.status}: ${r.stderr.trim()} (is dist/ current? npm run build:ts)`);
        continue;
      }
      let shown: unknown;
      try {
        shown = JSON.parse(b.body);
      } catch (e) {
        problems.push(`line ${b.line}: the block is not JSON: ${(e as Error).message}`);
        continue;
      }
      if (!isDeepStrictEqual(shown, JSON.parse(r.stdout))) problems.push(`line ${b.line}: the block differs from what ${m[1]} prints:\n${r.stdout}`);
    }
    // A comment that no longer sits on a JSON block is stale too.
    const comments = [...md.matchAll(/<!--\s*camwire\s[^]*?-->/g)].length;
    if (comments !== blocks.filter((b) => b.before.startsWith('<!--')).length) problems.push(`${comments} camwire comments for ${blocks.length} JSON blocks`);
    t.deepEqual(problems, []);
  });

  test(`${doc}: every camwire command line parses against the CLI, inline mentions name real commands`, async (t) => {
    const md = read(doc);
    const commands = fencedBlocks(md)
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => camwireCommands(b.body).map((argv) => ({ argv, line: b.line })));
    t.true(commands.length >= 3, `${commands.length} command lines`);
    const problems: string[] = [];
    for (const { argv, line } of commands) {
      const usage = await parseError(argv);
      if (usage) problems.push(`block at line ${line}: camwire ${argv.join(' ')}: ${usage}`);
      // The document generators need no files or network: run them too.
      else if (argv[0] === 'pki' && ['aws', 'cos', 'policy', 'jitp-template'].includes(argv[1]!)) {
        const r = camwire(argv);
        if (r.status !== 0) problems.push(`block at line ${line}: camwire ${argv.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
        else JSON.parse(r.stdout);
      }
    }
    const prose = md.replace(/```[^]*?```/g, '').replace(/<!--[^]*?-->/g, '');
    const inline = [...prose.matchAll(/`camwire\s([^`]+)`/g)].map((m) => m[1]!.trim().split(/\s+/));
    t.true(inline.length > 0);
    for (const words of inline) {
      const wrong = unknownCommand(words);
      if (wrong) problems.push(`\`camwire ${words.join(' ')}\`: ${wrong}`);
      else if (words.some((w) => w.startsWith('-')) && !words.some((w) => w.includes('...') || w.includes('|'))) {
        const usage = await parseError(words);
        if (usage) problems.push(`\`camwire ${words.join(' ')}\`: ${usage}`);
      }
    }
    t.deepEqual(problems, []);
  });
}

test('the command-line checks catch what they are for', async (t) => {
  t.deepEqual(
    camwireCommands(
      'X=1 camwire pki policy --region eu-west-1 > p.json && aws iot create-policy \\\n  --policy-name p # comment\ncamwire kvs stream --input "a b.h264" | cat',
    ),
    [
      ['pki', 'policy', '--region', 'eu-west-1'],
      ['kvs', 'stream', '--input', 'a b.h264'],
    ],
  );
  t.is(await parseError(['pki', 'policy', '--region', 'eu-west-1']), undefined);
  t.regex((await parseError(['pki', 'policy', '--regon', 'eu-west-1']))!, /unknown option/);
  t.regex((await parseError(['pki', 'aws', 'uploads-rule', '--region', 'eu-west-1']))!, /required option/);
  t.regex((await parseError(['pki', 'aws', 'no-such-doc']))!, /unknown command/);
  t.regex((await parseError(['pki', 'aws', 's3-lifecycle', '--days', 'x']))!, /not a positive whole number/);
  t.is(unknownCommand(['presign', 'put|multipart', '--cos']), undefined);
  t.regex(unknownCommand(['presign', 'put|multi'])!, /not a subcommand/);
  t.regex(unknownCommand(['pki', 'polcy'])!, /not a subcommand/);
  t.is(fencedBlocks('<!-- x -->\n\n```json\n{}\n```\n')[0]!.before, '<!-- x -->');
});

test('tencent-cos.md: the lifecycle snippet is valid JavaScript', (t) => {
  const js = fencedBlocks(read('tencent-cos.md')).filter((b) => b.lang === 'js');
  t.is(js.length, 1);
  const file = path.join(tempDir('aws-docs'), 'put-lifecycle.js');
  fs.writeFileSync(file, js[0]!.body);
  const r = run(process.execPath, ['--check', file]);
  t.is(r.status, 0, r.stderr);
});

test('the lifecycle JSON is the XML COS documents once cos-nodejs-sdk-v5 sends it', async (t) => {
  const COS = require('cos-nodejs-sdk-v5') as new (o: Record<string, unknown>) => {
    putBucketLifecycle(p: Record<string, unknown>, cb: (err: unknown) => void): void;
  };
  const seen: Array<{ method: string; url: string; body: string }> = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString('utf8');
    });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body });
      res.writeHead(200, { 'x-cos-request-id': 'local' });
      res.end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const cos = new COS({ SecretId: 'AKIDexample', SecretKey: 'secret', Protocol: 'http:', Domain: `127.0.0.1:${(srv.address() as { port: number }).port}` });
  const lifecycle = bucketLifecycle();
  await new Promise<void>((resolve, reject) =>
    cos.putBucketLifecycle({ Bucket: 'camwire-media-1250000000', Region: 'ap-guangzhou', ...lifecycle }, (err) => (err ? reject(err as Error) : resolve())),
  );
  t.is(seen.length, 1);
  t.is(seen[0]!.method, 'PUT');
  t.regex(seen[0]!.url, /^\/\?lifecycle/);
  t.is(
    seen[0]!.body.replace(/\s+/g, ''),
    '<LifecycleConfiguration><Rule><ID>camwire-abort-incomplete-multipart</ID><Status>Enabled</Status><Filter><Prefix>devices/</Prefix></Filter>' +
      '<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>',
  );
});

const badArgument = (message: RegExp) => ({ instanceOf: CamwireError, code: 'PKI_BAD_ARGUMENT', message });

test('generators refuse a bad region, account id, role ARN or name with PKI_BAD_ARGUMENT', (t) => {
  const ok = { region: 'eu-west-1', accountId: '123456789012' };
  for (const region of ['eu-west', 'EU-WEST-1', 'europe', 'eu-west-1 ']) {
    t.throws(() => kvsRolePolicy({ region }), badArgument(/not an AWS region/), region);
    t.throws(() => uploadsTopicRule({ ...ok, region }), badArgument(/not an AWS region/), region);
  }
  // aws-cn and aws-us-gov are written for (test/aws-china.test.ts); the ISO partitions are not.
  t.throws(() => iotPolicy({ region: 'us-iso-east-1' }), badArgument(/aws-iso partition/));
  t.throws(() => uploadsTopicRule({ ...ok, region: 'us-isob-east-1' }), badArgument(/aws-iso-b partition/));
  for (const accountId of ['12345678901', '1234567890123', 'abcdefghijkl']) {
    t.throws(() => backendPolicy({ accountId, bucket: 'media' }), badArgument(/12-digit/), accountId);
    t.throws(() => uploadsRuleRolePolicy({ ...ok, accountId }), badArgument(/12-digit/), accountId);
  }
  // The queue URL and the rule's source ARN cannot be wildcards.
  t.throws(() => uploadsTopicRule({ region: '*', accountId: '123456789012' }), badArgument(/region .* is needed/));
  t.throws(() => uploadsRuleTrustPolicy({ region: 'eu-west-1', accountId: '*' }), badArgument(/account id is needed/));
  for (const roleArn of ['camwire-uploads-rule', 'arn:aws:iam::123:role/x', 'arn:aws:iam::123456789012:user/x', 'arn:aws-iso:iam::123456789012:role/x']) {
    t.throws(() => uploadsTopicRule({ ...ok, roleArn }), badArgument(/not an IAM role ARN/), roleArn);
  }
  t.throws(() => jitpRegistrationConfig({ roleArn: 'arn:aws:iam::123456789012:role/' }), badArgument(/IAM role ARN/));
  t.throws(() => uploadsTopicRule({ ...ok, queue: 'uploads.fifo' }), badArgument(/FIFO/));
  t.throws(() => uploadsRuleRolePolicy({ ...ok, queue: 'my queue' }), badArgument(/SQS queue name/));
  t.throws(() => uploadsRuleTrustPolicy({ ...ok, ruleName: 'camwire-uploads' }), badArgument(/topic rule name/));
  t.throws(() => iotPolicy({ roleAlias: 'camera/kvs' }), badArgument(/role alias/));
  t.throws(() => backendPolicy({ bucket: 'Media_Bucket' }), badArgument(/S3 bucket name/));
  t.throws(() => backendPolicy({ bucket: 'media', prefix: '/devices/' }), badArgument(/key prefix/));
  for (const days of [0, 1.5, -3, 40000]) t.throws(() => bucketLifecycle({ days }), badArgument(/days/), String(days));
  t.throws(() => bucketLifecycle({ prefix: 'devices/*' }), badArgument(/key prefix/));
  t.throws(() => route53Cname({ name: 'iot', value: 'a.example.com' }), badArgument(/DNS name/));
  t.throws(() => route53Cname({ name: 'iot.example.com', value: 'bad..example.com' }), badArgument(/DNS name/));
  t.throws(() => route53Cname({ name: 'iot.example.com', value: 'a.example.com', ttl: -1 }), badArgument(/TTL/));
  t.throws(() => cosPresignerPolicy({ region: 'ap-guangzhou', bucket: 'media' }), badArgument(/APPID/));
  t.throws(() => cosPresignerPolicy({ region: 'Guangzhou', bucket: 'media-1250000000' }), badArgument(/COS region/));
});

test('what the documents grant: the stream and queue named, the alias, the rule forwarding cameras/+/uploads as JSON', (t) => {
  const ok = { region: 'eu-west-1', accountId: '123456789012' };
  t.is(kvsRolePolicy(ok).Statement[0]!.Resource, 'arn:aws:kinesisvideo:eu-west-1:123456789012:stream/${credentials-iot:ThingName}/*');
  t.is(kvsRolePolicy().Statement[0]!.Resource, 'arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*');
  const withAlias = iotPolicy({ ...ok, roleAlias: 'camera-kvs' }).Statement;
  t.deepEqual(
    withAlias.filter((s) => s.Action === 'iot:AssumeRoleWithCertificate').map((s) => s.Resource),
    ['arn:aws:iot:eu-west-1:123456789012:rolealias/camera-kvs'],
  );
  t.false(iotPolicy(ok).Statement.some((s) => s.Action === 'iot:AssumeRoleWithCertificate'));
  // The alias statement reaches cameras provisioned with an inline policy too.
  t.regex(jitpRegistrationConfig({ ...ok, roleAlias: 'camera-kvs' }).templateBody, /rolealias\/camera-kvs/);
  const rule = uploadsTopicRule({ ...ok, queue: 'results' });
  t.is(rule.sql, "SELECT * FROM 'cameras/+/uploads'");
  t.deepEqual(rule.actions, [
    {
      sqs: {
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/results',
        roleArn: 'arn:aws:iam::123456789012:role/camwire-uploads-rule',
        useBase64: false,
      },
    },
  ]);
  t.is(uploadsRuleRolePolicy({ ...ok, queue: 'results' }).Statement[0]!.Resource, 'arn:aws:sqs:eu-west-1:123456789012:results');
  t.deepEqual(uploadsRuleTrustPolicy({ ...ok, ruleName: 'results_rule' }).Statement[0]!.Condition, {
    StringEquals: { 'aws:SourceAccount': '123456789012' },
    ArnLike: { 'aws:SourceArn': 'arn:aws:iot:eu-west-1:123456789012:rule/results_rule' },
  });
  t.deepEqual(bucketLifecycle({ prefix: '', days: 2 }).Rules[0]!.Filter, { Prefix: '' });
  const backend = backendPolicy({ bucket: 'media' }).Statement;
  t.is(backend.length, 2);
  t.is(backend[0]!.Resource, 'arn:aws:s3:::media/devices/*');
  t.is(backend[1]!.Resource, 'arn:aws:iot:*:*:topic/cameras/*/upload-targets');
  t.deepEqual(cosPresignerPolicy({ region: 'ap-guangzhou', bucket: 'media-1250000000', prefix: 'cams/' }).statement[0]!.resource, [
    'qcs::cos:ap-guangzhou:uid/1250000000:media-1250000000/cams/*',
  ]);
  t.is(route53Cname({ name: '_a1.iot.example.com.', value: '_b2.acm-validations.aws.' }).Changes[0]!.ResourceRecordSet.Name, '_a1.iot.example.com.');
});

test('the CLI prints a bad argument as PKI_BAD_ARGUMENT, not a document', (t) => {
  const r = camwire(['pki', 'aws', 'uploads-rule', '--region', 'eu-west', '--account-id', '123456789012']);
  t.is(r.status, 1);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^camwire: PKI_BAD_ARGUMENT: "eu-west" is not an AWS region name/m);
  const cos = camwire(['--json', 'pki', 'cos', 'cam-policy', '--region', 'ap-guangzhou', '--bucket', 'no-appid']);
  t.is(cos.status, 1);
  t.is((JSON.parse(cos.stdout) as { error: { code: string } }).error.code, 'PKI_BAD_ARGUMENT');
});
