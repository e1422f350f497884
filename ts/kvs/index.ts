export * from './package';
export * from './credentials';
export * from '../common/sigv4';
export * from './stream';
export * from './feed';
export { pcmH264 } from './pcm-h264';
export type { PcmVideoOptions } from './pcm-h264';
export { kvsControlEndpoint } from '../common/partition';
