export * from './package';
export * from './credentials';
export * from '../common/sigv4';
export * from './stream';
export * from './feed';
