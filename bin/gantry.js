#!/usr/bin/env node
// The `gantry` command. Sources are TypeScript; `npm ci` (prepare) and `npm test` build them to dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Node 20 is past its end of life, and the Kubernetes client's HTTP stack (undici 8) fails on it at
// import with a stack trace: say what to do instead (package.json engines, scripts/node.sh).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `gantry: Node.js ${process.versions.node} is too old; Gantry needs Node 24 or newer (26 recommended).\n` +
      '  In the repository, run it as `scripts/node.sh exec npx gantry …`: it fetches the pinned Node 26 once.\n',
  );
  process.exit(2);
}

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('gantry: dist/ is missing; run `npm run build` (or `npm ci`) in the repository first\n');
  process.exit(2);
}
await import(main);
