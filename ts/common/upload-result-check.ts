/**
 * The result message checked against its contract (DESIGN.md, the schema in
 * ./upload-result-schema): what the test bench asks of a device and what the
 * fleet checks its own results with. ajv compiles the schema once, on first use.
 */
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { UPLOAD_RESULT_SCHEMA } from './upload-result-schema';

let compiled: { ajv: Ajv2020; validate: ValidateFunction } | undefined;

/** Why `result` breaks the contract (every problem, ajv's wording), or undefined when it keeps it. */
export function uploadResultProblems(result: unknown): string | undefined {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    compiled = { ajv, validate: ajv.compile(UPLOAD_RESULT_SCHEMA) };
  }
  if (compiled.validate(result)) return undefined;
  return compiled.ajv.errorsText(compiled.validate.errors, { dataVar: 'result' });
}
