// Builds the tenant web app into a static web root crmd serves (docs/architecture.md, "The web app").
// Build time only: crmd never runs Node. Usage: node build.mjs --out DIR
//
//   DIR/index.html               the one page every History-API route answers with
//   DIR/assets/app-<hash>.js     src/main.js and what it imports statically, minified
//   DIR/assets/admin-<hash>.js   src/admin/index.js (the /app/admin screens and uPlot), the
//                                chunk main.js imports dynamically on /app/admin routes only
//   DIR/assets/chunk-<hash>.js   code both share (Preact, htm, ui.js …), preloaded by index.html
//   DIR/assets/app-<hash>.css    src/styles.css, minified
//   DIR/assets/admin-<hash>.css  src/admin/admin.css with uPlot's stylesheet, linked by the
//                                admin chunk when it loads
//   DIR/**.gz, DIR/**.br         pre-compressed siblings the gateway sends when accepted
//   DIR/manifest.json            bytes per file (raw, gz, br) and per page kind (tenant, admin):
//                                what the page-weight budget reads
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

async function bundleCss(entry) {
  const result = await build({
    entryPoints: [join(here, entry)],
    bundle: true,
    minify: true,
    loader: { '.css': 'css' },
    legalComments: 'none',
    write: false,
    logLevel: 'error',
  });
  return result.outputFiles[0].contents;
}

// The script: src/main.js split at its dynamic import of the admin screens, so a tenant's page
// never loads them. `adminCss` (the admin stylesheet's hashed name) is compiled into the admin
// chunk. Returns { files: {name: bytes}, entry, admin, preload } with names under assets/.
async function bundleJs(adminCss) {
  const outdir = join(here, '.esbuild-out'); // never written (write: false); names only
  const result = await build({
    entryPoints: [join(here, 'src/main.js')],
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    outdir,
    entryNames: 'app-[hash]',
    chunkNames: '[name]-[hash]',
    define: { CRM_ADMIN_CSS: JSON.stringify(`/assets/${adminCss}`) },
    legalComments: 'none',
    metafile: true,
    write: false,
    logLevel: 'error',
  });
  const files = {};
  for (const f of result.outputFiles) {
    files[relative(outdir, f.path)] = f.contents;
  }
  const outputs = Object.fromEntries(
    Object.entries(result.metafile.outputs).map(([k, v]) => [relative(outdir, join(here, k)), v]),
  );
  const entry = Object.keys(outputs).find((k) => outputs[k].entryPoint === 'src/main.js');
  const staticImports = (name) => outputs[name].imports.filter((i) => i.kind === 'import-statement')
    .map((i) => relative(outdir, join(here, i.path)));
  const admin = outputs[entry].imports.filter((i) => i.kind === 'dynamic-import')
    .map((i) => relative(outdir, join(here, i.path)));
  if (!entry || admin.length !== 1) {
    throw new Error(`expected one entry and one dynamic admin chunk, got ${entry} and ${admin.join(', ')}`);
  }
  // What loading a script costs: the script and, transitively, what it imports statically.
  const closure = (name, seen = new Set()) => {
    if (!seen.has(name)) {
      seen.add(name);
      staticImports(name).forEach((n) => closure(n, seen));
    }
    return seen;
  };
  const preload = [...closure(entry)].filter((n) => n !== entry);
  const adminOnly = [...closure(admin[0])].filter((n) => !closure(entry).has(n));
  return { files, entry, preload, adminOnly };
}

function indexHtml(js, css, preload) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="A WhatsApp CRM for businesses: one shared inbox, contacts and broadcasts.">
<title>crm — WhatsApp conversations and broadcasts</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${css}">
${preload.map((p) => `<link rel="modulepreload" href="/assets/${p}">\n`).join('')}<script type="module" src="/assets/${js}"></script>
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
  const css = await bundleCss('src/styles.css');
  const adminCss = await bundleCss('src/admin/admin.css');
  const cssName = `app-${hash(css)}.css`;
  const adminCssName = `admin-${hash(adminCss)}.css`;
  const js = await bundleJs(adminCssName);

  // Start clean so old hashed assets do not pile up next to crmd.
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  for (const [name, bytes] of Object.entries(js.files)) {
    writeFileSync(join(out, 'assets', name), bytes);
  }
  writeFileSync(join(out, 'assets', cssName), css);
  writeFileSync(join(out, 'assets', adminCssName), adminCss);
  writeFileSync(join(out, 'index.html'), indexHtml(js.entry, cssName, js.preload));

  const asset = (n) => `assets/${n}`;
  const manifest = {
    files: {},
    entry: { html: 'index.html', js: asset(js.entry), css: asset(cssName) },
    pages: {
      tenant: ['index.html', asset(js.entry), ...js.preload.map(asset), asset(cssName)],
      admin: ['index.html', asset(js.entry), ...js.preload.map(asset), asset(cssName),
        ...js.adminOnly.map(asset), asset(adminCssName)],
    },
  };
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
  // A page's first load: index.html, the script with what it imports statically, the stylesheet;
  // an /app/admin page adds the admin chunk (uPlot included) and its stylesheet.
  const total = (files) => files.reduce(
    (sum, f) => ({ raw: sum.raw + manifest.files[f].raw, gz: sum.gz + manifest.files[f].gz, br: sum.br + manifest.files[f].br }),
    { raw: 0, gz: 0, br: 0 },
  );
  manifest.first_load = total(manifest.pages.tenant);
  manifest.admin_load = total(manifest.pages.admin);
  manifest.budget_bytes = 150 * 1024;
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [page, load] of [['tenant', manifest.first_load], ['admin', manifest.admin_load]]) {
    if (load.gz > manifest.budget_bytes) {
      console.error(`web: ${page} first load ${load.gz} bytes (gzip) is over the ${manifest.budget_bytes}-byte budget`);
      process.exit(1);
    }
  }
  const fmt = (l) => `${l.raw} B raw, ${l.gz} B gzip, ${l.br} B brotli`;
  console.log(`web: ${out}: first load ${fmt(manifest.first_load)}; admin pages ${fmt(manifest.admin_load)}`);
}

main().catch((e) => {
  console.error(`web: ${e.message}`);
  process.exit(1);
});
