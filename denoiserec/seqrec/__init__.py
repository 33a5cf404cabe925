"""Sequential next-item recommenders trained on whole feedback sequences (issue 6).

They do not fit the per-row CTR contract (``Model(spec)(batch) -> logits``) of :mod:`denoiserec.models`, so they
have their own package: ``transformer`` (the model), ``negatives`` (hard-negative cascade, hardest-of-k),
``train`` (masking, loss, evaluation protocol) and ``run`` (``run_seqrec``, the entry point of YAML configs with
``task: seqrec``). Sequences come from :mod:`denoiserec.data.sequences`.
"""

from denoiserec.seqrec.run import run_seqrec

__all__ = ["run_seqrec"]
