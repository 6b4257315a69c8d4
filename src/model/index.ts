// Public surface of the model package.

export * from './build.js';
export * from './config.js';
export * from './forward.js';
export * from './io-names.js';
export * from './load.js';
export * from './metadata.js';
export * from './params.js';
export * from './predictions.js';
