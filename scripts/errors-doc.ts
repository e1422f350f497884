// npm run docs:errors: rewrites docs/errors.md from ts/error-codes.ts.
import fs from 'node:fs';
import path from 'node:path';
import { renderErrorsDoc } from '../ts/error-docs';

const file = path.join(__dirname, '..', 'docs', 'errors.md');
fs.writeFileSync(file, renderErrorsDoc());
console.log(`wrote ${path.relative(process.cwd(), file)}`);
