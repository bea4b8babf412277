// Types for the one node-postgres helper the PGlite client shares with the PostgreSQL path
// (src/store/pglite.ts): the conversion of a JavaScript value into parameter text.
declare module 'pg/lib/utils.js' {
  const utils: {
    /** null/undefined → null; Buffer as is; arrays → array literal; dates → text with offset; objects → JSON; the rest → String. */
    prepareValue(value: unknown): string | Buffer | null;
  };
  export default utils;
}
