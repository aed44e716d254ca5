"""Task 4: NT-Xent, graded on what the paper's formula gives, never on how it is written.

Expected values come from ``nt_xent_cases.json`` (float64 loops of Eq. (1), made in
the instructor's repository), so these tests carry no implementation of the loss.
Every failure says what went wrong and its likely cause.
"""
import json
import math
from pathlib import Path

import pytest
import torch

from core.nn.loss import NTXent

pytestmark = pytest.mark.task4

TABLE = json.loads((Path(__file__).with_name("nt_xent_cases.json")).read_text())
CASES = TABLE["cases"]
MISTAKES = {
    "no_mask": "does a view count as its own negative? Leave k = i out of the denominator (mask the "
               "diagonal of the similarity matrix)",
    "temperature_multiplied": "is the similarity multiplied by the temperature? Divide it: sim / t",
    "no_normalization": "is the similarity a plain dot product? NT-Xent uses the cosine: L2-normalize the rows",
    "mean_over_b": "is the sum over the 2B anchors divided by B? Average over all 2B",
    "one_direction": "are only the B anchors of zA scored? Both views are anchors (2B terms)",
    "positive_excluded": "is the positive left out of the denominator? The denominator sums over every k != i, "
                         "the positive included",
    "diagonal_zero": "is the diagonal set to 0? A zero logit still adds exp(0) = 1 to the denominator: mask it "
                     "with -inf (or leave k = i out) so that a view is not its own negative",
    "sum": "is the loss summed over the anchors (reduction='sum')? Take the mean over the 2B anchors",
    "interleaved": "are the views stacked in turns (zA[0], zB[0], zA[1], ...)? Then row i + B is not the "
                   "positive of row i: stack them as torch.cat([zA, zB]) (or point each row at its neighbour)",
    "target_self": "does the target of row i point at row i itself? Its positive is the other view, row i + B "
                   "(mod 2B)",
    "diagonal_minus_one": "is the diagonal masked by subtracting 1 (sim - eye)? exp((sim_ii - 1) / t) still counts "
                          "in the denominator: mask it with -inf (or leave k = i out)",
}


def case_inputs(case):
    gen = torch.Generator().manual_seed(case["seed"])
    return (torch.randn(case["batch"], case["dim"], generator=gen),
            torch.randn(case["batch"], case["dim"], generator=gen))


def value_of(loss):
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0, \
        f"Task 4: the loss must be a scalar tensor (0-d), got {type(loss).__name__} " \
        f"{tuple(getattr(loss, 'shape', ()))}: average the 2B terms"
    assert loss.is_floating_point(), f"Task 4: the loss must be a float tensor, got {loss.dtype}"
    return loss.item()


def diagnose(case, got):
    """The mistake whose value matches ``got``, as advice (or a generic hint)."""
    matches = [advice for name, advice in MISTAKES.items()
               if math.isfinite(case["mistakes"][name])
               and math.isclose(got, case["mistakes"][name], rel_tol=1e-4, abs_tol=1e-4)
               and not math.isclose(case["loss"], case["mistakes"][name], rel_tol=1e-4, abs_tol=1e-4)]
    if matches:     # some mistakes give the same value at a given size (e.g. at B = 1): name each
        return " Or: ".join(matches)
    zA, zB = case_inputs(case)
    here = loss_or_none(case["temperature"], zA, zB)
    if close(here, loss_or_none(0.3 if case["temperature"] != 0.3 else 0.7, zA, zB)):
        return ("the loss is the same at every temperature: divide the similarities by self.temperature (is the "
                "temperature hard-coded?)")
    if not (case["temperature"] <= 0.05 and fine_at_a_larger_temperature(case)):
        probed = probe(case, here)
        if probed:
            return probed
    if case["temperature"] <= 0.05 and fine_at_a_larger_temperature(case):
        return ("at a small temperature exp(sim / t) is huge: subtracting the diagonal after the exp (sum - "
                "self) loses the negatives next to exp(1 / t) in float32; mask the diagonal before the exp, "
                "or use log-softmax / cross-entropy")
    if not math.isfinite(got):
        return ("the value is not finite: does a target point at a masked (-inf) entry, e.g. the anchor itself "
                "instead of its positive, or is the positive left out of the denominator? Otherwise exp(sim / t) "
                "overflows or a log gets 0: use log-softmax / cross-entropy")
    return ("compare your steps with Eq. (1): the positive of row i is row i + B (mod 2B), cosine similarity, "
            "/ t, k != i in the denominator, mean over the 2B anchors")


