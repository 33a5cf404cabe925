"""Per model and method of a results folder: the best validation epoch of each seed's run, the first step LCD
corrected and its mean mixing weight w (from the runs' ``method_state``).

    python scripts/lcd_schedule.py docs/results/lcd_start_cpu
"""

import glob
import json
import sys
from collections import defaultdict

rows = defaultdict(list)
for f in sorted(glob.glob(sys.argv[1] + "/runs/*.json")):
    r = json.load(open(f))
    va = [h["valid_auc"] for h in r["history"]]
    s = r["method_state"]
    rows[r["model"], r["method"]].append((va.index(max(va)) + 1, s.get("first_corrected_step"), s.get("mean_w")))
for (model, m), v in rows.items():
    mw = [x[2] for x in v if x[2] is not None]
    print(model, m, "best valid epoch per seed", [x[0] for x in v], "first corrected step", v[0][1],
          "mean w", round(sum(mw) / len(mw), 3) if mw else None)
