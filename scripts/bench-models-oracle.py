"""The oracle side of scripts/bench-models: trains Python's xgboost, LightGBM and scikit-learn's
logistic regression on the float32 matrices bench-models wrote (same rows, same columns, same
parameters) and prints their test ROC AUC and training time as JSON. An oracle only: nothing in
the product runs Python."""
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import lightgbm
import sklearn
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

out = Path(sys.argv[1])
# --xgboost-only: the xgboost timing alone (scripts/bench-models runs it again with Debian's
# libxgboost in place of the wheel's, to tell the library build from the binding).
xgboost_only = "--xgboost-only" in sys.argv[2:]
meta = json.loads((out / "meta.json").read_text())


def matrix(name, columns, rows):
    return np.fromfile(out / f"{name}.f32", dtype=np.float32).reshape(rows, columns)


rows = meta["rows"]
X = {s: matrix(s, meta["columns"], rows[s]) for s in rows}
XL = {s: matrix(f"{s}-linear", meta["linear_columns"], rows[s]) for s in rows}
y = {s: np.fromfile(out / f"{s}-labels.f32", dtype=np.float32) for s in rows}
params = dict(meta["params"])
rounds = meta["rounds"]
threads = int(params["nthread"])

times, cpu_times = [], []
for _ in range(meta["repeats"]):
    started, cpu_started = time.perf_counter(), time.process_time()
    dtrain = xgboost.DMatrix(X["train"], label=y["train"], missing=np.nan, nthread=threads)
    dvalid = xgboost.DMatrix(X["validation"], label=y["validation"], missing=np.nan, nthread=threads)
    booster = xgboost.train(params, dtrain, rounds, evals=[(dtrain, "train"), (dvalid, "validation")], verbose_eval=False)
    times.append(time.perf_counter() - started)
    cpu_times.append(time.process_time() - cpu_started)
dtest = xgboost.DMatrix(X["test"], missing=np.nan)
xgb_auc = roc_auc_score(y["test"], booster.predict(dtest))

if xgboost_only:
    print(json.dumps({"xgboost": {"auc": xgb_auc, "seconds": statistics.median(times), "min_seconds": min(times),
                                  "cpu_seconds": statistics.median(cpu_times), "min_cpu_seconds": min(cpu_times)},
                      "build_info": {k: str(v) for k, v in xgboost.build_info().items()}}))
    sys.exit(0)

product = xgboost.Booster(model_file=str(out / "product-xgboost.json"))
product_pred = np.fromfile(out / "product-test-pred.f32", dtype=np.float32)
loaded_diff = float(np.max(np.abs(product.predict(dtest) - product_pred)))

lgb_times = []
lgb_params = {
    "objective": "binary", "learning_rate": float(params["eta"]), "max_depth": int(params["max_depth"]),
    "num_leaves": min(2 ** int(params["max_depth"]) - 1, 131072), "min_sum_hessian_in_leaf": float(params["min_child_weight"]),
    "lambda_l2": float(params["lambda"]), "max_bin": int(params["max_bin"]), "num_threads": threads, "verbose": -1,
}
for _ in range(meta["repeats"]):
    started = time.perf_counter()
    ltrain = lightgbm.Dataset(X["train"], label=y["train"])
    lvalid = lightgbm.Dataset(X["validation"], label=y["validation"], reference=ltrain)
    lgb = lightgbm.train(lgb_params, ltrain, rounds, valid_sets=[ltrain, lvalid])
    lgb_times.append(time.perf_counter() - started)
lgb_auc = roc_auc_score(y["test"], lgb.predict(X["test"]))

started = time.perf_counter()
lr = LogisticRegression(C=1 / meta["logistic_l2"], max_iter=10000, tol=1e-10).fit(XL["train"], y["train"])
lr_seconds = time.perf_counter() - started
lr_pred = lr.predict_proba(XL["test"])[:, 1]
product_lr = np.fromfile(out / "product-logistic-test-pred.f32", dtype=np.float32)

def version(module):
    return module.__version__

print(json.dumps({
    "xgboost": {"auc": xgb_auc, "seconds": statistics.median(times), "min_seconds": min(times),
                "cpu_seconds": statistics.median(cpu_times), "min_cpu_seconds": min(cpu_times), "max_diff_loaded_product_model": loaded_diff},
    "lightgbm": {"auc": lgb_auc, "seconds": statistics.median(lgb_times)},
    "sklearn_logistic": {"auc": roc_auc_score(y["test"], lr_pred), "seconds": lr_seconds,
                         "max_prob_diff": float(np.max(np.abs(lr_pred - product_lr)))},
    "versions": {"xgboost": version(xgboost), "lightgbm": version(lightgbm), "sklearn": version(sklearn)},
}))
