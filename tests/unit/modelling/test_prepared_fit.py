"""`fit` is `prepare_fit` (once per fit: deterministic, named by a content digest) followed by `fit_member` per
member; members of one preparation join, members of two are refused; a preparation survives its storage
format bit for bit, and the training stride keeps every k-th as-of day."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cryptolstm.config import PipelineConfig
from cryptolstm.modelling import train, windows
from cryptolstm.modelling.bundle import TrainedModel
from cryptolstm.modelling.train import TrainConfig
from cryptolstm.serving import members, preparations
from modelling_helpers import synthetic_panel

CONFIG = TrainConfig.tiny(window=15, n_seeds=2)


@pytest.fixture(scope="module")
def cube():
    return train.build_cube(synthetic_panel(("BTC", "ETH", "SOL"), days=260))


def _plans_equal(a: windows.Plan, b: windows.Plan) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("coin", "t", "trainable"))


def test_prepare_fit_is_deterministic_and_its_digest_names_its_inputs(cube):
    cutoff = cube.days[200]
    a, b = train.prepare_fit(cube, cutoff, CONFIG), train.prepare_fit(cube, cutoff, CONFIG)
    assert a.digest == b.digest and len(a.digest) == 64
    assert a.scaler.to_dict() == b.scaler.to_dict() and a.description.to_dict() == b.description.to_dict()
    assert _plans_equal(a.fit_cells, b.fit_cells) and _plans_equal(a.es_cells, b.es_cells)
    # the ensemble size is not part of a preparation; anything that changes what is prepared is
    assert train.prepare_fit(cube, cutoff, replace(CONFIG, n_seeds=5)).digest == a.digest
    assert train.prepare_fit(cube, cube.days[199], CONFIG).digest != a.digest
    assert train.prepare_fit(cube, cutoff, replace(CONFIG, window=14)).digest != a.digest
    later = windows.Cube(cube.coins, cube.days, cube.x.copy(), cube.log_close.copy())
    later.x[0, 150, 0] += 1e-9  # one feature value on a day before the cutoff
    assert train.prepare_fit(later, cutoff, CONFIG).digest != a.digest
    after = windows.Cube(cube.coins, cube.days, cube.x.copy(), cube.log_close.copy())
    after.x[0, 230, 0] += 1.0  # after the cutoff: not part of the preparation
    assert train.prepare_fit(after, cutoff, CONFIG).digest == a.digest
    # nothing after the cutoff is in the prepared history
    assert a.cube.days[-1] == cutoff and a.fit_cells.t.max() + CONFIG.horizons < a.es_cells.t.min()


def test_members_of_one_preparation_join_and_of_two_are_refused(cube):
    cutoff = cube.days[200]
    prepared = train.prepare_fit(cube, cutoff, CONFIG)
    parts = [train.fit_member(prepared, CONFIG, i) for i in (1, 0)]
    assert [p.member_ids for p in parts] == [(1,), (0,)] and parts[0].info["preparation"] == prepared.digest
    merged = TrainedModel.merge(parts)
    whole = train.fit(cube, cutoff, CONFIG)
    plan = train.training_cells(cube, CONFIG, 200)
    assert float(np.abs(merged.predict_cells(cube, plan.coin[-40:], plan.t[-40:])
                        - whole.predict_cells(cube, plan.coin[-40:], plan.t[-40:])).max()) <= 1e-5
    other = train.fit_member(train.prepare_fit(cube, cube.days[199], replace(CONFIG)), CONFIG, 1)
    other_prep = TrainedModel(other.members, other.scaler, other.config, other.feature_version, parts[1].training_cutoff,
                              other.coins, other.info, other.input_description, member_ids=(1,))
    with pytest.raises(ValueError, match="2 different preparations"):
        TrainedModel.merge([parts[1], other_prep])
    unnamed = TrainedModel(parts[0].members, parts[0].scaler, parts[0].config, parts[0].feature_version,
                           parts[0].training_cutoff, parts[0].coins, {}, parts[0].input_description, member_ids=(1,))
    with pytest.raises(ValueError, match="name no preparation"):
        TrainedModel.merge([parts[1], unnamed])
    with pytest.raises(ValueError, match="made for another configuration"):
        train.fit_member(prepared, replace(CONFIG, window=14), 0)


def test_a_preparation_survives_its_storage_format_and_refuses_other_keys(cube):
    cutoff = cube.days[230]
    bounds = windows.fold_bounds(220, 2, 10, 5)
    prep = preparations.build("k" * 64, cube, bounds, cutoff.date(), CONFIG)
    data = preparations.to_bytes(prep)
    from cryptolstm.serving.registry import sha256

    # the same preparation, made again, is the same bytes (a rerun stores identical rows)
    assert preparations.to_bytes(preparations.build("k" * 64, cube, bounds, cutoff.date(), CONFIG)) == data

    back = preparations.from_bytes(data, "k" * 64, sha256(data), CONFIG)
    assert back.bounds == bounds and set(back.fits) == {0, 1, None}
    assert np.array_equal(back.cube.x, cube.x, equal_nan=True) and back.cube.days.equals(cube.days)
    for fold, p in prep.fits.items():
        q = back.fits[fold]
        assert q.digest == p.digest and q.cutoff == p.cutoff and q.scaler.to_dict() == p.scaler.to_dict()
        assert q.description.to_dict() == p.description.to_dict() and _plans_equal(q.all_cells, p.all_cells)
    with pytest.raises(preparations.PreparationCorrupt, match="was made as"):
        preparations.from_bytes(data, "j" * 64, sha256(data), CONFIG)
    with pytest.raises(preparations.PreparationCorrupt, match="not a loadable preparation"):
        preparations.from_bytes(data, "k" * 64, sha256(data), replace(CONFIG, window=14))  # digests disagree


def test_the_training_stride_keeps_every_kth_as_of_day(cube):
    cutoff = cube.days[200]
    every = train.prepare_fit(cube, cutoff, CONFIG)
    half = train.prepare_fit(cube, cutoff, replace(CONFIG, train_stride=2))
    assert set(half.fit_cells.t) == {t for t in every.fit_cells.t if t % 2 == 0}
    assert _plans_equal(half.es_cells, every.es_cells)  # early stopping still scores every day
    with pytest.raises(ValueError, match="train_stride"):
        train.prepare_fit(cube, cutoff, replace(CONFIG, train_stride=0))


def test_a_piece_is_named_and_travels_as_json():
    run = members.weekly_run(pd.Timestamp("2025-01-12", tz="UTC").to_pydatetime(),
                             PipelineConfig(train_profile="tiny", wf_folds=2, ensemble_members=2))
    pieces = run.pieces("abc")
    assert [p.name for p in pieces] == ["final fit, member 0", "final fit, member 1", "fold 0, member 0",
                                        "fold 0, member 1", "fold 1, member 0", "fold 1, member 1"]
    assert all(members.Piece.from_xcom(p.to_xcom()) == p for p in pieces)
    assert pieces[0].to_xcom() == {"model_id": run.model_id, "prep_key": "abc", "fold": None, "member": 0}
