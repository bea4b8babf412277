// Types of gc-relaunch.mjs (plain JavaScript, loaded before the TypeScript loader).
export const RELAUNCHED: string;
export const DEFAULT_OLD_SPACE_FLOOR_MB: number;
export const SINGLE_THREADED_GC_FLAGS: readonly string[];
export function runsSingleThreadedGc(execArgv?: readonly string[]): boolean;
export function serverGcFlags(env?: NodeJS.ProcessEnv, cores?: number): string[];
export function missingServerGcFlags(env?: NodeJS.ProcessEnv): string[];
export function relaunchWithGcFlags(script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number | null>;
export function watchParent(): void;
