#!/usr/bin/env node
// Schema checks of Kubernetes manifests rendered by `crmctl render --target k8s`.
//
//   node validate.js [--verbose] [--json] FILE...
//
// Every YAML document of every FILE is checked against:
//   - kubernetes-models (the Kubernetes OpenAPI schemas) for the built-in kinds, plus a strict
//     field check (unknown fields are findings, as `kubectl apply --validate=strict` treats them);
//   - cnpg-schema.json (beside this file) for CloudNativePG's Cluster and Pooler;
//   - a minimal schema for kustomize's Kustomization (and that its resources exist);
//   - what the API server checks beyond the schema: a workload's selector matches its pod
//     template, maxSurge/maxUnavailable/minAvailable strings are percentages;
//   - the project's own rules: no Secret carries data, no secret-looking value inline.
// An unknown apiVersion/kind is a finding. One line per finding: `FILE:LINE: kind/name: message`.
// Exit status: 0 no finding, 1 findings, 2 usage error.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const yaml = require('js-yaml');

const CNPG_SCHEMA_FILE = path.join(__dirname, 'cnpg-schema.json');

// ---------------------------------------------------------------------------------------------
// YAML: documents with their first line, and a map from JSON pointer to line.

/// Splits `text` into YAML documents. Returns [{value, line, lines, error}] where line is the
/// 1-based first content line of the document, lines maps a JSON pointer ("/spec/replicas") to
/// its 1-based line, and error (instead of value) holds a parse error. Empty documents are
/// dropped.
function parseDocuments(text) {
  const all = text.split(/\r?\n/);
  const starts = [0];
  for (let i = 0; i < all.length; ++i) {
    if (i > 0 && /^---(\s|$)/.test(all[i])) {
      starts.push(i);
    }
  }
  const docs = [];
  for (let s = 0; s < starts.length; ++s) {
    const begin = starts[s];
    const end = s + 1 < starts.length ? starts[s + 1] : all.length;
    const chunk = all.slice(begin, end).join('\n');
    const root = { children: [] };
    const stack = [root];
    const listener = (event, state) => {
      if (event === 'open') {
        stack.push({ line: state.line, children: [] });
      } else {
        const node = stack.pop();
        node.kind = state.kind;
        node.result = state.result;
        stack[stack.length - 1].children.push(node);
      }
    };
    let value;
    try {
      value = yaml.load(chunk, { listener });
    } catch (e) {
      const line = begin + (e.mark && Number.isInteger(e.mark.line) ? e.mark.line : 0) + 1;
      docs.push({ error: e.reason || e.message, line, lines: new Map() });
      continue;
    }
    if (value === null || value === undefined) {
      continue;
    }
    const lines = new Map();
    const top = root.children.find((n) => n.result === value) || root.children[0];
    if (top) {
      indexLines(top, value, '', lines, begin);
    }
    docs.push({ value, line: lines.get('') || begin + 1, lines });
  }
  return docs;
}

