"""The command line: discovery of per-area verbs, pass-through arguments, clear errors."""

import pytest

from cryptolstm import cli


def test_every_area_registers_its_verbs():
    verbs = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert {"db", "services", "run", "airflow", "ingest", "standin", "evaluate"} <= verbs


def test_unknown_arguments_are_refused_except_for_passthrough_verbs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["db", "up", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_airflow_passthrough_without_a_running_stack_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRYPTOLSTM_STATE_DIR", str(tmp_path))
    assert cli.main(["airflow", "dags", "list", "-o", "plain"]) == 1
    assert "the local stack is not running" in capsys.readouterr().err


def test_an_error_a_retry_cannot_fix_is_one_line_without_a_traceback(monkeypatch, capsys):
    from cryptolstm.serving.members import MembersMissing

    def train(args):
        raise MembersMissing("the gather found pieces without rows:\n(fold 0, member 1)")

    monkeypatch.setattr("cryptolstm.commands.pipeline._train", train)
    assert cli.main(["train", "--week-end", "2025-02-09"]) == 1
    assert capsys.readouterr().err == ("error: MembersMissing: the gather found pieces without rows: "
                                       "(fold 0, member 1)\n")
