"""Cold validation / test users of a seqrec config under the old default validation window (the test span) and
the current one (the final test_frac share of the pre-test events):

    OMP_NUM_THREADS=1 python scripts/seqrec_cold_users.py configs/negfeedback.yaml
"""
import sys

import numpy as np
import yaml

from denoiserec.data.load import load_log
from denoiserec.data.sequences import SeqSplitConfig, SequenceConfig, build_sequences

cfg = yaml.safe_load(open(sys.argv[1]))
df = load_log(cfg["data"])
feat = SequenceConfig.from_dict(cfg.get("features"))
new = build_sequences(df, feat, SeqSplitConfig.from_dict(cfg["split"]))
span = float((new.timestamp.max() - new.timestamp[new.test].min()) / 86400)
old = build_sequences(df, feat, SeqSplitConfig.from_dict({**cfg["split"], "valid_days": span, "max_cold_share": 1.0}))
for name, s in ((f"old (valid_days = test span {span:.1f} d)", old), ("new (final test_frac of pre-test)", new)):
    c, n = s.cold_users("valid")
    nh = np.bincount(s.user[s.history_mask("valid")], minlength=len(s.users))
    users = np.unique(s.user[s.valid])
    print(f"{sys.argv[1]} {name}: {c} of {n} validation users cold; median history {np.median(nh[users]):.0f}; "
          f"test cold {s.cold_users('test')[0]} of {s.cold_users('test')[1]}")
