"""
Choosing the number of hidden units by the evidence
===================================================

How many hidden units does a noisy sinusoid need? Networks of 1 to 8 tanh units are each fitted from
three initialisations by the evidence framework (alpha and beta re-estimated, PRML 5.7.2), and their log
evidence ln p(D) (5.175) compared, as MacKay (1992) did and PRML 5.7 describes. The test error on fresh
points from the same curve is drawn on a second axis.

One and two units cannot follow the curve: a large misfit, a low evidence. From three units on the
evidence is flat, and so are gamma and the test error: the re-estimated alpha shrinks the surplus units'
weights to nothing, their directions carry no curvature from the data (lambda << alpha, so they add
nothing to gamma, 5.179), and their Occam factors are 1. The evidence does not punish the larger
networks, because after pruning they are the same model.

``compare_models`` adds ``ln M_a! + M_a ln 2`` for the M_a! orderings and 2^M_a sign flips of the hidden
units that give the same function (``symmetry=True``, the default; MacKay 1992), where M_a counts only the
units whose incoming and outgoing weights the posterior tells from zero. A pruned unit's Gaussian is its
prior, which its flipped and permuted copies lie inside already, so it adds no mode: counting all M units
would make the pruned 8-unit network look e^16 times more probable than a 3-unit one with the same fit. The
last columns show M_a and the term, included in the log evidence, and what counting every unit would add.
The test uses the posterior's marginal variances, and on 40 noisy points the weights of the units trade off
against each other, so that the marginals are wide: only the single unit of the smallest network passes it,
and the term changes that network's evidence alone, by ln 2.

Run:  python examples/evidence_model_comparison.py
"""
import warnings

import matplotlib.pyplot as plt

import laplacenet as ln
from laplacenet import plotting
from laplacenet.datasets import make_sinusoid
from laplacenet.bayes.symmetry import symmetry_term

HIDDEN = (1, 2, 3, 4, 6, 8)


def run(seed=0):
    X, T = make_sinusoid(40, noise=0.15, seed=seed)
    X_test, T_test = make_sinusoid(1000, noise=0.15, seed=seed + 1)
    with warnings.catch_warnings(record=True) as caught:
        # Near convergence the evidence may dip a little between cycles, and training may stop just short of
        # its gradient tolerance; fit_evidence warns of both. They are counted here, not printed.
        warnings.simplefilter("always", ln.ConvergenceWarning)
        table = ln.compare_models(X, T, HIDDEN, restarts=3, X_test=X_test, T_test=T_test, alpha=0.1, beta=10.0,
                                  cycles=40, tol=1e-4, seed=seed)
    return {"table": table, "n_warnings": len(caught)}


def main():
    out = run()
    table = out["table"]
    print(table)
    print()
    print(f"{'hidden':>6} {'best log evidence':>18} {'gamma':>6} {'test MSE':>9} {'M_a':>4} "
          f"{'+ ln M_a! + M_a ln 2':>21} {'(all M units)':>14}")
    for m in HIDDEN:
        best = max((row for row in table.rows if row.hidden == (m,)), key=lambda row: row.log_evidence)
        net = ln.MLP([1, m, 1])
        print(f"{m:>6} {best.log_evidence:>18.3f} {best.gamma:>6.2f} {best.test_error:>9.4f} "
              f"{best.n_distinguishable[0]:>4} {symmetry_term(net, best.n_distinguishable):>21.3f} "
              f"{symmetry_term(net):>14.3f}")
    top = table.best().log_evidence
    tied = sorted({row.hidden[0] for row in table.rows if row.log_evidence > top - 0.01})
    print(f"highest log evidence {top:.3f} with {tied} hidden units (within 0.01 nats); the smallest, {tied[0]}, "
          f"has test MSE {min(r.test_error for r in table.rows if r.hidden == (tied[0],)):.4f} (the noise variance "
          f"is 0.0225). {out['n_warnings']} convergence warnings.")
    return out


def plot(out):
    plotting.plot_evidence(out["table"])


if __name__ == "__main__":
    plot(main())
    plt.show()
