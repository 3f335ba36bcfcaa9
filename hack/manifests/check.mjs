#!/usr/bin/env node
// Checks the deploy manifests offline, as CI does (docs/install.md, "How CI checks the manifests").
//
//   node hack/manifests/check.mjs [--binary PATH] [--image NAME] [--out DIR] [KUSTOMIZATION_DIR...]
//
// Without directories it checks deploy/base and every deploy/overlays/*/ that has a
// kustomization.yaml. Each one is rendered with `kubectl kustomize` and every object is validated:
//   - against the Kubernetes OpenAPI schema of its apiVersion/kind (npm kubernetes-models, which
//     compiles the official schemas), or for snapshot.storage.k8s.io/v1 VolumeSnapshotClass against
//     schemas/volumesnapshotclass-v1.json; a kind with no schema is a failure;
//   - strictly: a field the schema does not know (a typo such as `imagePullPolice`) is a failure,
//     as with `kubectl apply --validate=strict` (the schemas alone accept unknown fields, see
//     unknownFields below);
//   - a few rules only the API server knows (volumeMounts name volumes, Bidirectional propagation
//     needs privileged, the selector selects the pod template, container names are unique);
//   - images: every container running nfsprov uses the project's image (any registry; the base kustomization's
//     `images:` entry, or --image) with the tag `nfsprov version` prints (with --binary);
//   - with --binary, every `nfsprov lock ... --` in a container's command is accepted by the binary.
// --out DIR writes DIR/<name>.json, the rendered objects as a JSON array (e2e/manifests_test.cc).
// Exit status 0 and one line per kustomization when all is well; 1 with one line per problem.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

// The npm packages (package-lock.json), installed by `make test-deps` into hack/manifests/node_modules.
async function need(name) {
  try {
    return await import(name);
  } catch (e) {
    if (e.code !== "ERR_MODULE_NOT_FOUND") throw e;
    console.error(`check.mjs: npm package ${name} is missing: run \`make test-deps\` (or \`npm ci --prefix hack/manifests\`)`);
    process.exit(2);
  }
}
const { parseAllDocuments } = await need("yaml");
const { default: Ajv } = await need("ajv");
await need("kubernetes-models");

function usage(message) {
  console.error(`check.mjs: ${message}\nusage: node check.mjs [--binary PATH] [--image NAME] [--out DIR] [DIR...]`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { dirs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === "--binary") opts.binary = value();
    else if (a === "--image") opts.image = value();
    else if (a === "--out") opts.out = value();
    else if (a === "-h" || a === "--help") usage("help");
    else if (a.startsWith("-")) usage(`unknown option ${a}`);
    else opts.dirs.push(a);
  }
  return opts;
}

// ---- rendering -------------------------------------------------------------------------------

function kubectlOrDie() {
  let out;
  try {
    out = execFileSync("kubectl", ["version", "--client"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    console.error("check.mjs: kubectl not found (needed for `kubectl kustomize`); install it " +
      "(https://kubernetes.io/docs/tasks/tools/) or put it on PATH");
    process.exit(2);
  }
  const m = /Kustomize Version: v(\d+)/.exec(out);
  if (!m || Number(m[1]) < 5) {
    console.error(`check.mjs: kubectl's kustomize is older than v5 (${out.trim().replace(/\n/g, "; ")}): install kubectl >= 1.27`);
    process.exit(2);
  }
}

function render(dir) {
  try {
    return execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`kubectl kustomize ${dir} failed: ${(e.stderr || e.message).trim()}`);
  }
}

function parseStream(text, dir) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${dir}: YAML: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o !== null && o !== undefined) objects.push(o);
  }
  return objects;
}

// ---- schemas -------------------------------------------------------------------------------

// Custom resources that kubernetes-models does not cover, with schemas kept in schemas/.
const ajv = new Ajv({ allErrors: true, strict: false });
const customSchemas = {
  "snapshot.storage.k8s.io/v1/VolumeSnapshotClass":
    JSON.parse(fs.readFileSync(path.join(here, "schemas/volumesnapshotclass-v1.json"), "utf8")),
};

