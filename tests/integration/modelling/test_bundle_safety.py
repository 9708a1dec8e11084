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
from orchestration_seed import tiny_model_bytes

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


def _store(dsn: str, model_id: str, artifact: bytes) -> None:
    """A registry row as an attacker with the tasks' role would write it: the sha256 matches."""
    with storage.transaction(dsn) as cur:
        registry.register(cur, model_id=model_id, created_for=datetime(2024, 12, 2, tzinfo=timezone.utc),
                          training_cutoff=CUTOFF, feature_version="f", hyperparams={}, code_version="t",
                          metrics={}, artifact=artifact)


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


def test_an_unexpected_member_is_refused_and_nothing_is_written(db, tmp_path, private_tmp):
    good = tiny_model_bytes(CUTOFF)
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


def test_a_real_bundle_loads_from_a_private_dir_that_is_removed(db, private_tmp, monkeypatch):
    import keras

    seen = []
    real_load = keras.models.load_model

    def spy(path, **kw):
        mode = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
        seen.append((os.path.basename(path), mode, os.path.dirname(os.path.dirname(path))))
        return real_load(path, **kw)

    monkeypatch.setattr(keras.models, "load_model", spy)
    _store(db, "tiny", tiny_model_bytes(CUTOFF))
    m = registry.load_model(db, "tiny")
    assert m.training_cutoff == CUTOFF
    assert seen and all(name.endswith(".keras") and mode == 0o700 and parent == str(private_tmp)
                        for name, mode, parent in seen)
    assert _files(private_tmp) == [] and os.listdir(private_tmp) == []  # the private dir is gone
