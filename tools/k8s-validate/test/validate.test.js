// Tests of validate.js: `node --test test/` (or `npm test`) inside tools/k8s-validate.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { validateFile, validateText, formatFinding } = require('../validate.js');

const FIXTURES = path.join(__dirname, 'fixtures');
const VALIDATE = path.join(__dirname, '..', 'validate.js');

function fixture(name) {
  return path.join(FIXTURES, name);
}

function messages(result) {
  return result.findings.map((f) => `${f.line}: ${f.kind}/${f.name}: ${f.message}`);
}

test('a valid Deployment has no finding', () => {
  const r = validateFile(fixture('valid-deployment.yaml'));
  assert.deepEqual(r.findings, []);
  assert.equal(r.documents, 1);
});

test('a field of the wrong type is reported at its line', () => {
  const r = validateFile(fixture('wrong-type.yaml'));
  assert.deepEqual(messages(r), ['6: Deployment/web: spec.replicas: must be integer']);
});

test('an unknown field of a built-in kind is reported', () => {
  const r = validateFile(fixture('unknown-field.yaml'));
  assert.deepEqual(messages(r),
                   ['17: Deployment/web: spec.template.spec.containers[0].resource: unknown field "resource"']);
});

test('valid CloudNativePG Cluster and Pooler pass the project schema', () => {
  const r = validateFile(fixture('cnpg-valid.yaml'));
  assert.deepEqual(r.findings, []);
  assert.equal(r.documents, 2);
});

test('an unknown field in a CloudNativePG Cluster fails', () => {
  const r = validateFile(fixture('cnpg-unknown-field.yaml'));
  assert.deepEqual(messages(r), ['9: Cluster/pg: spec.storage.sizeLimit: unknown field "sizeLimit"']);
});

test('a missing required CloudNativePG field fails', () => {
  const r = validateFile(fixture('cnpg-missing-required.yaml'));
  assert.deepEqual(messages(r), [
    '5: Cluster/pg: spec.instances: required field is missing',
    '13: Pooler/pg-pooler: spec.pgbouncer: required field is missing',
  ]);
});

test('a CloudNativePG backup section and ScheduledBackup are checked against the schema', () => {
  const r = validateFile(fixture('cnpg-backup.yaml'));
  assert.deepEqual(messages(r), [
    '10: Cluster/pg: spec.backup.retentionPolicy: must be a retention like 30d, 4w or 3m, got "two weeks"',
    '14: Cluster/pg: spec.backup.barmanObjectStore.s3Credentials.accessKeyId.key: required field is missing',
    '20: Cluster/pg: spec.backup.barmanObjectStore.wal.compression: must be one of "gzip", "bzip2", "snappy", got "zip"',
    '27: ScheduledBackup/pg-daily: spec.schedule: must be a six-field cron schedule (seconds first), got "30 3 * * *"',
  ]);
});

test('parameters CloudNativePG manages itself are rejected', () => {
  const r = validateFile(fixture('cnpg-fixed-parameter.yaml'));
  assert.equal(r.findings.length, 2);
  assert.match(r.findings[0].message, /^spec\.postgresql\.parameters\.listen_addresses: .*not allowed/);
  assert.equal(r.findings[0].line, 10);
  assert.match(r.findings[1].message, /^spec\.postgresql\.parameters\.port: /);
});

test('CloudNativePG fields that embed Kubernetes types are checked with kubernetes-models', () => {
  const text = [
    'apiVersion: postgresql.cnpg.io/v1',
    'kind: Cluster',
    'metadata:',
    '  name: pg',
    'spec:',
    '  instances: 1',
    '  resources:',
    '    requests:',
    '      memory: 4GB',
    '  affinity:',
    '    nodeAffinity:',
    '      required: true',
    '',
  ].join('\n');
  assert.deepEqual(messages(validateText(text, 'x.yaml')), [
    '9: Cluster/pg: spec.resources.requests.memory: must be a valid quantity',
    '12: Cluster/pg: spec.affinity.nodeAffinity.required: unknown field "required"',
  ]);
});

test('maxUnavailable and friends take a string only as a percentage', () => {
  const r = validateFile(fixture('percent.yaml'));
  assert.deepEqual(messages(r), [
    '6: PodDisruptionBudget/web: spec.maxUnavailable: must be an integer or a percentage such as "25%", got "one"',
  ]);
});

