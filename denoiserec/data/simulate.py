"""A seeded music-session simulator that knows what real logs hide: attention and true preference.

The generative model (details and knobs in ``docs/simulator.md``):

* **World.** Genres have centres ``c_g ~ N(0, I_d)``; artists ``a = c_genre + 0.6 ε``; items
  ``v = a + 0.6 ε`` with a Zipf popularity, a quality bias ``b_i ~ N(0, quality_sd²)`` and a duration. Users
  have a country (which tilts their genre prior), an age band, a gender and a taste ``u = 0.8 c_g1 + 0.4 c_g2
  + 0.6 ε`` around two favourite genres.
* **Sessions.** Each user has ``sessions`` sessions of ``L ~ U{min_len..max_len}`` recommended tracks, from a
  station of a context type (radio, daily_mix, playlist, album, search, collection) seeded by a genre the
  user likes (or, for a share of ``1 - personal``, a popular genre). Tracks are drawn by popularity from the
  station's genre (an artist for ``album``), a share ``explore`` from the whole catalogue.
* **Preference.** ``π = σ(taste_scale · z(u·v) + b_i + bonus_ctx + pref_bias)`` (``z``: standardised over
  random user-item pairs), ``true_preference ~ Bernoulli(π)``.
* **Attention.** A hidden state per play: ``P(a_t = 1) = σ(logit(β_t) + o_s + o_i)`` with
  ``β_0 = start_attention``, ``β_t = active_after_active / q̄`` after an action and
  ``active_after_passive / q̄`` after a passive play (``q̄``: the mean chance that an attentive user acts), so
  that ``P(e_t | e_{t-1})`` hits the configured rates; ``o_s`` sums centred offsets of the user, age band,
  context, device and hour, ``o_i`` the item's popularity.
* **Feedback.** Attentive users act on their preference: like/share/download with ``act_like`` if they
  like the track, skip/dislike with ``act_dislike`` if not (a share ``slip`` of actions goes the wrong way),
  otherwise they listen through (``autoplay``). Inattentive users let it auto-play (``autoplay``, label 1,
  whatever they think of it). After each play the session ends with ``stop_rate`` (+ ``stop_after_negative``
  after a skip/dislike); later tracks are ``unplayed`` (label 0, whatever they think of them).

Hidden truth columns: ``true_attention`` / ``true_attention_prob`` (0 on unplayed rows, which nobody heard)
and ``true_preference`` / ``true_pref_prob``.

Knobs for the scenarios (:data:`SCENARIOS`; at their defaults the log is the one described above, bit for bit):
``attention_history`` λ mixes the Markov base with a feature-history one, ``logit β_t = (1-λ)·base_markov +
λ·(l_pa + (l_aa - l_pa)·ρ^k_t) + δ`` with ``k_t`` the plays since the last change of genre and ``δ`` keeping the
active rate; ``pref_popularity`` adds popularity to the preference logit; ``mode = "feed"`` logs the same events
as click/unclick/like/dislike (:data:`FEED_KINDS`) and ``emit_unplayed = False`` drops never-reached rows;
``stop_user_sd`` spreads the stop hazard over users; ``share_rate``, ``download_rate``, ``context_p`` set shares;
``propensity_history`` κ makes the chance that an *attentive* user acts depend on the last feedback: after a
passive play it is ``(1-κ)·act_like`` / ``(1-κ)·act_dislike`` (UAE's Eq. 12 premise: ``p_t = h(X_t, E_{t-1})``);
``dislike_drift`` c makes the preference depend on the user's own dislikes: ``π`` gets ``+ s_u·c·cos(v_i, D_u)`` in
its logit, ``D_u`` the sum of the unit vectors of the items she disliked so far, each earlier one decayed by
``dislike_drift_decay`` per later dislike, and ``s_u = +1`` for even user numbers, ``-1`` for odd: half the users
come to like what resembles their dislikes, half to avoid it (no global rule; DUMN's premise that dislikes tell
about clicks, user by user). Her sessions then run in time order, and ``true_pref_prob`` carries the effect.
``denoiserec.data.calibrate`` fits these knobs to a real log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from denoiserec.data.schema import conform
from denoiserec.errors import ConfigError
from denoiserec.settings import Count, NonNeg, Share

SOURCE = "simulator"
#: Users per generation block. Each block has its own random stream (spawned from the seed), so the output
#: does not depend on how the blocks are written out; changing this constant changes the data.
BLOCK_USERS = 4096
#: Fixed-point passes calibrating the attention chain to the configured P(e_t | e_{t-1}).
CALIBRATION_PASSES = 3

CONTEXTS = ("radio", "daily_mix", "playlist", "album", "search", "collection")
CONTEXT_P = np.array([0.25, 0.2, 0.2, 0.15, 0.1, 0.1])
#: Per context: share of stations seeded by the user's own taste, attention offset, preference bonus.
CONTEXT_PERSONAL = np.array([0.5, 1.0, 0.4, 0.7, 1.0, 1.0])
CONTEXT_ATTENTION = np.array([-0.4, 0.0, 0.0, 0.3, 0.5, 0.2])
CONTEXT_PREF_BONUS = np.array([0.0, 0.2, 0.0, 0.1, 0.3, 1.0])
DEVICES = ("mobile", "desktop", "speaker")
DEVICE_P = np.array([0.6, 0.25, 0.15])
DEVICE_ATTENTION = np.array([0.0, 0.2, -0.5])
AGES = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_P = np.array([0.25, 0.3, 0.2, 0.15, 0.1])
AGE_ATTENTION = np.array([0.3, 0.1, 0.0, -0.1, -0.3])
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "SE", "JP", "MX", "ES", "IT",
             "CA", "AU", "NL", "PL", "IN", "KR", "AR", "TR", "ID", "NO")
GENDERS = ("f", "m", "x")
GENDER_P = np.array([0.48, 0.48, 0.04])
GENRE_NAMES = ("pop", "rock", "hiphop", "electronic", "jazz", "classical",
               "country", "rnb", "metal", "folk", "latin", "indie")
#: Feedback kinds the simulator emits, by code.
KINDS = ("unplayed", "autoplay", "like", "share", "download", "skip", "dislike")
K_UNPLAYED, K_AUTOPLAY, K_LIKE, K_SHARE, K_DOWNLOAD, K_SKIP, K_DISLIKE = range(len(KINDS))
KIND_ACTIVE = np.array([0, 0, 1, 1, 1, 1, 1], dtype=np.int8)
KIND_LABEL = np.array([0, 1, 1, 1, 1, 0, 0], dtype=np.int8)
#: Feed mode (DUMN's click/unclick/like/dislike): the same simulated events under a feed's logging. Whatever is
#: not clicked is an ``unclick`` (passive, label 0) -- scrolled past unseen, seen and not wanted, or a skip;
#: a positive action is a ``click``, a share/download an explicit ``like``; a dislike stays ``dislike``.
FEED_KINDS = ("unclick", "unclick", "click", "like", "like", "unclick", "dislike")
#: Per mode: output name, active e and label y of each simulated kind code.
MODES = {
    "music": (KINDS, KIND_ACTIVE, KIND_LABEL),
    "feed": (FEED_KINDS, np.array([0, 0, 1, 1, 1, 0, 1], dtype=np.int8),
             np.array([0, 0, 1, 1, 1, 0, 0], dtype=np.int8)),
}


@dataclass
class SimConfig:
    """Every knob of the simulator; ``docs/simulator.md`` explains each. Defaults give ~200k rows."""

    users: Count = 2000
    items: Count = 5000
    artists: Count = 600
    genres: Count = 12
    sessions: Count = 5                 # sessions per user
    min_len: Count = 10                 # recommended playlist length L ~ U{min_len..max_len}
    max_len: Count = 30
    dim: Count = 16                     # latent dimension d
    days: Count = 60                    # sessions spread over this many days ...
    start: str = "2024-01-01"         # ... from this UTC date
    # recommendations
    popularity_exponent: float = 0.8  # Zipf exponent of item popularity
    explore: Share = 0.2              # share of tracks drawn from the whole catalogue, not the station
    # preference
    taste_scale: float = 1.5          # weight of the standardised user-item affinity
    quality_sd: float = 0.5           # sd of the per-item quality bias b_i
    pref_bias: float = -0.6           # global preference logit offset
    # attention
    start_attention: Share = 0.25     # P(attentive) at position 0
    active_after_active: Share = 0.56  # target P(e_t = 1 | e_{t-1} = 1) among played rows
    active_after_passive: Share = 0.05  # target P(e_t = 1 | e_{t-1} = 0) among played rows
    attention_user_sd: float = 0.5    # sd of the per-user attention logit offset
    attention_popularity: float = 0.2  # attention logit per sd of the item's log popularity
    # acting on preference when attentive
    act_like: Share = 0.6             # P(like/share/download | attentive, prefers)
    act_dislike: Share = 0.9          # P(skip/dislike | attentive, does not prefer)
    dislike_share: Share = 0.25       # share of negative actions that are 'dislike' (rest 'skip')
    slip: Share = 0.03                # share of actions opposite to the preference
    # session end
    stop_rate: Share = 0.015          # P(session ends after a play)
    stop_after_negative: Share = 0.06  # extra P(end) after a skip/dislike
    seed: int = 0
    stop_user_sd: NonNeg = 0.0         # sd of a per-user offset of the stop logit (> 0: heavier-tailed sessions)
    # --- knobs added for the scenarios and calibration (defaults leave the log above unchanged) ---
    attention_history: Share = 0.0   # λ: 0 = attention driven by the last action (EDM's Markov assumption),
    #                                   1 = driven by the feature history (plays since the last genre change)
    attention_history_decay: Share = 0.7  # ρ: the feature-driven attention decays by ρ per play of one genre
    pref_popularity: float = 0.0     # preference logit per sd of the item's log popularity (taste: taste_scale)
    share_rate: Share = 0.15         # share of positive actions that are 'share' ...
    download_rate: Share = 0.10      # ... and 'download' (the rest 'like')
    context_p: list[float] | None = None  # shares of CONTEXTS (None: CONTEXT_P)
    mode: Literal["music", "feed"] = "music"  # music: kinds as above; feed: click/unclick/like/dislike (see FEED_KINDS)
    emit_unplayed: bool = True       # False: drop the never-reached rows (a feed logs only what was shown)
    scenario: str = "default"        # the preset these knobs started from (see SCENARIOS); a label only
    propensity_history: Share = 0.0  # κ: after a passive play an attentive user acts with (1-κ)·act_like/dislike
    #                                   (a propensity that depends on past feedback; 0 = none, UAE's h known answer)
    dislike_drift: NonNeg = 0.0      # c: user u's preference logit for item i moves by s_u·c·cos(v_i, D_u) (0 = none)
    #                                   D_u: her dislikes so far; s_u = +1 for even user numbers, -1 for odd
    dislike_drift_decay: Share = 0.8  # D_u ← decay·D_u + v_j/|v_j| at each of her dislikes j (recent ones weigh more)

    def __post_init__(self) -> None:
        from denoiserec.settings import declared_problem

        if bad := declared_problem(type(self), {f.name: getattr(self, f.name) for f in fields(self)}):
            raise ConfigError(f"SimConfig.{bad[0]}: {bad[1]}")  # the ranges declared above
        if self.min_len > self.max_len:
            raise ConfigError(f"SimConfig.min_len ({self.min_len}) > max_len ({self.max_len})")
        if self.share_rate + self.download_rate > 1.0:
            raise ConfigError("SimConfig.share_rate + download_rate must be <= 1")
        if self.context_p is not None:
            p = np.asarray(self.context_p, dtype=float)
            if p.shape != (len(CONTEXTS),) or (p < 0).any() or p.sum() <= 0:
                raise ConfigError(f"SimConfig.context_p must be {len(CONTEXTS)} non-negative shares of {CONTEXTS}")
            self.context_p = [float(x) for x in p / p.sum()]

    @classmethod
    def from_dict(cls, d: dict | None) -> SimConfig:
        """Knobs from a mapping; ``scenario: NAME`` starts from that preset of :data:`SCENARIOS`, and the other
        keys override it."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown simulator option(s) {unknown}; known: {sorted(known)}")
        name = d.get("scenario", "default")
        if name not in SCENARIOS:
            raise ConfigError(f"unknown simulator scenario {name!r}; known: {sorted(SCENARIOS)}")
        return cls(**{**SCENARIOS[name]["knobs"], **d, "scenario": name})

    @property
    def expected_rows(self) -> int:
        return self.users * self.sessions * (self.min_len + self.max_len) // 2