const { ObjectMeta } = await need("@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta");

function errorsOf(fn) {
  try {
    fn();
    return [];
  } catch (e) {
    if (Array.isArray(e.errors)) return e.errors;
    throw e;
  }
}

// Returns validate(object) -> ajv-style errors ([] when valid), or null when there is no schema.
const validators = new Map();
async function validatorFor(apiVersion, kind) {
  const id = `${apiVersion}/${kind}`;
  if (validators.has(id)) return validators.get(id);
  let v = null;
  if (customSchemas[id]) {
    const compiled = ajv.compile(customSchemas[id]);
    v = (o) => {
      const errors = compiled(o) ? [] : [...compiled.errors];
      if (o && typeof o.metadata === "object" && o.metadata !== null)
        errors.push(...errorsOf(() => new ObjectMeta(o.metadata).validate())
          .map((e) => ({ ...e, instancePath: "/metadata" + e.instancePath })));
      return errors;
    };
  } else if (/^[A-Z][A-Za-z0-9]*$/.test(kind) && /^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) {
    // kubernetes-models: one module per kind, at <group>/<version>/<Kind> ("v1/Service" for core).
    try {
      const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
      const Model = mod[kind];
      if (Model && Model.kind === kind && Model.apiVersion === apiVersion)
        v = (o) => errorsOf(() => new Model(o).validate());
    } catch (e) {
      if (e.code !== "ERR_MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  validators.set(id, v);
  return v;
}

function pointer(segments) {
  return segments.map((s) => "/" + String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

function errorsAt(errors, ptr) {
  return errors.filter((e) => e.instancePath === ptr || e.instancePath.startsWith(ptr + "/"));
}

// The schemas (Kubernetes' own OpenAPI) do not forbid unknown fields, and the API server drops
// them silently unless asked to be strict, so a typo would pass. Each field is probed instead: its
// value is replaced by a boolean, then by a string; a field the schema knows rejects at least one
// of the two at its own path (every typed field rejects one; only free-form JSON fields, which
// nothing we render has, accept both). A field that accepts both is unknown.
function unknownFields(validate, obj) {
  const unknown = [];
  const walk = (node, segs) => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, [...segs, i]));
      return;
    }
    if (node === null || typeof node !== "object") return;
    for (const key of Object.keys(node)) {
      const ptr = pointer([...segs, key]);
      const saved = node[key];
      let known = false;
      for (const probe of [true, "nfsprov-probe"]) {
        node[key] = probe;
        if (errorsAt(validate(obj), ptr).length) {
          known = true;
          break;
        }
      }
      node[key] = saved;
      if (!known) unknown.push(ptr);
      else walk(saved, [...segs, key]);
    }
  };
  walk(obj, []);
  return unknown;
}

// ---- images ---------------------------------------------------------------------------------

function splitImage(image) {
  let name = image, tag = "", digest = "";
  const at = name.indexOf("@");
  if (at >= 0) [name, digest] = [name.slice(0, at), name.slice(at + 1)];
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) [name, tag] = [name.slice(0, colon), name.slice(colon + 1)];
  return { name, tag, digest };
}

// The image the project builds: the base kustomization's images: entry for nfsprov.
function projectImage() {
  const file = path.join(repo, "deploy/base/kustomization.yaml");
  if (!fs.existsSync(file)) return null;
  const k = parseAllDocuments(fs.readFileSync(file, "utf8"))[0].toJS() || {};
  const entries = (k.images || []).filter((e) => /(^|\/)nfsprov$/.test(e.newName || e.name || ""));
  if (entries.length !== 1) return null;
  return entries[0].newName || entries[0].name;
}

function binaryVersion(binary) {
  const out = execFileSync(binary, ["version"], { encoding: "utf8" }).trim();
  const m = /^nfsprov (\S+)$/.exec(out);
  if (!m) throw new Error(`${binary} version printed "${out}", not "nfsprov VERSION"`);
  return m[1];
}

