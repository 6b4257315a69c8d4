// Public surface of the autodiff package.

export * from './adamw.js';
export * from './backward.js';
export * from './composite.js';
export * from './loss.js';
export * from './rules.js';
export * from './tiled-mlp.js';