#: Named presets (``denoiserec simulate --scenario NAME``): knobs over the defaults, and the noise model each
#: one stands for. ``docs/simulator.md`` lists the statistics each gives.
SCENARIOS: dict[str, dict] = {
    "default": {
        "short": "music app, Markov attention",
        "about": "music app, mixed contexts; attention a Markov chain on the last action (UAE's rates)",
        "noise": "inattentive auto-play = false positive; never-reached liked track = false negative",
        "knobs": {},
    },
    "radio": {
        "short": "lean-back radio, UAE",
        "about": "lean-back radio / auto-play (UAE's setting): mostly radio and daily mixes, long sessions, "
                 "attention half driven by the last action, half by the music (a genre change wakes the listener)",
        "noise": "as default, more of it: most plays are inattentive auto-plays (false positives when disliked)",
        "knobs": {"context_p": [0.55, 0.25, 0.1, 0.03, 0.02, 0.05], "attention_history": 0.5, "min_len": 15,
                  "max_len": 40, "stop_rate": 0.01, "start_attention": 0.3},
    },
    "station": {
        "short": "thumbs up/down + skips, Pandora",
        "about": "station-based radio with thumbs up/down and skips (Pandora's, the negative-feedback "
                 "transformer's): up : skip : down about 4 : 13 : 1, taste outweighs popularity 3 : 1",
        "noise": "skips are implicit negatives (slip: some skip liked songs); auto-play = weak positive; few thumbs",
        "knobs": {"context_p": [0.85, 0.1, 0.0, 0.0, 0.0, 0.05], "act_like": 0.12, "act_dislike": 0.9,
                  "dislike_share": 0.07, "share_rate": 0.0, "download_rate": 0.0, "taste_scale": 1.8,
                  "pref_popularity": 0.6, "pref_bias": -0.5, "active_after_active": 0.45,
                  "active_after_passive": 0.15, "start_attention": 0.4, "slip": 0.05},
    },
    "feed": {
        "short": "click/unclick/like/dislike, DUMN",
        "about": "feed with click/unclick/like/dislike (DUMN's Taobao/KuaiRand setting): short sessions, only "
                 "shown items logged, popularity matters as much as taste",
        "noise": "unclick = noisy negative (unseen, or liked but not clicked); clickbait clicks on disliked items "
                 "(slip) = noisy positives; like/dislike explicit and rare",
        "knobs": {"mode": "feed", "emit_unplayed": False, "context_p": [0.0, 0.7, 0.0, 0.0, 0.3, 0.0],
                  "min_len": 5, "max_len": 60, "stop_rate": 0.06, "stop_after_negative": 0.0,
                  "start_attention": 0.5, "active_after_active": 0.3, "active_after_passive": 0.1,
                  "act_like": 0.5, "act_dislike": 0.6, "dislike_share": 0.05, "share_rate": 0.1,
                  "download_rate": 0.0, "slip": 0.1, "taste_scale": 1.2, "pref_popularity": 1.2, "pref_bias": -2.0},
    },
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def _seg_key(group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For members sorted by ``group``: ``group + cumulative share of weight within the group`` in (g, g+1]."""
    cum = np.cumsum(weight)
    start = np.searchsorted(group, group, side="left")
    before = np.where(start > 0, cum[start - 1], 0.0)
    tot = np.zeros(group.max() + 1)
    np.add.at(tot, group, weight)
    return group + (cum - before) / tot[group]


def _draw(key: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one member of each ``group`` in proportion to weight (inverse CDF on a :func:`_seg_key`)."""
    return np.minimum(np.searchsorted(key, group + u, side="right"), len(key) - 1)


class _World:
    """Everything shared by all users: genres, artists, items, country priors, the affinity scale."""

    def __init__(self, cfg: SimConfig, rng: np.random.Generator):
        d, G = cfg.dim, cfg.genres
        self.centres = rng.standard_normal((G, d))
        artist_genre = np.sort(rng.integers(0, G, cfg.artists))
        artist_vec = self.centres[artist_genre] + 0.6 * rng.standard_normal((cfg.artists, d))
        artist_pop = rng.pareto(1.5, cfg.artists) + 0.1
        item_artist = np.sort(rng.choice(cfg.artists, cfg.items, p=artist_pop / artist_pop.sum()))
        self.item_artist = item_artist
        self.item_genre = artist_genre[item_artist]
        self.item_vec = artist_vec[item_artist] + 0.6 * rng.standard_normal((cfg.items, d))
        rank = rng.permutation(cfg.items) + 1.0
        pop = rank ** -cfg.popularity_exponent
        self.pop_cum = np.cumsum(pop) / pop.sum()
        # inside a station popularity matters less than in the catalogue (sqrt), else a few hits fill every session
        self.genre_key = _seg_key(self.item_genre, np.sqrt(pop))
        self.artist_key = _seg_key(item_artist, np.sqrt(pop))
        self.genre_pop = np.bincount(self.item_genre, weights=pop, minlength=G)
        self.genre_pop /= self.genre_pop.sum()
        logpop = np.log(pop)
        self.item_pop_z = (logpop - logpop.mean()) / (logpop.std() + 1e-12)
        self.item_attention = cfg.attention_popularity * self.item_pop_z
        self.item_quality = cfg.quality_sd * rng.standard_normal(cfg.items)
        self.item_duration = rng.integers(150, 361, cfg.items).astype(np.int32)
        self.item_year = rng.integers(1960, 2025, cfg.items).astype(np.int16)
        self.country_genre = rng.standard_normal((len(COUNTRIES), G))
        cp = 1.0 / np.arange(1, len(COUNTRIES) + 1)
        self.country_p = cp / cp.sum()
        # standardise the user-item affinity u.v over random pairs (pilot users drawn like real ones)
        pilot = _draw_users(cfg, self, rng, 2000)["taste"]
        dots = np.einsum("ud,ud->u", pilot, self.item_vec[rng.integers(0, cfg.items, 2000)])
        self.dot_mean, self.dot_sd = float(dots.mean()), float(dots.std() + 1e-12)


def _draw_users(cfg: SimConfig, world: _World, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Users' side features, taste vectors, genre preferences and attention offsets."""
    G = cfg.genres
    country = rng.choice(len(COUNTRIES), n, p=world.country_p)
    age = rng.choice(len(AGES), n, p=AGE_P)
    gender = rng.choice(len(GENDERS), n, p=GENDER_P)
    prior = world.country_genre[country] + world.genre_pop[None, :] * G
    prior = np.exp(prior - prior.max(1, keepdims=True))
    cum = np.cumsum(prior / prior.sum(1, keepdims=True), axis=1)
    g1 = np.minimum((cum < rng.random((n, 1))).sum(1), G - 1)
    g2 = np.minimum((cum < rng.random((n, 1))).sum(1), G - 1)
    taste = (0.8 * world.centres[g1] + 0.4 * world.centres[g2]
             + 0.6 * rng.standard_normal((n, cfg.dim)))
    aff = taste @ world.centres.T / np.sqrt(cfg.dim)
    aff = np.where(world.genre_pop[None, :] > 0, aff, -np.inf)
    aff = np.exp(2.0 * (aff - aff.max(1, keepdims=True)))
    genre_cum = np.cumsum(aff / aff.sum(1, keepdims=True), axis=1)
    sd = cfg.attention_user_sd
    attention = sd * rng.standard_normal(n) + AGE_ATTENTION[age] - AGE_ATTENTION @ AGE_P
    return {"country": country, "age": age, "gender": gender, "taste": taste, "genre_cum": genre_cum,
            "attention": attention}


def _simulate_block(cfg: SimConfig, world: _World, first_user: int, n_users: int,
                    rng: np.random.Generator) -> tuple[pl.DataFrame, dict[str, int]]:
    """Simulate ``n_users`` users (ids from ``first_user``); return the block's rows and count statistics."""
    users = _draw_users(cfg, world, rng, n_users)
    S, T = n_users * cfg.sessions, cfg.max_len
    su = np.repeat(np.arange(n_users), cfg.sessions)              # block-local user of each session
    length = rng.integers(cfg.min_len, cfg.max_len + 1, S)
    ctx = rng.choice(len(CONTEXTS), S, p=CONTEXT_P if cfg.context_p is None else np.asarray(cfg.context_p))
    device = rng.choice(len(DEVICES), S, p=DEVICE_P)
    # session start times: per user, exponential gaps plus room for the longest possible session
    mean_gap = cfg.days * 86400.0 / cfg.sessions
    gap = rng.exponential(mean_gap, (n_users, cfg.sessions)) + T * 400.0
    gap[:, 0] = rng.random(n_users) * mean_gap
    t0 = int(np.datetime64(cfg.start, "s").astype(np.int64))
    start = (t0 + np.cumsum(gap, axis=1)).astype(np.int64).ravel()
    hour0 = (start // 3600) % 24
    # station genre: the user's taste (share CONTEXT_PERSONAL) or the catalogue's popularity
    personal = rng.random(S) < CONTEXT_PERSONAL[ctx]
    g_user = np.minimum((users["genre_cum"][su] < rng.random((S, 1))).sum(1), cfg.genres - 1)
    g_pop = np.minimum(np.searchsorted(np.cumsum(world.genre_pop), rng.random(S), side="right"), cfg.genres - 1)
    genre = np.where(personal, g_user, g_pop)
    # tracks: from the station's genre (album: one artist of it), a share `explore` from the whole catalogue
    seed_item = _draw(world.genre_key, genre, rng.random(S))
    artist = world.item_artist[seed_item]
    is_album = (ctx == CONTEXTS.index("album"))[:, None]
    u = rng.random((S, T))
    from_station = np.where(is_album, _draw(world.artist_key, artist[:, None], u),
                            _draw(world.genre_key, genre[:, None], u))
    from_catalogue = np.minimum(np.searchsorted(world.pop_cum, rng.random((S, T)), side="right"), cfg.items - 1)
    item = np.where(rng.random((S, T)) < cfg.explore, from_catalogue, from_station)
    valid = np.arange(T)[None, :] < length[:, None]
    # true preference
    dots = np.einsum("std,sd->st", world.item_vec[item], users["taste"][su])
    pref_logit = (cfg.taste_scale * (dots - world.dot_mean) / world.dot_sd + world.item_quality[item]
                  + CONTEXT_PREF_BONUS[ctx][:, None] + cfg.pref_bias)
    if cfg.pref_popularity:
        pref_logit = pref_logit + cfg.pref_popularity * world.item_pop_z[item]
    pref_prob = _sigmoid(pref_logit)
    r_pref = rng.random((S, T))
    pref = r_pref < pref_prob
    # attention chain, calibrated by q = mean P(act | attentive) so that P(e_t | e_{t-1}) hits the targets
    act_prob = np.where(pref, cfg.act_like, cfg.act_dislike)
    q = float(act_prob[valid].mean()) if valid.any() else 1.0
    l_start = _logit(cfg.start_attention)
    l_aa = _logit(cfg.active_after_active / q)
    l_pa = _logit(cfg.active_after_passive / q)
    hour_att = 0.3 * np.cos(2 * np.pi * (hour0 - 15) / 24.0)
    o_s = (users["attention"][su] + CONTEXT_ATTENTION[ctx] - CONTEXT_ATTENTION @ CONTEXT_P
           + DEVICE_ATTENTION[device] - DEVICE_ATTENTION @ DEVICE_P + hour_att)
    o = o_s[:, None] + world.item_attention[item]
    r_att, r_act, r_kind, r_stop = (rng.random((S, T)) for _ in range(4))
    slip = rng.random((S, T)) < cfg.slip
    stop = np.full((S, 1), cfg.stop_rate)
    if cfg.stop_user_sd:  # drawn only when used, so the default stream is unchanged
        stop = _sigmoid(_logit(cfg.stop_rate) + cfg.stop_user_sd * rng.standard_normal(n_users))[su][:, None]
    positive = pref ^ slip
    like_cut = 1.0 - cfg.share_rate - cfg.download_rate

    def kind_of(positive: np.ndarray, r_kind: np.ndarray) -> np.ndarray:
        return np.where(positive, np.where(r_kind < like_cut, K_LIKE,
                                           np.where(r_kind < like_cut + cfg.share_rate, K_SHARE, K_DOWNLOAD)),
                        np.where(r_kind < cfg.dislike_share, K_DISLIKE, K_SKIP)).astype(np.int8)

    act_kind = kind_of(positive, r_kind)
    visible = MODES[cfg.mode][1].astype(bool)  # which kinds the log shows as actions (e = 1)
    lam, kappa = cfg.attention_history, cfg.propensity_history
    # feature-driven attention: plays since the last change of genre (the session start counts as one)
    genre = world.item_genre[item]
    change = np.ones((S, T), dtype=bool)
    change[:, 1:] = genre[:, 1:] != genre[:, :-1]
    col = np.broadcast_to(np.arange(T), (S, T))
    since = col - np.maximum.accumulate(np.where(change, col, 0), axis=1)
    novelty = cfg.attention_history_decay ** since
    # dislike drift: the preference depends on her dislikes so far, so each user's sessions run one after another
    # (group k: every user's k-th session) and preference and actions are redrawn, on the same random numbers
    drift = cfg.dislike_drift
    groups: list[np.ndarray | None] = [None]
    if drift:
        base_logit = pref_logit
        unit = world.item_vec / np.linalg.norm(world.item_vec, axis=1, keepdims=True)
        sign = np.where((first_user + np.arange(n_users)) % 2 == 0, 1.0, -1.0)
        sess_k = np.tile(np.arange(cfg.sessions), n_users)
        groups = [np.flatnonzero(sess_k == k) for k in range(cfg.sessions)]

    def drifted(j: np.ndarray, t: int, dis: np.ndarray) -> None:
        """Preference (and what follows from it) of rows ``j`` at ``t`` given their users' dislikes ``dis``."""
        d = dis[su[j]]
        norm = np.linalg.norm(d, axis=1)
        cos = np.einsum("nd,nd->n", unit[item[j, t]], d) / np.where(norm > 0, norm, 1.0)
        pref_prob[j, t] = _sigmoid(base_logit[j, t] + drift * sign[su[j]] * cos)
        pref[j, t] = r_pref[j, t] < pref_prob[j, t]
        positive[j, t] = pref[j, t] ^ slip[j, t]
        act_prob[j, t] = np.where(pref[j, t], cfg.act_like, cfg.act_dislike)
        act_kind[j, t] = kind_of(positive[j, t], r_kind[j, t])

    def run(l_aa: float, l_pa: float, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kind = np.zeros((S, T), dtype=np.int8)
        att = np.zeros((S, T), dtype=bool)
        att_prob = np.zeros((S, T))
        dis = np.zeros((n_users, cfg.dim))  # dislike drift: each user's decayed sum of disliked items' directions
        for g in groups:  # all sessions at once, or (dislike drift) every user's k-th session for k = 0, 1, ..
            prev_active = np.zeros(S, dtype=bool)
            playing = np.ones(S, dtype=bool) if g is None else np.isin(np.arange(S), g)
            for t in range(T):  # only the sessions still playing (the others' rows stay unplayed)
                if g is not None:  # every row of the group, played or not, gets her preference at this point
                    drifted(g[valid[g, t]], t, dis)
                i = np.flatnonzero(playing & valid[:, t])
                if not len(i):
                    if g is not None:
                        continue
                    break
                base = l_start if t == 0 else np.where(prev_active[i], l_aa, l_pa)
                if lam and t > 0:  # move from the last action to the feature history (EDM's assumption at λ = 0)
                    base = (1 - lam) * base + lam * (l_pa + (l_aa - l_pa) * novelty[i, t]) + shift
                p = _sigmoid(base + o[i, t])
                a = r_att[i, t] < p
                act_p = act_prob[i, t]
                if kappa and t > 0:  # history-dependent propensity (the session start counts as after an action)
                    act_p = act_p * np.where(prev_active[i], 1.0, 1.0 - kappa)
                acts = a & (r_act[i, t] < act_p)
                k = np.where(acts, act_kind[i, t], K_AUTOPLAY).astype(np.int8)
                kind[i, t], att[i, t], att_prob[i, t] = k, a, p
                negative = acts & ~positive[i, t]
                playing = np.zeros(S, dtype=bool)
                playing[i[r_stop[i, t] >= stop[i, 0] + cfg.stop_after_negative * negative]] = True
                prev_active[i] = visible[k]
                if g is not None:
                    d = i[k == K_DISLIKE]  # one session per user in a group: no user twice
                    dis[su[d]] = cfg.dislike_drift_decay * dis[su[d]] + unit[item[d, t]]
        return kind, att, att_prob

    # The offsets o (and who ends up after an action) bias P(e_t | e_{t-1}) away from the targets: correct the
    # two base logits by fixed-point iteration on the same random numbers (deterministic, a few passes).
    lam, keep = 0.0, lam
    for _ in range(CALIBRATION_PASSES):
        kind, att, att_prob = run(l_aa, l_pa)
        c = _block_counts(kind, valid, visible)
        if c["after_active"] >= 50 and 0 < c["active_after_active"] < c["after_active"]:
            l_aa += _logit(cfg.active_after_active) - _logit(c["active_after_active"] / c["after_active"])
        if c["after_passive"] >= 50 and 0 < c["active_after_passive"] < c["after_passive"]:
            l_pa += _logit(cfg.active_after_passive) - _logit(c["active_after_passive"] / c["after_passive"])
    kind, att, att_prob = run(l_aa, l_pa)
    lam, shift = keep, 0.0
    if lam:
        # λ > 0: keep the active rate of the λ = 0 chain (one common shift of the base logit); P(e_t | e_{t-1})
        # then moves away from its targets, since the last action no longer drives attention
        c0 = _block_counts(kind, valid, visible)
        target = c0["active"] / max(c0["played"], 1)
        for _ in range(CALIBRATION_PASSES):
            kind, att, att_prob = run(l_aa, l_pa, shift)
            c = _block_counts(kind, valid, visible)
            if 0 < c["active"] < c["played"] and 0 < target < 1:
                shift += _logit(target) - _logit(c["active"] / c["played"])
        kind, att, att_prob = run(l_aa, l_pa, shift)
    # played ratio and timestamps (unplayed rows carry the session's end time)
    ratio = np.ones((S, T), dtype=np.float32)
    neg = (kind == K_SKIP) | (kind == K_DISLIKE)
    ratio[neg] = (0.02 + 0.45 * rng.random(int(neg.sum()))).astype(np.float32)
    ratio[kind == K_UNPLAYED] = 0.0
    secs = np.rint(world.item_duration[item] * ratio).astype(np.int64)
    ts = start[:, None] + np.cumsum(secs, axis=1) - secs
    stats = _block_counts(kind, valid, visible)
    if not cfg.emit_unplayed:
        stats["rows"] = stats["played"]

    # flatten the valid rows into a frame
    flat = valid.ravel() if cfg.emit_unplayed else (valid & (kind != K_UNPLAYED)).ravel()
    sess_local = np.repeat(np.arange(S), T)[flat]
    pos = np.tile(np.arange(T, dtype=np.int32), S)[flat]
    kf = kind.ravel()[flat]
    user_idx = first_user + su[sess_local]
    itm = item.ravel()[flat]
    ub = su[sess_local]

    def names(vocab: tuple[str, ...], codes: np.ndarray) -> pl.Series:
        return pl.Series(list(vocab), dtype=pl.Utf8).gather(codes)

    kinds, kind_active, kind_label = MODES[cfg.mode]
    genre_names = [GENRE_NAMES[g] if g < len(GENRE_NAMES) else f"genre{g}" for g in range(cfg.genres)]
    df = pl.DataFrame({
        "user": user_idx, "item": itm, "timestamp": ts.ravel()[flat],
        "session": first_user * cfg.sessions + sess_local, "position": pos,
        "feedback": names(kinds, kf), "active": kind_active[kf], "label": kind_label[kf],
        "context": names(CONTEXTS, ctx[sess_local]), "played_ratio": ratio.ravel()[flat],
        "artist": world.item_artist[itm], "category": names(tuple(genre_names), world.item_genre[itm]),
        "f_age": names(AGES, users["age"][ub]), "f_country": names(COUNTRIES, users["country"][ub]),
        "f_gender": names(GENDERS, users["gender"][ub]), "f_device": names(DEVICES, device[sess_local]),
        "f_duration": world.item_duration[itm], "f_year": world.item_year[itm],
        "true_attention": att.ravel()[flat].astype(np.int8),
        "true_attention_prob": att_prob.ravel()[flat].astype(np.float32),
        "true_preference": pref.ravel()[flat].astype(np.int8),
        "true_pref_prob": pref_prob.ravel()[flat].astype(np.float32),
    })
    df = df.with_columns(
        pl.format("u{}", "user").alias("user"), pl.format("i{}", "item").alias("item"),
        pl.format("s{}", "session").alias("session"), pl.format("a{}", "artist").alias("artist"),
        ((pl.col("timestamp") // 3600) % 24).cast(pl.Int8).alias("hour"),
    )
    return conform(df, SOURCE), stats


def _block_counts(kind: np.ndarray, valid: np.ndarray, visible: np.ndarray = KIND_ACTIVE) -> dict[str, int]:
    """Counts behind the summary rates, so that blocks can be summed (``visible``: e of each kind code)."""
    played = valid & (kind != K_UNPLAYED)
    active = visible[kind].astype(bool) & played
    pair = played[:, 1:] & played[:, :-1]
    prev_a = active[:, :-1] & pair
    prev_p = ~active[:, :-1] & pair
    return {"rows": int(valid.sum()), "played": int(played.sum()), "active": int(active.sum()),
            "after_active": int(prev_a.sum()), "active_after_active": int((prev_a & active[:, 1:]).sum()),
            "after_passive": int(prev_p.sum()), "active_after_passive": int((prev_p & active[:, 1:]).sum())}


def _rates(c: dict[str, int]) -> dict[str, float]:
    div = lambda a, b: round(a / b, 4) if b else float("nan")  # noqa: E731
    return {"active_rate": div(c["active"], c["rows"]), "active_rate_played": div(c["active"], c["played"]),
            "unplayed_rate": div(c["rows"] - c["played"], c["rows"]),
            "active_after_active": div(c["active_after_active"], c["after_active"]),
            "active_after_passive": div(c["active_after_passive"], c["after_passive"])}


def _blocks(cfg: SimConfig):
    """Yield (frame, counts) per block of :data:`BLOCK_USERS` users, each from its own spawned stream."""
    root = np.random.SeedSequence(cfg.seed)
    world_seq, users_seq = root.spawn(2)
    world = _World(cfg, np.random.default_rng(world_seq))
    n_blocks = -(-cfg.users // BLOCK_USERS)
    for b, seq in enumerate(users_seq.spawn(n_blocks)):
        first = b * BLOCK_USERS
        yield _simulate_block(cfg, world, first, min(BLOCK_USERS, cfg.users - first), np.random.default_rng(seq))


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    from denoiserec.notices import bar_off

    return tqdm(total=total, unit="row", unit_scale=True, desc="simulate", disable=bar_off(enabled), leave=False)


def simulate(cfg: SimConfig | None = None, progress: bool = False) -> pl.DataFrame:
    """Simulate the whole log in memory: the canonical columns plus ``true_*`` hidden truth."""
    cfg = cfg or SimConfig()
    frames = []
    with _progress(cfg.expected_rows, progress) as bar:
        for df, _ in _blocks(cfg):
            frames.append(df)
            bar.update(df.height)
    return pl.concat(frames, rechunk=True)


def simulate_to(cfg: SimConfig | None, out_dir: str | Path, progress: bool = True, extra: dict | None = None
                ) -> dict:
    """Simulate and write ``out_dir`` (``events.parquet`` + ``meta.json``) atomically, one block at a time,
    so memory stays bounded whatever the size. Returns the meta (config, rows, measured rates, and ``extra``,
    e.g. the calibration)."""
    import pyarrow.parquet as pq

    from denoiserec.data.log import EVENTS, META
    from denoiserec.io import output_dir

    cfg = cfg or SimConfig()
    out_dir = Path(out_dir)
    totals: dict[str, int] = {}
    columns: list[str] = []
    with output_dir(out_dir, "data") as tmp, _progress(cfg.expected_rows, progress) as bar:
        writer = None
        try:
            for df, counts in _blocks(cfg):
                table = df.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp / EVENTS, table.schema, compression="zstd")
                    columns = df.columns
                writer.write_table(table, row_group_size=1 << 20)
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
                bar.update(df.height)
        finally:
            if writer is not None:
                writer.close()
        meta = {"source": SOURCE, "rows": totals["rows"], "columns": columns, "config": asdict(cfg),
                "rates": _rates(totals), **(extra or {})}
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def summary(df: pl.DataFrame) -> dict[str, float]:
    """Measured rates of a simulated (or any canonical) log, computed from the frame itself: active rate,
    P(e_t | e_{t-1}) over consecutive played rows, and label agreement with ``true_preference``."""
    played = pl.col("feedback") != "unplayed"
    x = df.sort("session", "position").with_columns(
        prev_active=pl.col("active").shift(1).over("session"),
        prev_played=played.shift(1).over("session"),
    )
    pairs = x.filter(played & pl.col("prev_played").fill_null(False))
    out = {"rows": float(df.height), "active_rate": float(df["active"].mean()),
           "unplayed_rate": float((df["feedback"] == "unplayed").mean()),
           "active_after_active": float(pairs.filter(pl.col("prev_active") == 1)["active"].mean()),
           "active_after_passive": float(pairs.filter(pl.col("prev_active") == 0)["active"].mean())}
    if "true_preference" in df.columns:
        agree = (pl.col("label") == pl.col("true_preference")).cast(pl.Float64)
        by = df.group_by("active").agg(agree.mean().alias("a"))
        for a, v in by.iter_rows():
            out["label_agreement_" + ("active" if a else "passive")] = float(v)
        out["true_preference_rate"] = float(df["true_preference"].mean())
        out["true_attention_rate_played"] = float(df.filter(played)["true_attention"].mean())
    return out
