"""SAR: PU learning of attention with a propensity that depends only on the current play's features
(Bekker, Robberechts and Davis, ECML-PKDD 2019, "selected at random" labelling), the UAE paper's SAR baseline.

Same alternating risk minimisation as :mod:`denoiserec.methods.uae` (``R_att(g | p)``, ``R_pro(h | α)``,
non-negative correction), except that ``p = σ(MLP_2(z_1(x_t)))`` sees no feedback history: the
propensity of acting on an attended play is a function of that play alone.
"""

from denoiserec.methods.uae import UAE


class SAR(UAE):
    name = "sar"
    sequential_propensity = False


METHOD = SAR
