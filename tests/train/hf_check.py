"""strata-train against Hugging Face transformers and an llm.c reference loop written in PyTorch.

usage: hf_check.py STRATA_TRAIN HF_LOGITS WORKDIR

1. A model made by transformers (GPT2LMHeadModel(GPT2Config(...)).save_pretrained) trains in Strata
   (--model DIR) and its loss at step 0 equals HF's on the same batch (1e-5 relative).
2. The checkpoint Strata writes (--ckpt) loads with GPT2LMHeadModel.from_pretrained unmodified (config,
   names, V rows, tied lm_head, no optimizer tensors), and its logits equal Strata's on the same tokens
   (1e-5 relative to the largest logit); --export-hf of it and HF's save_pretrained of it load back in
   Strata with the same logits (the round trip), with and without the "transformer." prefix and with an
   explicit lm_head.weight.
3. --data-order sequential: an llm.c model file and token file written here, trained by Strata with
   train_gpt2.c's settings (lr 1e-4 constant, AdamW betas 0.9/0.999, eps 1e-8, no weight decay, no
   clipping), and by llm.c's loop in PyTorch (its DataLoader without shuffling, its AdamW update); the
   losses agree to 1e-5 relative at every step, across the data's wrap-around. A second run adds llm.c's
   train_gpt2.cu settings: gradient accumulation 2, weight decay 0.1 on matrices and embeddings,
   clipping at 1.0.
Exit 77 (skipped) when torch or transformers cannot be imported.
"""
import json
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file, save_file
    from transformers import GPT2Config, GPT2LMHeadModel
except Exception as e:  # noqa: BLE001 - any import failure means: skip, and say why
    print(f"SKIP: torch/transformers/safetensors not importable: {e!r}")
    sys.exit(77)

