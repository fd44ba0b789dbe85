#!/usr/bin/env python3
"""Compares the objects two renderings of esk8s create: a kustomize overlay and the chart with the
values that stand for it (tests/helm/drift_test.sh).

  compare.py KUSTOMIZE.yaml HELM.yaml

Objects are matched by (kind, namespace, name). Namespaces are left out (the overlays create them,
the chart expects them to exist with the CA Secret already in them). Every other field must be
equal, except:
  - metadata.labels: the kustomize labels must be a subset of the chart's (which adds Helm's);
  - metadata.annotations and the pod template's annotations (the chart's config checksum);
Lists of named items (env, ports, volumes, volumeMounts, containers) are compared by name, since
the order of a strategic-merge patch result is not meaningful. Prints each difference with its
path and exits 1 when there is any; exit 2 on unreadable input.
"""
import sys

import yaml

MAX_DOCS = 500


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
    except (OSError, yaml.YAMLError) as e:
        print(f"compare.py: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)
    if len(docs) > MAX_DOCS:
        print(f"compare.py: {path} has {len(docs)} objects, more than {MAX_DOCS}", file=sys.stderr)
        sys.exit(2)
    objects = {}
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d:
            print(f"compare.py: {path}: a document that is not a Kubernetes object", file=sys.stderr)
            sys.exit(2)
        if d["kind"] == "Namespace":
            continue
        meta = d.get("metadata") or {}
        key = (d["kind"], meta.get("namespace", ""), meta.get("name", ""))
        if key in objects:
            print(f"compare.py: {path}: {key} twice", file=sys.stderr)
            sys.exit(2)
        objects[key] = d
    return objects


def keyed(items):
    """A list of dicts that each have a unique name (or mountPath) as a dict by that key."""
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    for field in ("name", "mountPath"):
        keys = [i.get(field) for i in items]
        if all(k is not None for k in keys) and len(set(keys)) == len(keys):
            return {k: i for k, i in zip(keys, items)}
    return None


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in b:
                out.append(f"{path}.{k}: only in kustomize: {a[k]!r}")
            elif k not in a:
                out.append(f"{path}.{k}: only in helm: {b[k]!r}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
        return
    if isinstance(a, list) and isinstance(b, list):
        ka, kb = keyed(a), keyed(b)
        if ka is not None and kb is not None:
            diff(ka, kb, path, out)
        elif len(a) != len(b):
            out.append(f"{path}: kustomize {a!r}, helm {b!r}")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                diff(x, y, f"{path}[{i}]", out)
        return
    if a != b:
        out.append(f"{path}: kustomize {a!r}, helm {b!r}")


def strip(obj):
    obj = dict(obj)
    meta = dict(obj.get("metadata") or {})
    labels = meta.pop("labels", None) or {}
    meta.pop("annotations", None)
    obj["metadata"] = meta
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        template["metadata"].pop("annotations", None)
    return obj, labels


def main():
    if len(sys.argv) != 3:
        print("usage: compare.py KUSTOMIZE.yaml HELM.yaml", file=sys.stderr)
        return 2
    kust, helm = load(sys.argv[1]), load(sys.argv[2])
    out = []
    for key in sorted(set(kust) - set(helm)):
        out.append(f"{'/'.join(key)}: only in kustomize")
    for key in sorted(set(helm) - set(kust)):
        out.append(f"{'/'.join(key)}: only in helm")
    for key in sorted(set(kust) & set(helm)):
        a, la = strip(kust[key])
        b, lb = strip(helm[key])
        name = "/".join(k for k in key if k)
        for k, v in sorted(la.items()):
            if lb.get(k) != v:
                out.append(f"{name}: label {k}={v} of kustomize is {lb.get(k)!r} in helm")
        diff(a, b, name, out)
    for line in out:
        print(line)
    print(f"compare.py: {len(set(kust) & set(helm))} objects in both, {len(out)} difference(s)")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
