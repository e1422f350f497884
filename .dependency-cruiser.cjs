// The rooms of ts/ and their doors (README "Layout"), held by dependency-cruiser
// in `npm run lint`:
//   ts/common     what several capabilities share; imports only itself, errors, native
//   capabilities  pki, cloud, mqtt, upload, kvs, ptp; each imports only itself,
//                 common/, errors and native, never another capability
//   ts/local      the stand-ins (camwire/local); itself, common/, errors, native
//   composition   cli, demo, orchestrator; capabilities and local/ through their
//                 index files only (upload/presign and upload/cos are the back
//                 end's documented deep paths, kept off the device path)
//   ts/index.ts   the main barrel; never local/
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'capability-isolation',
      comment: 'A capability folder imports only itself, ts/common, ts/errors and ts/native.',
      severity: 'error',
      from: { path: '^ts/(pki|cloud|mqtt|upload|kvs|ptp)/' },
      to: { path: '^ts/', pathNot: ['^ts/$1/', '^ts/common/', '^ts/errors\\.ts$', '^ts/error-codes\\.ts$', '^ts/native\\.ts$'] },
    },
    {
      name: 'common-is-a-floor',
      comment: 'ts/common is shared by every capability, so it imports none of them.',
      severity: 'error',
      from: { path: '^ts/common/' },
      to: { path: '^ts/', pathNot: ['^ts/common/', '^ts/errors\\.ts$', '^ts/error-codes\\.ts$', '^ts/native\\.ts$'] },
    },
    {
      name: 'core-files',
      comment: 'errors.ts, the error catalogue and native.ts sit below everything but the redactor.',
      severity: 'error',
      from: { path: '^ts/(errors|error-codes|error-docs|native)\\.ts$' },
      to: { path: '^ts/', pathNot: ['^ts/errors\\.ts$', '^ts/error-codes\\.ts$', '^ts/native\\.ts$', '^ts/common/redact\\.ts$'] },
    },
    {
      name: 'stand-ins-stand-alone',
      comment: 'The local stand-ins are the cloud side: they use common/ and the native core, not the device-side capabilities.',
      severity: 'error',
      from: { path: '^ts/local/' },
      to: { path: '^ts/', pathNot: ['^ts/local/', '^ts/common/', '^ts/errors\\.ts$', '^ts/error-codes\\.ts$', '^ts/native\\.ts$'] },
    },
    {
      name: 'through-the-door',
      comment: 'Composition layers import a capability (or local/) through its index file.',
      severity: 'error',
      from: { path: '^ts/(cli|demo|orchestrator|testbench)/' },
      to: { path: '^ts/(pki|cloud|mqtt|upload|kvs|ptp|local)/', pathNot: ['^ts/[a-z]+/index\\.ts$', '^ts/upload/(presign|cos)\\.ts$'] },
    },
    {
      name: 'no-stand-ins-in-the-barrel',
      comment: "The main barrel ships no stand-in: they are 'camwire/local'.",
      severity: 'error',
      from: { path: '^ts/index\\.ts$' },
      to: { path: '^ts/local/' },
    },
    {
      name: 'no-composition-below',
      comment: 'Nothing under the composition layers imports them.',
      severity: 'error',
      from: { path: '^ts/', pathNot: '^ts/(cli|demo|orchestrator|testbench|index\\.ts)' },
      to: { path: '^ts/(cli|demo|orchestrator|testbench)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|build|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