torch.set_num_threads(1)
train, hf_logits, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
env = dict(os.environ, STRATA_BACKEND="cpu", OMP_NUM_THREADS="1")
failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def run(*args):
    r = subprocess.run([train, *map(str, args)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"strata-train {' '.join(map(str, args))}: exit {r.returncode}")
    return r.stdout


def losses(log):
    with open(log) as f:
        rows = [json.loads(line) for line in f]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def write_tokens(path, toks):
    """An llm.c token file: 256 int32 header (magic 20240520, version 1, count), uint16 tokens."""
    hdr = np.zeros(256, dtype=np.int32)
    hdr[0], hdr[1], hdr[2] = 20240520, 1, len(toks)
    with open(path, "wb") as f:
        f.write(hdr.tobytes())
        f.write(np.asarray(toks, dtype=np.uint16).tobytes())


def strata_logits(model, toks):
    out = os.path.join(work, "logits.bin")
    r = subprocess.run([hf_logits, model, out, *map(str, toks)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"hf_logits {model}: {r.stderr}")
    return np.fromfile(out, dtype=np.float32).reshape(len(toks), -1)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def hf_logits_of(model, toks):
    with torch.no_grad():
        return model(torch.tensor([toks])).logits[0].numpy()


# ---- 1. a transformers-initialised model trains in Strata with HF's loss at step 0 ----
V, T, B = 100, 16, 2
cfg = GPT2Config(vocab_size=V, n_positions=32, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                 embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)
torch.manual_seed(0)
hf = GPT2LMHeadModel(cfg).eval()
init = os.path.join(work, "hf-init")
hf.save_pretrained(init)
rng = np.random.default_rng(7)
toks = rng.integers(0, V, size=3 * B * T + 1 + 5).tolist()  # 3 sequential samples, a ragged tail
data, val = os.path.join(work, "train.bin"), os.path.join(work, "val.bin")
write_tokens(data, toks)
write_tokens(val, rng.integers(0, V, size=B * T + 1).tolist())
x = torch.tensor(toks[:B * T]).view(B, T)
y = torch.tensor(toks[1:B * T + 1]).view(B, T)
with torch.no_grad():
    hf_loss = F.cross_entropy(hf(x).logits.view(-1, V), y.view(-1)).item()
ck = os.path.join(work, "ck")
run("--model", init, "--data", data, "--val", val, "--data-order", "sequential", "--batch", B, "--seq", T,
    "--steps", 4, "--ckpt", ck, "--log", os.path.join(work, "init.jsonl"))
got = losses(os.path.join(work, "init.jsonl"))[1]
check(abs(got - hf_loss) <= 1e-5 * abs(hf_loss),
      f"HF-initialised model: Strata's step-0 loss {got:.7f}, HF's {hf_loss:.7f}")

# ---- 2. Strata's checkpoint in transformers, and back ----
step_dir = os.path.join(ck, open(os.path.join(ck, "latest")).read().strip())
names = set(load_file(os.path.join(step_dir, "model.safetensors")).keys())
check("transformer.wte.weight" in names and not any(n.startswith("opt.") for n in names),
      f"model.safetensors holds HF names and no optimizer state ({len(names)} tensors)")
loaded = GPT2LMHeadModel.from_pretrained(step_dir).eval()
check(loaded.config.vocab_size == V and loaded.transformer.wte.weight.shape[0] == V,
      f"from_pretrained: vocab_size {loaded.config.vocab_size}, wte rows {loaded.transformer.wte.weight.shape[0]}")
check(loaded.lm_head.weight.data_ptr() == loaded.transformer.wte.weight.data_ptr(), "lm_head tied to wte")
probe = rng.integers(0, V, size=T).tolist()
ref = hf_logits_of(loaded, probe)
mine = strata_logits(step_dir, probe)
check(rel(mine, ref) <= 1e-5, f"logits of the Strata-trained model: Strata vs HF, {rel(mine, ref):.2e} relative")

exported = os.path.join(work, "exported")
run("--model", ck, "--export-hf", exported)
check(rel(hf_logits_of(GPT2LMHeadModel.from_pretrained(exported).eval(), probe), ref) == 0.0,
      "--export-hf of the checkpoint: HF's logits unchanged")
resaved = os.path.join(work, "resaved")
loaded.save_pretrained(resaved)
check(rel(strata_logits(resaved, probe), ref) <= 1e-5, "HF's save_pretrained of it back in Strata")
sd = {k: v.clone() for k, v in loaded.transformer.state_dict().items()}  # GPT2Model's names: no prefix
bare = os.path.join(work, "bare.safetensors")
save_file(sd, bare, metadata={"format": "pt"})
os.makedirs(os.path.join(work, "bare"), exist_ok=True)
r = subprocess.run([hf_logits, bare, os.path.join(work, "l.bin"), *map(str, probe)], env=env,
                   capture_output=True, text=True)
check(r.returncode != 0 and "--heads" in r.stderr, "a bare file without config.json asks for --heads")
withhead = {"transformer." + k: v for k, v in sd.items()}
withhead["lm_head.weight"] = sd["wte.weight"].clone()
lmdir = os.path.join(work, "lmhead")
os.makedirs(lmdir, exist_ok=True)
save_file(withhead, os.path.join(lmdir, "model.safetensors"), metadata={"format": "pt"})
with open(os.path.join(resaved, "config.json")) as f, open(os.path.join(lmdir, "config.json"), "w") as g:
    g.write(f.read())
check(rel(strata_logits(lmdir, probe), ref) <= 1e-5, "an explicit lm_head.weight equal to wte")
withhead["lm_head.weight"][0, 0] += 1.0
save_file(withhead, os.path.join(lmdir, "model.safetensors"), metadata={"format": "pt"})
r = subprocess.run([hf_logits, lmdir, os.path.join(work, "l.bin"), *map(str, probe)], env=env,
                   capture_output=True, text=True)
check(r.returncode != 0 and "lm_head" in r.stderr, "an untied lm_head.weight is refused: " + r.stderr.strip())
run("--model", bare, "--heads", 2, "--export-hf", os.path.join(work, "bare-out"))
check(rel(strata_logits(os.path.join(work, "bare-out"), probe), ref) <= 1e-5,
      "a bare GPT2Model file (no prefix) with --heads, exported and read back")


# ---- 3. --data-order sequential against llm.c's loop in PyTorch ----
def write_llmc_model(path, model, Vp):
    """llm.c's gpt2 checkpoint (version 3): header, then its 16 arrays, matrices as (out, in)."""
    c = model.config
    L, C, maxT = c.n_layer, c.n_embd, c.n_positions
    sd = model.transformer.state_dict()
    hdr = np.zeros(256, dtype=np.int32)
    hdr[:8] = [20240326, 3, maxT, c.vocab_size, L, c.n_head, C, Vp]
    wte = np.zeros((Vp, C), dtype=np.float32)
    wte[:c.vocab_size] = sd["wte.weight"].numpy()
    per_layer = [("ln_1.weight", 0), ("ln_1.bias", 0), ("attn.c_attn.weight", 1), ("attn.c_attn.bias", 0),
                 ("attn.c_proj.weight", 1), ("attn.c_proj.bias", 0), ("ln_2.weight", 0), ("ln_2.bias", 0),
                 ("mlp.c_fc.weight", 1), ("mlp.c_fc.bias", 0), ("mlp.c_proj.weight", 1), ("mlp.c_proj.bias", 0)]
    arrays = [wte, sd["wpe.weight"].numpy()]
    for name, tr in per_layer:
        arrays.append(np.stack([(sd[f"h.{l}.{name}"].T if tr else sd[f"h.{l}.{name}"]).numpy() for l in range(L)]))
    arrays += [sd["ln_f.weight"].numpy(), sd["ln_f.bias"].numpy()]
    with open(path, "wb") as f:
        f.write(hdr.tobytes())
        for a in arrays:
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())


def llmc_reference(model, toks, B, T, steps, K, lr, b1, b2, eps, wd, clip):
    """llm.c's training loop: DataLoader without shuffling (samples of B T tokens, (n - 1) // (B T) of
    them, wrapping), K micro-steps per step (train_gpt2.cu), AdamW as gpt2_update writes it, weight decay
    on matrices and embeddings only, clipping grad_scale = clip / norm when norm > clip."""
    model = model.train()
    params = list(model.parameters())
    decay = {id(p) for n, p in model.named_parameters() if p.dim() == 2}
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    samples, idx, out = (len(toks) - 1) // (B * T), 0, []
    for step in range(steps):
        for p in params:
            p.grad = None
        total = 0.0
        for _ in range(K):
            if idx >= samples:
                idx = 0
            buf = torch.tensor(toks[idx * B * T: idx * B * T + B * T + 1])
            idx += 1
            logits = model(buf[:-1].view(B, T)).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), buf[1:].reshape(-1))
            (loss / K).backward()
            total += loss.item() / K
        out.append(total)
        norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)).item()
        scale = clip / norm if clip > 0 and norm > clip else 1.0
        t = step + 1
        with torch.no_grad():
            for p, mm, vv in zip(params, m, v):
                g = p.grad * scale
                mm.mul_(b1).add_(g, alpha=1 - b1)
                vv.mul_(b2).addcmul_(g, g, value=1 - b2)
                mh, vh = mm / (1 - b1 ** t), vv / (1 - b2 ** t)
                w = wd if id(p) in decay else 0.0
                p.sub_(lr * (mh / (vh.sqrt() + eps) + w * p))
    return out


