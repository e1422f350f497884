export * from './authority';
export * from './aws';
export * from './aws-docs';
export * from './cos-docs';
export * from './files';
export * from './keys';
export * from '../common/thing-name';
