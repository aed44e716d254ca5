"""Instructor-only: the NT-Xent formula in float64, anchor by anchor, and the table the Task 4 tests grade against.

The student's tests (``tests/core/nn/loss/test_nt_xent.py``) read precomputed
values from ``nt_xent_cases.json`` instead of carrying an implementation of the
loss (a starter must hold no working solution). This file writes that table:

    python -m tests.core.course.starter.nt_xent_reference     # rewrite the JSON

and ``test_reference_tables.py`` checks that the stored table still equals it.
Each case also stores the values of common mistakes, so a wrong result can be
named ("does a view count as its own negative?").
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

TABLE = Path(__file__).resolve().parents[2] / "nn" / "loss" / "nt_xent_cases.json"
BATCHES, DIMS, TEMPERATURES = (1, 2, 5, 64), (3, 128), (0.05, 0.5, 1.0)
GRAD_CASE = dict(batch=3, dim=4, temperature=0.5, seed=7)


def case_inputs(batch: int, dim: int, seed: int):
    """The inputs of a table case: ``zA, zB [batch, dim]`` float32 from a seeded CPU generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, dim, generator=gen), torch.randn(batch, dim, generator=gen)


def loop_loss(zA, zB, temperature, variant="correct"):
    """Eq. (1) of the paper averaged over anchors, in float64, one anchor at a time; ``variant`` names a mistake.

    The similarities are one float64 matrix (cosine, or the raw dot product of ``no_normalization``);
    which entries an anchor's positive and denominator take is written out per anchor, as in Eq. (1).
    """
    if variant == "interleaved":      # rows zA[0], zB[0], zA[1], ... with the positive still at i + B
        z = torch.stack([zA, zB], dim=1).reshape(-1, zA.shape[1]).double()
    else:
        z = torch.cat([zA, zB]).double()
    n, batch = z.shape[0], zA.shape[0]
    unit = z if variant == "no_normalization" else z / z.norm(dim=1, keepdim=True)
    sims = unit @ unit.T
    logits = sims * temperature if variant == "temperature_multiplied" else sims / temperature
    if variant == "diagonal_zero":
        logits = logits * (1 - torch.eye(n, dtype=torch.float64))
    if variant == "diagonal_minus_one":          # a "mask" that subtracts 1 from the similarities' diagonal
        logits = (sims - torch.eye(n, dtype=torch.float64)) / temperature

    terms = []
    for i in range(n):
        j = i if variant == "target_self" else (i + batch) % n
        keep = {"no_mask": lambda k: True, "diagonal_zero": lambda k: True, "target_self": lambda k: True,
                "diagonal_minus_one": lambda k: True,
                "positive_excluded": lambda k: k not in (i, j)}.get(variant, lambda k: k != i)
        others = [k for k in range(n) if keep(k)]
        logDenominator = (torch.logsumexp(logits[i, others], dim=0) if others
                          else torch.tensor(float("-inf"), dtype=torch.float64))
        terms.append(logDenominator - logits[i, j])
    if variant == "one_direction":
        return torch.stack(terms[:batch]).mean()
    if variant == "mean_over_b":
        return torch.stack(terms).sum() / batch
    if variant == "sum":
        return torch.stack(terms).sum()
    return torch.stack(terms).mean()


VARIANTS = ("no_mask", "temperature_multiplied", "no_normalization", "mean_over_b", "one_direction",
            "positive_excluded", "diagonal_zero", "sum", "interleaved", "target_self", "diagonal_minus_one")


def build_table():
    cases = []
    for batch in BATCHES:
        for dim in DIMS:
            for temperature in TEMPERATURES:
                seed = batch * 1000 + dim * 10 + int(temperature * 100)
                zA, zB = case_inputs(batch, dim, seed)
                row = dict(batch=batch, dim=dim, temperature=temperature, seed=seed,
                           loss=loop_loss(zA, zB, temperature).item())
                row["mistakes"] = {v: loop_loss(zA, zB, temperature, v).item() for v in VARIANTS}
                cases.append(row)
    g = GRAD_CASE
    zA, zB = case_inputs(g["batch"], g["dim"], g["seed"])
    zA, zB = zA.double().requires_grad_(), zB.double().requires_grad_()
    loop_loss(zA, zB, g["temperature"]).backward()
    grad = dict(g, gradA=zA.grad.tolist(), gradB=zB.grad.tolist())
    return {"about": "NT-Xent values from float64 loops of the paper's Eq. (1); written by "
                     "tests/core/course/starter/nt_xent_reference.py in the instructor's repository",
            "cases": cases, "gradient": grad}


if __name__ == "__main__":
    TABLE.write_text(json.dumps(build_table(), indent=1) + "\n")
    print(f"wrote {TABLE}")
