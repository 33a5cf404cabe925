"""Sequential next-item recommenders trained on whole feedback sequences: the negative-feedback transformer of
Mei et al., "Negative Feedback for Music Personalization" (UMAP '24).

They do not fit the per-row CTR contract (``Model(spec)(batch) -> logits``) of :mod:`denoiserec.models`; they
are the ``seqrec`` task of :mod:`denoiserec.tasks`. Modules: ``transformer`` (the model), ``negatives``
(hard-negative cascade, hardest-of-k), ``train`` (masking, loss, early stopping) and ``scorer`` (the model's
queries for the test protocol); the protocol and the popularity baselines are in :mod:`denoiserec.eval.seqrec` and
:mod:`denoiserec.eval.popularity`, the report (table and Figs. 1-4) in :mod:`denoiserec.report.seqrec`; one seed of a
config is run by :mod:`denoiserec.tasks.seqrec`.
Sequences and the split come from :mod:`denoiserec.data.sequences`.

Departures from the paper, and why:

* *Sizes and schedule*: the paper gives no model sizes, learning rate or patience; the configs choose them
  (CPU-sized) and early stopping tolerates ``patience`` epochs without a better validation users' per-user
  AUC (:mod:`denoiserec.train.early_stopping`).
* *Validation*: the paper splits the users 90/10 but does not say how validation users are scored; here they
  are scored like test users on the period just before the test period (:mod:`denoiserec.data.sequences`).
* *Test period*: ``split.test_days`` (default 30, "the final month"); the simulator's and the samples' configs
  scale it down (``test_frac`` or fewer days), since their logs span days to weeks.
* *Test users*: every user with a same-station (up, down) pair in the test period, validation users included
  (the model reads histories, it has no user embedding); skip-only users are reported separately.
* *Station*: the ``station`` column (``context`` by default) where the paper has Pandora stations; null
  elsewhere, as for Piki and Spotify.
* *Hardest of k* for ``k >= 64`` scores the whole catalogue once and picks among the k drawn items (same
  result as scoring the k items, cheaper); the k items are drawn with replacement, so k may exceed the catalogue.
* *Training loop*: its own, not :class:`denoiserec.train.trainer.Trainer`'s epoch loop (which trains on rows
  of ``EncodedTensors`` with a method's weights and a BCE): batches are windows masked and given negatives at each
  step, the loss is over masked positions, and early stopping reads the validation users' per-user AUC
  (docs/design.md, "The seqrec training loop"); seeding, device, Adam, the precision policy, early
  stopping, checkpoints and DDP are shared (:mod:`denoiserec.train`).
* External baseline: RecBole's SASRec on the same training users' up sequences and the same test queries
  (``benchmarks/seqrec_sasrec.py``, in its own venv), a row of the report beside the popularity scorers.
"""
