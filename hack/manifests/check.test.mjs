// Tests of check.mjs itself (node --test): it passes a good deployment and reports each mistake
// in testdata/bad, so the manifest check is not a rubber stamp. Run by ctest (manifests_check_selftest).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.NFSPROV_BINARY;  // optional: adds the image tag checks

function check(dir) {
  const args = [path.join(here, "check.mjs"), "--image", "example.test/nfsprov", path.join(here, "testdata", dir)];
  if (binary) args.push("--binary", binary);
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

test("a valid deployment passes", () => {
  const r = check("good");
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^ok good: 13 objects valid/m);
});

test("every mistake in testdata/bad is reported", () => {
  const r = check("bad");
  assert.equal(r.status, 1, r.out);
  const expected = [
    "Deployment typo: /spec/template/spec/containers/0/imagePullPolice: unknown field",
    "Deployment wrong-type: /spec/replicas must be integer",
    "DaemonSet other-image: /metadata/lables: unknown field",
    'DaemonSet other-image: container nfsprov: image "docker.io/someone/nfs-driver:0.1.0" is not the project\'s image example.test/nfsprov',
    "VolumeSnapshotClass bad-snapshot-class: /parameter: unknown field",
    'VolumeSnapshotClass bad-snapshot-class: /deletionPolicy must be equal to one of the allowed values ["Delete","Retain"]',
    "CSIDriver nfsprov.csi.dev: /spec/attachRequired must be boolean",
    "Widget unknown-kind: no schema for example.test/v1 Widget: unknown kind",
    "DaemonSet server-side: container c: volumeMount missing names no volume of the pod",
    "DaemonSet server-side: container c: volumeMount pods: Bidirectional mount propagation needs privileged: true",
    "DaemonSet server-side: spec.selector app=server-side does not match the pod template's labels",
  ];
  if (binary) {
    expected.push('Deployment typo: container nfsprov: image tag "0.0.9" is not the version the binary prints');
    expected.push('Deployment lock-app: container app: "nfsprov lock --volume-dir /data --name counter --timout 60" ' +
                  "is refused by the binary (exit 109)");
  }
  for (const line of expected) assert.ok(r.out.includes(`FAIL bad: ${line}`), `missing: ${line}\n${r.out}`);
  const fails = r.out.split("\n").filter((l) => l.startsWith("FAIL "));
  assert.equal(fails.length, expected.length, r.out);
});

test("a kustomization that does not render fails", () => {
  const r = check("does-not-exist");
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /kubectl kustomize .* failed/);
});

// Strictness, object by object: a field added anywhere in any object of testdata/good (every kind
// we render) is reported at its path, and so is a wrong type in place of any string, number or
// boolean.
test("an added field or a wrong type anywhere is reported", async () => {
  const { objectProblems } = await import("./check.mjs");
  const r = spawnSync("kubectl", ["kustomize", path.join(here, "testdata/good")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const { parseAllDocuments } = await import("yaml");
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS());
  let fields = 0, leaves = 0;
  for (const o of objects) {
    assert.deepEqual(await objectProblems(o), [], `${o.kind} ${o.metadata.name}`);
    const nodes = [];
    const walk = (node, segs) => {
      if (Array.isArray(node)) node.forEach((c, i) => walk(c, [...segs, i]));
      else if (node !== null && typeof node === "object") {
        nodes.push(segs);
        for (const [k, v] of Object.entries(node)) walk(v, [...segs, k]);
      } else nodes.push({ leaf: segs });
    };
    walk(o, []);
    for (const n of nodes) {
      const copy = structuredClone(o);
      if (Array.isArray(n)) {
        let at = copy;
        for (const s of n) at = at[s];
        // Map-valued fields (labels, parameters, requests) take any key: there the boolean is the error.
        at.nfsprovTypo = true;
        const ptr = n.map((s) => "/" + String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("") + "/nfsprovTypo";
        const problems = await objectProblems(copy);
        assert.ok(problems.some((p) => p.startsWith(ptr)), `${o.kind} ${o.metadata.name}: ${ptr} not reported: ${problems}`);
        fields++;
      } else {
        const segs = n.leaf;
        if (segs.length < 2 || segs[0] === "apiVersion" || segs[0] === "kind") continue;
        let at = copy;
        for (const s of segs.slice(0, -1)) at = at[s];
        const last = segs[segs.length - 1];
        at[last] = { wrong: "type" };
        const problems = await objectProblems(copy);
        assert.ok(problems.length > 0, `${o.kind} ${o.metadata.name}: /${segs.join("/")} as an object not reported`);
        leaves++;
      }
    }
  }
  assert.ok(fields > 100 && leaves > 100, `${fields} fields, ${leaves} leaves`);
});
