#!/usr/bin/env python3
"""The engine benchmark's model-side figures through Python torch, for machines without Java.

Loads the same TorchScript model (model.pt) and drives the same methods the Java worker calls
(prefill, decode_step; caches [L,B,H,C,Dh] preallocated and written in place, left-padded batches)
with a greedy loop, on CUDA when available and on the CPU, and prints:
  * tokens/s at batch 1, 4, 16 (prefill of a 16-token prompt included) and the ratio to batch 1;
  * ms per decode step at a 1k and a 20k context, and their ratio.
It is how the GPU check runs on the lent GPU machine, whose image has PyTorch but no JDK and no
libtorch 2.7.1 for DJL's JNI; the Java loop's overhead is measured by DecodeBenchmark on the CPU.

    python3 scripts/bench_engine_torch.py [model/tiny-kosmos] [--json out.json] [--tokens 128]
"""
import argparse
import json
import time

import torch


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def run_batch(m, cfg, dev, prompt, b, n):
    L, H, Dh = cfg["num_layers"], cfg["num_heads"], cfg["head_dim"]
    t = len(prompt)
    cap = t + n
    k = torch.zeros(L, b, H, cap, Dh, device=dev)
    v = torch.zeros_like(k)
    key_mask = torch.ones(b, cap, dtype=torch.bool, device=dev)
    ids = torch.tensor([prompt] * b, device=dev)
    pos = torch.arange(t, device=dev).unsqueeze(0).expand(b, t).contiguous()
    emb = torch.zeros(1, 0, cfg["hidden_size"], device=dev)
    img = torch.zeros(b, t, dtype=torch.bool, device=dev)
    logits = m.prefill(ids, pos, emb, img, k, v, key_mask, 0)
    p = t
    for _ in range(n - 1):
        tok = torch.argmax(logits, dim=-1, keepdim=True)
        # The Java loop samples on the host: one device-to-host copy per step, as here.
        tok = tok.cpu().to(dev)
        logits = m.decode_step(tok, torch.full((b, 1), p, device=dev), k, v, key_mask, p)
        p += 1
    sync(dev)


def per_token(m, cfg, dev, context, steps=64):
    L, H, Dh = cfg["num_layers"], cfg["num_heads"], cfg["head_dim"]
    cap = context + steps
    k = torch.zeros(L, 1, H, cap, Dh, device=dev)
    v = torch.zeros_like(k)
    key_mask = torch.ones(1, cap, dtype=torch.bool, device=dev)
    ids = (torch.arange(context, device=dev) % 400 + 4).unsqueeze(0)
    pos = torch.arange(context, device=dev).unsqueeze(0)
    emb = torch.zeros(1, 0, cfg["hidden_size"], device=dev)
    img = torch.zeros(1, context, dtype=torch.bool, device=dev)
    # Chunked prefill, as the worker does (512 tokens per call).
    for s in range(0, context, 512):
        e = min(context, s + 512)
        logits = m.prefill(ids[:, s:e], pos[:, s:e], emb, img[:, s:e], k, v, key_mask, s)
    sync(dev)
    t0 = time.perf_counter()
    p = context
    for _ in range(steps):
        tok = torch.argmax(logits, dim=-1, keepdim=True).cpu().to(dev)
        logits = m.decode_step(tok, torch.tensor([[p]], device=dev), k, v, key_mask, p)
        p += 1
    sync(dev)
    return (time.perf_counter() - t0) * 1000 / steps


def bench(model_dir, dev, n, runs):
    cfg = json.load(open(f"{model_dir}/config.json"))
    m = torch.jit.load(f"{model_dir}/model.pt", map_location=dev).eval()
    prompt = [0] + [(i * 7) % 400 + 4 for i in range(15)]
    out = {"device": str(dev)}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    base = None
    rows = {}
    with torch.no_grad():
        for b in (1, 4, 16):
            run_batch(m, cfg, dev, prompt, b, n)
            t0 = time.perf_counter()
            for _ in range(runs):
                run_batch(m, cfg, dev, prompt, b, n)
            tps = b * n * runs / (time.perf_counter() - t0)
            base = base or tps
            rows[str(b)] = {"tokens_per_s": round(tps, 1), "ratio": round(tps / base, 2)}
            print(f"  [{dev}] batch {b:2d}: {tps:10.0f} tokens/s  ({tps / base:.2f}x batch 1)", flush=True)
        per_token(m, cfg, dev, 1000, 8)
        a = min(per_token(m, cfg, dev, 1000) for _ in range(3))
        z = min(per_token(m, cfg, dev, 19900) for _ in range(3))
        print(f"  [{dev}] decode ms/token at 1k {a:.3f}, at 20k {z:.3f}: ratio {z / a:.2f}x", flush=True)
    out["batch"] = rows
    out["context"] = {"ms_per_token_1k": round(a, 4), "ms_per_token_20k": round(z, 4), "ratio": round(z / a, 3)}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="model/tiny-kosmos")
    ap.add_argument("--json")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}", flush=True)
    results = []
    if torch.cuda.is_available():
        results.append(bench(args.model, torch.device("cuda"), args.tokens, args.runs))
    results.append(bench(args.model, torch.device("cpu"), args.tokens, args.runs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
