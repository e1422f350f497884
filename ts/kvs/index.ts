export * from './package';
export * from './local-endpoint';
export * from './credentials';
export * from './local-credentials';
export * from '../common/sigv4';
export * from './stream';
export * from './feed';
