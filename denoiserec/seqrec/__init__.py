"""Sequential next-item recommenders trained on whole feedback sequences: the negative-feedback transformer of
Mei et al., "Negative Feedback for Music Personalization" (UMAP '24).

They do not fit the per-row CTR contract (``Model(spec)(batch) -> logits``) of :mod:`denoiserec.models`; they
are the ``seqrec`` task of :mod:`denoiserec.tasks`. Modules: ``transformer`` (the model), ``negatives``
(hard-negative cascade, hardest-of-k), ``train`` (masking, loss, early stopping), ``evaluate`` (the test
protocol and the popularity baselines), ``run`` (one seed of a config) and ``report`` (table and Figs. 1-4).
Sequences and the split come from :mod:`denoiserec.data.sequences`.
"""
