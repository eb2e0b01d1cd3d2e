"""What happened in a run's terminal phase, read from its metrics.jsonl lines: which interruptions were loss
spikes, and how fast NC1 was still falling. Shared by experiments/paper_figures.py and scripts/demo-spread,
so that the grid's tables and the demo's spread use one rule.

An interruption (summary.json's tpt_interruptions: a measured epoch after TPT onset whose train accuracy fell
below the threshold again) is a *spike* when the threshold had held at every measurement for SETTLED_EPOCHS
epochs or more before it: an instability that undoes the collapse (batch norm + weight decay at a fixed rate,
Lobacheva et al. 2021). The others are the train error still *flickering* around 99.9 % in the first epochs
after onset (one to fifteen errors in 1,000 images while the loss is ~0.01-0.05).

A spike can also come and go between two measurements (log-spaced epochs are ~40-100 apart late in a run):
the train error is back within the threshold when it is next measured, but the collapse is undone. Such
a *reversal* shows in NC1 itself: it is REVERSAL_FACTOR times or more its previous measurement (a spike
raises it 10-100x; the terminal phase's own fluctuations stay well below 3x).
"""
import math

SETTLED_EPOCHS = 20
REVERSAL_FACTOR = 3.0


def within_threshold(line, threshold):
    error = line.get("train_error")
    return error is not None and error <= threshold + 1e-12


def spikes(lines, interruptions, threshold):
    """The epochs of `interruptions` that broke a settled terminal phase. `lines`: the run's measured lines in
    epoch order; `threshold`: the train error allowed in the terminal phase (1 - config's tpt_accuracy)."""
    wanted = set(interruptions)
    out, since = [], None  # since: the first epoch of the current run of measurements within the threshold
    for line in lines:
        within = within_threshold(line, threshold)
        if line["epoch"] in wanted and since is not None and line["epoch"] - since >= SETTLED_EPOCHS:
            out.append(line["epoch"])
        since = (line["epoch"] if since is None else since) if within else None
    return out


def reversals(lines, onset_epoch):
    """The measured epochs after TPT onset where NC1 is REVERSAL_FACTOR times or more its previous
    measurement's: the collapse undone, whether or not the train error was caught above the threshold."""
    if onset_epoch is None:
        return []
    out, previous = [], None
    for line in lines:
        nc1 = line.get("nc1")
        if line["epoch"] < onset_epoch or nc1 is None or nc1 <= 0:
            continue
        if previous is not None and nc1 >= REVERSAL_FACTOR * previous:
            out.append(line["epoch"])
        previous = nc1
    return out


def hidden_reversals(lines, interruptions, onset_epoch):
    """The reversals at epochs with no recorded interruption: a spike that came and went between two
    measurements."""
    listed = set(interruptions)
    return [e for e in reversals(lines, onset_epoch) if e not in listed]


def collapse_undone(lines, interruptions, onset_epoch, threshold):
    """The epochs where the collapse was undone, sorted: the spikes among `interruptions` and the hidden
    reversals. The one definition the grid tables, the figures and the demo's spread use."""
    return sorted(spikes(lines, interruptions, threshold) + hidden_reversals(lines, interruptions, onset_epoch))


def power_law_exponent(points):
    """alpha of NC1 ~ epoch^-alpha, least squares in log-log over (epoch, nc1) points with epoch, nc1 > 0;
    None with fewer than 3 points or a single epoch. At a fixed learning rate NC1 falls roughly so after
    onset, which is why the onset-to-end reduction of a run is set by (last epoch / onset epoch)^alpha."""
    pts = [(math.log(e), math.log(v)) for e, v in points if e > 0 and v is not None and v > 0]
    if len(pts) < 3:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return -sum((x - mx) * (y - my) for x, y in pts) / sxx


def epochs_for_reduction(onset_epoch, alpha, reduction):
    """The epoch by which NC1 ~ epoch^-alpha would have fallen `reduction`-fold from onset_epoch at the same
    rate (None when it does not fall)."""
    if alpha is None or alpha <= 0 or onset_epoch is None or onset_epoch <= 0:
        return None
    return onset_epoch * reduction ** (1.0 / alpha)
