#!/usr/bin/env python3
"""PyTorch's CPU training step for the model strata-bench train times: the peer it prints beside
Strata's own step (issue 18). Launched by strata-bench (src/train/bench_peer.c) as a child process;
never needed by the library or its tests.

  torch_peer.py --layers L --heads H --embd C --vocab Vp --batch B --seq T --steps N
                --threads P [--modes f32,bf16]

The model is GPT-2 as strata-train builds it (src/train/gpt2_graph.c): pre-LayerNorm blocks,
causal attention (scaled_dot_product_attention), a tanh-GELU MLP of width 4C, the head tied to the
token embedding, the padded vocabulary Vp, no dropout; AdamW (lr 1e-3, betas 0.9/0.95, eps 1e-8,
weight decay 0.1) with the gradient norm clipped at 1.0, as strata-train's defaults. Each mode is
timed as strata-bench times Strata's step: N steps on random tokens, the first left out, the median
of the rest (and min, max), in ms. Modes: f32 (eager) and bf16 (torch.autocast("cpu", bfloat16),
f32 weights and optimizer as Strata's --dtype bf16).

The last line on stdout is one JSON object: {"torch": version, "threads": P, "f32": {...},
"bf16": {...}} or {"skip": reason} when torch cannot be imported or a mode fails.
"""
import argparse
import json
import math
import statistics
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("layers", "heads", "embd", "vocab", "batch", "seq", "steps", "threads"):
        p.add_argument("--" + name, type=int, required=True)
    p.add_argument("--modes", default="f32,bf16")
    a = p.parse_args()
    if min(a.layers, a.heads, a.embd, a.vocab, a.batch, a.seq, a.threads) < 1 or a.steps < 2:
        p.error("sizes must be >= 1 and --steps >= 2")
    if a.embd % a.heads:
        p.error("--embd must be a multiple of --heads")
    return a


def build(torch, a):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, C, H):
            super().__init__()
            self.H = H
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(a.vocab, a.embd), nn.Embedding(a.seq, a.embd)
            self.blocks = nn.ModuleList(Block(a.embd, a.heads) for _ in range(a.layers))
            self.ln_f = nn.LayerNorm(a.embd)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)  # the head tied to wte
            return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))

    return GPT()


def time_mode(torch, a, mode):
    torch.manual_seed(1337)
    model = build(torch, a)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
    tgt = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
    times, loss = [], float("nan")
    for _ in range(a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=(mode == "bf16")):
            out = model(idx, tgt)
        out.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss = out.item()
        times.append((time.perf_counter() - t0) * 1e3)
    if not math.isfinite(loss):
        raise RuntimeError(f"{mode}: loss is {loss}")
    timed = times[1:]
    return {"ms_median": statistics.median(timed), "ms_min": min(timed), "ms_max": max(timed),
            "timed_steps": len(timed), "loss": loss}


def main():
    a = parse()
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        emit({"skip": f"torch is not importable by {sys.executable}: {e}"})
        return 0
    torch.set_num_threads(a.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.executable}
    for mode in a.modes.split(","):
        if mode not in ("f32", "bf16"):
            emit({"skip": f"unknown mode '{mode}' (f32, bf16)"})
            return 0
        try:
            out[mode] = time_mode(torch, a, mode)
        except Exception as e:
            out[mode] = {"error": f"{type(e).__name__}: {e}"[:200]}
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
