/**
 * The result message contract (DESIGN.md) as JSON Schema (draft 2020-12), for
 * whoever checks a camera's results: the device test bench, a back end.
 * Validated with Ajv where it is used.
 */
export const UPLOAD_RESULT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://camwire.dev/schemas/upload-result-1.json',
  title: 'camwire upload result, version 1',
  type: 'object',
  required: ['version', 'id', 'thing', 'status', 'bytes', 'parts', 'startedAt', 'completedAt'],
  properties: {
    version: { const: 1 },
    id: { type: 'string', minLength: 1 },
    thing: { type: 'string', pattern: '^[a-zA-Z0-9:_-]{1,128}$' },
    status: { enum: ['uploaded', 'failed'] },
    objectUrl: { type: 'string', format: 'uri' },
    bytes: { type: 'integer', minimum: 0 },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    etag: { type: 'string' },
    contentType: { type: 'string' },
    parts: { type: 'integer', minimum: 1 },
    source: { type: 'string' },
    startedAt: { type: 'string', format: 'date-time' },
    completedAt: { type: 'string', format: 'date-time' },
    shareUrl: { type: 'string', format: 'uri' },
    shareExpiresAt: { type: 'string', format: 'date-time' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', minLength: 1 }, message: { type: 'string' } },
    },
  },
  allOf: [
    { if: { properties: { status: { const: 'uploaded' } } }, then: { required: ['objectUrl', 'sha256'], not: { required: ['error'] } } },
    { if: { properties: { status: { const: 'failed' } } }, then: { required: ['error'] } },
  ],
} as const;