def loss_or_none(temperature, zA, zB):
    try:
        return NTXent(temperature)(zA, zB).item()
    except Exception:  # noqa: BLE001  (the student's loss may raise anything: then no probe applies)
        return None


def close(a, b):
    """Two finite losses that agree (an inf or a NaN agrees with nothing: it says nothing of the cause)."""
    return (a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
            and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5))


def probe(case, here):
    """A cause read off how the loss behaves (one advice), or None: the temperature, then the normalization."""
    zA, zB = case_inputs(case)
    t = case["temperature"]
    unit = next((c for c in CASES if (c["batch"], c["dim"], c["temperature"]) == (case["batch"], case["dim"], 1.0)),
                None)
    if t != 1.0 and unit is not None and close(loss_or_none(1.0, *case_inputs(unit)), unit["loss"]):
        return (f"the loss is right at t = 1 but not at t = {t}: the similarities must be divided by t once "
                "(sim / t): is the temperature left out, or applied twice?")
    scaled = {name: loss_or_none(t, *inputs) for name, inputs in (
        ("A", (3 * zA, zB)), ("B", (zA, 3 * zB)), ("both", (3 * zA, 3 * zB)),
        ("row", (torch.cat([5 * zA[:1], zA[1:]]), zB)))}
    if close(scaled["A"], here) != close(scaled["B"], here):
        return ("scaling one view changes the loss and scaling the other does not: L2-normalize the rows of both "
                "views (or of the stacked 2B rows)")
    if close(scaled["both"], here) and not close(scaled["row"], here) and case["batch"] > 1:
        return ("scaling every row leaves the loss as it is but scaling one row changes it: normalize each row "
                "(F.normalize(z, dim=1)), not each column (dim=0)")
    return None


def fine_at_a_larger_temperature(case):
    """Whether the loss matches the table for the same B and D at t = 0.5 (then only small t is wrong)."""
    other = next(c for c in CASES if (c["batch"], c["dim"], c["temperature"]) == (case["batch"], case["dim"], 0.5))
    try:
        return math.isclose(NTXent(0.5)(*case_inputs(other)).item(), other["loss"], rel_tol=1e-5, abs_tol=1e-5)
    except Exception:
        return False


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"B{c['batch']}-D{c['dim']}-t{c['temperature']}")
def test_matches_the_papers_formula(case):
    zA, zB = case_inputs(case)
    got = value_of(NTXent(case["temperature"])(zA, zB))
    assert got == pytest.approx(case["loss"], rel=1e-5, abs=1e-5), (
        f"Task 4: for B={case['batch']}, D={case['dim']}, t={case['temperature']} the loss should be "
        f"{case['loss']:.6f}, got {got:.6f}: {diagnose(case, got)}")


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_identical_embeddings_give_log_2b_minus_1(batch):
    z = torch.randn(1, 8).repeat(batch, 1)
    got = value_of(NTXent(0.5)(z, z.clone()))
    want = math.log(2 * batch - 1)
    cause = (" = log(2B): does a view count as its own negative?" if math.isclose(got, math.log(2 * batch),
                                                                                  abs_tol=1e-4) else "")
    assert got == pytest.approx(want, abs=1e-5), (
        f"Task 4: identical embeddings should give log(2B-1) = {want:.3f} for B = {batch}, got {got:.3f}{cause}")


def test_symmetric_in_its_two_inputs():
    zA, zB = torch.randn(7, 16), torch.randn(7, 16)
    loss = NTXent(0.3)
    ab, ba = value_of(loss(zA, zB)), value_of(loss(zB, zA))
    assert ab == pytest.approx(ba, rel=1e-5), (
        f"Task 4: loss(zA, zB) = {ab:.5f} but loss(zB, zA) = {ba:.5f}: both views must be anchors "
        "(average over all 2B rows, not only the first B)")


