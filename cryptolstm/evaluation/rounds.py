"""One evaluation round: configs walked forward once each, and *draws* scored next to every baseline on the same cells.

A draw is a named list of configs whose walk-forward predictions are averaged per cell (`walkforward.combine`, what
a seed ensemble serves). The draw rule says which: the variant evaluation (`report.py`) draws every config alone
(`alone`), the seed-ensemble round (`ensembles.py`) every K members of a seed set. The baselines are fit once, with
the first config, and every draw is scored on their cells. `table` is the rounds' one markdown table formatter.

    result = run_round(cube, {"lstm": TrainConfig()}, alone, n_folds=3, on_draw=lambda name, scores, rnd: ...)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Hashable

import pandas as pd

from cryptolstm.config import DEFAULT_COINS, WF_FOLD_DAYS
from cryptolstm.evaluation import scores, walkforward
from cryptolstm.modelling import train, windows


def alone(names: list[Hashable]) -> dict[Hashable, list[Hashable]]:
    """The draw rule of the variant evaluation: every config is a draw of its own."""
    return {n: [n] for n in names}


@dataclass
class Round:
    """What a round has walked and scored so far (filled as it runs; `on_draw` sees it growing)."""

    walks: dict[Hashable, walkforward.WalkForwardResult] = field(default_factory=dict)  # config -> its walk-forward
    predictions: dict[Hashable, pd.DataFrame] = field(default_factory=dict)  # config -> predictions sorted by KEYS
    baselines: pd.DataFrame | None = None  # the first config's baseline predictions, sorted by KEYS
    scores: dict[Hashable, scores.Scores] = field(default_factory=dict)  # draw -> its scores next to the baselines
    seconds: float = 0.0  # wall time of the round


def sorted_keys(df: pd.DataFrame) -> pd.DataFrame:
    """The frame in the rounds' row order: sorted by walkforward.KEYS (stable)."""
    return df.sort_values(walkforward.KEYS, kind="stable").reset_index(drop=True)


def run_round(cube: windows.Cube, configs: dict[Hashable, train.TrainConfig],
              draws: Callable[[list[Hashable]], dict[Hashable, list[Hashable]]], n_folds: int,
              val_days: int = WF_FOLD_DAYS, score_coins: tuple[str, ...] = DEFAULT_COINS, log=lambda *_: None,
              on_draw: Callable[[Hashable, scores.Scores, Round], None] | None = None) -> Round:
    """Walk every config forward once, in order, and score each draw of `draws(list(configs))` as soon as its
    configs are walked (`on_draw(name, scores, round)` then: progress, checkpoints). A config alone on other cells
    than the baselines' (e.g. a longer window near a coin's listing) is walked again with baselines of its own."""
    t0 = time.perf_counter()
    rnd, plan = Round(), draws(list(configs))
    for name, cfg in configs.items():
        log(f"== walk-forward {name}")
        res = walkforward.walk_forward(cube, cfg, n_folds=n_folds, val_days=val_days, log=log,
                                       score_coins=score_coins, with_baselines=rnd.baselines is None)
        if rnd.baselines is None:
            rnd.baselines = sorted_keys(res.baseline_predictions)
        rnd.walks[name], rnd.predictions[name] = res, sorted_keys(res.predictions)
        for draw, members in plan.items():
            if draw in rnd.scores or name not in members or not set(members) <= set(rnd.predictions):
                continue
            try:
                rnd.scores[draw] = walkforward.score(walkforward.combine([rnd.predictions[m] for m in members]),
                                                     rnd.baselines)
            except ValueError:  # other cells than the baselines': baselines on these
                if len(members) > 1:
                    raise
                res = walkforward.walk_forward(cube, cfg, n_folds=n_folds, val_days=val_days, log=log,
                                               score_coins=score_coins)
                rnd.walks[name], rnd.scores[draw] = res, res.metrics
            if on_draw:
                on_draw(draw, rnd.scores[draw], rnd)
    rnd.seconds = time.perf_counter() - t0
    return rnd


def fmt(x, nd: int = 4) -> str:
    """A figure of the tables: `nd` decimals, "n/a" for a missing or NaN one."""
    return "n/a" if x is None or x != x else f"{x:.{nd}f}"


def table(rows: dict[str, object], columns: list[tuple[str, Callable[[object], str]]], first: str = "model") -> list[str]:
    """The rounds' markdown table: one line per row (name -> its figures), one column per (header, cell function of
    the row's figures)."""
    return [f"| {first} | " + " | ".join(h for h, _ in columns) + " |", "|---|" + "---|" * len(columns),
            *(f"| {name} | " + " | ".join(cell(r) for _, cell in columns) + " |" for name, r in rows.items())]