function escapePointer(key) {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

function unwrap(node) {
  // js-yaml reports some sequence items twice (an outer and an inner node for the same value).
  while (node.children.length === 1 && node.children[0].kind === node.kind &&
         node.children[0].result === node.result) {
    node = node.children[0];
  }
  return node;
}

function indexLines(node, value, pointer, lines, offset) {
  node = unwrap(node);
  lines.set(pointer, node.line + offset + 1);
  if (node.kind === 'mapping' && value && typeof value === 'object' && !Array.isArray(value)) {
    const ch = node.children;
    // Children alternate key, value; js-yaml may add an empty node at a mapping's end, so pair
    // defensively: a key is a scalar naming a property whose value is the next node's.
    for (let i = 0; i + 1 < ch.length;) {
      const k = ch[i];
      const key = k.kind === 'scalar' ? String(k.result) : undefined;
      if (key !== undefined && Object.prototype.hasOwnProperty.call(value, key) &&
          unwrap(ch[i + 1]).result === value[key]) {
        const p = `${pointer}/${escapePointer(key)}`;
        lines.set(p, k.line + offset + 1);
        indexLines(ch[i + 1], value[key], p, lines, offset);
        i += 2;
      } else {
        i += 1;
      }
    }
  } else if (node.kind === 'sequence' && Array.isArray(value)) {
    node.children.forEach((child, i) => {
      if (i < value.length) {
        indexLines(child, value[i], `${pointer}/${i}`, lines, offset);
      }
    });
  }
}

/// The line of `pointer` or of its nearest ancestor that has one.
function lineOf(doc, pointer) {
  let p = pointer;
  for (;;) {
    if (doc.lines.has(p)) {
      return doc.lines.get(p);
    }
    if (p === '') {
      return doc.line;
    }
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

function pointerToPath(pointer) {
  if (pointer === '') {
    return '(document)';
  }
  return pointer.slice(1).split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
      .join('')
      .replace(/^\./, '');
}

// ---------------------------------------------------------------------------------------------
// kubernetes-models: the model class of apiVersion/kind, and the field sets from its typings.

const modelCache = new Map();

/// The kubernetes-models class for apiVersion/kind, or null when there is none.
function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' ||
      !/^[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    return null;
  }
  const id = `kubernetes-models/${apiVersion}/${kind}`;
  return loadModel(id, kind);
}

function loadModel(id, className) {
  if (modelCache.has(id)) {
    return modelCache.get(id);
  }
  let model = null;
  try {
    const mod = require(id);
    const cls = mod[className];
    if (typeof cls === 'function' && typeof cls.prototype.validate === 'function') {
      model = { cls, id };
    }
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      throw e;
    }
  }
  modelCache.set(id, model);
  return model;
}

// Field sets come from the package's TypeScript declarations (the OpenAPI schemas it compiles
// do not forbid unknown properties). A type is {kind: 'object', props: Map(name -> type)},
// {kind: 'array', items}, {kind: 'map', values}, {kind: 'ref', file, name} or {kind: 'leaf'}.
const typingCache = new Map();

function splitTopLevel(text, separator) {
  const parts = [];
  let depth = 0;
  let quote = null;
  let start = 0;
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (quote) {
      if (c === '\\') {
        ++i;
      } else if (c === quote) {
        quote = null;
      }
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
    } else if ('{<(['.includes(c)) {
      ++depth;
    } else if ('}>)]'.includes(c)) {
      --depth;
    } else if (c === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((s) => s.trim()).filter((s) => s.length > 0);
}

function parseProps(body, file, imports) {
  const props = new Map();
  for (const decl of splitTopLevel(body, ';')) {
    const m = /^"([^"]+)"\??\s*:\s*([\s\S]*)$/.exec(decl);
    if (m) {
      props.set(m[1], parseType(m[2].trim(), file, imports));
    }
  }
  return props;
}

function parseType(text, file, imports) {
  let m = /^Array<([\s\S]*)>$/.exec(text);
  if (m) {
    return { kind: 'array', items: parseType(m[1].trim(), file, imports) };
  }
  if (text.startsWith('{') && text.endsWith('}')) {
    const inner = text.slice(1, -1).trim();
    m = /^\[key:\s*string\]\s*:\s*([\s\S]*?);?$/.exec(inner);
    if (m) {
      return { kind: 'map', values: parseType(m[1].trim(), file, imports) };
    }
    return { kind: 'object', props: parseProps(inner, file, imports) };
  }
  if (/^I[A-Za-z0-9]+$/.test(text) && imports.has(text)) {
    return { kind: 'ref', file: imports.get(text), name: text };
  }
  return { kind: 'leaf' };
}

/// The object type declared by the typings file `file` (its exported interface), or a leaf.
function typingOf(file) {
  if (typingCache.has(file)) {
    return typingCache.get(file);
  }
  typingCache.set(file, { kind: 'leaf' });  // breaks cycles while parsing
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { kind: 'leaf' };
  }
  text = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    let target;
    if (m[2].startsWith('.')) {
      target = path.resolve(path.dirname(file), `${m[2]}.d.ts`);
    } else {
      try {
        target = require.resolve(m[2]).replace(/\.js$/, '.d.ts');
      } catch {
        continue;
      }
    }
    for (const name of m[1].split(',').map((s) => s.trim()).filter(Boolean)) {
      imports.set(name.split(/\s+as\s+/).pop(), target);
    }
  }
  const head = /export\s+interface\s+\w+(?:\s+extends\s+[\w.<>, ]+)?\s*\{/.exec(text);
  let type = { kind: 'leaf' };
  if (head) {
    let depth = 1;
    let i = head.index + head[0].length;
    const begin = i;
    for (; i < text.length && depth > 0; ++i) {
      if (text[i] === '{') {
        ++depth;
      } else if (text[i] === '}') {
        --depth;
      }
    }
    type = { kind: 'object', props: parseProps(text.slice(begin, i - 1), file, imports) };
  }
  typingCache.set(file, type);
  return type;
}

