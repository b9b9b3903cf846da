"""Trains the demo model: a BitNet b1.58 chat model small enough to ship inside the SDK's apps.

    python train.py --out runs/demo            # the shipped model (see README.md for the time)
    python train.py --out /tmp/smoke --steps 20 --long-steps 5 --eval-every 0 --final-eval 0  # smoke

Writes to ``--out``: ``params.npz`` (latent float weights), ``config.json`` (model, training
and data settings), ``tokenizer.json``, ``loss.csv`` and ``loss.png`` (the loss curve), and
``eval.json`` (the framework's greedy answers to the held-out questions and their accuracy).
``export.py`` turns the run into GGUF files.

Everything is seeded: the data stream, the vocabulary and the initial weights. Set
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` and run on one thread to rule out the only
nondeterminism left (the order of float additions split across threads).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import dataset
import evaluate
from model import PROJECTIONS, Config, Mode, forward, init_params
from tasks import Tasks


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--seed", type=int, default=1, help="seed of data, vocabulary and weights")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=16, help="rows per step")
    p.add_argument("--seq", type=int, default=256, help="tokens per row")
    p.add_argument("--long-seq", type=int, default=512,
                   help="tokens per row in the last --long-steps steps: the model's context")
    p.add_argument("--long-steps", type=int, default=600,
                   help="final steps on rows of --long-seq tokens (half as many rows) with long chats")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.05, help="on the latent projections only")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--embd", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--eval-every", type=int, default=1000, help="steps between quick evaluations (0: none)")
    p.add_argument("--final-eval", type=int, default=1, help="answer the whole held-out set at the end")
    return p.parse_args()


def learning_rate(args: argparse.Namespace):
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    return optax.warmup_cosine_decay_schedule(0.0, args.lr, args.warmup, max(args.steps, args.warmup + 1),
                                              end_value=args.lr / 10)


def decay_mask(params: dict) -> dict:
    """Weight decay on the projections' latent weights only."""
    return {"token_embd": False, "output_norm": False,
            "blocks": [{k: k in PROJECTIONS for k in blk} for blk in params["blocks"]]}


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    tasks = Tasks()
    tok = dataset.train_tokenizer(dataset.tokenizer_corpus(tasks, args.seed), args.vocab)
    tok.save(str(args.out / "tokenizer.json"))
    cfg = Config(vocab=tok.get_vocab_size(), embd=args.embd, layers=args.layers, heads=args.heads,
                 kv_heads=args.kv_heads, ffn=args.ffn, context=max(args.seq, args.long_seq))
    short = dataset.Batches(tok, tasks, args.seq, args.seed)
    long = dataset.Batches(tok, tasks, args.long_seq, args.seed + 1, long_chats=0.5)
    long_from = args.steps - args.long_steps
    params = init_params(cfg, jax.random.PRNGKey(args.seed))
    opt = optax.chain(optax.clip_by_global_norm(1.0),
                      optax.adamw(learning_rate(args), b1=0.9, b2=0.95, weight_decay=args.weight_decay,
                                  mask=decay_mask(params)))
    state = opt.init(params)

    def loss_fn(p, ids, pos, seg, tgt):
        logits = forward(p, cfg, ids[:, :-1], pos[:, :-1], seg[:, :-1], Mode.TRAIN)
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, ids[:, 1:])
        w = tgt[:, 1:]
        return (nll * w).sum() / jnp.maximum(w.sum(), 1.0)

    @jax.jit
    def step(p, s, ids, pos, seg, tgt):
        loss, grads = jax.value_and_grad(loss_fn)(p, ids, pos, seg, tgt)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    quick = tasks.eval_set[::4]
    log = []
    with open(args.out / "loss.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss", "seconds"])
        for i in range(1, args.steps + 1):
            batch = short.batch(args.batch) if i <= long_from else long.batch(args.batch * args.seq // args.long_seq)
            params, state, loss = step(params, state, *map(jnp.asarray, batch))
            if i % 10 == 0 or i == args.steps:
                loss = float(loss)
                if not math.isfinite(loss):
                    raise SystemExit(f"step {i}: loss {loss}")
                log.append((i, loss))
                writer.writerow([i, f"{loss:.5f}", f"{time.time() - started:.1f}"])
                f.flush()
                print(f"step {i:5d}  loss {loss:.4f}  {time.time() - started:7.1f} s", flush=True)
            if args.eval_every and i % args.eval_every == 0 and i != args.steps:
                weights = evaluate.as_float(evaluate.exported(params), cfg)
                acc = evaluate.accuracy(quick, evaluate.answer_all(weights, cfg, tok, quick))
                print(f"step {i:5d}  held-out accuracy " + "  ".join(f"{k} {v:.0f}%" for k, v in sorted(acc.items())),
                      flush=True)

    np.savez(args.out / "params.npz", **flatten(params))
    train_seconds = time.time() - started
    (args.out / "config.json").write_text(json.dumps({
        "model": cfg.to_dict(), "training": {k: v for k, v in vars(args).items() if k != "out"},
        "train_seconds": round(train_seconds, 1), "jax": jax.__version__, "devices": str(jax.devices()),
    }, indent=2) + "\n")
    plot_loss(log, args.out / "loss.png")
    if args.final_eval:
        weights = evaluate.as_float(evaluate.exported(params), cfg)
        questions = tasks.eval_set
        replies = evaluate.answer_all(weights, cfg, tok, questions)
        acc = evaluate.accuracy(questions, replies)
        (args.out / "eval.json").write_text(json.dumps({
            "accuracy": acc,
            "questions": [asdict(q) | {"framework": r} for q, r in zip(questions, replies)],
        }, indent=1) + "\n")
        print("held-out accuracy " + "  ".join(f"{k} {v:.1f}%" for k, v in sorted(acc.items())))
    print(f"done in {time.time() - started:.0f} s (training {train_seconds:.0f} s)")


def flatten(params: dict) -> dict[str, np.ndarray]:
    """GGUF-style names → arrays (``token_embd``, ``output_norm``, ``blk.{i}.{name}``)."""
    out = {"token_embd": np.asarray(params["token_embd"]), "output_norm": np.asarray(params["output_norm"])}
    for i, blk in enumerate(params["blocks"]):
        out.update({f"blk.{i}.{k}": np.asarray(v) for k, v in blk.items()})
    return out


def plot_loss(log: list[tuple[int, float]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps, losses = zip(*log) if log else ((), ())
    ax.plot(steps, losses, lw=0.8, alpha=0.35, label="every 10th step")
    window = 25
    if len(losses) >= window:
        smooth = np.convolve(np.log(losses), np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], np.exp(smooth), lw=1.6, label=f"geometric mean of {window}")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats per target token)")
    ax.set_yscale("log")
    ax.set_title("BitNet b1.58 demo model: quantisation-aware training")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
