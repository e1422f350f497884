export * from './authority';
export * from './files';
export * from './keys';
export * from '../common/thing-name';