function typingFileOf(modelId) {
  return require.resolve(modelId).replace(/\.js$/, '.d.ts');
}

/// Reports every property of `value` that the typing `type` does not declare.
function checkUnknownFields(value, type, pointer, report) {
  if (type.kind === 'ref') {
    type = typingOf(type.file);
  }
  if (value === null || typeof value !== 'object') {
    return;
  }
  if (type.kind === 'array') {
    if (Array.isArray(value)) {
      value.forEach((v, i) => checkUnknownFields(v, type.items, `${pointer}/${i}`, report));
    }
  } else if (type.kind === 'map') {
    if (!Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        checkUnknownFields(v, type.values, `${pointer}/${escapePointer(k)}`, report);
      }
    }
  } else if (type.kind === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = `${pointer}/${escapePointer(k)}`;
      if (!type.props.has(k)) {
        report(p, `unknown field "${k}"`);
      } else {
        checkUnknownFields(v, type.props.get(k), p, report);
      }
    }
  }
}

function ajvMessage(err) {
  const p = err.params || {};
  switch (err.keyword) {
    case 'required':
      return { pointer: `${err.instancePath}/${escapePointer(p.missingProperty)}`,
               message: 'required field is missing' };
    case 'enum':
      return { pointer: err.instancePath,
               message: `must be one of ${(p.allowedValues || []).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'format':
      return { pointer: err.instancePath, message: `must be a valid ${p.format}` };
    case 'oneOf':
    case 'anyOf':
      return null;  // its branches' errors say more
    default:
      return { pointer: err.instancePath, message: err.message || err.keyword };
  }
}

/// Validates `value` with the kubernetes-models class `model` (schema + unknown fields).
function checkWithModel(model, value, pointer, report) {
  try {
    new model.cls(value).validate();
  } catch (e) {
    if (!Array.isArray(e.errors)) {
      report(pointer, e.message);
    } else {
      const seen = new Set();
      // A Quantity or IntOrString is a oneOf (number | formatted string): when the string
      // branch's format fails, the number branch's "must be number" only adds noise.
      const formatted = new Set(e.errors.filter((err) => err.keyword === 'format').map((err) => err.instancePath));
      for (const err of e.errors) {
        if (err.keyword === 'type' && formatted.has(err.instancePath)) {
          continue;
        }
        const m = ajvMessage(err);
        if (m === null) {
          continue;
        }
        const key = `${m.pointer} ${m.message}`;
        if (!seen.has(key)) {
          seen.add(key);
          report(pointer + m.pointer, m.message);
        }
      }
      if (seen.size === 0) {
        report(pointer, e.message);
      }
    }
  }
  checkUnknownFields(value, typingOf(typingFileOf(model.id)), pointer, report);
}

// ---------------------------------------------------------------------------------------------
// A JSON Schema subset for CloudNativePG and kustomize: type, required, properties,
// additionalProperties, items, enum, minimum, maximum, minLength, pattern, boolean schemas,
// local $ref, and x-kubernetes-model (delegate a subtree to a kubernetes-models class).

function typeOf(v) {
  if (v === null) {
    return 'null';
  }
  if (Array.isArray(v)) {
    return 'array';
  }
  if (typeof v === 'number') {
    return Number.isInteger(v) ? 'integer' : 'number';
  }
  return typeof v;
}

function typeMatches(v, want) {
  const have = typeOf(v);
  return have === want || (want === 'number' && have === 'integer');
}

function resolveRef(root, ref) {
  if (!ref.startsWith('#/')) {
    throw new Error(`schema: only local $ref is supported, got ${ref}`);
  }
  let s = root;
  for (const part of ref.slice(2).split('/')) {
    s = s[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (s === undefined) {
      throw new Error(`schema: unresolved $ref ${ref}`);
    }
  }
  return s;
}

function checkSchema(schema, value, pointer, root, report) {
  if (schema === true) {
    return;
  }
  if (schema === false) {
    report(pointer, 'not allowed here');
    return;
  }
  if (schema.$ref) {
    checkSchema(resolveRef(root, schema.$ref), value, pointer, root, report);
    return;
  }
  if (schema['x-kubernetes-model']) {
    const id = schema['x-kubernetes-model'];
    const full = id.startsWith('@') ? id : `kubernetes-models/${id}`;
    const model = loadModel(full, id.split('/').pop());
    if (!model) {
      throw new Error(`schema: no kubernetes-models class ${full}`);
    }
    checkWithModel(model, value, pointer, report);
    return;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(value, t))) {
      report(pointer, `must be ${types.join(' or ')}, got ${typeOf(value)} ${JSON.stringify(value)}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) {
    report(pointer, `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(value)}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) {
      report(pointer, `must be >= ${schema.minimum}, got ${value}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      report(pointer, `must be <= ${schema.maximum}, got ${value}`);
    }
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      report(pointer, `must be at least ${schema.minLength} characters long`);
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      report(pointer, `must be ${schema['x-pattern-name'] || `a string matching ${schema.pattern}`}, got ${JSON.stringify(value)}`);
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((v, i) => checkSchema(schema.items, v, `${pointer}/${i}`, root, report));
  }
  if (typeOf(value) === 'object') {
    for (const name of schema.required || []) {
      if (!Object.prototype.hasOwnProperty.call(value, name)) {
        report(`${pointer}/${escapePointer(name)}`, 'required field is missing');
      }
    }
    const props = schema.properties || {};
    for (const [k, v] of Object.entries(value)) {
      const p = `${pointer}/${escapePointer(k)}`;
      if (Object.prototype.hasOwnProperty.call(props, k)) {
        if (props[k] === false) {
          report(p, `field "${k}" is not allowed${schema['x-forbidden-reason'] ? `: ${schema['x-forbidden-reason']}` : ''}`);
        } else {
          checkSchema(props[k], v, p, root, report);
        }
      } else if (schema.additionalProperties === false) {
        report(p, `unknown field "${k}"`);
      } else if (schema.additionalProperties !== undefined && schema.additionalProperties !== true) {
        checkSchema(schema.additionalProperties, v, p, root, report);
      }
    }
  }
}

let cnpgSchemaCache = null;

function cnpgSchema() {
  if (cnpgSchemaCache === null) {
    cnpgSchemaCache = JSON.parse(fs.readFileSync(CNPG_SCHEMA_FILE, 'utf8'));
  }
  return cnpgSchemaCache;
}

// kustomize's own schema is large; we check the fields crmctl writes and that nothing is
// misspelt at the top level.
const KUSTOMIZATION_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind'],
  additionalProperties: false,
  properties: {
    apiVersion: { enum: ['kustomize.config.k8s.io/v1beta1'] },
    kind: { enum: ['Kustomization'] },
    metadata: { type: 'object' },
    resources: { type: 'array', items: { type: 'string', minLength: 1 } },
    components: { type: 'array', items: { type: 'string', minLength: 1 } },
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    namePrefix: { type: 'string' },
    nameSuffix: { type: 'string' },
    commonLabels: { type: 'object', additionalProperties: { type: 'string' } },
    commonAnnotations: { type: 'object', additionalProperties: { type: 'string' } },
    labels: { type: 'array', items: { type: 'object' } },
    images: { type: 'array', items: { type: 'object' } },
    replicas: { type: 'array', items: { type: 'object' } },
    patches: { type: 'array', items: { type: 'object' } },
    patchesStrategicMerge: { type: 'array' },
    patchesJson6902: { type: 'array' },
    configMapGenerator: { type: 'array', items: { type: 'object' } },
    secretGenerator: { type: 'array', items: { type: 'object' } },
    generatorOptions: { type: 'object' },
    replacements: { type: 'array' },
    transformers: { type: 'array' },
    generators: { type: 'array' },
    validators: { type: 'array' },
    crds: { type: 'array' },
    configurations: { type: 'array' },
    openapi: { type: 'object' },
    buildMetadata: { type: 'array' },
    sortOptions: { type: 'object' },
    helmCharts: { type: 'array' },
    helmGlobals: { type: 'object' },
    vars: { type: 'array' },
  },
};

