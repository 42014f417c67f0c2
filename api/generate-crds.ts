/**
 * Rewrites crds/ from the zod schemas: `npm run build && node dist/api/generate-crds.js`.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../runtime/paths.js';
import { renderCrds } from './crds.js';

const dir = join(packageRoot(), 'crds');
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(renderCrds())) {
  writeFileSync(join(dir, name), text);
  process.stdout.write(`wrote crds/${name}\n`);
}
