"""The classifier shared by the linear probe and fine-tuning: frozen and unfrozen paths, one score."""
import numpy as np
import pytest
import torch

from core.eval.classifier import LinearClassifier, classifier_scores, fit_end_to_end, fit_frozen, linear_probe
from core.eval.subsets import few_labels


def test_linearly_separable_features_are_solved():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 8                         # 8 classes: a top-5 of 1.0 is not automatic
    feats = torch.randn(400, 10, generator=gen) + 4 * torch.nn.functional.one_hot(labels, 10).float()
    result = linear_probe(feats[:300], labels[:300], feats[300:], labels[300:])
    assert result["top1"] >= 0.95 and result["top5"] == 1.0 and result["train_size"] == 300


def test_noise_scores_near_chance_in_top1_and_top5():
    gen = torch.Generator().manual_seed(0)
    feats, labels = torch.randn(1200, 8, generator=gen), torch.randint(0, 10, (1200,), generator=gen)
    result = linear_probe(feats[:800], labels[:800], feats[800:], labels[800:])
    assert result["top1"] < 0.2 and 0.35 < result["top5"] < 0.65       # chance: 0.1 and 0.5 of 10 classes


def test_few_labels_picks_k_per_class():
    labels = np.repeat(np.arange(3), 10)
    picked = few_labels(labels, 4, seed=1)
    assert list(np.bincount(labels[picked])) == [4, 4, 4]
    assert len(set(picked.tolist())) == 12 and np.array_equal(picked, few_labels(labels, 4, seed=1))


def _digits(count):
    from sklearn.datasets import load_digits
    digits = load_digits()
    order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(0))[:count]
    return torch.tensor(digits.data, dtype=torch.float32)[order], torch.tensor(digits.target)[order]


def test_the_probe_reaches_scikit_learns_logistic_regression():
    """The same objective as LogisticRegression(C=1), so the same predictions, checked by scikit-learn itself."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    feats, labels = _digits(700)
    scaler = StandardScaler().fit(feats[:500].numpy())
    reference = LogisticRegression(max_iter=5000, tol=1e-8).fit(scaler.transform(feats[:500].numpy()), labels[:500])
    want = reference.predict(scaler.transform(feats[500:].numpy()))
    model = LinearClassifier(torch.nn.Identity(), 64, 10, frozen=True, mean=torch.tensor(scaler.mean_),
                             std=torch.tensor(scaler.scale_)).double()
    fit_frozen(model, feats[:500], labels[:500], tolerance=1e-7)
    got = model(feats[500:].double()).argmax(dim=1).numpy()
    assert (got == want).mean() >= 0.99
    assert np.allclose(model.fc.weight.detach().numpy(), reference.coef_, atol=2e-3)
    result = linear_probe(feats[:500], labels[:500], feats[500:], labels[500:])      # the default tolerance
    assert result["top1"] == pytest.approx(float((want == labels[500:].numpy()).mean()), abs=0.01)


def test_the_default_tolerance_predicts_as_the_converged_probe():
    """PROBE_TOLERANCE stops earlier than a tight tolerance, on correlated features, with the same predictions."""
    def correlated(count, seed):      # a 16-d code mixed into 128 units: correlated, ill-conditioned features
        gen = torch.Generator().manual_seed(seed)
        labels = torch.randint(0, 10, (count,), generator=gen)
        code = centers[labels] + torch.randn(count, 16, generator=gen)
        return torch.relu(code @ mixing + 0.05 * torch.randn(count, 128, generator=gen)), labels

    fixed = torch.Generator().manual_seed(7)
    centers = torch.randn(10, 16, generator=fixed) * 0.8
    mixing = torch.randn(16, 128, generator=fixed) * torch.logspace(0, -2, 16).unsqueeze(1)
    feats, labels = correlated(3000, 0)
    test, testLabels = correlated(1000, 1)
    fast = linear_probe(feats, labels, test, testLabels)
    tight = linear_probe(feats, labels, test, testLabels, tolerance=1e-8, maxIter=5000)
    assert fast["iterations"] < tight["iterations"]
    assert fast["top1"] == pytest.approx(tight["top1"], abs=0.003) and fast["top1"] > 0.5


def test_a_frozen_classifier_on_images_scores_as_the_probe_on_their_features():
    """One path: the layer fitted on extracted features scores the same when it runs the encoder itself."""
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                  torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    images, labels = torch.randn(120, 3, 8, 8), torch.arange(120) % 3
    images += labels.view(-1, 1, 1, 1).float()                    # a class shifts the brightness
    with torch.no_grad():
        feats = encoder(images)
    model = LinearClassifier(encoder, 8, 3, frozen=True, mean=feats[:80].mean(0), std=feats[:80].std(0, False))
    fit_frozen(model, feats[:80], labels[:80])
    onImages = classifier_scores(model, [(images[80:100], labels[80:100]), (images[100:], labels[100:])])
    probe = linear_probe(feats[:80], labels[:80], feats[80:], labels[80:])
    assert onImages["top1"] == pytest.approx(probe["top1"]) and onImages["top5"] == pytest.approx(probe["top5"])
    assert probe["top1"] > 0.9


def _tiny_net():
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU())


@pytest.mark.parametrize("frozen", [True, False])
def test_only_an_unfrozen_encoder_learns(frozen):
    torch.manual_seed(0)
    encoder = _tiny_net()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    model = LinearClassifier(encoder, 5, 2, frozen=frozen)
    head = model.fc.weight.detach().clone()
    x, y = torch.randn(64, 6), torch.randint(0, 2, (64,))
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    losses = fit_end_to_end(model, batches, torch.device("cpu"), epochs=3, lr=0.1)
    assert len(losses) == 3 and not torch.equal(head, model.fc.weight)
    moved = [k for k, v in encoder.state_dict().items() if not torch.equal(v, before[k])]
    assert (moved == []) == frozen, moved                          # frozen: no weight and no BatchNorm statistic
    assert model.training and encoder.training != frozen


def test_a_test_class_never_seen_in_training_is_a_miss():
    feats, labels = _digits(400)
    seen = labels[:300] != 9
    result = linear_probe(feats[:300][seen], labels[:300][seen], feats[300:], labels[300:])
    nines = float((labels[300:] == 9).float().mean())
    assert 0.5 < result["top1"] <= 1 - nines + 1e-9


def test_too_few_iterations_warn():
    feats, labels = _digits(300)
    with pytest.warns(RuntimeWarning, match="did not converge in 3 L-BFGS iterations"):
        linear_probe(feats[:200], labels[:200], feats[200:], labels[200:], maxIter=3)