// ---------------------------------------------------------------------------------------------
// The project's rules (docs/architecture.md, "Rendering and validation": secrets are never rendered inline, only referenced).

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?)$/i;

function checkNoInlineSecrets(doc, report) {
  const v = doc.value;
  if (v.apiVersion === 'v1' && v.kind === 'Secret') {
    for (const field of ['data', 'stringData']) {
      if (v[field] && Object.keys(v[field]).length > 0) {
        report(`/${field}`, 'Secret carries inline data; render only references to Secrets created out of band');
      }
    }
  }
  if (v.apiVersion === 'v1' && v.kind === 'ConfigMap' && v.data && typeof v.data === 'object') {
    for (const key of Object.keys(v.data)) {
      if (SECRET_NAME.test(key)) {
        report(`/data/${escapePointer(key)}`, `"${key}" looks like a secret; reference a Secret instead`);
      }
    }
  }
  // Every container's env, wherever the pod template sits.
  const walk = (node, pointer) => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${pointer}/${i}`));
    } else if (node && typeof node === 'object') {
      if (Array.isArray(node.env) && typeof node.name === 'string') {
        node.env.forEach((e, i) => {
          if (e && typeof e.name === 'string' && SECRET_NAME.test(e.name) && e.value !== undefined) {
            report(`${pointer}/env/${i}/value`, `env ${e.name} has an inline value; use valueFrom.secretKeyRef`);
          }
        });
      }
      for (const [k, child] of Object.entries(node)) {
        walk(child, `${pointer}/${escapePointer(k)}`);
      }
    }
  };
  walk(v, '');
}

// The API server rejects a workload whose selector does not select its own pod template.
function checkSelectorMatchesTemplate(doc, report) {
  const spec = doc.value.spec;
  const matchLabels = spec && spec.selector && spec.selector.matchLabels;
  const labels = spec && spec.template && spec.template.metadata && spec.template.metadata.labels;
  if (!matchLabels || typeof matchLabels !== 'object' || !spec.template) {
    return;  // a PodDisruptionBudget or a Service selects pods it does not define
  }
  for (const [k, val] of Object.entries(matchLabels)) {
    if (!labels || labels[k] !== val) {
      report(`/spec/selector/matchLabels/${escapePointer(k)}`,
             `selector ${k}=${val} does not match the pod template's labels`);
    }
  }
}

