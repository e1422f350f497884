/**
 * docs/api.md's examples compile: each ```ts block becomes a module (its
 * imports at the top, the rest inside an async function, `camwire` and
 * `camwire/local` mapped to this package's source) and is type-checked with the project's settings.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from './helpers/run';

test('every TypeScript example in docs/api.md type-checks against the library', (t) => {
  const md = fs.readFileSync(path.join(ROOT, 'docs', 'api.md'), 'utf8');
  const blocks = [...md.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  t.true(blocks.length >= 6, `${blocks.length} examples`);
  const dir = fs.mkdtempSync(path.join(ROOT, 'test', '.api-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = blocks.map((code, i) => {
    const lines = code.split('\n');
    const imports = lines
      .filter((l) => l.startsWith('import '))
      .map((l) =>
        l.replace(/from 'camwire(\/local)?'/, (_, local: string | undefined) => `from ${JSON.stringify(path.join(ROOT, 'ts', local ? 'local' : 'index'))}`),
      );
    const body = lines
      .filter((l) => !l.startsWith('import '))
      .map((l) => (l.startsWith('declare ') ? l.replace(/^declare const (\w+): (.*);$/, 'const $1 = undefined as unknown as $2;') : l));
    const f = path.join(dir, `example${i + 1}.ts`);
    fs.writeFileSync(f, `${imports.join('\n')}\nexport async function example(): Promise<void> {\n${body.join('\n')}\n}\n`);
    return f;
  });
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  )!;
  const program = ts.createProgram(files, { ...config.options, noEmit: true, rootDir: ROOT, noUnusedLocals: false });
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.includes(path.resolve(d.file.fileName)))
    .map((d) => `${path.basename(d.file!.fileName)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  t.deepEqual(problems, []);
});
