export type { BatchBlob, BatchOptions, BlobBatch } from './batches.js';
export { decodeBlobSync, encodeBlobSync } from './blob.js';
export type { Location as BlobLocation } from './blob-index.js';
export { Chunker, type ChunkSizes, chunkSizes, cutLength, GEAR_SEED } from './chunker.js';
export type { CompressionMode, StoreOptions } from './options.js';
export type { BlobEntry, Compression, PackIndex } from './pack.js';
export type { PruneOptions, PruneReport, References } from './prune.js';
export { ContentStore } from './store.js';
export type { CloseResult, EncodedBlob, StoreWriter, WriteResult } from './writer.js';
