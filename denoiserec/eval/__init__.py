"""Evaluation, the one home of every score a run or a report gives:

* :mod:`~denoiserec.eval.metrics`: row metrics (AUC, GAUC, logloss, RelaImpr, pairwise accuracy, MRR, recall@k;
  ``split_metrics``: what a CTR run reports for a split, ``*_true`` against the hidden truth);
* :mod:`~denoiserec.eval.seqrec`: the seqrec task's per-user protocol (``period_metrics``) and its ceilings;
* :mod:`~denoiserec.eval.truth`: an attention method's estimate scored against the hidden attention;
* :mod:`~denoiserec.eval.popularity`: the popularity baselines of every task (one item count);
* :mod:`~denoiserec.eval.gap`: the share of the gap to the oracle a row closes.

Besides the data layer, which carries them, and :mod:`denoiserec.data.target` (the oracle's labels), the only code
that reads the simulator's ``true_*`` columns. Nothing here imports a model, a method or the trainer; the reports
(:mod:`denoiserec.report`) render it.
"""
