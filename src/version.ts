// Kept in step with package.json by test/unit/version.test.ts; a constant survives bundling into the SEA binary.
export const VERSION = "0.1.0";