def test_scale_invariant_because_cosine():
    zA, zB = torch.randn(5, 16), torch.randn(5, 16)
    loss = NTXent(0.5)
    plain, scaled = value_of(loss(zA, zB)), value_of(loss(3.0 * zA, 0.1 * zB))
    assert scaled == pytest.approx(plain, rel=1e-5), (
        f"Task 4: scaling zA by 3 and zB by 0.1 changed the loss from {plain:.5f} to {scaled:.5f}: "
        "the similarity must be the cosine (L2-normalize the rows before the dot products)")


def test_matching_pairs_score_lower_than_shuffled_pairs():
    zA = torch.randn(32, 64)
    zB = zA + 0.05 * torch.randn(32, 64)
    loss = NTXent(0.5)
    paired, shuffled = value_of(loss(zA, zB)), value_of(loss(zA, zB[torch.randperm(32).roll(1)]))
    assert paired < shuffled - 0.5, (
        f"Task 4: when zB[i] is almost zA[i] the loss ({paired:.3f}) should be far below the loss of "
        f"shuffled pairs ({shuffled:.3f}): is the positive of row i the other view of the same image "
        "(row i of zA <-> row i of zB, i.e. i <-> i + B after stacking)?")


def test_gradients_match_the_formula():
    g = TABLE["gradient"]
    zA, zB = case_inputs(g)
    zA.requires_grad_()
    zB.requires_grad_()
    loss = NTXent(g["temperature"])(zA, zB)
    assert loss.requires_grad, "Task 4: the loss has no gradient: is part of it computed with .item(), " \
                               "numpy or under torch.no_grad()?"
    loss.backward()
    for name, tensor, want in (("zA", zA, g["gradA"]), ("zB", zB, g["gradB"])):
        assert tensor.grad is not None, f"Task 4: no gradient reached {name}"
        error = (tensor.grad.double() - torch.tensor(want, dtype=torch.float64)).abs().max().item()
        assert error < 1e-5, (
            f"Task 4: the gradient of the loss with respect to {name} is off by up to {error:.2e}: is one "
            "side of the similarity detached (.detach(), .data) or is an in-place op hiding part of the graph?")


def test_a_few_optimizer_steps_lower_the_loss():
    torch.manual_seed(0)
    zA = torch.randn(16, 8, requires_grad=True)
    zB = torch.randn(16, 8, requires_grad=True)
    loss = NTXent(0.5)
    opt = torch.optim.SGD([zA, zB], lr=1.0)
    first = value_of(loss(zA, zB))
    for _ in range(20):
        opt.zero_grad()
        loss(zA, zB).backward()
        opt.step()
    last = value_of(loss(zA, zB))
    assert last < first - 0.3, (
        f"Task 4: 20 gradient steps on zA, zB moved the loss from {first:.3f} to {last:.3f} only: "
        "minimizing it must pull the pairs together")


def test_batch_size_read_from_inputs_each_call():
    loss = NTXent(0.5)
    for batch in (8, 3, 8, 1):  # e.g. a smaller last batch, then full batches again
        zA = torch.randn(batch, 4)
        z = zA[:1].repeat(batch, 1)   # identical rows: log(2B - 1) whatever B is
        try:
            got = value_of(loss(z, z.clone()))
        except NotImplementedError:
            raise                                  # the starter's stub: reported as "not implemented yet"
        except (RuntimeError, IndexError) as err:
            raise AssertionError(
                f"Task 4: after calls with other batch sizes, B = {batch} failed with {type(err).__name__}: "
                f"{str(err).splitlines()[0]}: is a mask or an index built for the first batch size and reused? "
                "Build it from zA.shape[0] at every call (or keep one per batch size)") from None
        assert got == pytest.approx(math.log(2 * batch - 1), abs=1e-5), (
            f"Task 4: after other batch sizes, B = {batch} gave {got:.4f} instead of log(2B-1) = "
            f"{math.log(2 * batch - 1):.4f}: read B from zA.shape[0] at every call")
