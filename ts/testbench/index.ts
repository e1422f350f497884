/**
 * The device test bench (issue 18), a composition layer over pki/, local/,
 * mqtt/, upload/, kvs/ and ptp/: `init` writes a bench directory, `run` serves
 * it with faults and runs the cases against a device, the reports say why.
 */
export { initBench, BENCH_VERSION, DEFAULT_BENCH_PORTS, DEVICE_PTP_PORT } from './init';
export type { BenchConfig, BenchInitOptions, BenchInitResult } from './init';
export { runBench, benchCases, selectCases } from './run';
export type { RunBenchOptions } from './run';
export type { BenchCase } from './case';
export { junitXml, htmlReport, jsonLine, writeReports } from './report';
export type { BenchReport, CaseResult, CaseFamily, CaseStatus, TimelineEntry, CaseChart } from './report-types';
export { BENCH_OBJECTS } from './objects';
