/** The native mechanism (../../../native): loaded once, typed by its index.d.ts. */
import { createRequire } from 'node:module';
import type * as NativeApi from '@vuos/native';

const require = createRequire(import.meta.url);
export const native: typeof NativeApi = require('@vuos/native');
