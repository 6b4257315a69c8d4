// Public API of the data layer: datasets, CIFAR-10 / binary / image-folder sources, augmentation and the batch loader.

export { DataError, imageAt, subset, type ImageDataset } from './dataset.js';
export {
  CIFAR10_CLASSES,
  CIFAR10_NPM_SPEC,
  CIFAR10_TARBALL_SHA256,
  cifar10CacheDir,
  defaultDataDir,
  fetchCifar10,
  loadCifar10,
  loadCifar10Binary,
  loadDataSource,
  type DataSourceOptions,
  type LoadCifar10Options,
  type Splits,
} from './cifar10.js';
export { loadImageFolder, type FolderReport, type FolderSplits, type ImageFolderOptions } from './folder.js';
export {
  applyOp,
  augmentBatch,
  crop,
  cutout,
  hflip,
  RA_OPS,
  randAugment,
  randomCropFlip,
  type AugmentOptions,
  type RandAugmentOptions,
} from './augment.js';
export { BatchLoader, shareDataset, type Batch, type LoaderOptions } from './loader.js';