// maxSurge, maxUnavailable and minAvailable are IntOrString in the schema, but the API server takes
// a string only as a percentage ("25%").
const PERCENT_FIELDS = new Set(['maxSurge', 'maxUnavailable', 'minAvailable']);

function checkPercentFields(node, pointer, report) {
  if (Array.isArray(node)) {
    node.forEach((n, i) => checkPercentFields(n, `${pointer}/${i}`, report));
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      const p = `${pointer}/${escapePointer(k)}`;
      if (PERCENT_FIELDS.has(k) && typeof v === 'string' && !/^[0-9]+%$/.test(v)) {
        report(p, `must be an integer or a percentage such as "25%", got ${JSON.stringify(v)}`);
      } else {
        checkPercentFields(v, p, report);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

/// Checks the manifests in `text` (the contents of `file`). Returns {findings, documents}; a
/// finding is {file, line, kind, name, message}.
function validateText(text, file) {
  const findings = [];
  const docs = parseDocuments(text);
  let documents = 0;
  for (const doc of docs) {
    if (doc.error !== undefined) {
      findings.push({ file, line: doc.line, kind: 'yaml', name: '-', message: doc.error });
      continue;
    }
    ++documents;
    const v = doc.value;
    const kind = v && typeof v === 'object' && typeof v.kind === 'string' ? v.kind : '<no kind>';
    const name = v && v.metadata && typeof v.metadata.name === 'string' ? v.metadata.name : '<unnamed>';
    const report = (pointer, message) => {
      const where = pointerToPath(pointer);
      findings.push({ file, line: lineOf(doc, pointer), kind, name,
                      message: pointer === '' ? message : `${where}: ${message}` });
    };
    if (typeOf(v) !== 'object') {
      report('', `a manifest must be a mapping, got ${typeOf(v)}`);
      continue;
    }
    const apiVersion = v.apiVersion;
    if (typeof apiVersion !== 'string' || typeof v.kind !== 'string') {
      report('', 'apiVersion and kind are required');
      continue;
    }
    if (apiVersion === 'kustomize.config.k8s.io/v1beta1' && v.kind === 'Kustomization') {
      checkSchema(KUSTOMIZATION_SCHEMA, v, '', KUSTOMIZATION_SCHEMA, report);
      checkKustomizationResources(v, file, report);
      continue;
    }
    if (name === '<unnamed>') {
      report('/metadata/name', 'required field is missing');
    }
    const cnpg = cnpgSchema();
    const cnpgKind = cnpg.kinds[`${apiVersion}/${v.kind}`];
    if (cnpgKind !== undefined) {
      checkSchema(cnpgKind, v, '', cnpg, report);
      // CloudNativePG's webhook: a Pooler may not share its Cluster's name.
      if (v.kind === 'Pooler' && v.spec && v.spec.cluster && v.spec.cluster.name === name) {
        report('/metadata/name', 'a Pooler cannot have the same name as its Cluster');
      }
    } else if (apiVersion.startsWith('postgresql.cnpg.io/')) {
      report('', `unknown kind ${apiVersion}/${v.kind} (cnpg-schema.json knows ${Object.keys(cnpg.kinds).join(', ')})`);
      continue;
    } else {
      const model = modelFor(apiVersion, v.kind);
      if (!model) {
        report('', `unknown apiVersion/kind ${apiVersion}/${v.kind}`);
        continue;
      }
      checkWithModel(model, v, '', report);
      checkSelectorMatchesTemplate(doc, report);
      checkPercentFields(v, '', report);
    }
    checkNoInlineSecrets(doc, report);
  }
  findings.sort((a, b) => a.line - b.line);  // stable: a document's findings keep their order
  return { findings, documents };
}

function checkKustomizationResources(v, file, report) {
  if (!Array.isArray(v.resources) || file === '<stdin>') {
    return;
  }
  const dir = path.dirname(file);
  v.resources.forEach((r, i) => {
    if (typeof r !== 'string' || /^[a-z]+:\/\//.test(r)) {
      return;
    }
    const target = path.resolve(dir, r);
    let stat;
    try {
      stat = fs.statSync(target);
    } catch {
      report(`/resources/${i}`, `resource ${r} does not exist`);
      return;
    }
    if (stat.isDirectory() &&
        !['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((k) => fs.existsSync(path.join(target, k)))) {
      report(`/resources/${i}`, `directory ${r} has no kustomization.yaml`);
    }
  });
}

function validateFile(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { findings: [{ file, line: 0, kind: 'file', name: '-', message: e.message }], documents: 0 };
  }
  return validateText(text, file);
}

function formatFinding(f) {
  return `${f.file}:${f.line}: ${f.kind}/${f.name}: ${f.message}`;
}

function main(argv) {
  const usage = 'usage: node validate.js [--verbose] [--json] FILE...';
  let verbose = false;
  let json = false;
  const files = [];
  for (const arg of argv) {
    if (arg === '--verbose' || arg === '-v') {
      verbose = true;
    } else if (arg === '--json') {
      json = true;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage}\n`);
      return 0;
    } else if (arg.startsWith('-') && arg !== '-') {
      process.stderr.write(`validate.js: unknown option ${arg}\n${usage}\n`);
      return 2;
    } else {
      files.push(arg);
    }
  }
  if (files.length === 0) {
    process.stderr.write(`validate.js: no files given\n${usage}\n`);
    return 2;
  }
  const all = [];
  for (const file of files) {
    const { findings, documents } =
        file === '-' ? validateText(fs.readFileSync(0, 'utf8'), '<stdin>') : validateFile(file);
    all.push(...findings);
    if (!json) {
      for (const f of findings) {
        process.stdout.write(`${formatFinding(f)}\n`);
      }
      if (verbose && findings.length === 0) {
        process.stdout.write(`ok ${file} (${documents} document${documents === 1 ? '' : 's'})\n`);
      }
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  }
  return all.length === 0 ? 0 : 1;
}

module.exports = { validateText, validateFile, formatFinding, parseDocuments };

if (require.main === module) {
  // Output piped into `head` and cut short is not an error of ours.
  process.stdout.on('error', (e) => {
    if (e.code !== 'EPIPE') {
      throw e;
    }
  });
  process.exitCode = main(process.argv.slice(2));
}
