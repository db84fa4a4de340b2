"""One-class AUROC: OneClassSDF against IsolationForest and OneClassSVM (scikit-learn).

Run:  .venv/bin/python bench/one_class.py [--seeds 3] [--datasets breast_cancer,wine,digits]

Protocol (one class, thesis section 5.4.2): for each data set bundled with
scikit-learn and each "normal" class, train on 70 % of the normal class only
(features standardized on that training part), test on the remaining 30 % of the
normal class against every sample of the other classes. AUROC of the normality score
(higher = more normal), mean ± std over seeds. For OneClassSDF, the certified AUROC
(Prop. 12) at l2 radii eps (in standardized units) is a guarantee against any attack
of that size; the baselines have none.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from otlip.sdf_mesh import OneClassSDF

RADII = (0.0, 0.05, 0.1, 0.25, 0.5)


def tasks(names, max_classes=None):
    for name in names:
        if name == "breast_cancer":
            d = load_breast_cancer()
            yield name, "benign", d.data, d.target == 1
        elif name == "wine":
            d = load_wine()
            for c in range(3 if max_classes is None else min(3, max_classes)):
                yield name, f"class {c}", d.data, d.target == c
        elif name == "digits":
            d = load_digits()
            for c in range(10 if max_classes is None else min(10, max_classes)):
                yield name, f"digit {c}", d.data, d.target == c
        else:
            raise SystemExit(f"unknown data set {name}")


def one_task(X, normal, seed, steps):
    Xn, Xa = X[normal], X[~normal]
    tr, te = train_test_split(Xn, test_size=0.3, random_state=seed)
    sc = StandardScaler().fit(tr)
    # Constant features (digits' border pixels) have zero scale: StandardScaler keeps
    # them at 0, which is fine for every method.
    tr, te, Xa = sc.transform(tr), sc.transform(te), sc.transform(Xa)
    y = np.r_[np.ones(len(te)), np.zeros(len(Xa))]
    test = np.r_[te, Xa]
    out = {}
    t = time.perf_counter()
    oc = OneClassSDF(hidden=(128, 128, 128), steps=steps, seed=seed).fit(tr)
    out["ocsdf_time"] = time.perf_counter() - t
    s_in, s_out = oc.score_samples(te), oc.score_samples(Xa)
    out["ocsdf"] = roc_auc_score(y, np.r_[s_in, s_out])
    from otlip.sdf_mesh import certified_auroc_curve

    out["cert"] = certified_auroc_curve(s_in, s_out, RADII)
    iso = IsolationForest(random_state=seed).fit(tr)
    out["iforest"] = roc_auc_score(y, iso.score_samples(test))
    svm = OneClassSVM(gamma="scale", nu=0.1).fit(tr)
    out["ocsvm"] = roc_auc_score(y, svm.score_samples(test))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default="breast_cancer,wine,digits")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--max-classes", type=int, default=None, help="normal classes per set")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    radii = " | ".join(f"cert eps={e}" for e in RADII[1:])
    print(
        f"| data set | normal class | OCSDF | {radii} | IsolationForest | OneClassSVM "
        "| OCSDF fit (s) |"
    )
    print("|---|---|---|" + "---|" * (len(RADII) - 1) + "---|---|---|")
    per_ds: dict[str, list] = {}
    for ds, cls, X, normal in tasks(args.datasets.split(","), args.max_classes):
        res = [one_task(X, normal, s, args.steps) for s in range(args.seeds)]
        per_ds.setdefault(ds, []).extend(res)

        def ms(key, i=None, res=res):
            v = np.array([r[key] if i is None else r[key][i] for r in res])
            return f"{100 * v.mean():.1f} ± {100 * v.std():.1f}"

        certs = " | ".join(ms("cert", i) for i in range(1, len(RADII)))
        t = np.mean([r["ocsdf_time"] for r in res])
        print(
            f"| {ds} | {cls} | {ms('ocsdf')} | {certs} | {ms('iforest')} | {ms('ocsvm')} "
            f"| {t:.1f} |",
            flush=True,
        )
    print("\nMean over the classes of each data set:")
    for ds, res in per_ds.items():
        line = ", ".join(
            f"{k} {100 * np.mean([r[k] for r in res]):.1f}" for k in ("ocsdf", "iforest", "ocsvm")
        )
        print(f"- {ds}: {line}")
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
