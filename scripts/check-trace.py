#!/usr/bin/env python3
"""Checks an `iclsweep train --trace FILE` trace with an independent numpy
implementation written from the description in docs/model.md: the forward pass to
the query logits, the loss, every gradient tensor (against central finite
differences of this numpy forward, in float64) and the Adam update.

    python3 scripts/check-trace.py TRACE.h5      (needs numpy and h5py)

Prints the largest difference per quantity; exits 1 if any is too large.
"""
import json
import sys

import h5py
import numpy as np


def load(group):
    out = {}
    group.visititems(lambda name, obj: out.__setitem__(name, obj[()].astype(np.float64))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def layer_norm(x, gain, bias, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias


def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def sinusoid(T, D, scale):
    t, i = np.arange(T)[:, None], np.arange(D)[None, :]
    angle = t / scale ** ((2 * (i // 2)) / D)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle))


def forward(p, x, labels, cfg):
    """x (B, n+1, dim), labels (B, n) -> query logits (B, outputs)."""
    B, n = labels.shape
    D, H, L = cfg["width"], cfg["heads"], cfg["layers"]
    hd, T = D // H, 2 * n + 1
    mlp = cfg.get("mlp", False)
    emb = x @ p["exemplar_embedding/weight"] + p["exemplar_embedding/bias"]   # (B, n+1, D)
    h = np.zeros((B, T, D))
    h[:, 0::2] = emb
    h[:, 1::2] = p["label_embedding"][labels]
    h += sinusoid(T, D, cfg.get("sinTime", 10000)) if cfg.get("positional") == "sinusoidal" else p["position_embedding"][:T]
    mask = np.tril(np.ones((T, T), dtype=bool))
    for l in range(L):
        a = layer_norm(h, p[f"layer{l}/ln/gain"], p[f"layer{l}/ln/bias"])
        qkv = a @ p[f"layer{l}/attn/qkv"]                                       # (B, T, 3D)
        q, k, v = (qkv[..., i * D:(i + 1) * D].reshape(B, T, H, hd).transpose(0, 2, 1, 3) for i in range(3))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)                     # (B, H, T, T)
        scores = np.where(mask, scores, -1e30)
        w = np.exp(scores - scores.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        y = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        h = h + y @ p[f"layer{l}/attn/out"]
        if mlp:  # pre-LN MLP block with GELU
            a = layer_norm(h, p[f"layer{l}/mlp_ln/gain"], p[f"layer{l}/mlp_ln/bias"])
            u = gelu(a @ p[f"layer{l}/mlp/in/weight"] + p[f"layer{l}/mlp/in/bias"])
            h = h + u @ p[f"layer{l}/mlp/out/weight"] + p[f"layer{l}/mlp/out/bias"]
    z = layer_norm(h[:, -1], p["final_ln/gain"], p["final_ln/bias"])
    return z @ p["unembedding/weight"] + p["unembedding/bias"]


def loss_of(logits, targets):
    m = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - m).sum(-1)) + m[:, 0]
    return float(np.mean(lse - logits[np.arange(len(targets)), targets]))


def main(path):
    f = h5py.File(path, "r")
    cfg = json.loads(f.attrs["config"])
    step = int(f.attrs["step"])
    before, grads, after = load(f["params_before"]), load(f["grads"]), load(f["params_after"])
    x = f["batch/exemplars"][()].astype(np.float64)
    labels, targets = f["batch/labels"][()], f["batch/targets"][()]
    failures = []

    def report(what, err, tol):
        ok = err <= tol
        print(f"{what:32s} max relative difference {err:.2e}  {'ok' if ok else 'TOO LARGE'}")
        if not ok:
            failures.append(what)

    logits = forward(before, x, labels, cfg)
    stored = f["logits"][()]
    report("logits", np.abs(logits - stored).max() / np.abs(stored).max(), 1e-4)
    loss = loss_of(logits, targets)
    report("loss", abs(loss - f["loss"][0]) / abs(loss), 1e-5)

    rng = np.random.default_rng(0)
    for name, g in grads.items():
        # directional derivative of the numpy loss along random directions vs <g, d>
        worst = 0.0
        for _ in range(3):
            d = rng.standard_normal(g.shape)
            h = 1e-4 / np.sqrt(d.size)
            p_up = dict(before); p_up[name] = before[name] + h * d
            p_dn = dict(before); p_dn[name] = before[name] - h * d
            numeric = (loss_of(forward(p_up, x, labels, cfg), targets)
                       - loss_of(forward(p_dn, x, labels, cfg), targets)) / (2 * h)
            analytic = float((g * d).sum())
            worst = max(worst, abs(numeric - analytic) / max(np.linalg.norm(g) * np.linalg.norm(d), 1e-12))
        report(f"grad {name}", worst, 1e-3)

    a = cfg["adam"]
    lr, b1, b2, eps = a["learningRate"], a["beta1"], a["beta2"], a["eps"]
    if step == 1:  # moments start at zero
        for name, g in grads.items():
            m, v = (1 - b1) * g, (1 - b2) * g * g
            expect = before[name] - lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
            # float32 parameters: allow 1e-3 of the update plus one float32 rounding step of p
            allowed = 1e-3 * np.abs(before[name] - expect) + np.spacing(np.abs(expect).astype(np.float32)).astype(np.float64)
            report(f"adam {name} (vs allowed)", (np.abs(after[name] - expect) / allowed).max(), 1.0)
    else:
        print(f"(Adam check skipped: step {step} needs the moments, which a trace does not hold)")
    if failures:
        print(f"FAILED: {', '.join(failures)}")
        return 1
    print("trace consistent with the numpy implementation")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
