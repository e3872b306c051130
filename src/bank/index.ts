export type { ContentKeys, EncryptionMode, EncryptionSettings } from './encrypted.js';
export { FsBank, type FsBankOptions } from './fs.js';
export { keyProblem, MAX_KEY_LENGTH, MAX_SEGMENT_LENGTH } from './keys.js';
export { MemoryBank, type MemoryBankOptions } from './memory.js';
export type { RetryOptions } from './retry.js';
export { S3Bank, type S3BankOptions } from './s3.js';
export type { ReadOptions } from './store.js';
export type {
  AcquireLeaseOptions,
  Bank,
  Lease,
  LeaseInfo,
  ListOptions,
  ObjectInfo,
  Pieces,
  PutData,
  SectionOptions,
  StagedObject,
} from './types.js';
export { Parts } from './types.js';
