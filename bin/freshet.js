#!/usr/bin/env node
// The installed CLI runs the compiled sources (built by `npm run build`, which `npm ci` runs via `prepare`).
import '../dist/cli/main.js';
