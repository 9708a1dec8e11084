"""Seed-ensemble members trained apart (`fit(..., members=(i,))`, one weekly task each) and joined with
`TrainedModel.merge` predict what one K-member `fit` predicts; the walk-forward's pieces computed one
(fold, member) at a time give the serial walk-forward; bundles whose member count disagrees with their
meta, and parts that are not members of one ensemble, are refused."""

import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import walkforward
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import train
from cryptolstm.modelling.bundle import BundleError, TrainedModel
from cryptolstm.modelling.train import TrainConfig
from modelling_helpers import synthetic_panel

pytestmark = pytest.mark.slow
CUTOFF = pd.Timestamp("2020-09-30")
AS_OF = pd.Timestamp("2020-10-20")
TOL = 1e-5  # float32 tolerance
K = 2


@pytest.fixture(scope="module")
def recorded_cube(shared_data):
    return train.build_cube(panel_mod.until(panel_mod.load_csv_dir(shared_data), AS_OF))


@pytest.fixture(scope="module")
def ensemble(recorded_cube):
    config = TrainConfig.tiny(n_seeds=K)
    whole = train.fit(recorded_cube, CUTOFF, config)
    parts = [train.fit(recorded_cube, CUTOFF, config, members=(i,)) for i in reversed(range(K))]
    return whole, parts


def test_members_trained_apart_and_merged_predict_as_one_ensemble_fit(ensemble, recorded_cube):
    whole, parts = ensemble
    assert [p.member_ids for p in parts] == [(1,), (0,)] and all(len(p.members["*"]) == 1 for p in parts)
    merged = TrainedModel.merge(parts)
    assert merged.config == whole.config and merged.member_ids == (0, 1) and len(merged.members["*"]) == K
    assert merged.info["epochs"] == whole.info["epochs"]
    plan = train.training_cells(recorded_cube, whole.config, len(recorded_cube.days) - 1)
    a = merged.predict_cells(recorded_cube, plan.coin[-500:], plan.t[-500:])  # [500, H]
    b = whole.predict_cells(recorded_cube, plan.coin[-500:], plan.t[-500:])
    assert float(np.abs(a - b).max()) <= TOL
    # the merged bundle round-trips with its K members
    again = TrainedModel.from_bytes(merged.to_bytes())
    assert again.member_ids == (0, 1) and again.config.n_seeds == K
    assert float(np.abs(again.predict_cells(recorded_cube, plan.coin[-50:], plan.t[-50:]) - b[-50:]).max()) <= TOL


def test_merge_refuses_parts_of_other_ensembles(ensemble, recorded_cube):
    _, parts = ensemble
    with pytest.raises(ValueError, match="need each of 0..1 once"):
        TrainedModel.merge([parts[0], parts[0]])
    with pytest.raises(ValueError, match="need each of 0..0 once"):
        TrainedModel.merge([parts[0]])  # member 1 alone is not a 1-member ensemble
    other = TrainedModel(parts[0].members, parts[0].scaler, replace(parts[0].config, dropout=0.3),
                         parts[0].feature_version, parts[0].training_cutoff, parts[0].coins, parts[0].info,
                         parts[0].input_description, member_ids=(1,))
    with pytest.raises(ValueError, match="differ in config"):
        TrainedModel.merge([parts[1], other])
    later = TrainedModel(parts[0].members, parts[0].scaler, parts[0].config, parts[0].feature_version,
                         date_after(parts[0].training_cutoff), parts[0].coins, parts[0].info,
                         parts[0].input_description, member_ids=(1,))
    with pytest.raises(ValueError, match="training cutoff"):
        TrainedModel.merge([parts[1], later])


def date_after(day):
    return day + pd.Timedelta(days=1).to_pytimedelta()


def _rewrite_meta(data: bytes, change) -> bytes:
    src, buf = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "meta.json":
                meta = json.loads(body)
                change(meta)
                body = json.dumps(meta).encode()
            z.writestr(info.filename, body)
    return buf.getvalue()


def test_a_bundle_whose_member_count_disagrees_with_its_meta_is_refused(ensemble):
    whole, parts = ensemble
    data = whole.to_bytes()

    def three_seeds(meta):  # meta says n_seeds=3, the bundle holds 2 members
        meta["config"]["n_seeds"] = 3
        meta.pop("member_ids")

    with pytest.raises(BundleError, match="member count disagrees with its meta"):
        TrainedModel.from_bytes(_rewrite_meta(data, three_seeds))
    with pytest.raises(BundleError, match="member count disagrees with its meta"):
        TrainedModel.from_bytes(_rewrite_meta(data, lambda meta: meta.update(member_ids=[0])))
    with pytest.raises(BundleError, match="not distinct ids"):
        TrainedModel.from_bytes(_rewrite_meta(parts[0].to_bytes(), lambda meta: meta.update(member_ids=[2])))
    with pytest.raises(BundleError, match="member count disagrees with its meta"):
        TrainedModel(whole.members, whole.scaler, replace(whole.config, n_seeds=3), whole.feature_version,
                     whole.training_cutoff, whole.coins)
    assert TrainedModel.from_bytes(parts[0].to_bytes()).member_ids == (1,)


def test_walk_forward_pieces_computed_apart_equal_the_serial_walk_forward():
    panel = synthetic_panel(("BTC", "ETH", "SOL"), days=300)
    cube = train.build_cube(panel)
    config = TrainConfig.tiny(window=15, n_seeds=K)
    serial = walkforward.walk_forward(cube, config, n_folds=2, val_days=15, score_coins=("BTC", "ETH"))
    bounds = walkforward.folds(cube, config, n_folds=2, val_days=15)
    pieces = {(k, i): walkforward.fold_member_predictions(cube, k, f, config, i, ("BTC", "ETH"))
              for i in reversed(range(K)) for k, f in reversed(list(enumerate(bounds)))}  # any order
    preds = [walkforward.combine([pieces[k, i][1] for i in range(K)]) for k in range(len(bounds))]
    bpreds = [walkforward.fold_baselines(cube, k, f, config, ("BTC", "ETH")) for k, f in enumerate(bounds)]
    info = [walkforward.fold_summary(cube, k, f, len(preds[k]) // config.horizons,
                                     [pieces[k, i][0].info for i in range(K)]) for k, f in enumerate(bounds)]
    gathered = walkforward.assemble(preds, bpreds, info)
    pd.testing.assert_frame_equal(gathered.predictions, serial.predictions)
    pd.testing.assert_frame_equal(gathered.baseline_predictions, serial.baseline_predictions)
    assert gathered.metrics.da == serial.metrics.da
    assert [f["epochs"] for f in gathered.folds] == [f["epochs"] for f in serial.folds]
    assert all(len(f["epochs"]) == K for f in serial.folds)
