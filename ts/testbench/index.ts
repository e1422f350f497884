/**
 * The device test bench (issue 18), a composition layer over pki/ and local/:
 * `init` writes a bench directory; the services, the cases and the reports
 * (`testbench run`) come next.
 */
export { initBench, BENCH_VERSION, DEFAULT_BENCH_PORTS } from './init';
export type { BenchConfig, BenchInitOptions, BenchInitResult } from './init';