test('an unknown apiVersion/kind is a finding', () => {
  const r = validateFile(fixture('unknown-kind.yaml'));
  assert.deepEqual(messages(r), [
    '1: Widget/w: unknown apiVersion/kind example.com/v1/Widget',
    '6: Gadget/g: unknown apiVersion/kind v1/Gadget',
  ]);
});

test('multi-document files: each document is checked, lines count from the file start', () => {
  const r = validateFile(fixture('multi-document.yaml'));
  assert.equal(r.documents, 3);
  assert.deepEqual(messages(r), ['28: Service/web: spec.ports[0].port: must be integer']);
});

test('secrets are never inline: a Secret with data, a secret-looking ConfigMap key', () => {
  const r = validateFile(fixture('inline-secret.yaml'));
  assert.deepEqual(r.findings.map((f) => [f.line, f.kind]), [[5, 'Secret'], [13, 'ConfigMap']]);
  assert.match(r.findings[0].message, /Secret carries inline data/);
  assert.match(r.findings[1].message, /STRIPE_SECRET/);
});

test('a Kustomization must name resources that exist', () => {
  const r = validateFile(fixture('kustomize/kustomization.yaml'));
  assert.deepEqual(messages(r),
                   ['5: Kustomization/<unnamed>: resources[1]: resource region-b does not exist']);
  assert.deepEqual(validateFile(fixture('kustomize/region-a/kustomization.yaml')).findings, []);
});

test('a YAML syntax error is a finding at its line', () => {
  const r = validateFile(fixture('bad-yaml.yaml'));
  assert.equal(r.findings.length, 1);
  assert.equal(r.findings[0].kind, 'yaml');
  assert.ok(r.findings[0].line >= 6, `line ${r.findings[0].line}`);
});

test('a document that is not a mapping, or lacks kind, is a finding', () => {
  assert.match(validateText('- a\n- b\n', 'x.yaml').findings[0].message, /must be a mapping/);
  assert.match(validateText('apiVersion: v1\nmetadata: {name: a}\n', 'x.yaml').findings[0].message,
               /apiVersion and kind are required/);
});

test('findings print as FILE:LINE: kind/name: message', () => {
  const f = validateFile(fixture('wrong-type.yaml')).findings[0];
  assert.equal(formatFinding(f), `${fixture('wrong-type.yaml')}:6: Deployment/web: spec.replicas: must be integer`);
});

function run(...args) {
  return spawnSync(process.execPath, [VALIDATE, ...args], { encoding: 'utf8' });
}

test('command line: exit 0 and "ok" lines with --verbose when clean', () => {
  const r = run('--verbose', fixture('valid-deployment.yaml'), fixture('multi-document.yaml'));
  assert.equal(r.status, 1);  // multi-document.yaml has a finding
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines[0], `ok ${fixture('valid-deployment.yaml')} (1 document)`);
  assert.match(lines[1], /multi-document\.yaml:28: Service\/web: /);
  const clean = run('--verbose', fixture('cnpg-valid.yaml'));
  assert.equal(clean.status, 0);
  assert.equal(clean.stdout, `ok ${fixture('cnpg-valid.yaml')} (2 documents)\n`);
  assert.equal(run(fixture('cnpg-valid.yaml')).stdout, '');
});

test('command line: --json prints an array of findings', () => {
  const r = run('--json', fixture('wrong-type.yaml'), fixture('valid-deployment.yaml'));
  assert.equal(r.status, 1);
  assert.deepEqual(JSON.parse(r.stdout), [{
    file: fixture('wrong-type.yaml'), line: 6, kind: 'Deployment', name: 'web',
    message: 'spec.replicas: must be integer',
  }]);
  assert.deepEqual(JSON.parse(run('--json', fixture('valid-deployment.yaml')).stdout), []);
});

test('command line: usage errors exit 2, a missing file is a finding', () => {
  assert.equal(run().status, 2);
  assert.equal(run('--frobnicate', fixture('valid-deployment.yaml')).status, 2);
  const missing = run(fixture('no-such-file.yaml'));
  assert.equal(missing.status, 1);
  assert.match(missing.stdout, /no-such-file\.yaml:0: file\/-: ENOENT/);
});
