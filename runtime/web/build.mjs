// Builds the tenant web app into a static web root crmd serves (docs/architecture.md, "The web app").
// Build time only: crmd never runs Node. Usage: node build.mjs --out DIR
//
//   DIR/index.html               the one page every History-API route answers with
//   DIR/assets/app-<hash>.js     src/main.js and its imports, bundled and minified
//   DIR/assets/app-<hash>.css    src/styles.css, minified
//   DIR/**.gz, DIR/**.br         pre-compressed siblings the gateway sends when accepted
//   DIR/manifest.json            bytes per file (raw, gz, br): what the page-weight budget reads
//
// index.html holds no inline script or style: the gateway's CSP allows 'self' only.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const i = argv.indexOf('--out');
  if (i < 0 || !argv[i + 1]) {
    console.error('usage: node build.mjs --out DIR');
    process.exit(2);
  }
  return { out: argv[i + 1] };
}

const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

async function bundle(entry, loader) {
  const result = await build({
    entryPoints: [join(here, entry)],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    loader,
    legalComments: 'none',
    write: false,
    logLevel: 'error',
  });
  return result.outputFiles[0].contents;
}

function indexHtml(js, css) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="A WhatsApp CRM for businesses: one shared inbox, contacts and broadcasts.">
<title>crm — WhatsApp conversations and broadcasts</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<div id="app"><noscript>This app needs JavaScript.</noscript></div>
</body>
</html>
`;
}

// Every file under dir, relative to it, sorted (deterministic manifest).
function walk(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))]))
    .sort();
}

async function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const js = await bundle('src/main.js', { '.js': 'js' });
  const css = await bundle('src/styles.css', { '.css': 'css' });
  const jsName = `app-${hash(js)}.js`;
  const cssName = `app-${hash(css)}.css`;

  // Start clean so old hashed assets do not pile up next to crmd.
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  writeFileSync(join(out, 'assets', jsName), js);
  writeFileSync(join(out, 'assets', cssName), css);
  writeFileSync(join(out, 'index.html'), indexHtml(jsName, cssName));

  const manifest = { files: {}, entry: { html: 'index.html', js: `assets/${jsName}`, css: `assets/${cssName}` } };
  for (const file of walk(out)) {
    const raw = readFileSync(join(out, file));
    const gz = gzipSync(raw, { level: 9 });
    const br = brotliCompressSync(raw, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
    });
    writeFileSync(join(out, `${file}.gz`), gz);
    writeFileSync(join(out, `${file}.br`), br);
    manifest.files[file] = { raw: raw.length, gz: gz.length, br: br.length };
  }
  // The first load of any page is index.html + the script + the stylesheet (no other request).
  const first = Object.values(manifest.entry).reduce(
    (sum, f) => ({ raw: sum.raw + manifest.files[f].raw, gz: sum.gz + manifest.files[f].gz, br: sum.br + manifest.files[f].br }),
    { raw: 0, gz: 0, br: 0 },
  );
  manifest.first_load = first;
  manifest.budget_bytes = 150 * 1024;
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (first.gz > manifest.budget_bytes) {
    console.error(`web: first load ${first.gz} bytes (gzip) is over the ${manifest.budget_bytes}-byte budget`);
    process.exit(1);
  }
  console.log(`web: ${out}: first load ${first.raw} B raw, ${first.gz} B gzip, ${first.br} B brotli`);
}

main().catch((e) => {
  console.error(`web: ${e.message}`);
  process.exit(1);
});
