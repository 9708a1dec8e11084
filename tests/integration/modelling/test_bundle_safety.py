"""A model artifact is untrusted input: loading one through the registry never writes a file it names.

Anyone who can write the `models` table (the role every task uses) can store a crafted bundle with a
matching sha256; loading it must refuse it before anything is unpacked (issue 12 §2).
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import zipfile
from datetime import date, datetime, timezone

import pytest

from cryptolstm import storage
from cryptolstm.modelling import bundle
from cryptolstm.serving import registry
from orchestration_seed import bundle_coins, tiny_model_bytes

CUTOFF = date(2024, 12, 1)  # the cutoff test_registry's tiny model uses: one training per session


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _meta(members: dict) -> bytes:
    return json.dumps({"format": bundle.BUNDLE_FORMAT, "version": bundle.BUNDLE_VERSION, "members": members,
                       "config": {}, "feature_version": "f", "training_cutoff": "2024-12-01", "coins": ["BTC"],
                       "scaler": {}}).encode()


def _store(dsn: str, model_id: str, artifact: bytes, coins: list[str] | None = None) -> None:
    """A registry row as an attacker with the tasks' role would write it: the sha256 matches (and the
    vocabulary is `coins`)."""
    with storage.transaction(dsn) as cur:
        registry.register(cur, model_id=model_id, created_for=datetime(2024, 12, 2, tzinfo=timezone.utc),
                          training_cutoff=CUTOFF, feature_version="f", hyperparams={"coins": coins},
                          code_version="t", metrics={}, artifact=artifact)


@pytest.fixture(scope="module")
def good_bundle() -> bytes:
    """The tiny real model's bundle, trained before any test moves the temp root: training traces TensorFlow
    functions, and autograph writes its converted code to the temp root the first time in a process (which
    test of a worker trains first depends on the files it was handed), never what loading a bundle writes."""
    return tiny_model_bytes(CUTOFF)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Python's temp root moved to tmp_path/root/tmp: a member `../../x` would land in tmp_path/root."""
    root = tmp_path / "root" / "tmp"
    root.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _files(path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


@pytest.mark.parametrize("member", ["../../x.keras", "../x.keras", "sub/../../../x.keras", "ABSOLUTE"])
def test_a_traversal_member_is_refused_and_nothing_is_written(db, tmp_path, private_tmp, member):
    target = tmp_path / "root" / "x.keras"
    if member == "ABSOLUTE":
        member = str(target)
    _store(db, "evil", _zip({"meta.json": _meta({"*": [member]}), member: b"import os  # payload"}))
    with pytest.raises(registry.ArtifactError, match="unexpected member"):
        registry.load_model(db, "evil")
    assert not target.exists()
    assert _files(tmp_path / "root") == []  # nothing in the temp root, nothing beside it


def test_an_unexpected_member_is_refused_and_nothing_is_written(db, tmp_path, good_bundle, private_tmp):
    good = good_bundle
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    _store(db, "extra", _zip({**entries, "dags/evil.py": b"print('pwned')"}))
    with pytest.raises(registry.ArtifactError, match=r"unexpected members \['dags/evil.py'\]"):
        registry.load_model(db, "extra")
    assert _files(tmp_path / "root") == []


def test_a_declared_member_that_is_not_a_bundle_name_is_refused(db, private_tmp):
    # meta.json may declare only member_K_I.keras names; any other declared name is refused
    for i, name in enumerate(["x", "member_0_0.py", "member_0_0.keras/../x", "./member_0_0.keras"]):
        _store(db, f"odd{i}", _zip({"meta.json": _meta({"*": [name]}), name: b"data"}))
        with pytest.raises(registry.ArtifactError, match="unexpected member"):
            registry.load_model(db, f"odd{i}")
    assert _files(private_tmp) == []


def test_a_digest_mismatch_is_refused_before_the_zip_is_opened(private_tmp):
    good = _zip({"meta.json": _meta({"*": ["member_0_0.keras"]}), "member_0_0.keras": b"x"})
    with pytest.raises(bundle.BundleError, match="sha256"):
        bundle.TrainedModel.from_bytes(good, sha256=registry.sha256(b"other"))


def test_a_real_bundle_loads_from_a_private_dir_that_is_removed(db, good_bundle, private_tmp, monkeypatch):
    import keras

    seen = []
    real_load = keras.models.load_model

    def spy(path, **kw):
        mode = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
        seen.append((os.path.basename(path), mode, os.path.dirname(os.path.dirname(path))))
        return real_load(path, **kw)

    monkeypatch.setattr(keras.models, "load_model", spy)
    _store(db, "tiny", good_bundle, bundle_coins(good_bundle))
    m = registry.load_model(db, "tiny")
    assert m.training_cutoff == CUTOFF
    assert seen and all(name.endswith(".keras") and mode == 0o700 and parent == str(private_tmp)
                        for name, mode, parent in seen)
    assert _files(private_tmp) == [] and os.listdir(private_tmp) == []  # the private dir is gone


def _swapped(artifact: bytes, i: int, j: int) -> bytes:
    """The same bundle with coins i and j swapped in its vocabulary (meta.json), every weight unchanged."""
    with zipfile.ZipFile(io.BytesIO(artifact)) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(entries["meta.json"])
    meta["coins"][i], meta["coins"][j] = meta["coins"][j], meta["coins"][i]
    return _zip({**entries, "meta.json": json.dumps(meta, sort_keys=True).encode()})


def test_a_bundle_whose_vocabulary_disagrees_with_its_registry_row_is_refused(db, good_bundle, private_tmp):
    """Issue 20: a bundle with two coins swapped (its sha256 stored with it) loaded silently, and would have
    forecast each of the two coins with the other's embedding."""
    good = good_bundle
    coins = bundle_coins(good)
    _store(db, "swapped", _swapped(good, 0, 1), coins)
    with pytest.raises(registry.ArtifactError, match=(
            rf"artifact of swapped cannot be loaded: its coin vocabulary disagrees with its registry row "
            rf"\(9 coins in the bundle, 9 registered; id 0: {coins[1]} in the bundle, {coins[0]} in the registry; "
            rf"id 1: {coins[0]} in the bundle, {coins[1]} in the registry\)")):
        registry.load_model(db, "swapped")
    _store(db, "unrecorded", good)  # a registry row that records no vocabulary cannot vouch for the bundle
    with pytest.raises(registry.ArtifactError, match="records no coin vocabulary"):
        registry.load_model(db, "unrecorded")
    _store(db, "same", good, coins)
    assert registry.load_model(db, "same").coins == tuple(coins)
    assert _files(private_tmp) == []
