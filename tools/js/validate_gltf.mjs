// Validate a .glb / .gltf with the Khronos glTF-Validator and print its report as JSON.
// Usage: node validate_gltf.mjs FILE  (resolves gltf-validator from NODE_PATH or ./node_modules)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(process.cwd() + '/');
const validator = require('gltf-validator');
const file = process.argv[2];
const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), { maxIssues: 1000 });
process.stdout.write(JSON.stringify(report));
