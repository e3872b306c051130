export { Chunker, chunkSizes, GEAR_SEED } from './chunker.js';
export type { CompressionMode, StoreOptions } from './options.js';
export type { BlobEntry, Compression, PackIndex } from './pack.js';
export type { PruneOptions, PruneReport } from './prune.js';
export { ContentStore } from './store.js';
export type { CloseResult, StoreWriter, WriteResult } from './writer.js';