function podSpecOf(o) {
  if (o.kind === "Pod") return o.spec;
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  return o.spec?.template?.spec;
}

function runsNfsprov(c, image) {
  const cmd = [...(c.command || []), ...(c.args || [])];
  return splitImage(c.image || "").name === image || /(^|\/)nfsprov$/.test(splitImage(c.image || "").name) ||
    (c.command || []).some((a) => /(^|\/)nfsprov$/.test(a)) || cmd[0] === "nfsprov";
}

function imageProblems(o, image, version) {
  const spec = podSpecOf(o);
  if (!spec) return [];
  const problems = [];
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    if (!runsNfsprov(c, image)) continue;
    const { name, tag, digest } = splitImage(c.image || "");
    // The project's image, from any registry (an overlay may point at a mirror).
    if (name !== image && !name.endsWith("/" + path.basename(image)))
      problems.push(`container ${c.name}: image "${c.image}" is not the project's image ${image}`);
    else if (version && tag !== version)
      problems.push(`container ${c.name}: image tag "${tag}" is not the version the binary prints (${version})`);
    else if (!tag && !digest) problems.push(`container ${c.name}: image "${c.image}" has no tag`);
  }
  return problems;
}

// `nfsprov lock ... -- CMD` inside a container's shell command (an app running its writes under
// a lock): each invocation's flags are given to the binary, with --volume-dir pointing at an empty
// directory. The binary must get as far as looking for the volume's lock file (exit 77, "has no
// .nfsprov-lock.json"): a flag it does not know, or a bad value, stops it earlier.
function lockCommandProblems(o, binary) {
  const spec = podSpecOf(o);
  if (!spec) return [];
  const problems = [];
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    const text = [...(c.command || []), ...(c.args || [])].join("\n").replace(/\\\n/g, " ");
    for (const m of text.matchAll(/nfsprov\s+lock\s+(.*?)\s--\s/gs)) {
      const args = m[1].trim().split(/\s+/);
      const shown = `"nfsprov lock ${args.join(" ")}"`;
      if (args.some((a) => /["'$`]/.test(a))) {
        problems.push(`container ${c.name}: cannot check ${shown}: quoted or variable arguments`);
        continue;
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nfsprov-lock-check-"));
      const at = args.findIndex((a) => a === "--volume-dir" || a.startsWith("--volume-dir="));
      if (at >= 0 && args[at] === "--volume-dir") args[at + 1] = dir;
      else if (at >= 0) args[at] = `--volume-dir=${dir}`;
      const r = spawnSync(binary, ["lock", ...args, "--", "true"], { encoding: "utf8" });
      fs.rmSync(dir, { recursive: true, force: true });
      if (r.status !== 77 || !r.stderr.includes("has no .nfsprov-lock.json"))
        problems.push(`container ${c.name}: ${shown} is refused by the binary (exit ${r.status}): ` +
                      `${(r.stderr || "").trim().split("\n")[0]}`);
    }
  }
  return problems;
}

// A few of the API server's own checks that no schema expresses and that would fail `kubectl apply`.
function podProblems(o) {
  const spec = podSpecOf(o);
  if (!spec) return [];
  const problems = [];
  const volumes = new Set((spec.volumes || []).map((v) => v.name));
  const names = new Set();
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    if (names.has(c.name)) problems.push(`container ${c.name}: two containers of the pod have this name`);
    names.add(c.name);
    for (const m of c.volumeMounts || []) {
      if (!volumes.has(m.name)) problems.push(`container ${c.name}: volumeMount ${m.name} names no volume of the pod`);
      if (m.mountPropagation === "Bidirectional" && c.securityContext?.privileged !== true)
        problems.push(`container ${c.name}: volumeMount ${m.name}: Bidirectional mount propagation needs privileged: true`);
    }
  }
  const selector = o.spec?.selector?.matchLabels;
  const labels = o.spec?.template?.metadata?.labels || {};
  if (selector && o.kind !== "Job" && o.kind !== "Pod")
    for (const [k, v] of Object.entries(selector))
      if (labels[k] !== v) problems.push(`spec.selector ${k}=${v} does not match the pod template's labels`);
  return problems;
}

// ---- main -----------------------------------------------------------------------------------

function targets(dirs) {
  if (dirs.length) return dirs.map((d) => ({ name: path.basename(path.resolve(d)), dir: path.resolve(d) }));
  const list = [];
  const base = path.join(repo, "deploy/base");
  if (fs.existsSync(path.join(base, "kustomization.yaml"))) list.push({ name: "base", dir: base });
  const overlays = path.join(repo, "deploy/overlays");
  if (fs.existsSync(overlays))
    for (const n of fs.readdirSync(overlays).sort())
      if (fs.existsSync(path.join(overlays, n, "kustomization.yaml")))
        list.push({ name: n, dir: path.join(overlays, n) });
  return list;
}

// For check.test.mjs: the per-object checks without the command line.
export async function objectProblems(o) {
  const validate = await validatorFor(o.apiVersion, o.kind);
  if (!validate) return null;
  return [...validate(o).map((e) => `${e.instancePath} ${e.message}`),
    ...unknownFields(validate, structuredClone(o)).map((p) => `${p}: unknown field`)];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  kubectlOrDie();
  const list = targets(opts.dirs);
  if (!list.length) {
    console.error("check.mjs: nothing to check: no deploy/base or deploy/overlays/*/kustomization.yaml");
    process.exit(1);
  }
  const image = opts.image || projectImage();
  let version = null;
  if (opts.binary) version = binaryVersion(opts.binary);
  if (opts.out) fs.mkdirSync(opts.out, { recursive: true });

  let failed = 0;
  for (const { name, dir } of list) {
    const problems = [];
    let objects = [];
    try {
      objects = parseStream(render(dir), dir);
    } catch (e) {
      problems.push(e.message);
    }
    const kinds = new Map();
    if (!image && objects.length) problems.push("no project image: give --image, or an nfsprov entry in deploy/base/kustomization.yaml images:");
    for (const o of objects) {
      const what = `${o.kind || "?"} ${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name || "?"}`;
      const add = (m) => problems.push(`${what}: ${m}`);
      if (typeof o !== "object" || Array.isArray(o) || !o.apiVersion || !o.kind) {
        add("not a Kubernetes object (no apiVersion/kind)");
        continue;
      }
      kinds.set(o.kind, (kinds.get(o.kind) || 0) + 1);
      const validate = await validatorFor(o.apiVersion, o.kind);
      if (!validate) {
        add(`no schema for ${o.apiVersion} ${o.kind}: unknown kind (add it to check.mjs's schemas if it is real)`);
        continue;
      }
      const messages = new Set();
      for (const e of validate(o)) {
        if (e.keyword === "additionalProperties") messages.add(`${e.instancePath}${pointer([e.params.additionalProperty])}: unknown field`);
        else messages.add(`${e.instancePath || "/"} ${e.message}${e.params?.allowedValues ? " " + JSON.stringify(e.params.allowedValues) : ""}`);
      }
      for (const ptr of unknownFields(validate, structuredClone(o))) messages.add(`${ptr}: unknown field`);
      for (const m of messages) add(m);
      for (const m of podProblems(o)) add(m);
      if (image) for (const m of imageProblems(o, image, version)) add(m);
      if (opts.binary) for (const m of lockCommandProblems(o, opts.binary)) add(m);
    }
    if (opts.out && objects.length) fs.writeFileSync(path.join(opts.out, `${name}.json`), JSON.stringify(objects, null, 1) + "\n");
    if (problems.length) {
      failed++;
      for (const p of problems) console.log(`FAIL ${name}: ${p}`);
    } else {
      const summary = [...kinds].map(([k, n]) => (n > 1 ? `${n} ${k}` : k)).join(", ");
      console.log(`ok ${name}: ${objects.length} objects valid (${summary})`);
    }
  }
  process.exit(failed ? 1 : 0);
}