torch.manual_seed(1)
small = GPT2Config(vocab_size=200, n_positions=32, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                   embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)
ref_model = GPT2LMHeadModel(small)
llmc_file = os.path.join(work, "model.bin")
write_llmc_model(llmc_file, ref_model, 256)
B, T = 4, 16
seq_toks = rng.integers(0, 200, size=5 * B * T + 7).tolist()  # 5 samples: 12 steps wrap twice
seq_data, seq_val = os.path.join(work, "seq.bin"), os.path.join(work, "seq-val.bin")
write_tokens(seq_data, seq_toks)
write_tokens(seq_val, rng.integers(0, 200, size=B * T + 1).tolist())
cases = [("train_gpt2.c", 12, 1, ["--lr", 1e-4, "--beta2", 0.999, "--weight-decay", 0, "--grad-clip", 0],
          dict(lr=1e-4, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, clip=0.0)),
         ("train_gpt2.cu", 6, 2, ["--lr", 3e-4, "--beta2", 0.95, "--weight-decay", 0.1, "--grad-clip", 1.0],
          dict(lr=3e-4, b1=0.9, b2=0.95, eps=1e-8, wd=0.1, clip=1.0))]
for name, steps, K, opts, hp in cases:
    import copy
    want = llmc_reference(copy.deepcopy(ref_model), seq_toks, B, T, steps, K, **hp)
    log = os.path.join(work, f"seq-{K}.jsonl")
    run("--model", "llmc:" + llmc_file, "--data", seq_data, "--val", seq_val, "--data-order", "sequential",
        "--batch", B, "--seq", T, "--steps", steps, "--grad-accum", K, "--lr-schedule", "constant", "--warmup", 0,
        "--beta1", 0.9, "--eps", 1e-8, "--log", log, *opts)
    got = losses(log)
    worst = max(abs(got[i + 1] - w) / abs(w) for i, w in enumerate(want))
    check(worst <= 1e-5, f"{name} settings, sequential order, {steps} steps x {K}: Strata's losses vs llm.c's loop "
          f"in PyTorch, worst {worst:.1e} relative (first {got[1]:.6f} / {want[0]:.6f}, last {got[steps]:.6f} / "
          f"{want[-1]:.6f})")
    random_log = os.path.join(work, f"rnd-{K}.jsonl")
    run("--model", "llmc:" + llmc_file, "--data", seq_data, "--val", seq_val, "--batch", B, "--seq", T,
        "--steps", 2, "--log", random_log, "--lr-schedule", "constant", "--warmup", 0, *opts)
    check(losses(random_log)[1] != got[1], "the default random order reads other windows")

print(f"{len(failures)} failed" if failures else "passed")
sys.exit(1 if failures else 0)
